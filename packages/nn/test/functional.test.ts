/**
 * The functional ops of @tapegrad/nn: each forward against a direct reference loop, each
 * gradient through `gradCheck` in float64, validation errors by their fields, and the stability
 * cases (large logits, saturated sigmoid and tanh).
 */
import {
  AxisError,
  DTypeError,
  ShapeError,
  type Tensor,
  ValueError,
  gradCheck,
  mul,
  sum,
  tensor,
  zeros,
} from '@tapegrad/autograd';
import {
  avgPool2d,
  conv2d,
  crossEntropy,
  flatten,
  linear,
  logSoftmax,
  logsumexp,
  maxPool2d,
  mse,
  relu,
  sigmoid,
  softmax,
  tanh,
} from '@tapegrad/nn';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  type P2,
  arr,
  expectClose,
  expectThrows,
  randT,
  refAvgPool,
  refConv2d,
  refMaxPool,
} from './reference.js';

const f64 = { dtype: 'float64' } as const;

function expectGradOk(f: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): void {
  const report = gradCheck(f, inputs);
  expect(report.warnings).toEqual([]);
  expect(report.checked).toBeGreaterThan(0);
  expect(report.ok, JSON.stringify(report.worst)).toBe(true);
}

interface ConvCase {
  n: number;
  cin: number;
  cout: number;
  h: number;
  w: number;
  k: P2;
  s: P2;
  p: P2;
  d: P2;
  bias: boolean;
  seed: number;
}

const label = (c: ConvCase): string =>
  `x=[${c.n},${c.cin},${c.h},${c.w}] w=[${c.cout},${c.cin},${c.k}] s=${c.s} p=${c.p} d=${c.d}` +
  (c.bias ? '' : ' no bias');

/** Random conv2d geometries whose (padded, dilated) window fits the input. */
const convCase: fc.Arbitrary<ConvCase> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    cin: fc.integer({ min: 1, max: 3 }),
    cout: fc.integer({ min: 1, max: 3 }),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    p: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    d: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    bias: fc.boolean(),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .filter(
    (c) =>
      c.d[0] * (c.k[0] - 1) + 1 <= c.h + 2 * c.p[0] &&
      c.d[1] * (c.k[1] - 1) + 1 <= c.w + 2 * c.p[1],
  );

function convInputs(c: ConvCase): [Tensor, Tensor, Tensor | null] {
  return [
    randT([c.n, c.cin, c.h, c.w], c.seed),
    randT([c.cout, c.cin, c.k[0], c.k[1]], c.seed + 1),
    c.bias ? randT([c.cout], c.seed + 2) : null,
  ];
}

describe('conv2d', () => {
  const fixed: ConvCase[] = [
    {
      n: 2,
      cin: 3,
      cout: 4,
      h: 7,
      w: 7,
      k: [3, 3],
      s: [2, 2],
      p: [1, 1],
      d: [1, 1],
      bias: true,
      seed: 1,
    },
    {
      n: 1,
      cin: 2,
      cout: 2,
      h: 6,
      w: 5,
      k: [2, 3],
      s: [1, 2],
      p: [2, 1],
      d: [2, 1],
      bias: true,
      seed: 2,
    },
    {
      n: 2,
      cin: 1,
      cout: 3,
      h: 8,
      w: 8,
      k: [3, 3],
      s: [3, 3],
      p: [0, 0],
      d: [2, 2],
      bias: false,
      seed: 3,
    },
    {
      n: 1,
      cin: 1,
      cout: 1,
      h: 5,
      w: 5,
      k: [5, 5],
      s: [1, 1],
      p: [0, 0],
      d: [1, 1],
      bias: true,
      seed: 4,
    },
  ];
  for (const c of fixed) {
    it(`forward matches the reference loop and gradients pass gradCheck: ${label(c)}`, () => {
      const [x, w, b] = convInputs(c);
      const y = conv2d(x, w, b, { stride: c.s, padding: c.p, dilation: c.d });
      const ref = refConv2d(arr(x), arr(w), b ? arr(b).data : null, c.s, c.p, c.d);
      expect(y.shape).toEqual(ref.shape);
      expectClose(y.data, ref.data, 1e-13);
      const opts = { stride: c.s, padding: c.p, dilation: c.d };
      if (b) expectGradOk((xx, ww, bb) => conv2d(xx!, ww!, bb!, opts), [x, w, b]);
      else expectGradOk((xx, ww) => conv2d(xx!, ww!, null, opts), [x, w]);
    });
  }

  it('property: random stride, padding, dilation, channels: forward = reference, gradCheck ok', () => {
    fc.assert(
      fc.property(convCase, (c) => {
        const [x, w, b] = convInputs(c);
        const opts = { stride: c.s, padding: c.p, dilation: c.d };
        const y = conv2d(x, w, b, opts);
        const ref = refConv2d(arr(x), arr(w), b ? arr(b).data : null, c.s, c.p, c.d);
        expect(y.shape, label(c)).toEqual(ref.shape);
        expectClose(y.data, ref.data, 1e-13);
        const inputs = b ? [x, w, b] : [x, w];
        const report = gradCheck((xx, ww, bb) => conv2d(xx!, ww!, bb ?? null, opts), inputs);
        expect(report.ok, `${label(c)} ${JSON.stringify(report.worst)}`).toBe(true);
      }),
      { numRuns: 25, seed: 11 },
    );
  });

  it('computes cross-correlation (kernel not flipped): x=[1,1,1,3] w=[1,1,1,2]', () => {
    const x = tensor([1, 2, 3], { shape: [1, 1, 1, 3], ...f64 });
    const w = tensor([10, 1], { shape: [1, 1, 1, 2], ...f64 });
    expect(Array.from(conv2d(x, w).data)).toEqual([12, 23]);
  });

  it('throws on a channel mismatch x=[2,3,28,28] w=[8,1,5,5], naming both', () => {
    const err = expectThrows(
      () => conv2d(randT([2, 3, 28, 28], 0), randT([8, 1, 5, 5], 1)),
      ShapeError,
      { op: 'conv2d', arg: 'x', expected: '1 channels', actual: '3' },
    );
    expect(err.message).toBe('conv2d: input has 3 channels, weight expects 1 ([8,1,5,5])');
  });

  it('throws for groups > 1: groups=2', () => {
    const err = expectThrows(
      () => conv2d(randT([1, 2, 4, 4], 0), randT([2, 1, 3, 3], 1), null, { groups: 2 }),
      ValueError,
      { op: 'conv2d', arg: 'groups', expected: '1', actual: '2' },
    );
    expect(err.message).toBe('conv2d: groups > 1 is not supported');
  });

  it('throws for a 3-D input x=[3,5,5]', () => {
    expectThrows(() => conv2d(randT([3, 5, 5], 0), randT([1, 3, 2, 2], 1)), ShapeError, {
      op: 'conv2d',
      arg: 'x',
      expected: '[N, C_in, H, W]',
      actual: '[3,5,5]',
    });
  });

  it('throws for a 3-D weight w=[1,2,2]', () => {
    expectThrows(() => conv2d(randT([1, 1, 5, 5], 0), randT([1, 2, 2], 1)), ShapeError, {
      op: 'conv2d',
      arg: 'weight',
      expected: '[C_out, C_in, kH, kW]',
      actual: '[1,2,2]',
    });
  });

  it('throws for a bias of the wrong length b=[3] for w=[2,1,3,3]', () => {
    expectThrows(
      () => conv2d(randT([1, 1, 5, 5], 0), randT([2, 1, 3, 3], 1), randT([3], 2)),
      ShapeError,
      { op: 'conv2d', arg: 'bias', expected: '[2]', actual: '[3]' },
    );
  });
});

interface PoolCase {
  n: number;
  c: number;
  h: number;
  w: number;
  k: P2;
  s: P2;
  p: P2;
  seed: number;
}

const poolLabel = (c: PoolCase): string =>
  `x=[${c.n},${c.c},${c.h},${c.w}] k=${c.k} s=${c.s} p=${c.p}`;

const poolCase: fc.Arbitrary<PoolCase> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    c: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 7 }),
    w: fc.integer({ min: 1, max: 7 }),
    k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    pr: fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .map(({ pr, ...c }) => ({
    ...c,
    // Padding at most half the kernel, as the ops require.
    p: [Math.min(pr[0], Math.floor(c.k[0] / 2)), Math.min(pr[1], Math.floor(c.k[1] / 2))] as P2,
  }))
  .filter((c) => c.k[0] <= c.h + 2 * c.p[0] && c.k[1] <= c.w + 2 * c.p[1]);

/** The gradient of `sum(cot * maxPool(x))` by the tie rule: each cotangent to its argmax. */
function expectedMaxPoolGrad(size: number, argmax: Int32Array, cot: Tensor): Float64Array {
  const g = new Float64Array(size);
  argmax.forEach((at, o) => (g[at]! += cot.data[o]!));
  return g;
}

describe('maxPool2d', () => {
  it('property: forward = reference loop, gradCheck ok (stride, padding, overlap)', () => {
    fc.assert(
      fc.property(poolCase, (c) => {
        const x = randT([c.n, c.c, c.h, c.w], c.seed);
        const opts = { kernelSize: c.k, stride: c.s, padding: c.p };
        const y = maxPool2d(x, opts);
        const ref = refMaxPool(arr(x), c.k, c.s, c.p);
        expect(y.shape, poolLabel(c)).toEqual(ref.shape);
        expect(Array.from(y.data), poolLabel(c)).toEqual(Array.from(ref.data));
        const report = gradCheck((xx) => maxPool2d(xx!, opts), [x]);
        expect(report.ok, `${poolLabel(c)} ${JSON.stringify(report.worst)}`).toBe(true);
      }),
      { numRuns: 30, seed: 12 },
    );
  });

  it('property: with exact ties, each window sends its gradient to the first maximum only', () => {
    fc.assert(
      fc.property(poolCase, fc.integer({ min: 1, max: 3 }), (c, levels) => {
        // Values from a tiny integer set, negative ones included, so ties are everywhere and a
        // padded tap (if it were 0) would beat a whole window of negatives.
        const rng = randT([c.n * c.c * c.h * c.w], c.seed).data;
        const vals = Array.from(rng, (v) => (Math.round(Math.abs(v) * levels) % (levels + 1)) - 1);
        const x = tensor(vals, { shape: [c.n, c.c, c.h, c.w], ...f64, requiresGrad: true });
        const opts = { kernelSize: c.k, stride: c.s, padding: c.p };
        const y = maxPool2d(x, opts);
        const ref = refMaxPool(arr(x), c.k, c.s, c.p);
        expect(Array.from(y.data), poolLabel(c)).toEqual(Array.from(ref.data));
        const cot = randT([...y.shape], c.seed + 7);
        sum(mul(y, cot)).backward();
        const want = expectedMaxPoolGrad(x.size, ref.argmax, cot);
        // Exactly the same positions get a gradient; overlapping windows may add in another order.
        const got = Array.from(x.grad!.data);
        expect(
          got.map((v) => v !== 0),
          poolLabel(c),
        ).toEqual(Array.from(want, (v) => v !== 0));
        expectClose(got, want, 1e-14);
      }),
      { numRuns: 30, seed: 13 },
    );
  });

  it('ties in one 2x2 window x=[[1,3],[3,3]]: gradient only at (0,1)', () => {
    const x = tensor([1, 3, 3, 3], { shape: [1, 1, 2, 2], ...f64, requiresGrad: true });
    maxPool2d(x, { kernelSize: 2 }).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([0, 1, 0, 0]);
  });

  it('a constant window x=[[5,5],[5,5]] routes the whole gradient to (0,0), not a share', () => {
    const x = tensor([5, 5, 5, 5], { shape: [1, 1, 2, 2], ...f64, requiresGrad: true });
    maxPool2d(x, { kernelSize: 2 }).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([1, 0, 0, 0]);
  });

  it('padded taps never win: all-negative x=[1,1,2,2] k=2 s=1 p=1', () => {
    const x = tensor([-4, -3, -2, -1], { shape: [1, 1, 2, 2], ...f64, requiresGrad: true });
    const y = maxPool2d(x, { kernelSize: 2, stride: 1, padding: 1 });
    expect(y.shape).toEqual([1, 1, 3, 3]);
    expect(Array.from(y.data)).toEqual([-4, -3, -3, -2, -1, -1, -2, -1, -1]);
    y.sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([1, 2, 2, 4]);
  });

  it('drops a ragged edge: x=[1,1,5,5] k=2 gives [1,1,2,2] and zero gradient on row/col 4', () => {
    const x = randT([1, 1, 5, 5], 3, 1, true);
    const y = maxPool2d(x, { kernelSize: 2 });
    expect(y.shape).toEqual([1, 1, 2, 2]);
    y.sum().backward();
    for (let i = 0; i < 5; i++) {
      expect(x.grad!.data[4 * 5 + i]).toBe(0);
      expect(x.grad!.data[i * 5 + 4]).toBe(0);
    }
  });

  it('throws when padding is more than half the kernel: k=2 p=2', () => {
    expectThrows(
      () => maxPool2d(randT([1, 1, 4, 4], 0), { kernelSize: 2, padding: 2 }),
      ValueError,
      { op: 'maxPool2d', arg: 'padding', expected: 'at most half the kernel 2x2', actual: '2x2' },
    );
  });

  it('throws for a 3-D input x=[1,4,4]', () => {
    expectThrows(() => maxPool2d(randT([1, 4, 4], 0), { kernelSize: 2 }), ShapeError, {
      op: 'maxPool2d',
      arg: 'x',
      expected: '[N, C, H, W]',
      actual: '[1,4,4]',
    });
  });
});

describe('avgPool2d', () => {
  it('property: forward = reference loop (padding counts as zero), gradCheck ok', () => {
    fc.assert(
      fc.property(poolCase, (c) => {
        const x = randT([c.n, c.c, c.h, c.w], c.seed);
        const opts = { kernelSize: c.k, stride: c.s, padding: c.p };
        const y = avgPool2d(x, opts);
        const ref = refAvgPool(arr(x), c.k, c.s, c.p);
        expect(y.shape, poolLabel(c)).toEqual(ref.shape);
        expectClose(y.data, ref.data, 1e-14);
        const report = gradCheck((xx) => avgPool2d(xx!, opts), [x]);
        expect(report.ok, `${poolLabel(c)} ${JSON.stringify(report.worst)}`).toBe(true);
      }),
      { numRuns: 25, seed: 14 },
    );
  });

  it('spreads the gradient evenly: x=[1,1,2,2] k=2 gives 1/4 each', () => {
    const x = randT([1, 1, 2, 2], 1, 1, true);
    avgPool2d(x, { kernelSize: 2 }).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([0.25, 0.25, 0.25, 0.25]);
  });

  it('throws when padding is more than half the kernel: k=[3,1] p=[1,1]', () => {
    expectThrows(
      () => avgPool2d(randT([1, 1, 4, 4], 0), { kernelSize: [3, 1], padding: [1, 1] }),
      ValueError,
      { op: 'avgPool2d', arg: 'padding', expected: 'at most half the kernel 3x1', actual: '1x1' },
    );
  });
});

describe('activations', () => {
  const xs = randT([3, 5], 21, 3);

  it('relu forward = max(0, x), gradient 0 at 0 and gradCheck ok away from 0', () => {
    expect(Array.from(relu(xs).data)).toEqual(Array.from(xs.data, (v) => Math.max(0, v)));
    const z = tensor([-1, 0, 2], { ...f64, requiresGrad: true });
    relu(z).sum().backward();
    expect(Array.from(z.grad!.data)).toEqual([0, 0, 1]);
    expectGradOk((x) => relu(x!), [xs]);
  });

  it('sigmoid forward = 1/(1+e^-x), gradCheck ok', () => {
    expectClose(
      sigmoid(xs).data,
      Array.from(xs.data, (v) => 1 / (1 + Math.exp(-v))),
      1e-15,
    );
    expectGradOk((x) => sigmoid(x!), [xs]);
  });

  it('tanh forward = Math.tanh, gradCheck ok', () => {
    expectClose(tanh(xs).data, Array.from(xs.data, Math.tanh), 1e-15);
    expectGradOk((x) => tanh(x!), [xs]);
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`sigmoid and tanh at x=±1e3 (${dtype}): finite values and finite gradients`, () => {
      const x = tensor([-1e3, -50, 0, 50, 1e3], { dtype, requiresGrad: true });
      const s = sigmoid(x);
      expect(Array.from(s.data)).toEqual([0, expect.closeTo(0, 20), 0.5, 1, 1]);
      s.sum().backward();
      expect(Array.from(x.grad!.data).every(Number.isFinite)).toBe(true);
      expect(x.grad!.data[0]).toBe(0);
      expect(x.grad!.data[2]).toBeCloseTo(0.25, 12);
      x.grad = null;
      const t = tanh(x);
      expect(Array.from(t.data)).toEqual([-1, -1, 0, 1, 1]);
      t.sum().backward();
      expect(Array.from(x.grad!.data).every(Number.isFinite)).toBe(true);
      expect(x.grad!.data[2]).toBeCloseTo(1, 6);
    });
  }
});

/** Row-wise softmax by a direct loop, shifted by the row max. */
function refSoftmax(x: Tensor): number[] {
  const [n, k] = x.shape as [number, number];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const row = Array.from(x.data.subarray(i * k, (i + 1) * k));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / s));
  }
  return out;
}

describe('softmax, logSoftmax, logsumexp', () => {
  const x = randT([4, 5], 31, 2);

  it('softmax x=[4,5] matches the reference, rows sum to 1, gradCheck ok', () => {
    const y = softmax(x);
    expectClose(y.data, refSoftmax(x), 1e-15);
    for (let i = 0; i < 4; i++) expect(sum(y.slice([[i, i + 1]])).item()).toBeCloseTo(1, 14);
    expectGradOk((t) => softmax(t!), [x]);
  });

  it('logSoftmax x=[4,5] = log of the reference softmax, gradCheck ok', () => {
    expectClose(logSoftmax(x).data, refSoftmax(x).map(Math.log), 1e-14);
    expectGradOk((t) => logSoftmax(t!), [x]);
  });

  it('softmax along axis 0 of x=[4,5]: columns sum to 1', () => {
    const y = softmax(x, 0);
    const cols = sum(y, 0);
    expectClose(cols.data, [1, 1, 1, 1, 1], 1e-15);
    expectGradOk((t) => softmax(t!, 0), [x]);
  });

  it('logsumexp keepdims and axis: x=[4,5] axis=1 -> [4] and [4,1]', () => {
    const ref = Array.from({ length: 4 }, (_, i) =>
      Math.log(Array.from(x.data.subarray(i * 5, i * 5 + 5)).reduce((s, v) => s + Math.exp(v), 0)),
    );
    expect(logsumexp(x, 1).shape).toEqual([4]);
    expect(logsumexp(x, 1, true).shape).toEqual([4, 1]);
    expectClose(logsumexp(x, -1).data, ref, 1e-15);
    expectGradOk((t) => logsumexp(t!, 1), [x]);
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`softmax and logSoftmax of logits ±1e4 (${dtype}) are finite with finite gradients`, () => {
      const z = tensor([1e4, -1e4, 0, 1e4, 1e4, -1e4], {
        shape: [2, 3],
        dtype,
        requiresGrad: true,
      });
      const p = softmax(z);
      expect(Array.from(p.data)).toEqual([1, 0, 0, 0.5, 0.5, 0]);
      const lp = logSoftmax(z);
      expect(Array.from(lp.data).every(Number.isFinite)).toBe(true);
      mul(lp, tensor([1, 1, 1, 1, 1, 1], { shape: [2, 3], dtype }))
        .sum()
        .backward();
      expect(Array.from(z.grad!.data).every(Number.isFinite)).toBe(true);
    });
  }
});

describe('crossEntropy', () => {
  const logits = randT([4, 3], 41, 2);
  const targets = [2, 0, 1, 1];
  const ref = (): number => {
    const p = refSoftmax(logits);
    return -targets.reduce((s, t, i) => s + Math.log(p[i * 3 + t]!), 0) / 4;
  };

  it('class indices as number[]: value = mean(-log softmax[t]), gradCheck ok', () => {
    expect(crossEntropy(logits, targets).item()).toBeCloseTo(ref(), 14);
    expectGradOk((z) => crossEntropy(z!, targets), [logits]);
  });

  it('class indices as a tensor [4] give the same value and gradient as number[]', () => {
    const t = tensor(targets, f64);
    expect(crossEntropy(logits, t).item()).toBe(crossEntropy(logits, targets).item());
    expectGradOk((z) => crossEntropy(z!, t), [logits]);
  });

  it('probability rows [4,3]: one-hot rows equal the index form; soft rows match the formula', () => {
    const onehot = tensor(
      targets.flatMap((t) => [0, 1, 2].map((k) => (k === t ? 1 : 0))),
      { shape: [4, 3], ...f64 },
    );
    expect(crossEntropy(logits, onehot).item()).toBeCloseTo(ref(), 14);
    const soft = softmax(randT([4, 3], 42));
    const p = refSoftmax(logits);
    const want = -Array.from(soft.data).reduce((s, y, i) => s + y * Math.log(p[i]!), 0) / 4;
    expect(crossEntropy(logits, soft).item()).toBeCloseTo(want, 14);
    expectGradOk((z) => crossEntropy(z!, soft), [logits]);
  });

  it('gradient w.r.t. logits is (softmax - onehot) / N', () => {
    const z = logits.clone().requireGrad();
    crossEntropy(z, targets).backward();
    const p = refSoftmax(logits);
    const want = p.map((v, i) => (v - (targets[Math.floor(i / 3)] === i % 3 ? 1 : 0)) / 4);
    expectClose(z.grad!.data, want, 1e-14);
  });

  for (const dtype of ['float32', 'float64'] as const) {
    it(`logits of magnitude 1e4 (${dtype}): finite loss, finite gradients, exact values`, () => {
      const z = tensor([1e4, -1e4, 0, -1e4, 1e4, 1e4], {
        shape: [2, 3],
        dtype,
        requiresGrad: true,
      });
      const loss = crossEntropy(z, [0, 0]);
      // Row 0 picks its max (loss 0); row 1 picks -1e4 against two 1e4s: 2e4 + log 2.
      expect(loss.item()).toBeCloseTo((0 + 2e4 + Math.LN2) / 2, dtype === 'float32' ? 0 : 8);
      loss.backward();
      expect(Array.from(z.grad!.data).every(Number.isFinite)).toBe(true);
      expectClose(z.grad!.data, [0, 0, 0, -0.5, 0.25, 0.25], 1e-6);
    });
  }

  it('throws for logits of rank 1: logits=[3]', () => {
    expectThrows(() => crossEntropy(randT([3], 0), [0]), ShapeError, {
      op: 'crossEntropy',
      arg: 'logits',
      expected: '[N, K]',
      actual: '[3]',
    });
  });

  it('throws for too few class indices: logits=[4,3] targets=[3]', () => {
    expectThrows(() => crossEntropy(logits, [0, 1, 2]), ShapeError, {
      op: 'crossEntropy',
      arg: 'targets',
      expected: '[4] class indices or [4, 3] probabilities',
      actual: '[3]',
    });
  });

  it('throws for probability rows of the wrong shape: logits=[4,3] targets=[4,2]', () => {
    expectThrows(() => crossEntropy(logits, randT([4, 2], 0)), ShapeError, {
      op: 'crossEntropy',
      arg: 'targets',
      expected: '[4,3]',
      actual: '[4,2]',
    });
  });

  for (const [bad, name] of [
    [3, 'too large'],
    [-1, 'negative'],
    [0.5, 'fractional'],
  ] as const) {
    it(`throws for a class index that is ${name}: target ${bad} with K=3`, () => {
      const err = expectThrows(() => crossEntropy(logits, [0, 1, bad, 2]), ValueError, {
        op: 'crossEntropy',
        arg: 'targets',
        expected: 'class indices in [0, 2]',
        actual: String(bad),
      });
      expect(err.message).toContain('at position 2');
    });
  }
});

describe('mse, linear, flatten', () => {
  it('mse x=[3,4]: value = mean of squares, gradCheck ok in both arguments', () => {
    const a = randT([3, 4], 51);
    const b = randT([3, 4], 52);
    const want = Array.from(a.data).reduce((s, v, i) => s + (v - b.data[i]!) ** 2, 0) / 12;
    expect(mse(a, b).item()).toBeCloseTo(want, 14);
    expectGradOk((p, q) => mse(p!, q!), [a, b]);
  });

  it('mse throws for shapes [3,4] vs [4,3] (no broadcasting)', () => {
    expectThrows(() => mse(randT([3, 4], 0), randT([4, 3], 1)), ShapeError, {
      op: 'mse',
      arg: 'target',
      expected: '[3,4]',
      actual: '[4,3]',
    });
  });

  it('mse throws for shapes [3,4] vs [4] (no broadcasting)', () => {
    expectThrows(() => mse(randT([3, 4], 0), randT([4], 1)), ShapeError, {
      op: 'mse',
      arg: 'target',
      expected: '[3,4]',
      actual: '[4]',
    });
  });

  it('linear x=[2,3,4] w=[5,4] b=[5]: forward = sum_k x w + b, gradCheck ok', () => {
    const x = randT([2, 3, 4], 61);
    const w = randT([5, 4], 62);
    const b = randT([5], 63);
    const y = linear(x, w, b);
    expect(y.shape).toEqual([2, 3, 5]);
    const want: number[] = [];
    for (let r = 0; r < 6; r++) {
      for (let o = 0; o < 5; o++) {
        let s = b.data[o]!;
        for (let k = 0; k < 4; k++) s += x.data[r * 4 + k]! * w.data[o * 4 + k]!;
        want.push(s);
      }
    }
    expectClose(y.data, want, 1e-14);
    expectGradOk((xx, ww, bb) => linear(xx!, ww!, bb!), [x, w, b]);
    expectGradOk((xx, ww) => linear(xx!, ww!), [x, w]);
  });

  it('linear throws for x=[2,3] w=[5,4]', () => {
    expectThrows(() => linear(randT([2, 3], 0), randT([5, 4], 1)), ShapeError, {
      op: 'linear',
      arg: 'x',
      expected: '[..., 4]',
      actual: '[2,3]',
    });
  });

  it('linear throws naming weight for a 1-D weight w=[4] (not x, not "[..., undefined]")', () => {
    const err = expectThrows(() => linear(randT([2, 4], 0), randT([4], 1)), ShapeError, {
      op: 'linear',
      arg: 'weight',
      expected: '[out, in]',
      actual: '[4]',
    });
    expect(err.message).toBe('linear: weight must be [out, in], got [4]');
  });

  it('linear throws for a bias [4] with w=[5,4]', () => {
    expectThrows(() => linear(randT([2, 4], 0), randT([5, 4], 1), randT([4], 2)), ShapeError, {
      op: 'linear',
      arg: 'bias',
      expected: '[5]',
      actual: '[4]',
    });
  });

  it('flatten [2,3,4,5] -> [2,60] (row-major, values kept) and startAxis 2 -> [2,3,20]', () => {
    const x = randT([2, 3, 4, 5], 71);
    const y = flatten(x);
    expect(y.shape).toEqual([2, 60]);
    expect(Array.from(y.data)).toEqual(Array.from(x.data));
    expect(flatten(x, 2).shape).toEqual([2, 3, 20]);
    expectGradOk((t) => flatten(t!), [randT([2, 2, 2, 2], 72)]);
  });
});

describe('flatten edge cases', () => {
  it('flatten of an empty batch [0,3,4] -> [0,12] (a -1 cannot be inferred there)', () => {
    expect(flatten(zeros([0, 3, 4])).shape).toEqual([0, 12]);
    expect(flatten(zeros([2, 0, 4])).shape).toEqual([2, 0]);
  });

  it('flatten startAxis -1 of [2,3,4] keeps the shape; a scalar with startAxis 0 gives [1]', () => {
    expect(flatten(zeros([2, 3, 4]), -1).shape).toEqual([2, 3, 4]);
    expect(flatten(zeros([]), 0).shape).toEqual([1]);
  });

  it.each([
    [[2, 3], 2],
    [[4], 1],
    [[2, 3], -3],
  ] as const)(
    'flatten x=%j startAxis=%d throws AxisError (was a silent reshape)',
    (shape, axis) => {
      expectThrows(() => flatten(zeros(shape), axis), AxisError, {
        op: 'flatten',
        arg: 'startAxis',
        actual: String(axis),
      });
    },
  );
});

describe('second order and large inputs', () => {
  const cases: [string, (...xs: Tensor[]) => Tensor, Tensor[]][] = [
    [
      'conv2d x=[1,2,5,5] w=[2,2,3,3] s=2 p=1 d=1',
      (x, w) => conv2d(x!, w!, null, { stride: 2, padding: 1 }),
      [randT([1, 2, 5, 5], 81), randT([2, 2, 3, 3], 82)],
    ],
    ['sigmoid x=[6]', (x) => sigmoid(x!), [randT([6], 83, 2)]],
    ['tanh x=[6]', (x) => tanh(x!), [randT([6], 84, 2)]],
    ['softmax x=[2,4]', (x) => softmax(x!), [randT([2, 4], 85)]],
    [
      'crossEntropy logits=[3,4] t=[0,3,1]',
      (z) => crossEntropy(z!, [0, 3, 1]),
      [randT([3, 4], 86)],
    ],
    [
      'maxPool2d x=[1,1,4,4] k=2 s=1 p=1',
      (x) => maxPool2d(x!, { kernelSize: 2, stride: 1, padding: 1 }),
      [randT([1, 1, 4, 4], 87)],
    ],
    [
      'avgPool2d x=[1,1,4,4] k=3 s=1 p=1',
      (x) => avgPool2d(x!, { kernelSize: 3, stride: 1, padding: 1 }),
      [randT([1, 1, 4, 4], 88)],
    ],
    ['mse x=[3,2]', (a, b) => mse(a!, b!), [randT([3, 2], 89), randT([3, 2], 90)]],
  ];
  for (const [name, f, inputs] of cases) {
    it(`gradCheck order 2 (gradient of the gradient): ${name}`, () => {
      const report = gradCheck(f, inputs, { order: 2 });
      expect(report.ok, JSON.stringify(report.worst)).toBe(true);
    });
  }

  it('conv2d x=[2,3,12,12] w=[4,3,3,3] s=2 p=1 d=2: random-direction gradCheck', () => {
    const report = gradCheck(
      (x, w, b) => conv2d(x!, w!, b!, { stride: 2, padding: 1, dilation: 2 }),
      [randT([2, 3, 12, 12], 91), randT([4, 3, 3, 3], 92), randT([4], 93)],
      { mode: 'random', directions: 8 },
    );
    expect(report.checked).toBe(8);
    expect(report.ok, JSON.stringify(report.worst)).toBe(true);
  });
});

describe('dtype checks name the layer op, not matmul or add', () => {
  const x32 = randT([1, 1, 4, 4], 1).astype('float32');
  const w32 = randT([2, 1, 3, 3], 2).astype('float32');
  it.each([
    ['conv2d weight', () => conv2d(x32, randT([2, 1, 3, 3], 2)), 'conv2d', 'weight'],
    ['conv2d bias', () => conv2d(x32, w32, randT([2], 3)), 'conv2d', 'bias'],
    [
      'linear weight',
      () => linear(randT([2, 4], 4).astype('float32'), randT([3, 4], 5)),
      'linear',
      'weight',
    ],
    [
      'linear bias',
      () =>
        linear(
          randT([2, 4], 4).astype('float32'),
          randT([3, 4], 5).astype('float32'),
          randT([3], 6),
        ),
      'linear',
      'bias',
    ],
  ] as const)('%s float64 with a float32 input throws DTypeError', (_, fn, op, arg) => {
    const err = expectThrows(fn, DTypeError, { op, arg, expected: 'float32', actual: 'float64' });
    expect(err.message).toBe(`${op}: ${arg} is float64, the input float32`);
  });
});

describe('softmax family: axis errors name the op called', () => {
  it.each([
    ['softmax', (x: Tensor) => softmax(x, 2)],
    ['logSoftmax', (x: Tensor) => logSoftmax(x, -3)],
    ['logsumexp', (x: Tensor) => logsumexp(x, 2)],
  ] as const)('%s of x=[2,3] with an out-of-range axis throws AxisError naming it', (op, fn) => {
    expectThrows(() => fn(zeros([2, 3])), AxisError, { op, arg: 'axis' });
  });
});

describe('logsumexp with an infinite maximum', () => {
  it('rows [-inf,-inf], [inf,1], [1,-inf] give [-inf, inf, 1], not NaN', () => {
    const x = tensor([-Infinity, -Infinity, Infinity, 1, 1, -Infinity], { shape: [3, 2], ...f64 });
    expect(Array.from(logsumexp(x).data)).toEqual([-Infinity, Infinity, 1]);
  });
});
