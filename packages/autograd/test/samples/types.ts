/**
 * The op table the test suite is driven by. Every primitive exported from the package has one
 * `OpInfo` entry in a family file next to this one; `ops.test.ts` runs every check over all of
 * them, and fails when an exported primitive has no entry.
 */
import fc from 'fast-check';
import { type GradCheckOptions, Rng, Tensor, tensor } from '../../src/index.js';

/** A reference result: shape and row-major values, computed without the library's kernels. */
export interface Expected {
  shape: number[];
  data: number[];
}

export interface SampleInput {
  /** Carries the case, e.g. `x=[2,3] b=[3]`; becomes part of the test name. */
  label: string;
  /** float64 tensors: the arguments that are differentiated. */
  inputs: Tensor[];
  /** The op with this sample's non-tensor arguments (axis, kernel size...) baked in. */
  fn: (...xs: Tensor[]) => Tensor;
  /** Direct computation of the expected forward value (nested loops or a simple formula). */
  ref: (...xs: Tensor[]) => Expected;
  /** Extra gradCheck options, e.g. a step that keeps finite differences exact. */
  check?: GradCheckOptions;
  /** Whether to run the order-2 check on this sample; defaults to the op's `secondOrder`. */
  secondOrder?: boolean;
}

export interface OpInfo {
  name: string;
  samples: (rng: Rng) => SampleInput[];
  /** The op has a nonzero second derivative, so `gradCheck({ order: 2 })` runs on its samples. */
  secondOrder: boolean;
  /** False for the comparisons: forward only, and backward through them must throw. */
  differentiable?: boolean;
  /** Random cases for the property test (shapes and values in the op's domain). */
  arbitrary?: fc.Arbitrary<SampleInput>;
}

// ---- building inputs -------------------------------------------------------------------------

export const f64 = (shape: readonly number[], data: readonly number[]): Tensor =>
  tensor(data, { shape, dtype: 'float64' });

export const size = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

export const show = (shape: readonly number[]): string => `[${shape.join(',')}]`;

/** Uniform values in `[lo, hi)`. */
export function uniform(rng: Rng, shape: readonly number[], lo = -1, hi = 1): Tensor {
  return f64(
    shape,
    Array.from({ length: size(shape) }, () => lo + (hi - lo) * rng.uniform()),
  );
}

/** Distinct values in about `[-1, 1]`, at least `0.5 / n` apart: no ties, for max and abs. */
export function distinct(rng: Rng, shape: readonly number[], awayFromZero = false): Tensor {
  const n = size(shape);
  const perm = rng.permutation(n);
  return f64(
    shape,
    perm.map((p) => {
      const v = (2 * (p + 0.25 + 0.5 * rng.uniform())) / n - 1;
      return awayFromZero ? Math.sign(v || 1) * (0.1 + Math.abs(v)) : v;
    }),
  );
}

/** Values away from zero, with random signs: `|v|` in `[0.3, 1.3)`. */
export function nonzero(rng: Rng, shape: readonly number[]): Tensor {
  return f64(
    shape,
    Array.from(
      { length: size(shape) },
      () => (rng.uniform() < 0.5 ? -1 : 1) * (0.3 + rng.uniform()),
    ),
  );
}

// ---- fast-check helpers --------------------------------------------------------------------

/** A shape of rank `minRank..maxRank` with sizes `1..maxDim`. */
export const shapeArb = (minRank = 0, maxRank = 3, maxDim = 3): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 1, max: maxDim }), { minLength: minRank, maxLength: maxRank });

/** Two shapes that broadcast: each is a suffix of one shape, with some sizes set to 1. */
export const broadcastPairArb = (maxRank = 3): fc.Arbitrary<[number[], number[]]> => {
  const mask = fc.array(fc.boolean(), { minLength: maxRank, maxLength: maxRank });
  const cut = (out: number[], ones: boolean[], drop: number): number[] =>
    out.slice(Math.min(drop, out.length)).map((d, i) => (ones[i] ? 1 : d));
  return fc
    .tuple(shapeArb(0, maxRank, 3), mask, mask, fc.nat(maxRank), fc.nat(maxRank), fc.boolean())
    .map(([out, ma, mb, da, db, full]) => [cut(out, ma, full ? 0 : da), cut(out, mb, db)]);
};

export const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

export const rngOf = (seed: number): Rng => new Rng(seed);

// ---- reference computations ----------------------------------------------------------------

export const values = (t: Tensor): number[] => Array.from(t.data);

export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** Every multi-index of `shape`, row-major. */
export function indices(shape: readonly number[]): number[][] {
  let out: number[][] = [[]];
  for (const d of shape) {
    const next: number[][] = [];
    for (const prefix of out) for (let i = 0; i < d; i++) next.push([...prefix, i]);
    out = next;
  }
  return out;
}

export function at(t: Tensor, idx: readonly number[]): number {
  const s = stridesOf(t.shape);
  let off = 0;
  for (let i = 0; i < idx.length; i++) off += idx[i]! * s[i]!;
  return t.data[off]!;
}

/** `t` read at an index of a broadcast shape (NumPy rules). */
export function atBroadcast(t: Tensor, idx: readonly number[]): number {
  const lead = idx.length - t.ndim;
  return at(
    t,
    t.shape.map((d, i) => (d === 1 ? 0 : idx[lead + i]!)),
  );
}

export function broadcastShape(...shapes: (readonly number[])[]): number[] {
  const n = Math.max(0, ...shapes.map((s) => s.length));
  return Array.from({ length: n }, (_, i) =>
    Math.max(...shapes.map((s) => s[s.length - n + i] ?? 1)),
  );
}

export function refUnary(f: (v: number) => number): (x: Tensor) => Expected {
  return (x) => ({ shape: [...x.shape], data: values(x).map(f) });
}

export function refBinary(f: (a: number, b: number) => number): (a: Tensor, b: Tensor) => Expected {
  return (a, b) => {
    const shape = broadcastShape(a.shape, b.shape);
    return {
      shape,
      data: indices(shape).map((i) => f(atBroadcast(a, i), atBroadcast(b, i))),
    };
  };
}

export const elementwiseLabel = (xs: Tensor[]): string =>
  xs.map((x, i) => `${'abc'[i]}=${show(x.shape)}`).join(' ');
