/** Element-wise primitives: unary maps, broadcasting binary maps, comparisons, `where`, `astype`. */
import fc from 'fast-check';
import {
  type Rng,
  type Tensor,
  abs,
  add,
  astype,
  div,
  eq,
  exp,
  ge,
  gt,
  le,
  log,
  lt,
  maximum,
  mul,
  neg,
  pow,
  sqrt,
  sub,
  where,
} from '../../src/index.js';
import {
  type Expected,
  type OpInfo,
  type SampleInput,
  atBroadcast,
  broadcastPairArb,
  broadcastShape,
  distinct,
  f64,
  indices,
  nonzero,
  refBinary,
  refUnary,
  rngOf,
  seedArb,
  shapeArb,
  show,
  size,
  uniform,
  values,
} from './types.js';

type Gen = (rng: Rng, shape: readonly number[]) => Tensor;

const anyValue: Gen = (rng, s) => uniform(rng, s, -2, 2);
const positive: Gen = (rng, s) => uniform(rng, s, 0.5, 2);

function unaryOp(
  name: string,
  op: (x: Tensor) => Tensor,
  f: (v: number) => number,
  gen: Gen,
  secondOrder: boolean,
): OpInfo {
  const ref = refUnary(f);
  const sample = (rng: Rng, shape: readonly number[]): SampleInput => ({
    label: `x=${show(shape)}`,
    inputs: [gen(rng, shape)],
    fn: op,
    ref,
  });
  return {
    name,
    secondOrder,
    samples: (rng) => [
      sample(rng, []),
      sample(rng, [5]),
      sample(rng, [2, 3]),
      {
        // One tensor used twice: both uses accumulate.
        label: 'repeated x=[2,2] op(x)*x',
        inputs: [gen(rng, [2, 2])],
        fn: (x) => mul(op(x), x),
        ref: (x) => ({ shape: [2, 2], data: values(x).map((v) => f(v) * v) }),
      },
    ],
    arbitrary: fc
      .tuple(shapeArb(0, 3, 4), seedArb)
      .map(([shape, seed]) => sample(rngOf(seed), shape)),
  };
}

/** Two inputs for a binary op, `gen` for each, or jointly distinct ones when `apart` is set. */
function binaryInputs(rng: Rng, sa: number[], sb: number[], gen: [Gen, Gen], apart: boolean) {
  if (!apart) return [gen[0](rng, sa), gen[1](rng, sb)];
  const all = distinct(rng, [size(sa) + size(sb)]).data;
  return [
    f64(sa, Array.from(all.subarray(0, size(sa)))),
    f64(sb, Array.from(all.subarray(size(sa)))),
  ];
}

function binaryOp(
  name: string,
  op: (a: Tensor | number, b: Tensor | number) => Tensor,
  f: (a: number, b: number) => number,
  gen: [Gen, Gen],
  secondOrder: boolean,
  options: { apart?: boolean; constant?: number; differentiable?: boolean } = {},
): OpInfo {
  const ref = refBinary(f);
  const apart = options.apart ?? false;
  const pairSample = (rng: Rng, sa: number[], sb: number[], tag = ''): SampleInput => ({
    label: `${tag}a=${show(sa)} b=${show(sb)}`,
    inputs: binaryInputs(rng, sa, sb, gen, apart),
    fn: op,
    ref,
  });
  const c = options.constant ?? 1.5;
  const samples = (rng: Rng): SampleInput[] => [
    pairSample(rng, [2, 3], [2, 3]),
    pairSample(rng, [], []),
    pairSample(rng, [2, 3], [3], 'broadcast '),
    pairSample(rng, [3], [2, 1], 'broadcast '),
    pairSample(rng, [2, 1, 3], [4, 1], 'broadcast '),
    pairSample(rng, [], [2, 2], 'broadcast '),
    pairSample(rng, [2, 2], [1, 1, 1], 'broadcast '),
    {
      label: `a=[2,3] b=number ${c}`,
      inputs: [gen[0](rng, [2, 3])],
      fn: (a) => op(a, c),
      ref: (a) => ref(a, f64([], [c])),
    },
    {
      label: `a=number ${c} b=[3]`,
      inputs: [gen[1](rng, [3])],
      fn: (b) => op(c, b),
      ref: (b) => ref(f64([], [c]), b),
    },
    {
      // One tensor as both operands: the two cotangents accumulate (for maximum, a tie).
      label: 'repeated a=b=x x=[2,3]',
      inputs: [positive(rng, [2, 3])],
      fn: (x: Tensor) => op(x, x),
      ref: (x: Tensor) => ref(x, x),
    },
  ];
  return {
    name,
    secondOrder,
    ...(options.differentiable === false ? { differentiable: false } : {}),
    samples,
    arbitrary: fc
      .tuple(broadcastPairArb(3), seedArb)
      .map(([[sa, sb], seed]) => pairSample(rngOf(seed), sa, sb)),
  };
}

const awayFromZero: Gen = (rng, s) => nonzero(rng, s);
const exponent: Gen = (rng, s) => uniform(rng, s, -2, 2);

function comparisonOp(name: string, op: typeof gt, f: (a: number, b: number) => boolean): OpInfo {
  // Values on a coarse grid, so equal pairs (the interesting case) actually occur.
  const grid: Gen = (rng, s) =>
    f64(
      s,
      Array.from({ length: size(s) }, () => rng.int(3) - 1),
    );
  return binaryOp(name, op, (a, b) => (f(a, b) ? 1 : 0), [grid, grid], false, {
    differentiable: false,
  });
}

function whereRef(cond: Tensor, a: Tensor, b: Tensor): Expected {
  const shape = broadcastShape(cond.shape, a.shape, b.shape);
  return {
    shape,
    data: indices(shape).map((i) =>
      atBroadcast(cond, i) !== 0 ? atBroadcast(a, i) : atBroadcast(b, i),
    ),
  };
}

function whereSample(rng: Rng, sc: number[], sa: number[], sb: number[], tag = ''): SampleInput {
  const cond = f64(
    sc,
    Array.from({ length: size(sc) }, () => rng.int(2)),
  );
  return {
    label: `${tag}cond=${show(sc)} a=${show(sa)} b=${show(sb)}`,
    inputs: [uniform(rng, sa), uniform(rng, sb)],
    fn: (a, b) => where(cond, a, b),
    ref: (a, b) => whereRef(cond, a, b),
  };
}

const whereInfo: OpInfo = {
  name: 'where',
  secondOrder: false,
  samples: (rng) => [
    whereSample(rng, [2, 3], [2, 3], [2, 3]),
    whereSample(rng, [2, 1], [3], [], 'broadcast '),
    whereSample(rng, [3], [2, 3], [2, 1], 'broadcast '),
    {
      // Note the pitfall in DESIGN.md: the untaken branch holds inf, the gradient stays finite.
      label: 'inf in untaken branch x=[4] b=[-3,inf,4,-inf]',
      inputs: [f64([4], [-1, 0.5, -0.25, 2])],
      fn: (x) => where(gt(x, 0), x, f64([4], [-3, Infinity, 4, -Infinity])),
      ref: (x) => ({ shape: [4], data: values(x).map((v, i) => (v > 0 ? v : [-3, 0, 4][i]!)) }),
    },
    {
      label: 'relu-like where(x>0, x, 0) x=[2,3]',
      inputs: [nonzero(rng, [2, 3])],
      fn: (x) => where(gt(x, 0), x, 0),
      ref: (x) => ({ shape: [2, 3], data: values(x).map((v) => (v > 0 ? v : 0)) }),
    },
    {
      label: 'repeated a=b=x cond=[2,2]',
      inputs: [uniform(rng, [2, 2])],
      fn: (x) => where(f64([2, 2], [1, 0, 0, 1]), x, mul(x, 2)),
      ref: (x) => ({
        shape: [2, 2],
        data: values(x).map((v, i) => (i === 0 || i === 3 ? v : 2 * v)),
      }),
    },
  ],
  arbitrary: fc
    .tuple(broadcastPairArb(3), shapeArb(0, 2, 1), seedArb)
    .map(([[sa, sb], sc, seed]) => whereSample(rngOf(seed), sc, sa, sb)),
};

/** Multiples of 2^-10 in [-2, 2]: exact in float32, so a step of 2^-10 differences exactly. */
function onGrid(rng: Rng, shape: readonly number[]): Tensor {
  return f64(
    shape,
    Array.from({ length: size(shape) }, () => (rng.int(4097) - 2048) / 1024),
  );
}

function astypeSample(rng: Rng, shape: readonly number[]): SampleInput {
  return {
    label: `float64->float32->float64 x=${show(shape)}`,
    inputs: [onGrid(rng, shape)],
    fn: (x) => astype(mul(astype(x, 'float32'), 3), 'float64'),
    ref: (x) => ({ shape: [...x.shape], data: values(x).map((v) => Math.fround(3 * v)) }),
    check: { eps: 2 ** -10, rtol: 1e-6 },
    // The gradient passes through float32, so it is not smooth enough to difference again.
    secondOrder: false,
  };
}

const astypeInfo: OpInfo = {
  name: 'astype',
  secondOrder: false,
  samples: (rng) => [
    astypeSample(rng, [3]),
    astypeSample(rng, [2, 2]),
    {
      label: 'float64->float64 is the identity x=[3]',
      inputs: [uniform(rng, [3])],
      fn: (x) => astype(x, 'float64'),
      ref: (x) => ({ shape: [3], data: values(x) }),
    },
  ],
  arbitrary: fc.tuple(shapeArb(0, 3, 3), seedArb).map(([s, seed]) => astypeSample(rngOf(seed), s)),
};

export const elementwiseOps: OpInfo[] = [
  unaryOp('neg', neg, (v) => -v, anyValue, false),
  unaryOp('exp', exp, Math.exp, anyValue, true),
  unaryOp('log', log, Math.log, positive, true),
  unaryOp('sqrt', sqrt, Math.sqrt, positive, true),
  unaryOp('abs', abs, Math.abs, awayFromZero, false),
  binaryOp('add', add, (a, b) => a + b, [anyValue, anyValue], false),
  binaryOp('sub', sub, (a, b) => a - b, [anyValue, anyValue], false),
  binaryOp('mul', mul, (a, b) => a * b, [anyValue, anyValue], true),
  binaryOp('div', div, (a, b) => a / b, [anyValue, awayFromZero], true),
  (() => {
    const info = binaryOp('pow', pow, Math.pow, [positive, exponent], true, { constant: 2 });
    const base = info.samples;
    return {
      ...info,
      samples: (rng: Rng): SampleInput[] => {
        const zeroBase = f64([4], [0, 0, 0, 0]);
        return [
          ...base(rng),
          {
            // d/db 0^b is taken as 0 (the limit for b > 0), not 0 * log 0 = NaN.
            label: 'zero base a=[4] zeros b=[4] in (1.5, 3)',
            inputs: [uniform(rng, [4], 1.5, 3)],
            fn: (b) => pow(zeroBase, b),
            ref: (b) => ({ shape: [4], data: values(b).map(() => 0) }),
          },
          {
            label: 'negative base, integer exponent a=[3] b=number 3',
            inputs: [uniform(rng, [3], -2, -0.5)],
            fn: (a) => pow(a, 3),
            ref: (a) => ({ shape: [3], data: values(a).map((v) => v ** 3) }),
          },
        ];
      },
    };
  })(),
  binaryOp('maximum', maximum, (a, b) => (a >= b ? a : b), [anyValue, anyValue], false, {
    apart: true,
  }),
  comparisonOp('gt', gt, (a, b) => a > b),
  comparisonOp('ge', ge, (a, b) => a >= b),
  comparisonOp('lt', lt, (a, b) => a < b),
  comparisonOp('le', le, (a, b) => a <= b),
  comparisonOp('eq', eq, (a, b) => a === b),
  whereInfo,
  astypeInfo,
];
