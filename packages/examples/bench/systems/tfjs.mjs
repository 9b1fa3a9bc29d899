// TensorFlow.js 4.22 on its plain JavaScript "cpu" backend or its WebAssembly one, with
// tf.variable weights in NHWC layout and tf.train.sgd.
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { CLASSES, CONV, LR, MODELS, gather } from '../common.mjs';

export const FILTER_GRAD_NOTE =
  'tfjs-wasm has no Conv2DBackpropFilter kernel: its conv2d filter gradient is computed here ' +
  'as a forward conv2d of the transposed input [C_in, H, W, N] with the transposed output ' +
  'gradient [H_out, W_out, N, C_out] as the filter (tf.customGrad); the input gradient is ' +
  'tf.conv2dTranspose (Conv2DBackpropInput, which the backend has).';

// dW[i, j, ci, co] = sum over n, y, x of xpad[n, y + i, x + j, ci] dy[n, y, x, co]: a stride-1
// correlation of the input over the output gradient, with the batch axis as the channels.
function filterGrad(x, dy, pad) {
  const xt = tf.transpose(x, [3, 1, 2, 0]);
  const dyt = tf.transpose(dy, [1, 2, 0, 3]);
  return tf.transpose(tf.conv2d(xt, dyt, 1, pad), [1, 2, 0, 3]);
}

function convOp(backend, pad) {
  if (backend !== 'wasm') return (x, w) => tf.conv2d(x, w, 1, pad);
  return tf.customGrad((x, w, save) => {
    save([x, w]);
    return {
      value: tf.conv2d(x, w, 1, pad),
      gradFunc: (dy, [xs, ws]) => [
        tf.conv2dTranspose(dy, ws, xs.shape, 1, pad),
        filterGrad(xs, dy, pad),
      ],
    };
  });
}

// PyTorch layout to NHWC: conv [C_out, C_in, kH, kW] -> [kH, kW, C_in, C_out]; dense
// [out, in] -> [in, out], and the first dense layer's inputs reordered from C, H, W to H, W, C.
function convFilter(w, l) {
  const out = new Float32Array(w.length);
  for (let co = 0; co < l.cout; co++)
    for (let ci = 0; ci < l.cin; ci++)
      for (let i = 0; i < l.k; i++)
        for (let j = 0; j < l.k; j++)
          out[((i * l.k + j) * l.cin + ci) * l.cout + co] =
            w[((co * l.cin + ci) * l.k + i) * l.k + j];
  return tf.tensor4d(out, [l.k, l.k, l.cin, l.cout]);
}

function denseKernel(w, l, flat) {
  const out = new Float32Array(w.length);
  for (let o = 0; o < l.out; o++)
    for (let i = 0; i < l.in; i++) {
      let r = i;
      if (flat) {
        const c = Math.floor(i / (flat.h * flat.w));
        const yx = i % (flat.h * flat.w);
        r = yx * flat.c + c;
      }
      out[r * l.out + o] = w[o * l.in + i];
    }
  return tf.tensor2d(out, [l.in, l.out]);
}

function random(shape, seed) {
  return tf.randomUniform(shape, -0.5, 0.5, 'float32', seed);
}

export async function create(backend) {
  await tf.setBackend(backend);
  await tf.ready();
  const notes = backend === 'wasm' ? [FILTER_GRAD_NOTE] : [];
  return {
    notes,
    build(model, plan) {
      const init = plan.init(model);
      const layers = MODELS[model];
      let flat = null;
      const vars = [];
      const ops = layers.map((l) => {
        if (l.kind === 'conv') {
          const w = tf.variable(convFilter(init[`${l.name}.weight`], l));
          const b = tf.variable(tf.tensor1d(init[`${l.name}.bias`]));
          vars.push(w, b);
          const conv = convOp(backend, l.pad);
          return (h) => tf.add(conv(h, w), b);
        }
        if (l.kind === 'dense') {
          const w = tf.variable(denseKernel(init[`${l.name}.weight`], l, flat));
          const b = tf.variable(tf.tensor1d(init[`${l.name}.bias`]));
          flat = null;
          vars.push(w, b);
          return (h) => tf.add(tf.matMul(h, w), b);
        }
        if (l.kind === 'relu') return (h) => tf.relu(h);
        if (l.kind === 'sigmoid') return (h) => tf.sigmoid(h);
        if (l.kind === 'pool') return (h) => tf.maxPool(h, 2, 2, 'valid');
        flat = l;
        return (h) => tf.reshape(h, [h.shape[0], -1]);
      });
      const forward = (x) => ops.reduce((h, op) => op(h), x);
      const opt = tf.train.sgd(LR);
      const input = (data, n) => tf.tensor4d(data, [n, 28, 28, 1]);
      return {
        trainStep(indices) {
          const n = indices.length;
          const x = input(gather(plan.trainImages, indices), n);
          const labels = Int32Array.from(indices, (j) => plan.trainLabels[j]);
          const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES));
          const cost = opt.minimize(
            () => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(forward(x))), 1))),
            true,
            vars,
          );
          const value = cost.dataSync()[0];
          tf.dispose([x, y, cost]);
          return value;
        },
        predict(indices) {
          const x = input(gather(plan.testImages, indices), indices.length);
          const logits = tf.tidy(() => forward(x));
          const out = logits.dataSync();
          tf.dispose([x, logits]);
          return out;
        },
      };
    },
    conv() {
      const x = random([CONV.n, CONV.size, CONV.size, CONV.cin], 1);
      const w = random([CONV.k, CONV.k, CONV.cin, CONV.cout], 2);
      const dy = random([CONV.n, CONV.size, CONV.size, CONV.cout], 3);
      const conv = convOp(backend, CONV.pad);
      const f = tf.grads((a, b) => conv(a, b));
      return () => {
        const [dx, dw] = f([x, w], dy);
        dx.dataSync();
        dw.dataSync();
        tf.dispose([dx, dw]);
      };
    },
    matmul(n) {
      const a = random([n, n], 4);
      const b = random([n, n], 5);
      return () => {
        const c = tf.matMul(a, b);
        c.dataSync();
        c.dispose();
      };
    },
  };
}
