/**
 * The manual run against independent references: each forward equation against a naive
 * implementation written differently (im2col and matrix products, window slices, the textbook
 * softmax), each linear backward equation against its adjoint identity, and every gradient of
 * `manualBackward` against central finite differences of `manualLoss` in float64.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  type Activation,
  type PaperCNNConfig,
  type PoolKind,
  paperCNNParameterShapes,
  resolvePaperCNNConfig,
} from '../config.js';
import {
  type FloatArray,
  type ManualArray,
  type ManualForward,
  type ManualParams,
  type ManualTargets,
  activationBackward,
  activationForward,
  avgPoolBackward,
  avgPoolForward,
  convBiasGradient,
  convInputGradient,
  convKernelGradient,
  convolutionForward,
  crossEntropyLoss,
  denseBiasGradient,
  denseForward,
  denseInputGradient,
  denseWeightGradient,
  flattenMaps,
  manualBackward,
  manualForward,
  manualLoss,
  maxPoolBackward,
  maxPoolForward,
  sgdStep,
  softmaxCrossEntropyDelta,
  softmaxRows,
  unflattenMaps,
} from './index.js';

// ---------------------------------------------------------------------------------------------
// Random data, reproducible from one seed

/** mulberry32: a small seeded generator, so fast-check only has to shrink one integer. */
function rng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

type DType = 'float32' | 'float64';

function uniform(
  next: () => number,
  shape: readonly number[],
  dtype: DType = 'float64',
  lo = -1,
  hi = 1,
): ManualArray {
  const size = shape.reduce((p, d) => p * d, 1);
  const data = dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
  for (let k = 0; k < size; k++) data[k] = lo + (hi - lo) * next();
  return { data, shape: [...shape] };
}

function randomParams(config: PaperCNNConfig, next: () => number, dtype: DType): ManualParams {
  const params: ManualParams = {};
  for (const [name, shape] of Object.entries(paperCNNParameterShapes(config))) {
    params[name] = uniform(next, shape, dtype);
  }
  return params;
}

function randomTargets(
  kind: 'index' | 'probs',
  batch: number,
  classes: number,
  next: () => number,
): ManualTargets {
  if (kind === 'index') return Array.from({ length: batch }, () => Math.floor(next() * classes));
  const rows = uniform(next, [batch, classes], 'float64', 0.05, 1);
  for (let nb = 0; nb < batch; nb++) {
    let sum = 0;
    for (let i = 0; i < classes; i++) sum += rows.data[nb * classes + i]!;
    for (let i = 0; i < classes; i++) rows.data[nb * classes + i]! /= sum;
  }
  return rows;
}

function toDType(array: ManualArray, dtype: DType): ManualArray {
  const data = dtype === 'float64' ? Float64Array.from(array.data) : Float32Array.from(array.data);
  return { data, shape: [...array.shape] };
}

function copy(array: ManualArray): ManualArray {
  return { data: array.data.slice(), shape: [...array.shape] };
}

/** A random network configuration, built so that every size is valid by construction. */
interface Case {
  config: PaperCNNConfig;
  batch: number;
  targets: 'index' | 'probs';
  seed: number;
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    batch: fc.integer({ min: 1, max: 3 }),
    channels: fc.integer({ min: 1, max: 2 }),
    filters: fc.integer({ min: 1, max: 3 }),
    m: fc.integer({ min: 1, max: 3 }),
    n: fc.integer({ min: 1, max: 3 }),
    stride: fc.integer({ min: 1, max: 3 }),
    poolSize: fc.integer({ min: 1, max: 3 }),
    pooledH: fc.integer({ min: 1, max: 2 }),
    pooledW: fc.integer({ min: 1, max: 3 }),
    // Leftovers exercise the floors: rows the pool drops, rows the strided kernel never reads.
    poolRest: fc.nat({ max: 2 }),
    strideRest: fc.nat({ max: 2 }),
    hidden: fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 2 }),
    classes: fc.integer({ min: 2, max: 4 }),
    pooling: fc.constantFrom<PoolKind>('max', 'avg'),
    activation: fc.constantFrom<Activation>('relu', 'sigmoid'),
    denseActivation: fc.constantFrom<Activation>('relu', 'sigmoid'),
    targets: fc.constantFrom<'index' | 'probs'>('index', 'probs'),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  })
  .map((r) => {
    const q = r.poolSize;
    const convH = r.pooledH * q + (r.poolRest % q);
    const convW = r.pooledW * q + ((r.poolRest + 1) % q);
    const s = r.stride;
    const config = resolvePaperCNNConfig({
      inChannels: r.channels,
      inputSize: [(convH - 1) * s + r.m + (r.strideRest % s), (convW - 1) * s + r.n],
      filters: r.filters,
      kernelSize: [r.m, r.n],
      stride: s,
      pooling: r.pooling,
      poolSize: q,
      hidden: r.hidden,
      activation: r.activation,
      denseActivation: r.denseActivation,
      classes: r.classes,
    });
    return { config, batch: r.batch, targets: r.targets, seed: r.seed };
  });

function describeCase(c: Case): string {
  const k = c.config;
  return (
    `x=[${c.batch},${k.inChannels},${k.inputSize.join(',')}] w=[${k.filters},${k.inChannels},` +
    `${k.kernelSize.join(',')}] s=${k.stride} ${k.pooling}${k.poolSize} hidden=[${k.hidden}] ` +
    `K=${k.classes} g=${k.activation}/${k.denseActivation} targets=${c.targets} seed=${c.seed}`
  );
}

function sampleCase(c: Case, dtype: DType = 'float64') {
  const next = rng(c.seed);
  const { config, batch } = c;
  const x = uniform(next, [batch, config.inChannels, ...config.inputSize], dtype);
  const params = randomParams(config, next, dtype);
  const targets = randomTargets(c.targets, batch, config.classes, next);
  return { x, params, targets };
}

// ---------------------------------------------------------------------------------------------
// Naive references, written differently from the library

/** im2col: `[N*H'*W', C*m*n]` patches, one row per output position. */
function patches(x: ManualArray, m: number, n: number, s: number): number[][] {
  const [batch, channels, h, w] = x.shape as [number, number, number, number];
  const oh = Math.floor((h - m) / s) + 1;
  const ow = Math.floor((w - n) / s) + 1;
  const rows: number[][] = [];
  for (let nb = 0; nb < batch; nb++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const row: number[] = [];
        for (let c = 0; c < channels; c++) {
          for (let a = 0; a < m; a++) {
            for (let b = 0; b < n; b++)
              row.push(x.data[((nb * channels + c) * h + i * s + a) * w + j * s + b]!);
          }
        }
        rows.push(row);
      }
    }
  }
  return rows;
}

function dot(u: readonly number[], v: readonly number[]): number {
  return u.reduce((sum, ui, k) => sum + ui * v[k]!, 0);
}

function inner(u: ManualArray, v: ManualArray): number {
  let sum = 0;
  for (let k = 0; k < u.data.length; k++) sum += u.data[k]! * v.data[k]!;
  return sum;
}

/** Convolution as a matrix product of patches and flattened kernels. */
function referenceConv(x: ManualArray, weight: ManualArray, bias: ManualArray, s: number) {
  const [filters, , m, n] = weight.shape as [number, number, number, number];
  const [batch, , h, w] = x.shape as [number, number, number, number];
  const oh = Math.floor((h - m) / s) + 1;
  const ow = Math.floor((w - n) / s) + 1;
  const rows = patches(x, m, n, s);
  const kernels = Array.from({ length: filters }, (_, p) => {
    const size = weight.data.length / filters;
    return Array.from(weight.data.subarray(p * size, (p + 1) * size));
  });
  const out = new Float64Array(batch * filters * oh * ow);
  rows.forEach((row, r) => {
    const nb = Math.floor(r / (oh * ow));
    const ij = r % (oh * ow);
    kernels.forEach((k, p) => {
      out[(nb * filters + p) * oh * ow + ij] = dot(row, k) + bias.data[p]!;
    });
  });
  return out;
}

/** The input gradient in scatter form: each output position adds `G * k` over its window. */
function referenceConvInputGradient(
  g: ManualArray,
  weight: ManualArray,
  x: ManualArray,
  s: number,
) {
  const [batch, channels, h, w] = x.shape as [number, number, number, number];
  const [filters, , m, n] = weight.shape as [number, number, number, number];
  const [, , oh, ow] = g.shape as [number, number, number, number];
  const out = new Float64Array(x.data.length);
  for (let nb = 0; nb < batch; nb++) {
    for (let p = 0; p < filters; p++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          const gy = g.data[((nb * filters + p) * oh + i) * ow + j]!;
          for (let c = 0; c < channels; c++) {
            for (let a = 0; a < m; a++) {
              for (let b = 0; b < n; b++) {
                out[((nb * channels + c) * h + i * s + a) * w + j * s + b]! +=
                  gy * weight.data[((p * channels + c) * m + a) * n + b]!;
              }
            }
          }
        }
      }
    }
  }
  return out;
}

/** Every `q x q` window of `A` as a row-major list of [value, flat index]. */
function windows(a: ManualArray, q: number): Array<Array<[number, number]>> {
  const [batch, maps, h, w] = a.shape as [number, number, number, number];
  const out: Array<Array<[number, number]>> = [];
  for (let plane = 0; plane < batch * maps; plane++) {
    for (let i = 0; i + q <= h; i += q) {
      for (let j = 0; j + q <= w; j += q) {
        const cells: Array<[number, number]> = [];
        for (let u = 0; u < q; u++) {
          for (let v = 0; v < q; v++) {
            const at = plane * h * w + (i + u) * w + j + v;
            cells.push([a.data[at]!, at]);
          }
        }
        out.push(cells);
      }
    }
  }
  return out;
}

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  label = '',
) {
  expect(actual.length, label).toBe(expected.length);
  for (let k = 0; k < expected.length; k++) {
    const scale = Math.max(1, Math.abs(expected[k]!));
    const error = Math.abs(actual[k]! - expected[k]!) / scale;
    if (!(error <= tol)) {
      throw new Error(`${label} [${k}]: ${actual[k]} vs ${expected[k]} (error ${error})`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

describe('forward equations vs naive references', () => {
  it('convolutionForward equals im2col times the flattened kernels (eq. 1)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { x, params } = sampleCase(c);
        const out = convolutionForward(
          x,
          params['conv.weight']!,
          params['conv.bias']!,
          c.config.stride,
        );
        expect(out.data).toBeInstanceOf(Float64Array);
        expectClose(
          out.data,
          referenceConv(x, params['conv.weight']!, params['conv.bias']!, c.config.stride),
          1e-12,
          describeCase(c),
        );
      }),
      { numRuns: 40 },
    );
  });

  it('convolutionForward x=[1,1,3,3] w=[1,1,2,2] s=1 by hand', () => {
    const x = { data: Float64Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), shape: [1, 1, 3, 3] };
    const w = { data: Float64Array.from([1, 0, 0, -1]), shape: [1, 1, 2, 2] };
    const b = { data: Float64Array.from([0.5]), shape: [1] };
    const out = convolutionForward(x, w, b, 1);
    // Unflipped: out[i,j] = x[i,j] - x[i+1,j+1] + 0.5.
    expect(out.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(out.data)).toEqual([-3.5, -3.5, -3.5, -3.5]);
  });

  it('activationForward: relu and a sigmoid that stays finite at +-1e4 (eq. 2)', () => {
    const x = { data: Float64Array.from([-2, 0, 3, -1e4, 1e4]), shape: [5] };
    expect(Array.from(activationForward(x, 'relu').data)).toEqual([0, 0, 3, 0, 1e4]);
    const s = activationForward(x, 'sigmoid').data;
    [-2, 0, 3].forEach((v, k) => expect(s[k]).toBeCloseTo(1 / (1 + Math.exp(-v)), 14));
    expect(s[3]).toBe(0);
    expect(s[4]).toBe(1);
  });

  it('maxPoolForward / avgPoolForward equal max and mean of window slices (eq. 3)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        fc.boolean(),
        (maps, h, w, q, seed, coarse) => {
          fc.pre(q <= h && q <= w);
          const next = rng(seed);
          const a = uniform(next, [2, maps, h, w]);
          // Coarse values (0, 1 or 2) make ties common.
          if (coarse) a.data.forEach((v, k) => (a.data[k] = Math.floor((v + 1) * 1.5)));
          const { output, argmax } = maxPoolForward(a, q);
          const avg = avgPoolForward(a, q);
          expect(output.shape).toEqual([2, maps, Math.floor(h / q), Math.floor(w / q)]);
          windows(a, q).forEach((cells, k) => {
            const values = cells.map(([v]) => v);
            const top = Math.max(...values);
            expect(output.data[k]).toBe(top);
            expect(argmax[k]).toBe(cells[values.indexOf(top)]![1]);
            expect(avg.data[k]).toBeCloseTo(values.reduce((p, v) => p + v, 0) / (q * q), 14);
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('flattenMaps keeps maps one after another, rows in order (eq. 4)', () => {
    const p = {
      data: Float64Array.from({ length: 2 * 3 * 2 * 2 }, (_, k) => k),
      shape: [2, 3, 2, 2],
    };
    const f = flattenMaps(p);
    expect(f.shape).toEqual([2, 12]);
    // f[n, p*4 + i*2 + j] = P[n, p, i, j].
    expect(f.data[1 * 12 + 2 * 4 + 1 * 2 + 0]).toBe(p.data[((1 * 3 + 2) * 2 + 1) * 2 + 0]);
    expect(unflattenMaps(f, p.shape)).toEqual({ data: p.data, shape: p.shape });
  });

  it('denseForward equals a row-by-row matrix product (eq. 5)', () => {
    const next = rng(7);
    const a = uniform(next, [3, 4]);
    const w = uniform(next, [2, 4]);
    const b = uniform(next, [2]);
    const z = denseForward(a, w, b);
    const rowsOf = (m: ManualArray) =>
      Array.from({ length: m.shape[0]! }, (_, r) =>
        Array.from(m.data.subarray(r * m.shape[1]!, (r + 1) * m.shape[1]!)),
      );
    const expected = rowsOf(a).flatMap((row) => rowsOf(w).map((k, o) => dot(row, k) + b.data[o]!));
    expectClose(z.data, expected, 1e-14);
  });

  it('softmaxRows, crossEntropyLoss vs the textbook formulas, moderate logits (eq. 5, 6)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (batch, classes, seed) => {
          const next = rng(seed);
          const z = uniform(next, [batch, classes], 'float64', -5, 5);
          const probs = softmaxRows(z);
          const naive: number[] = [];
          for (let nb = 0; nb < batch; nb++) {
            const row = Array.from(z.data.subarray(nb * classes, (nb + 1) * classes)).map(Math.exp);
            const sum = row.reduce((p, v) => p + v, 0);
            naive.push(...row.map((v) => v / sum));
          }
          expectClose(probs.data, naive, 1e-14);

          const rows = randomTargets('probs', batch, classes, next) as ManualArray;
          let e = 0;
          for (let k = 0; k < naive.length; k++) e -= rows.data[k]! * Math.log(naive[k]!);
          expect(crossEntropyLoss(z, rows)).toBeCloseTo(e / batch, 12);

          const idx = randomTargets('index', batch, classes, next) as number[];
          const ei = -idx.reduce((p, t, nb) => p + Math.log(naive[nb * classes + t]!), 0) / batch;
          expect(crossEntropyLoss(z, idx)).toBeCloseTo(ei, 12);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe('backward equations', () => {
  it('softmaxCrossEntropyDelta is (yhat - y) / N, one-hot for indices (backward eq. 1)', () => {
    const probs = { data: Float64Array.from([0.2, 0.8, 0.5, 0.5]), shape: [2, 2] };
    expectClose(softmaxCrossEntropyDelta(probs, [1, 0]).data, [0.1, -0.1, -0.25, 0.25], 1e-15);
    const y = { data: Float64Array.from([0.5, 0.5, 1, 0]), shape: [2, 2] };
    expectClose(softmaxCrossEntropyDelta(probs, y).data, [-0.15, 0.15, -0.25, 0.25], 1e-15);
  });

  it('dense gradients: <delta, a W^T> = <dW, W> = <dA, a>, dB = row sums (eq. 2, 3)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (batch, din, dout, seed) => {
          const next = rng(seed);
          const a = uniform(next, [batch, din]);
          const w = uniform(next, [dout, din]);
          const delta = uniform(next, [batch, dout]);
          const zeroBias = { data: new Float64Array(dout), shape: [dout] };
          const linear = inner(delta, denseForward(a, w, zeroBias));
          expect(inner(denseWeightGradient(delta, a), w)).toBeCloseTo(linear, 12);
          expect(inner(denseInputGradient(delta, w), a)).toBeCloseTo(linear, 12);
          const db = denseBiasGradient(delta);
          for (let o = 0; o < dout; o++) {
            let sum = 0;
            for (let nb = 0; nb < batch; nb++) sum += delta.data[nb * dout + o]!;
            expect(db.data[o]).toBeCloseTo(sum, 14);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('activationBackward: relu passes where x > 0 (not 0), sigmoid by s(1-s) (eq. 5)', () => {
    const x = { data: Float64Array.from([-1, 0, 2]), shape: [3] };
    const gy = { data: Float64Array.from([5, 5, 5]), shape: [3] };
    expect(Array.from(activationBackward(gy, x, 'relu').data)).toEqual([0, 0, 5]);
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    expectClose(
      activationBackward(gy, x, 'sigmoid').data,
      [-1, 0, 2].map((v) => 5 * s(v) * (1 - s(v))),
      1e-15,
    );
  });

  it('pool backward is the adjoint of pool forward: <gy, pool(A)> = <dA, A> (eq. 4)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        (h, w, q, seed) => {
          fc.pre(q <= h && q <= w);
          const next = rng(seed);
          const a = uniform(next, [2, 2, h, w]);
          const { output, argmax } = maxPoolForward(a, q);
          const gy = uniform(next, output.shape);
          expect(inner(maxPoolBackward(gy, argmax, a.shape), a)).toBeCloseTo(inner(gy, output), 12);
          const dAvg = avgPoolBackward(gy, a.shape, q);
          expect(inner(dAvg, a)).toBeCloseTo(inner(gy, avgPoolForward(a, q)), 12);
          // Every window cell gets gy / q^2; the dropped edge gets nothing.
          const covered = new Set<number>();
          windows(a, q).forEach((cells, k) =>
            cells.forEach(([, at]) => {
              covered.add(at);
              expect(dAvg.data[at]).toBeCloseTo(gy.data[k]! / (q * q), 15);
            }),
          );
          dAvg.data.forEach((v, at) => {
            if (!covered.has(at)) expect(v).toBe(0);
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('conv gradients vs im2col (kernel), scatter (input), sums (bias), adjoint (eq. 6)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { x, params } = sampleCase(c);
        const { kernelSize, stride } = c.config;
        const weight = params['conv.weight']!;
        const zeroBias = { data: new Float64Array(c.config.filters), shape: [c.config.filters] };
        const out = convolutionForward(x, weight, zeroBias, stride);
        const g = uniform(rng(c.seed + 1), out.shape);
        const label = describeCase(c);

        const dK = convKernelGradient(x, g, kernelSize, stride);
        const dX = convInputGradient(g, weight, c.config.inputSize, stride);
        expectClose(dX.data, referenceConvInputGradient(g, weight, x, stride), 1e-12, label);
        const linear = inner(g, out);
        expect(inner(dK, weight)).toBeCloseTo(linear, 10);
        expect(inner(dX, x)).toBeCloseTo(linear, 10);

        // Kernel gradient of filter p = G[:, p] (as a row over N*H'*W') times the patches.
        const rows = patches(x, kernelSize[0], kernelSize[1], stride);
        const [batch, filters, oh, ow] = g.shape as [number, number, number, number];
        const expected: number[] = [];
        for (let p = 0; p < filters; p++) {
          for (let col = 0; col < rows[0]!.length; col++) {
            let sum = 0;
            rows.forEach((row, r) => {
              const nb = Math.floor(r / (oh * ow));
              sum += g.data[(nb * filters + p) * oh * ow + (r % (oh * ow))]! * row[col]!;
            });
            expected.push(sum);
          }
        }
        expectClose(dK.data, expected, 1e-12, label);

        const db = convBiasGradient(g);
        for (let p = 0; p < filters; p++) {
          let sum = 0;
          for (let nb = 0; nb < batch; nb++)
            for (let k = 0; k < oh * ow; k++) sum += g.data[(nb * filters + p) * oh * ow + k]!;
          expect(db.data[p]).toBeCloseTo(sum, 12);
        }
      }),
      { numRuns: 30 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Finite differences

// The package compiles without Node or DOM types; the test prints its worst error once.
declare const console: { info(message: string): void };

const H = 1e-5;
const TOLERANCE = 1e-6;
/** The largest scaled error seen over every finite-difference check in this file. */
let worstError = 0;
let worstWhere = '';

/** The piecewise pattern a finite difference must not cross: relu signs and pool winners. */
function pattern(config: PaperCNNConfig, fw: ManualForward): string {
  const parts: string[] = [];
  if (config.activation === 'relu')
    parts.push(Array.from(fw.C.data, (v) => (v > 0 ? 1 : 0)).join(''));
  if (fw.argmax !== null) parts.push(fw.argmax.join(','));
  if (config.denseActivation === 'relu') {
    fw.z
      .slice(0, -1)
      .forEach((z) => parts.push(Array.from(z.data, (v) => (v > 0 ? 1 : 0)).join('')));
  }
  return parts.join('|');
}

/**
 * Checks `analytic` against central differences of the loss in `target`'s entries (all of them,
 * or `limit` chosen at random). Entries where the step crosses a relu kink or changes a pool
 * winner are skipped, since the loss is not differentiable across them; returns the count.
 */
function checkByFiniteDifferences(
  c: Case,
  loss: () => { value: number; pattern: string },
  target: ManualArray,
  analytic: ManualArray,
  name: string,
  limit = Infinity,
): { checked: number; skipped: number } {
  expect(analytic.shape, name).toEqual(target.shape);
  expect(analytic.data, name).toBeInstanceOf(Float64Array);
  const next = rng(c.seed + 17);
  const all = Array.from(target.data.keys());
  // A partial Fisher-Yates shuffle picks `limit` entries when there are more.
  for (let k = 0; k < Math.min(limit, all.length - 1); k++) {
    const swap = k + Math.floor(next() * (all.length - k));
    [all[k], all[swap]] = [all[swap]!, all[k]!];
  }
  const picked = all.slice(0, Math.min(limit, all.length));
  const base = loss().pattern;
  let skipped = 0;
  for (const k of picked) {
    const keep = target.data[k]!;
    target.data[k] = keep + H;
    const plus = loss();
    target.data[k] = keep - H;
    const minus = loss();
    target.data[k] = keep;
    if (plus.pattern !== base || minus.pattern !== base) {
      skipped++;
      continue;
    }
    const numeric = (plus.value - minus.value) / (2 * H);
    const exact = analytic.data[k]!;
    const error = Math.abs(numeric - exact) / Math.max(1, Math.abs(numeric), Math.abs(exact));
    if (error > worstError) {
      worstError = error;
      worstWhere = `${name}[${k}] numeric ${numeric} analytic ${exact} ${describeCase(c)}`;
    }
    if (!(error <= TOLERANCE)) {
      throw new Error(
        `${name}[${k}]: numeric ${numeric}, analytic ${exact}, error ${error}; ${describeCase(c)}`,
      );
    }
  }
  return { checked: picked.length - skipped, skipped };
}

describe('manualBackward vs central finite differences of manualLoss (float64)', () => {
  let checked = 0;
  let skipped = 0;

  it('every parameter gradient and dE/dX, over random configurations and both target kinds', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { x, params, targets } = sampleCase(c);
        const { config } = c;
        const forward = manualForward(config, params, x);
        const back = manualBackward(config, params, forward, targets);
        expect(back.loss).toBe(manualLoss(forward, targets));
        expect(Object.keys(back.grads)).toEqual(Object.keys(paperCNNParameterShapes(config)));

        const loss = () => {
          const fw = manualForward(config, params, x);
          return { value: manualLoss(fw, targets), pattern: pattern(config, fw) };
        };
        for (const [name, param] of Object.entries(params)) {
          const r = checkByFiniteDifferences(c, loss, param, back.grads[name]!, name);
          checked += r.checked;
          skipped += r.skipped;
        }
        const r = checkByFiniteDifferences(c, loss, x, back.intermediates.dX, 'dX', 40);
        checked += r.checked;
        skipped += r.skipped;
      }),
      { numRuns: 40 },
    );
    // Kinks are crossed rarely; skipping many would mean the check checks little.
    expect(skipped).toBeLessThan(0.02 * (checked + skipped));
    expect(checked).toBeGreaterThan(1000);
    expect(worstError, worstWhere).toBeLessThan(TOLERANCE);
  });

  it('intermediate gradients: dLogits and dF by differences in the logits and in f', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { x, params, targets } = sampleCase(c);
        const { config } = c;
        const forward = manualForward(config, params, x);
        const { intermediates } = manualBackward(config, params, forward, targets);
        const layers = forward.z.length;
        expect(intermediates.delta[layers - 1]).toBe(intermediates.dLogits);

        // The loss as a function of f: rerun only the dense part of the network.
        const fromF = (f: ManualArray) => () => {
          let a = f;
          let z = a;
          let signs = '';
          for (let l = 0; l < layers; l++) {
            z = denseForward(a, params[`dense.${l}.weight`]!, params[`dense.${l}.bias`]!);
            if (l + 1 < layers) {
              if (config.denseActivation === 'relu')
                signs += Array.from(z.data, (v) => (v > 0 ? 1 : 0)).join('');
              a = activationForward(z, config.denseActivation);
            }
          }
          return { value: crossEntropyLoss(z, targets), pattern: signs };
        };
        const f = copy(forward.f);
        checkByFiniteDifferences(c, fromF(f), f, intermediates.dF, 'dF');
        const logits = copy(forward.logits);
        checkByFiniteDifferences(
          c,
          () => ({ value: crossEntropyLoss(logits, targets), pattern: '' }),
          logits,
          intermediates.dLogits,
          'dLogits',
        );
        expect(intermediates.dP.shape).toEqual(forward.P.shape);
        expect(intermediates.dA.shape).toEqual(forward.A.shape);
        expect(intermediates.dC.shape).toEqual(forward.C.shape);
      }),
      { numRuns: 30 },
    );
  });

  it('reports the worst error', () => {
    console.info(
      `manual FD: ${checked} checked, ${skipped} skipped at kinks; ` +
        `worst scaled error ${worstError.toExponential(2)} at ${worstWhere}`,
    );
    expect(worstError).toBeLessThan(TOLERANCE);
  });
});

// ---------------------------------------------------------------------------------------------

describe('max pooling ties: the first maximum in row-major window order takes the gradient', () => {
  it('maxPoolForward / maxPoolBackward on a hand-built 4x4 with ties q=2', () => {
    // Windows: [[1,3],[3,2]] -> (0,1); all 7 -> (0,0); [[0,5],[5,5]] -> (0,1);
    // [[-1,-1],[-2,-1]] -> (0,0).
    const a = {
      data: Float64Array.from([1, 3, 7, 7, 3, 2, 7, 7, 0, 5, -1, -1, 5, 5, -2, -1]),
      shape: [1, 1, 4, 4],
    };
    const { output, argmax } = maxPoolForward(a, 2);
    expect(Array.from(output.data)).toEqual([3, 7, 5, -1]);
    expect(Array.from(argmax)).toEqual([1, 2, 9, 10]);
    const gy = { data: Float64Array.from([10, 20, 30, 40]), shape: [1, 1, 2, 2] };
    const dA = maxPoolBackward(gy, argmax, a.shape);
    expect(Array.from(dA.data)).toEqual([0, 10, 20, 0, 0, 0, 0, 0, 0, 30, 40, 0, 0, 0, 0, 0]);
  });

  it('manualBackward x=[2,1,6,6], constant maps: only each window top-left gets dA', () => {
    const config = resolvePaperCNNConfig({
      inputSize: 6,
      kernelSize: 3,
      filters: 2,
      poolSize: 2,
      hidden: [3],
      classes: 3,
    });
    const next = rng(3);
    const params = randomParams(config, next, 'float64');
    params['conv.weight']!.data.fill(0); // C = bias everywhere: every window is a 4-way tie
    params['conv.bias']!.data.set([0.5, 1.5]);
    const x = uniform(next, [2, 1, 6, 6]);
    const forward = manualForward(config, params, x);
    const { intermediates } = manualBackward(config, params, forward, [0, 2]);
    const { dA, dP } = intermediates;
    for (let plane = 0; plane < 4; plane++) {
      for (let u = 0; u < 4; u++) {
        for (let v = 0; v < 4; v++) {
          const value = dA.data[plane * 16 + u * 4 + v]!;
          if (u % 2 === 0 && v % 2 === 0) {
            expect(value).toBe(dP.data[plane * 4 + (u / 2) * 2 + v / 2]);
            expect(value).not.toBe(0);
          } else expect(value).toBe(0);
        }
      }
    }
  });
});

describe('numerical stability', () => {
  it('crossEntropyLoss, softmaxRows and the delta stay finite for logits of magnitude 1e4', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const z = toDType(
        { data: Float64Array.from([1e4, -1e4, 0, -1e4, 1e4, 1e4]), shape: [2, 3] },
        dtype,
      );
      const loss = crossEntropyLoss(z, [1, 0]);
      // Row 0: logsumexp = 1e4, minus -1e4. Row 1: logsumexp = 1e4 + log 2, minus -1e4.
      expect(loss).toBeCloseTo((2e4 + 2e4 + Math.log(2)) / 2, 6);
      const probs = softmaxRows(z);
      expect(Array.from(probs.data).every(Number.isFinite)).toBe(true);
      expect(Array.from(probs.data)).toEqual([1, 0, 0, 0, 0.5, 0.5]);
      const delta = softmaxCrossEntropyDelta(probs, [1, 0]);
      expect(Array.from(delta.data)).toEqual([0.5, -0.5, 0, -0.5, 0.25, 0.25]);
      const onehot = { data: Float64Array.from([0, 1, 0, 1, 0, 0]), shape: [2, 3] };
      expect(crossEntropyLoss(z, onehot)).toBeCloseTo(loss, 6);
    }
  });

  it('manualBackward: finite loss and gradients with 1e4 logits (float64, float32)', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const config = resolvePaperCNNConfig({
        inputSize: 7,
        kernelSize: 2,
        filters: 2,
        hidden: [4],
        classes: 3,
      });
      const params = randomParams(config, rng(5), dtype);
      params['dense.1.bias']!.data.set([1e4, -1e4, 0]);
      const x = uniform(rng(6), [2, 1, 7, 7], dtype);
      const forward = manualForward(config, params, x);
      const back = manualBackward(config, params, forward, [1, 1]);
      expect(back.loss).toBeGreaterThan(1e4);
      expect(Number.isFinite(back.loss)).toBe(true);
      for (const g of [...Object.values(back.grads), back.intermediates.dX]) {
        expect(Array.from(g.data).every(Number.isFinite)).toBe(true);
      }
    }
  });
});

describe('float32', () => {
  it('computes in Float32Array and agrees with float64 to about 1e-4', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { x, params, targets } = sampleCase(c);
        const x32 = toDType(x, 'float32');
        const p32: ManualParams = {};
        for (const [name, p] of Object.entries(params)) p32[name] = toDType(p, 'float32');
        // The float64 reference runs on the float32-rounded values, so only the arithmetic differs.
        const x64 = toDType(x32, 'float64');
        const p64: ManualParams = {};
        for (const [name, p] of Object.entries(p32)) p64[name] = toDType(p, 'float64');

        const f32 = manualForward(c.config, p32, x32);
        const b32 = manualBackward(c.config, p32, f32, targets);
        const b64 = manualBackward(c.config, p64, manualForward(c.config, p64, x64), targets);
        const all = (f: ManualForward): FloatArray[] => [
          f.C.data,
          f.A.data,
          f.P.data,
          f.f.data,
          f.probs.data,
          ...f.z.map((z) => z.data),
        ];
        all(f32).forEach((d) => expect(d).toBeInstanceOf(Float32Array));
        expect(b32.loss).toBeCloseTo(b64.loss, 4);
        for (const name of Object.keys(b64.grads)) {
          expect(b32.grads[name]!.data).toBeInstanceOf(Float32Array);
          expectClose(
            b32.grads[name]!.data,
            b64.grads[name]!.data,
            1e-4,
            `${name} ${describeCase(c)}`,
          );
        }
        expectClose(b32.intermediates.dX.data, b64.intermediates.dX.data, 1e-4, 'dX');
      }),
      { numRuns: 30 },
    );
  });
});

describe('sgdStep (backward eq. 7)', () => {
  it('returns theta - alpha * grad without touching its inputs', () => {
    const params = { w: { data: Float64Array.from([1, 2]), shape: [2] } };
    const grads = { w: { data: Float64Array.from([0.5, -1]), shape: [2] } };
    const next = sgdStep(params, grads, 0.1);
    expectClose(next['w']!.data, [0.95, 2.1], 1e-15);
    expect(Array.from(params.w.data)).toEqual([1, 2]);
  });

  it('a few steps on one batch lower the loss', () => {
    const config = resolvePaperCNNConfig({
      inputSize: 8,
      kernelSize: 3,
      filters: 3,
      hidden: [6],
      classes: 3,
    });
    let params = randomParams(config, rng(11), 'float64');
    const x = uniform(rng(12), [4, 1, 8, 8]);
    const targets = [0, 1, 2, 1];
    const first = manualLoss(manualForward(config, params, x), targets);
    for (let step = 0; step < 20; step++) {
      const back = manualBackward(config, params, manualForward(config, params, x), targets);
      params = sgdStep(params, back.grads, 0.5);
    }
    expect(manualLoss(manualForward(config, params, x), targets)).toBeLessThan(first);
  });
});
