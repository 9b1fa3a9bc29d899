/** Reductions: `sum`, `max` (gradient to the first maximum), `mean`, and the helper `sumTo`. */
import fc from 'fast-check';
import { type Rng, type Tensor, max, mean, mul, sum, sumTo } from '../../src/index.js';
import {
  type Expected,
  type OpInfo,
  type SampleInput,
  at,
  distinct,
  indices,
  rngOf,
  seedArb,
  shapeArb,
  show,
  uniform,
} from './types.js';

type Reducer = (x: Tensor, axis?: number | readonly number[] | null, keepdims?: boolean) => Tensor;

/** Reduces `x` over `axes` (all when null) with `combine`, by nested loops over each output. */
export function refReduce(
  x: Tensor,
  axis: number | readonly number[] | null,
  keepdims: boolean,
  combine: (vs: number[]) => number,
): Expected {
  const r = x.ndim;
  const list = axis === null ? x.shape.map((_, i) => i) : typeof axis === 'number' ? [axis] : axis;
  const axes = list.map((a) => (a < 0 ? a + r : a));
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const inner = x.shape.map((d, i) => (axes.includes(i) ? d : 1));
  const data = indices(kept).map((o) =>
    combine(
      indices(inner).map((k) =>
        at(
          x,
          o.map((v, i) => (axes.includes(i) ? k[i]! : v)),
        ),
      ),
    ),
  );
  const shape = keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i));
  return { shape, data };
}

const total = (vs: number[]): number => vs.reduce((s, v) => s + v, 0);
const largest = (vs: number[]): number => Math.max(...vs);
const average = (vs: number[]): number => total(vs) / vs.length;

type AxisCase = [number[], number | number[] | null, boolean];

const axisCases: AxisCase[] = [
  [[2, 3], null, false],
  [[], null, false],
  [[4], 0, false],
  [[2, 3], 0, false],
  [[2, 3], -1, true],
  [[2, 3, 4], [0, 2], false],
  [[2, 3, 4], [-1, 1], true],
  [[2, 3], [], false],
];

function reduceOp(
  name: string,
  op: Reducer,
  combine: (vs: number[]) => number,
  gen: (rng: Rng, shape: number[]) => Tensor,
  secondOrder: boolean,
): OpInfo {
  const sample = (rng: Rng, [shape, axis, keepdims]: AxisCase): SampleInput => ({
    label: `x=${show(shape)} axis=${axis === null ? 'all' : JSON.stringify(axis)}${keepdims ? ' keepdims' : ''}`,
    inputs: [gen(rng, shape)],
    fn: (x) => op(x, axis, keepdims),
    ref: (x) => refReduce(x, axis, keepdims, combine),
  });
  const axisArb = shapeArb(1, 3, 3).chain((shape) =>
    fc.tuple(
      fc.constant(shape),
      fc.oneof(
        fc.constant(null),
        fc
          .subarray(shape.map((_, i) => i))
          .chain((axes) =>
            fc.shuffledSubarray(axes, { minLength: axes.length, maxLength: axes.length }),
          ),
        fc.integer({ min: -shape.length, max: shape.length - 1 }),
      ),
      fc.boolean(),
    ),
  );
  return {
    name,
    secondOrder,
    samples: (rng) => [
      ...axisCases.map((c) => sample(rng, c)),
      {
        label: 'repeated x=[2,3] op(x, 1, keepdims) * x',
        inputs: [gen(rng, [2, 3])],
        fn: (x) => mul(op(x, 1, true), x),
        ref: (x) => {
          const r = refReduce(x, 1, true, combine);
          return {
            shape: [2, 3],
            data: Array.from(x.data, (v, i) => v * r.data[Math.floor(i / 3)]!),
          };
        },
      },
    ],
    arbitrary: fc.tuple(axisArb, seedArb).map(([c, seed]) => sample(rngOf(seed), c as AxisCase)),
  };
}

function sumToSample(rng: Rng, from: number[], to: number[]): SampleInput {
  const lead = from.length - to.length;
  return {
    label: `g=${show(from)} to=${show(to)}`,
    inputs: [uniform(rng, from)],
    fn: (g) => sumTo(g, to),
    ref: (g) => {
      const data = new Array<number>(to.reduce((n, d) => n * d, 1)).fill(0);
      const strides = to.map((_, i) => to.slice(i + 1).reduce((n, d) => n * d, 1));
      for (const idx of indices(from)) {
        const o = to.reduce((off, d, i) => off + (d === 1 ? 0 : idx[lead + i]!) * strides[i]!, 0);
        data[o]! += at(g, idx);
      }
      return { shape: to, data };
    },
  };
}

export const reduceOps: OpInfo[] = [
  reduceOp('sum', sum, total, uniform, false),
  reduceOp('max', max, largest, (rng, s) => distinct(rng, s), false),
  reduceOp('mean', mean, average, uniform, false),
  {
    name: 'sumTo',
    secondOrder: false,
    samples: (rng) => [
      sumToSample(rng, [2, 3, 4], [3, 1]),
      sumToSample(rng, [2, 3], []),
      sumToSample(rng, [2, 3], [1, 3]),
      sumToSample(rng, [2, 3], [2, 3]),
    ],
    arbitrary: fc
      .tuple(
        shapeArb(0, 3, 3),
        fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
        fc.nat(3),
        seedArb,
      )
      .map(([from, ones, drop, seed]) =>
        sumToSample(
          rngOf(seed),
          from,
          from.slice(Math.min(drop, from.length)).map((d, i) => (ones[i] ? 1 : d)),
        ),
      ),
  },
];
