// ConvNetJS 0.3: one image at a time through its layers, its Trainer summing the gradients of a
// batch and stepping once per batch. Its volumes are Float64Array: it computes in float64.
import convnetjs from 'convnetjs';
import { CONV, LR, MODELS, PIXELS } from '../common.mjs';

export const NOTE =
  'convnetjs computes in float64 (its volumes are Float64Array), one image at a time; it has ' +
  'no matmul op.';

function defs(model) {
  const out = [{ type: 'input', out_sx: 28, out_sy: 28, out_depth: 1 }];
  for (const l of MODELS[model]) {
    if (l.kind === 'conv')
      out.push({ type: 'conv', sx: l.k, filters: l.cout, stride: 1, pad: l.pad, bias_pref: 0 });
    else if (l.kind === 'relu') out.push({ type: 'relu' });
    else if (l.kind === 'sigmoid') out.push({ type: 'sigmoid' });
    else if (l.kind === 'pool') out.push({ type: 'pool', sx: 2, stride: 2 });
    // The softmax layer brings its own fully connected layer of `num_classes` units, so the last
    // dense layer of the list is that one.
    else if (l.kind === 'dense' && l.name === 'fc2')
      out.push({ type: 'softmax', num_classes: l.out });
    else if (l.kind === 'dense') out.push({ type: 'fc', num_neurons: l.out, bias_pref: 0 });
  }
  return out;
}

// PyTorch layout to ConvNetJS's: a volume is indexed `(y W + x) depth + d`, so a conv filter is
// `[kH, kW, C_in]` and the flattened input of the first dense layer is in `H, W, C` order.
function load(net, model, init) {
  const withParams = net.layers.filter((l) => l.layer_type === 'conv' || l.layer_type === 'fc');
  const specs = MODELS[model].filter((l) => l.kind === 'conv' || l.kind === 'dense');
  let flat = null;
  specs.forEach((l, s) => {
    const layer = withParams[s];
    const w = init[`${l.name}.weight`];
    layer.biases.w.set(init[`${l.name}.bias`]);
    if (l.kind === 'conv') {
      for (let co = 0; co < l.cout; co++)
        for (let ci = 0; ci < l.cin; ci++)
          for (let i = 0; i < l.k; i++)
            for (let j = 0; j < l.k; j++)
              layer.filters[co].w[(i * l.k + j) * l.cin + ci] =
                w[((co * l.cin + ci) * l.k + i) * l.k + j];
      return;
    }
    const prev = MODELS[model].indexOf(l) - 1;
    flat = MODELS[model][prev].kind === 'flatten' ? MODELS[model][prev] : null;
    for (let o = 0; o < l.out; o++)
      for (let i = 0; i < l.in; i++) {
        let r = i;
        if (flat) {
          const c = Math.floor(i / (flat.h * flat.w));
          r = (i % (flat.h * flat.w)) * flat.c + c;
        }
        layer.filters[o].w[r] = w[o * l.in + i];
      }
  });
}

function volumes(images) {
  const n = images.length / PIXELS;
  return Array.from({ length: n }, (_, k) => {
    const v = new convnetjs.Vol(28, 28, 1, 0);
    v.w.set(images.subarray(k * PIXELS, (k + 1) * PIXELS));
    return v;
  });
}

export async function create() {
  return {
    notes: [NOTE],
    build(model, plan) {
      const net = new convnetjs.Net();
      net.makeLayers(defs(model));
      load(net, model, plan.init(model));
      const train = volumes(plan.trainImages);
      const test = volumes(plan.testImages);
      let trainer = null;
      return {
        trainStep(indices) {
          // The Trainer steps after every `batch_size` calls of train(); every batch has the same
          // size, so its steps fall on batch boundaries.
          trainer ??= new convnetjs.Trainer(net, {
            method: 'sgd',
            learning_rate: LR,
            momentum: 0,
            batch_size: indices.length,
            l2_decay: 0,
          });
          let loss = 0;
          for (const j of indices) loss += trainer.train(train[j], plan.trainLabels[j]).loss;
          return loss / indices.length;
        },
        predict(indices) {
          const out = new Float32Array(indices.length * 10);
          indices.forEach((j, k) => out.set(net.forward(test[j], false).w, k * 10));
          return out;
        },
      };
    },
    conv() {
      const layer = new convnetjs.ConvLayer({
        in_sx: CONV.size,
        in_sy: CONV.size,
        in_depth: CONV.cin,
        sx: CONV.k,
        filters: CONV.cout,
        stride: 1,
        pad: CONV.pad,
      });
      const xs = Array.from({ length: CONV.n }, () => new convnetjs.Vol(28, 28, CONV.cin));
      const gy = new Float64Array(CONV.size * CONV.size * CONV.cout).map(() => Math.random() - 0.5);
      return () => {
        for (const x of xs) {
          layer.forward(x, true);
          layer.out_act.dw.set(gy);
          layer.backward();
        }
      };
    },
    matmul: null,
  };
}
