/**
 * Seeded initialisation (reproducibility and the variance formulas, checked statistically on
 * big tensors) and the optimizers against hand computations, their validation and their state.
 */
import { Rng, ValueError, tensor } from '@tapegrad/autograd';
import {
  Adam,
  type InitKind,
  Linear,
  PaperCNN,
  Parameter,
  SGD,
  fans,
  initParameter,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

import { expectThrows } from './reference.js';

function moments(d: ArrayLike<number>): {
  mean: number;
  variance: number;
  kurtosis: number;
  absMax: number;
} {
  let s = 0;
  for (let i = 0; i < d.length; i++) s += d[i]!;
  const mean = s / d.length;
  let m2 = 0;
  let m4 = 0;
  let absMax = 0;
  for (let i = 0; i < d.length; i++) {
    const c = d[i]! - mean;
    m2 += c * c;
    m4 += c ** 4;
    absMax = Math.max(absMax, Math.abs(d[i]!));
  }
  const variance = m2 / d.length;
  return { mean, variance, kurtosis: m4 / d.length / variance ** 2, absMax };
}

describe('initialisation', () => {
  it('an unknown kind throws ValueError instead of drawing Xavier-normal weights', () => {
    expectThrows(() => initParameter([4, 3], 'xavier' as InitKind), ValueError, {
      op: 'init',
      arg: 'kind',
      actual: 'xavier',
    });
  });

  it('fans of [64,32,3,3] are [288, 576]; of [10,20] are [20, 10]', () => {
    expect(fans([64, 32, 3, 3])).toEqual([288, 576]);
    expect(fans([10, 20])).toEqual([20, 10]);
  });

  it('fans throws for a 1-axis shape [5]', () => {
    expectThrows(() => fans([5]), ValueError, {
      op: 'init',
      arg: 'shape',
      expected: 'at least 2 axes',
      actual: '[5]',
    });
    expectThrows(() => initParameter([5], 'kaimingUniform'), ValueError, {
      op: 'init',
      arg: 'shape',
    });
  });

  it('the same seed gives the same weights; another seed different ones', () => {
    const a = initParameter([16, 8], 'kaimingNormal', { rng: new Rng(7) });
    const b = initParameter([16, 8], 'kaimingNormal', { rng: new Rng(7) });
    const c = initParameter([16, 8], 'kaimingNormal', { rng: new Rng(8) });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).not.toEqual(Array.from(c.data));
    const m1 = new PaperCNN({ inputSize: 8, kernelSize: 3, hidden: [5], classes: 3, seed: 4 });
    const m2 = new PaperCNN({ inputSize: 8, kernelSize: 3, hidden: [5], classes: 3, seed: 4 });
    const m3 = new PaperCNN({ inputSize: 8, kernelSize: 3, hidden: [5], classes: 3, seed: 5 });
    const flat = (m: PaperCNN): number[] => m.parameters().flatMap((p) => Array.from(p.data));
    expect(flat(m1)).toEqual(flat(m2));
    expect(flat(m1)).not.toEqual(flat(m3));
  });

  // [256, 64, 3, 3]: fanIn 576, fanOut 2304, 147456 samples, so the sample variance is within
  // about 1% of the true one; 5% is a generous tolerance.
  const shape = [256, 64, 3, 3];
  const cases: [InitKind, number, 'uniform' | 'normal', number?][] = [
    ['kaimingUniform', 2 / 576, 'uniform'],
    ['kaimingNormal', 2 / 576, 'normal'],
    ['xavierUniform', 2 / (576 + 2304), 'uniform'],
    ['xavierNormal', 2 / (576 + 2304), 'normal'],
    ['kaimingNormal', 9 / 576, 'normal', 3],
    ['xavierUniform', (2 * 0.25) / (576 + 2304), 'uniform', 0.5],
  ];
  for (const [kind, variance, dist, gain] of cases) {
    it(`${kind}${gain === undefined ? '' : ` gain=${gain}`} on ${JSON.stringify(shape)}: variance ${variance.toExponential(3)}, ${dist}`, () => {
      const p = initParameter(shape, kind, {
        rng: new Rng(1),
        dtype: 'float64',
        ...(gain === undefined ? {} : { gain }),
      });
      const m = moments(p.data);
      expect(Math.abs(m.mean)).toBeLessThan(0.02 * Math.sqrt(variance));
      expect(m.variance / variance).toBeGreaterThan(0.95);
      expect(m.variance / variance).toBeLessThan(1.05);
      if (dist === 'uniform') {
        // U[-b, b] with b = sqrt(3 var): bounded by b, reaching close to it, kurtosis 1.8.
        const b = Math.sqrt(3 * variance);
        expect(m.absMax).toBeLessThanOrEqual(b);
        expect(m.absMax).toBeGreaterThan(0.999 * b);
        expect(m.kurtosis).toBeCloseTo(1.8, 1);
      } else {
        expect(m.kurtosis).toBeGreaterThan(2.85);
        expect(m.kurtosis).toBeLessThan(3.15);
      }
    });
  }

  it('zeros gives zeros; float32 is the default dtype and float64 on request', () => {
    expect(Array.from(initParameter([3, 2], 'zeros').data)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(initParameter([3, 2], 'xavierUniform').dtype).toBe('float32');
    expect(initParameter([3, 2], 'xavierUniform', { dtype: 'float64' }).dtype).toBe('float64');
  });

  it('Linear biases start at zero and its weight follows the init option', () => {
    const l = new Linear(400, 300, { init: 'xavierNormal', rng: new Rng(2), dtype: 'float64' });
    expect(Array.from(l.bias!.data).every((v) => v === 0)).toBe(true);
    expect(moments(l.weight.data).variance / (2 / 700)).toBeCloseTo(1, 1);
  });
});

/** A float64 parameter holding `values`, whose gradient the test sets by hand. */
const param = (values: number[]): Parameter =>
  new Parameter(Float64Array.from(values), [values.length]);
const setGrad = (p: Parameter, g: number[]): void => {
  p.grad = tensor(g, { dtype: 'float64' });
};

describe('SGD against hand computations', () => {
  it('plain: p=1, g=0.5, lr=0.1: 0.95, 0.90, 0.85', () => {
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1 });
    const seen: number[] = [];
    for (let t = 0; t < 3; t++) {
      setGrad(p, [0.5]);
      opt.step();
      seen.push(p.data[0]!);
    }
    expect(seen[0]).toBeCloseTo(0.95, 15);
    expect(seen[1]).toBeCloseTo(0.9, 15);
    expect(seen[2]).toBeCloseTo(0.85, 15);
    expect(opt.stepCount).toBe(3);
  });

  it('momentum 0.9, weight decay 0.1: p=1, g=0.5, lr=0.1 gives 0.94 then 0.8266', () => {
    // d1 = 0.5 + 0.1 = 0.6, v1 = 0.6, p1 = 0.94; d2 = 0.5 + 0.094 = 0.594,
    // v2 = 0.54 + 0.594 = 1.134, p2 = 0.94 - 0.1134 = 0.8266.
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.1 });
    setGrad(p, [0.5]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(0.94, 14);
    setGrad(p, [0.5]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(0.8266, 14);
  });

  it('nesterov, momentum 0.9, weight decay 0.1: gives 0.886 then 0.725566', () => {
    // step uses d + mu v: 0.6 + 0.54 = 1.14 -> 0.886; d2 = 0.5886, v2 = 0.54 + 0.5886 = 1.1286,
    // step 0.5886 + 1.01574 = 1.60434 -> 0.886 - 0.160434 = 0.725566.
    const p = param([1]);
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.1, nesterov: true });
    setGrad(p, [0.5]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(0.886, 14);
    setGrad(p, [0.5]);
    opt.step();
    expect(p.data[0]).toBeCloseTo(0.725566, 14);
  });

  it('momentum over 3 steps with changing gradients, two entries, against a reference loop', () => {
    const p = param([1, -2]);
    const grads = [
      [0.3, -0.1],
      [-0.2, 0.4],
      [0.05, 0.05],
    ];
    const opt = new SGD([p], { lr: 0.05, momentum: 0.8, weightDecay: 0.01, nesterov: true });
    const w = [1, -2];
    const v = [0, 0];
    for (const g of grads) {
      setGrad(p, g);
      opt.step();
      for (let i = 0; i < 2; i++) {
        const d = g[i]! + 0.01 * w[i]!;
        v[i] = 0.8 * v[i]! + d;
        w[i] = w[i]! - 0.05 * (d + 0.8 * v[i]!);
      }
      expect(p.data[0]).toBeCloseTo(w[0]!, 15);
      expect(p.data[1]).toBeCloseTo(w[1]!, 15);
    }
  });

  it('skips a parameter without a gradient, and zeroGrad clears them', () => {
    const a = param([1]);
    const b = param([2]);
    const opt = new SGD([a, b], { lr: 1 });
    setGrad(a, [1]);
    opt.step();
    expect([a.data[0], b.data[0]]).toEqual([0, 2]);
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });

  for (const [arg, options, actual] of [
    ['lr', { lr: -0.1 }, '-0.1'],
    ['lr', { lr: Number.NaN }, 'NaN'],
    ['momentum', { lr: 0.1, momentum: -1 }, '-1'],
    ['weightDecay', { lr: 0.1, weightDecay: Infinity }, 'Infinity'],
  ] as const) {
    it(`throws for ${arg}=${actual}`, () => {
      expectThrows(() => new SGD([param([1])], options), ValueError, {
        op: 'SGD',
        arg,
        expected: 'a finite number >= 0',
        actual,
      });
    });
  }
});

describe('Adam against hand computations', () => {
  it('constant g=0.5, lr=0.1: each bias-corrected step moves p by lr: 0.9, 0.8, 0.7', () => {
    const p = param([1]);
    const opt = new Adam([p], { lr: 0.1 });
    for (const want of [0.9, 0.8, 0.7]) {
      setGrad(p, [0.5]);
      opt.step();
      expect(p.data[0]).toBeCloseTo(want, 7);
    }
    expect(opt.stepCount).toBe(3);
  });

  it('3 steps with changing gradients and weight decay, against a reference loop', () => {
    const p = param([0.5, -1.5]);
    const grads = [
      [0.2, -0.7],
      [-0.4, 0.1],
      [0.3, 0.3],
    ];
    const [b1, b2, lr, eps, wd] = [0.8, 0.95, 0.01, 1e-6, 0.05];
    const opt = new Adam([p], { lr, betas: [b1, b2], eps, weightDecay: wd });
    const w = [0.5, -1.5];
    const m = [0, 0];
    const v = [0, 0];
    grads.forEach((g, t) => {
      setGrad(p, g);
      opt.step();
      for (let i = 0; i < 2; i++) {
        const d = g[i]! + wd * w[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * d;
        v[i] = b2 * v[i]! + (1 - b2) * d * d;
        const mHat = m[i]! / (1 - b1 ** (t + 1));
        const vHat = v[i]! / (1 - b2 ** (t + 1));
        w[i] = w[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
      }
      expect(p.data[0]).toBeCloseTo(w[0]!, 15);
      expect(p.data[1]).toBeCloseTo(w[1]!, 15);
    });
  });

  for (const [arg, options, actual, expected] of [
    ['lr', { lr: -1 }, '-1', 'a finite number >= 0'],
    ['eps', { eps: -1e-8 }, '-1e-8', 'a finite number >= 0'],
    ['weightDecay', { weightDecay: -1 }, '-1', 'a finite number >= 0'],
    ['betas[0]', { betas: [1, 0.999] as const }, '1', 'a number in [0, 1)'],
    ['betas[1]', { betas: [0.9, -0.1] as const }, '-0.1', 'a number in [0, 1)'],
  ] as const) {
    it(`throws for ${arg}=${actual}`, () => {
      expectThrows(() => new Adam([param([1])], options), ValueError, {
        op: 'Adam',
        arg,
        expected,
        actual,
      });
    });
  }
});

describe('optimizer state', () => {
  for (const kind of ['sgd', 'adam'] as const) {
    it(`${kind}: stateDict/loadStateDict resumes exactly (2 steps, save, 1 more step)`, () => {
      const make = (p: Parameter) =>
        kind === 'sgd'
          ? new SGD([['w', p]], { lr: 0.1, momentum: 0.9 })
          : new Adam([['w', p]], { lr: 0.1 });
      const a = param([1, 2, 3]);
      const optA = make(a);
      for (const g of [
        [0.1, 0.2, 0.3],
        [-0.3, 0.1, 0.0],
      ]) {
        setGrad(a, g);
        optA.step();
      }
      const state = optA.stateDict();
      expect(state.kind).toBe(kind);
      expect(state.step).toBe(2);
      expect(Object.keys(state.buffers).sort()).toEqual(
        kind === 'sgd' ? ['w.momentum'] : ['w.m', 'w.v'],
      );
      // A copy: changing it changes nothing in the optimizer.
      const saved = Array.from(Object.values(state.buffers)[0]!);
      Object.values(state.buffers)[0]!.fill(123);
      expect(Array.from(optA.stateDict().buffers[Object.keys(state.buffers)[0]!]!)).toEqual(saved);

      const b = param(Array.from(a.data));
      const optB = make(b);
      optB.loadStateDict(optA.stateDict());
      expect(optB.stepCount).toBe(2);
      for (const [p, o] of [
        [a, optA],
        [b, optB],
      ] as const) {
        setGrad(p, [0.5, -0.5, 0.25]);
        o.step();
      }
      expect(Array.from(b.data)).toEqual(Array.from(a.data));
    });
  }

  it('loading adam state into SGD throws naming both kinds', () => {
    const adam = new Adam([param([1])]);
    const sgd = new SGD([param([1])], { lr: 0.1 });
    const err = expectThrows(() => sgd.loadStateDict(adam.stateDict()), ValueError, {
      op: 'loadStateDict',
      arg: 'kind',
      expected: 'sgd',
      actual: 'adam',
    });
    expect(err.message).toContain('adam optimizer cannot load into sgd');
  });

  it('optimizers take a Module and key state by parameter name', () => {
    const lin = new Linear(2, 2, { dtype: 'float64' });
    const opt = new SGD(lin, { lr: 0.1, momentum: 0.5 });
    expect(opt.params.map(([n]) => n)).toEqual(['weight', 'bias']);
    for (const p of lin.parameters())
      p.grad = tensor(new Float64Array(p.size).fill(1), { shape: p.shape });
    opt.step();
    expect(Object.keys(opt.stateDict().buffers)).toEqual(['weight.momentum', 'bias.momentum']);
  });
});

describe('loadStateDict validation', () => {
  const fresh = (): SGD => new SGD([['w', param([1, 2, 3])]], { lr: 0.1, momentum: 0.9 });

  it('throws for a buffer of another size: w.momentum of 2 values for w of 3', () => {
    const opt = fresh();
    expectThrows(
      () =>
        opt.loadStateDict({
          kind: 'sgd',
          step: 1,
          buffers: { 'w.momentum': Float64Array.of(1, 2) },
        }),
      ValueError,
      { op: 'loadStateDict', arg: 'w.momentum', expected: '3 values', actual: '2' },
    );
    expect(opt.stepCount).toBe(0);
    expect(opt.stateDict().buffers).toEqual({});
  });

  it('throws for a buffer of no parameter: q.momentum', () => {
    expectThrows(
      () =>
        fresh().loadStateDict({
          kind: 'sgd',
          step: 1,
          buffers: { 'q.momentum': Float64Array.of(1) },
        }),
      ValueError,
      {
        op: 'loadStateDict',
        arg: 'q.momentum',
        expected: 'a buffer of one of w',
        actual: 'q.momentum',
      },
    );
  });

  for (const step of [-1, 1.5]) {
    it(`throws for step=${step}`, () => {
      expectThrows(() => fresh().loadStateDict({ kind: 'sgd', step, buffers: {} }), ValueError, {
        op: 'loadStateDict',
        arg: 'step',
        expected: 'a non-negative integer',
        actual: String(step),
      });
    });
  }

  it('matches a buffer to the longest parameter name: a.b.m belongs to a.b, not a', () => {
    const opt = new Adam([
      ['a', param([1])],
      ['a.b', param([1, 2])],
    ]);
    opt.loadStateDict({ kind: 'adam', step: 1, buffers: { 'a.b.m': Float64Array.of(0, 0) } });
    expect(opt.stepCount).toBe(1);
  });
});
