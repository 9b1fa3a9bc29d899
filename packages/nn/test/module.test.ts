/**
 * Modules and layers: parameter discovery, names and order, train/eval, the layer classes
 * against their functional ops, and a user's custom layer written from primitives that trains
 * with correct gradients and no extra code.
 */
import { Rng, type Tensor, mul, noGrad, randn, tensor } from '@tapegrad/autograd';
import {
  AvgPool2d,
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  Module,
  PaperCNN,
  Parameter,
  ReLU,
  SGD,
  Sequential,
  Sigmoid,
  Tanh,
  avgPool2d,
  conv2d,
  crossEntropy,
  linear,
  maxPool2d,
  mse,
  paperCNNParameterShapes,
  sigmoid,
  tanh,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

import { randT } from './reference.js';

const f64 = { dtype: 'float64' as const };

describe('Module parameters and names', () => {
  it('PaperCNN hidden=[4]: conv.weight, conv.bias, dense.0.weight, ..., shapes as the config', () => {
    const model = new PaperCNN({
      inputSize: 8,
      kernelSize: 3,
      filters: 2,
      hidden: [4],
      classes: 3,
    });
    const named = model.namedParameters();
    expect(named.map(([n]) => n)).toEqual([
      'conv.weight',
      'conv.bias',
      'dense.0.weight',
      'dense.0.bias',
      'dense.1.weight',
      'dense.1.bias',
    ]);
    const shapes = paperCNNParameterShapes(model.config);
    for (const [n, p] of named) expect(p.shape, n).toEqual(shapes[n]);
    expect(model.parameters()).toEqual(named.map(([, p]) => p));
    expect(model.parameters().every((p) => p instanceof Parameter && p.requiresGrad)).toBe(true);
  });

  it('Sequential(Linear, ReLU, Sequential(Linear)) names 0.weight, 0.bias, 2.0.weight, 2.0.bias', () => {
    const net = new Sequential(new Linear(3, 4), new ReLU(), new Sequential(new Linear(4, 2)));
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      '0.weight',
      '0.bias',
      '2.0.weight',
      '2.0.bias',
    ]);
    expect(net.children().map(([n]) => n)).toEqual(['0', '1', '2']);
  });

  it('Linear bias=false has only a weight; Conv2d bias=false likewise', () => {
    expect(new Linear(3, 2, { bias: false }).namedParameters().map(([n]) => n)).toEqual(['weight']);
    expect(new Conv2d(1, 2, 3, { bias: false }).namedParameters().map(([n]) => n)).toEqual([
      'weight',
    ]);
  });

  it('arrays of modules are children named field.index', () => {
    class Stack extends Module {
      readonly blocks = [new Linear(2, 2), new Linear(2, 1)];
      forward(x: Tensor): Tensor {
        return this.blocks.reduce((h, b) => b.forward(h), x);
      }
    }
    expect(new Stack().namedParameters().map(([n]) => n)).toEqual([
      'blocks.0.weight',
      'blocks.0.bias',
      'blocks.1.weight',
      'blocks.1.bias',
    ]);
  });

  it('arrays of parameters are found and named field.index (scales.0, scales.1)', () => {
    class PerChannel extends Module {
      readonly scales = [
        new Parameter(Float64Array.of(2), [1]),
        new Parameter(Float64Array.of(3), [1]),
      ];
      forward(x: Tensor): Tensor {
        return mul(mul(x, this.scales[0]!), this.scales[1]!);
      }
    }
    const m = new PerChannel();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['scales.0', 'scales.1']);
    m.forward(tensor([1, 2], f64))
      .sum()
      .backward();
    expect(m.parameters().map((p) => p.grad!.data[0])).toEqual([9, 6]);
  });

  it('train()/eval() reach every sub-module, nested Sequential included', () => {
    const inner = new Sequential(new ReLU(), new Linear(2, 2));
    const net = new Sequential(new Linear(2, 2), inner);
    const all = (): boolean[] => [net, ...net.layers, ...inner.layers].map((m) => m.training);
    expect(all().every(Boolean)).toBe(true);
    expect(net.eval()).toBe(net);
    expect(all().some(Boolean)).toBe(false);
    net.train();
    expect(all().every(Boolean)).toBe(true);
    net.train(false);
    expect(all().some(Boolean)).toBe(false);
  });

  it('zeroGrad clears every gradient; dtype follows the parameters', () => {
    const net = new Sequential(new Linear(3, 2, f64));
    expect(net.dtype).toBe('float64');
    expect(new ReLU().dtype).toBe('float32');
    mse(net.forward(randT([4, 3], 1)), randT([4, 2], 2)).backward();
    expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
    net.zeroGrad();
    expect(net.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('Parameter.from copies the data', () => {
    const t = tensor([1, 2, 3], f64);
    const p = Parameter.from(t);
    p.data[0] = 9;
    expect(t.data[0]).toBe(1);
    expect(p.requiresGrad).toBe(true);
  });
});

describe('layers equal their functional ops', () => {
  const x = randT([2, 2, 6, 6], 5);

  it('Conv2d(2, 3, [3,2], stride 2, padding 1, dilation [1,2]) = conv2d', () => {
    const layer = new Conv2d(2, 3, [3, 2], { stride: 2, padding: 1, dilation: [1, 2], ...f64 });
    expect(layer.weight.shape).toEqual([3, 2, 3, 2]);
    const want = conv2d(x, layer.weight, layer.bias, { stride: 2, padding: 1, dilation: [1, 2] });
    expect(Array.from(layer.forward(x).data)).toEqual(Array.from(want.data));
  });

  it('MaxPool2d, AvgPool2d, Flatten, ReLU, Sigmoid, Tanh, Linear', () => {
    const o = { kernelSize: 2, stride: 1, padding: 1 } as const;
    expect(Array.from(new MaxPool2d(o).forward(x).data)).toEqual(Array.from(maxPool2d(x, o).data));
    expect(Array.from(new AvgPool2d(o).forward(x).data)).toEqual(Array.from(avgPool2d(x, o).data));
    expect(new Flatten().forward(x).shape).toEqual([2, 72]);
    expect(Array.from(new ReLU().forward(x).data)).toEqual(
      Array.from(x.data, (v) => Math.max(v, 0)),
    );
    expect(Array.from(new Sigmoid().forward(x).data)).toEqual(Array.from(sigmoid(x).data));
    expect(Array.from(new Tanh().forward(x).data)).toEqual(Array.from(tanh(x).data));
    const lin = new Linear(72, 4, f64);
    const h = new Flatten().forward(x);
    expect(Array.from(lin.forward(h).data)).toEqual(
      Array.from(linear(h, lin.weight, lin.bias).data),
    );
  });
});

/** `alpha * tanh(beta * x)` with learnable `alpha` and `beta`: fields and a forward, nothing else. */
class ScaledTanh extends Module {
  readonly alpha = new Parameter(Float64Array.of(1.5), [1]);
  readonly beta = new Parameter(Float64Array.of(0.8), [1]);
  forward(x: Tensor): Tensor {
    return mul(tanh(mul(x, this.beta)), this.alpha);
  }
}

describe('a custom layer from primitives', () => {
  const makeNet = (): Sequential => {
    const rng = new Rng(3);
    return new Sequential(
      new Linear(4, 6, { ...f64, rng }),
      new ScaledTanh(),
      new Linear(6, 3, { ...f64, rng }),
    );
  };
  const x = randT([8, 4], 9);
  const y = [0, 1, 2, 0, 1, 2, 0, 1];

  it('its parameters are found and named (1.alpha, 1.beta) with no registration', () => {
    expect(
      makeNet()
        .namedParameters()
        .map(([n]) => n),
    ).toEqual(['0.weight', '0.bias', '1.alpha', '1.beta', '2.weight', '2.bias']);
  });

  it('every gradient (alpha and beta included) matches central finite differences', () => {
    const net = makeNet();
    for (const p of net.parameters()) {
      for (let i = 0; i < p.size; i++) p.data[i] = p.data[i]! + 0.1 * Math.sin(i + 1);
    }
    crossEntropy(net.forward(x), y).backward();
    const lossAt = (): number => noGrad(() => crossEntropy(net.forward(x), y).item());
    for (const [name, p] of net.namedParameters()) {
      for (let i = 0; i < p.size; i++) {
        const v = p.data[i]!;
        p.data[i] = v + 1e-6;
        const up = lossAt();
        p.data[i] = v - 1e-6;
        const down = lossAt();
        p.data[i] = v;
        const fd = (up - down) / 2e-6;
        expect(Math.abs(p.grad!.data[i]! - fd), `${name}[${i}]`).toBeLessThan(
          1e-8 + 1e-6 * Math.abs(fd),
        );
      }
    }
  });

  it('trains with SGD: loss falls by half in 60 steps and alpha/beta move', () => {
    const net = makeNet();
    const opt = new SGD(net, { lr: 0.3, momentum: 0.9 });
    const scaled = net.layers[1] as ScaledTanh;
    const first = crossEntropy(net.forward(x), y).item();
    let last = first;
    for (let step = 0; step < 60; step++) {
      opt.zeroGrad();
      const loss = crossEntropy(net.forward(x), y);
      loss.backward();
      opt.step();
      last = loss.item();
    }
    expect(last).toBeLessThan(first / 2);
    expect(scaled.alpha.data[0]).not.toBe(1.5);
    expect(scaled.beta.data[0]).not.toBe(0.8);
  });

  it('a float32 custom layer mixes with float32 layers (dtype kept end to end)', () => {
    class Scale extends Module {
      readonly s = new Parameter(Float32Array.of(2), [1]);
      forward(t: Tensor): Tensor {
        return mul(t, this.s);
      }
    }
    const net = new Sequential(new Linear(3, 2, { rng: new Rng(1) }), new Scale());
    const out = net.forward(randn([2, 3], { rng: new Rng(2) }));
    expect(out.dtype).toBe('float32');
    out.sum().backward();
    expect((net.layers[1] as Scale).s.grad!.dtype).toBe('float32');
  });
});
