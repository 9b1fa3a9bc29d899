/** Indexing primitives: `gather` and `scatterAdd` (each the other's vjp). */
import fc from 'fast-check';
import { type Rng, type Tensor, gather, scatterAdd } from '../../src/index.js';
import {
  type Expected,
  type OpInfo,
  type SampleInput,
  at,
  f64,
  indices,
  rngOf,
  seedArb,
  shapeArb,
  show,
  size,
  stridesOf,
  uniform,
  values,
} from './types.js';

/** `out[...i...] = x[... index[...i...] ...]` with the `axis` coordinate replaced. */
export function refGather(x: Tensor, axis: number, index: Tensor): Expected {
  const ax = axis < 0 ? axis + x.ndim : axis;
  const d = x.shape[ax]!;
  return {
    shape: [...index.shape],
    data: indices(index.shape).map((i) => {
      const v = at(index, i);
      return at(
        x,
        i.map((c, k) => (k === ax ? (v < 0 ? v + d : v) : c)),
      );
    }),
  };
}

export function refScatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Expected {
  const ax = axis < 0 ? axis + x.ndim : axis;
  const d = x.shape[ax]!;
  const data = values(x);
  const strides = stridesOf(x.shape);
  for (const i of indices(index.shape)) {
    const v = at(index, i);
    const target = i.map((c, k) => (k === ax ? (v < 0 ? v + d : v) : c));
    data[target.reduce((o, c, k) => o + c * strides[k]!, 0)]! += at(src, i);
  }
  return { shape: [...x.shape], data };
}

/** An index of `shape` for axis `axis` of an `x` with `dim` entries there; values may repeat. */
function randomIndex(rng: Rng, shape: number[], dim: number, negative = false): Tensor {
  return f64(
    shape,
    Array.from({ length: size(shape) }, () => {
      const v = rng.int(dim);
      return negative && rng.uniform() < 0.5 ? v - dim : v;
    }),
  );
}

interface IndexCase {
  x: number[];
  axis: number;
  index: number[];
  negative?: boolean;
}

const caseLabel = (c: IndexCase, idx: Tensor): string =>
  `x=${show(c.x)} axis=${c.axis} index=${show(c.index)} values=${show(values(idx))}`;

function gatherSample(rng: Rng, c: IndexCase): SampleInput {
  const ax = c.axis < 0 ? c.axis + c.x.length : c.axis;
  const idx = randomIndex(rng, c.index, c.x[ax]!, c.negative);
  return {
    label: caseLabel(c, idx),
    inputs: [uniform(rng, c.x)],
    fn: (x) => gather(x, c.axis, idx),
    ref: (x) => refGather(x, c.axis, idx),
  };
}

function scatterSample(rng: Rng, c: IndexCase): SampleInput {
  const ax = c.axis < 0 ? c.axis + c.x.length : c.axis;
  const idx = randomIndex(rng, c.index, c.x[ax]!, c.negative);
  return {
    label: caseLabel(c, idx),
    inputs: [uniform(rng, c.x), uniform(rng, c.index)],
    fn: (x, src) => scatterAdd(x, c.axis, idx, src),
    ref: (x, src) => refScatterAdd(x, c.axis, idx, src),
  };
}

const cases: IndexCase[] = [
  { x: [3, 4], axis: 1, index: [3, 2] },
  { x: [3, 4], axis: 0, index: [5, 4] }, // repeated indices accumulate in the vjp
  { x: [2, 3, 4], axis: -1, index: [2, 2, 3], negative: true },
  { x: [4], axis: 0, index: [6] },
  { x: [3, 4], axis: 1, index: [2, 1] },
];

const caseArb: fc.Arbitrary<IndexCase> = shapeArb(1, 3, 3).chain((x) =>
  fc.integer({ min: 0, max: x.length - 1 }).chain((axis) =>
    fc
      .tuple(...x.map((d, i) => fc.integer({ min: 1, max: i === axis ? 4 : d })), fc.boolean())
      .map((parts) => ({
        x,
        axis,
        index: parts.slice(0, -1) as number[],
        negative: parts[parts.length - 1] as boolean,
      })),
  ),
);

export const indexingOps: OpInfo[] = [
  {
    name: 'gather',
    secondOrder: false,
    samples: (rng) => cases.map((c) => gatherSample(rng, c)),
    arbitrary: fc.tuple(caseArb, seedArb).map(([c, seed]) => gatherSample(rngOf(seed), c)),
  },
  {
    name: 'scatterAdd',
    secondOrder: false,
    samples: (rng) => cases.map((c) => scatterSample(rng, c)),
    arbitrary: fc.tuple(caseArb, seedArb).map(([c, seed]) => scatterSample(rngOf(seed), c)),
  },
];
