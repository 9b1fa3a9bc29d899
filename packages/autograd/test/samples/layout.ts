/** Layout primitives: `reshape permute transpose broadcastTo slice pad concat`. */
import fc from 'fast-check';
import {
  type Rng,
  type SliceRange,
  type Tensor,
  broadcastTo,
  concat,
  mul,
  pad,
  permute,
  reshape,
  slice,
  transpose,
} from '../../src/index.js';
import {
  type Expected,
  type OpInfo,
  type SampleInput,
  at,
  atBroadcast,
  broadcastPairArb,
  broadcastShape,
  indices,
  rngOf,
  seedArb,
  shapeArb,
  show,
  size,
  uniform,
  values,
} from './types.js';

// ---- references ----------------------------------------------------------------------------

function refReshape(x: Tensor, shape: readonly number[]): Expected {
  const known = shape.filter((d) => d !== -1).reduce((n, d) => n * d, 1);
  return { shape: shape.map((d) => (d === -1 ? x.size / known : d)), data: values(x) };
}

function refPermute(x: Tensor, axes: readonly number[]): Expected {
  const r = x.ndim;
  const perm = axes.map((a) => (a < 0 ? a + r : a));
  const shape = perm.map((a) => x.shape[a]!);
  const data = indices(shape).map((o) => {
    const src = new Array<number>(r);
    perm.forEach((a, j) => (src[a] = o[j]!));
    return at(x, src);
  });
  return { shape, data };
}

function refTranspose(x: Tensor, a0: number, a1: number): Expected {
  const r = x.ndim;
  const perm = x.shape.map((_, i) => i);
  const [i, j] = [a0 < 0 ? a0 + r : a0, a1 < 0 ? a1 + r : a1];
  perm[i] = j;
  perm[j] = i;
  return refPermute(x, perm);
}

function refBroadcastTo(x: Tensor, shape: readonly number[]): Expected {
  return { shape: [...shape], data: indices(shape).map((i) => atBroadcast(x, i)) };
}

/** Python's `range(*slice(start, stop, step).indices(d))` for a positive step. */
function pyRange(d: number, start: number, stop: number, step: number): number[] {
  const norm = (v: number): number => Math.min(d, Math.max(0, v < 0 ? v + d : v));
  const out: number[] = [];
  for (let i = norm(start); i < norm(stop); i += step) out.push(i);
  return out;
}

function refSlice(x: Tensor, ranges: readonly SliceRange[]): Expected {
  const picks = x.shape.map((d, ax) => {
    const r = ranges[ax] ?? null;
    return r === null ? pyRange(d, 0, d, 1) : pyRange(d, r[0], r[1], r[2] ?? 1);
  });
  const shape = picks.map((p) => p.length);
  return {
    shape,
    data: indices(shape).map((o) =>
      at(
        x,
        o.map((v, ax) => picks[ax]![v]!),
      ),
    ),
  };
}

function refPad(x: Tensor, pads: readonly (readonly [number, number])[], value: number): Expected {
  const shape = x.shape.map((d, ax) => d + (pads[ax]?.[0] ?? 0) + (pads[ax]?.[1] ?? 0));
  const data = indices(shape).map((o) => {
    const src = o.map((v, ax) => v - (pads[ax]?.[0] ?? 0));
    return src.every((v, ax) => v >= 0 && v < x.shape[ax]!) ? at(x, src) : value;
  });
  return { shape, data };
}

function refConcat(xs: readonly Tensor[], axis: number): Expected {
  const ax = axis < 0 ? axis + xs[0]!.ndim : axis;
  const shape = [...xs[0]!.shape];
  shape[ax] = xs.reduce((n, t) => n + t.shape[ax]!, 0);
  const data = indices(shape).map((o) => {
    let k = o[ax]!;
    for (const t of xs) {
      if (k < t.shape[ax]!)
        return at(
          t,
          o.map((v, i) => (i === ax ? k : v)),
        );
      k -= t.shape[ax]!;
    }
    throw new Error('unreachable');
  });
  return { shape, data };
}

// ---- samples -------------------------------------------------------------------------------

function reshapeSample(rng: Rng, from: number[], to: number[]): SampleInput {
  return {
    label: `x=${show(from)} shape=${show(to)}`,
    inputs: [uniform(rng, from)],
    fn: (x) => reshape(x, to),
    ref: (x) => refReshape(x, to),
  };
}

function permuteSample(rng: Rng, shape: number[], axes: number[]): SampleInput {
  return {
    label: `x=${show(shape)} axes=${show(axes)}`,
    inputs: [uniform(rng, shape)],
    fn: (x) => permute(x, axes),
    ref: (x) => refPermute(x, axes),
  };
}

function transposeSample(rng: Rng, shape: number[], a0?: number, a1?: number): SampleInput {
  return {
    label: `x=${show(shape)} axes=${a0 ?? 'default'},${a1 ?? 'default'}`,
    inputs: [uniform(rng, shape)],
    fn: (x) => transpose(x, a0, a1),
    ref: (x) => refTranspose(x, a0 ?? -2, a1 ?? -1),
  };
}

function broadcastSample(rng: Rng, from: number[], to: number[]): SampleInput {
  return {
    label: `x=${show(from)} shape=${show(to)}`,
    inputs: [uniform(rng, from)],
    fn: (x) => broadcastTo(x, to),
    ref: (x) => refBroadcastTo(x, to),
  };
}

const showRanges = (ranges: readonly SliceRange[]): string =>
  `[${ranges.map((r) => (r === null ? ':' : r.join(':'))).join(',')}]`;

function sliceSample(rng: Rng, shape: number[], ranges: SliceRange[]): SampleInput {
  return {
    label: `x=${show(shape)} ranges=${showRanges(ranges)}`,
    inputs: [uniform(rng, shape)],
    fn: (x) => slice(x, ranges),
    ref: (x) => refSlice(x, ranges),
  };
}

function padSample(rng: Rng, shape: number[], pads: [number, number][], value = 0): SampleInput {
  return {
    label: `x=${show(shape)} pads=${JSON.stringify(pads)} value=${value}`,
    inputs: [uniform(rng, shape)],
    fn: (x) => pad(x, pads, value),
    ref: (x) => refPad(x, pads, value),
  };
}

function concatSample(rng: Rng, shapes: number[][], axis: number): SampleInput {
  return {
    label: `xs=${shapes.map(show).join(',')} axis=${axis}`,
    inputs: shapes.map((s) => uniform(rng, s)),
    fn: (...xs) => concat(xs, axis),
    ref: (...xs) => refConcat(xs, axis),
  };
}

const shapeAndSeed = (minRank: number, maxRank: number) =>
  fc.tuple(shapeArb(minRank, maxRank, 3), seedArb);

export const layoutOps: OpInfo[] = [
  {
    name: 'reshape',
    secondOrder: false,
    samples: (rng) => [
      reshapeSample(rng, [2, 3], [3, 2]),
      reshapeSample(rng, [2, 3], [6]),
      reshapeSample(rng, [2, 3, 2], [-1, 2]),
      reshapeSample(rng, [1], []),
      reshapeSample(rng, [], [1, 1]),
      reshapeSample(rng, [2, 3], [2, 3]),
      {
        label: 'repeated x=[2,3] reshape(x,[6]) * reshape(x,[6])',
        inputs: [uniform(rng, [2, 3])],
        fn: (x) => mul(reshape(x, [6]), reshape(x, [-1])),
        ref: (x) => ({ shape: [6], data: values(x).map((v) => v * v) }),
      },
    ],
    arbitrary: shapeAndSeed(0, 3).chain(([shape, seed]) =>
      fc
        .constantFrom(
          [size(shape)],
          [-1],
          [...shape].reverse(),
          [1, ...shape],
          shape.length > 0 ? [...shape.slice(0, -1), -1] : [1],
        )
        .map((to) => reshapeSample(rngOf(seed), shape, to)),
    ),
  },
  {
    name: 'permute',
    secondOrder: false,
    samples: (rng) => [
      permuteSample(rng, [2, 3], [1, 0]),
      permuteSample(rng, [2, 3, 4], [2, 0, 1]),
      permuteSample(rng, [2, 3, 4], [-1, 1, 0]),
      permuteSample(rng, [2, 3], [0, 1]),
      permuteSample(rng, [], []),
    ],
    arbitrary: shapeAndSeed(0, 4).chain(([shape, seed]) =>
      fc
        .shuffledSubarray(
          shape.map((_, i) => i),
          { minLength: shape.length, maxLength: shape.length },
        )
        .map((axes) => permuteSample(rngOf(seed), shape, axes)),
    ),
  },
  {
    name: 'transpose',
    secondOrder: false,
    samples: (rng) => [
      transposeSample(rng, [2, 3]),
      transposeSample(rng, [2, 3, 4], 0, 2),
      transposeSample(rng, [2, 3, 4], -3, 1),
    ],
    arbitrary: shapeAndSeed(2, 4).map(([shape, seed]) => transposeSample(rngOf(seed), shape)),
  },
  {
    name: 'broadcastTo',
    secondOrder: false,
    samples: (rng) => [
      broadcastSample(rng, [3], [2, 3]),
      broadcastSample(rng, [2, 1], [2, 4]),
      broadcastSample(rng, [], [2, 2]),
      broadcastSample(rng, [1, 3, 1], [2, 1, 3, 2]),
      broadcastSample(rng, [2, 3], [2, 3]),
    ],
    arbitrary: fc
      .tuple(broadcastPairArb(3), seedArb)
      .map(([[a, b], seed]) => broadcastSample(rngOf(seed), a, broadcastShape(a, b))),
  },
  {
    name: 'slice',
    secondOrder: false,
    samples: (rng) => [
      sliceSample(rng, [4, 3], [[1, 3]]),
      sliceSample(rng, [4, 3], [null, [0, 3, 2]]),
      sliceSample(rng, [5], [[-3, 10]]),
      sliceSample(rng, [5], [[-10, -1, 3]]),
      sliceSample(rng, [2, 5, 3], [null, [4, 1], null]),
      sliceSample(
        rng,
        [2, 5, 3],
        [
          [1, 2],
          [1, 5, 2],
          [-1, 3],
        ],
      ),
      {
        label: 'repeated x=[4] slice [0:2] * slice [1:3]',
        inputs: [uniform(rng, [4])],
        fn: (x) => mul(slice(x, [[0, 2]]), slice(x, [[1, 3]])),
        ref: (x) => ({ shape: [2], data: [x.data[0]! * x.data[1]!, x.data[1]! * x.data[2]!] }),
      },
    ],
    arbitrary: shapeAndSeed(1, 3).chain(([shape, seed]) =>
      fc
        .tuple(
          ...shape.map((d) =>
            fc.oneof(
              fc.constant(null),
              fc.tuple(
                fc.integer({ min: -d - 1, max: d + 1 }),
                fc.integer({ min: -d - 1, max: d + 1 }),
                fc.integer({ min: 1, max: 3 }),
              ),
            ),
          ),
        )
        .map((ranges) => sliceSample(rngOf(seed), shape, ranges as SliceRange[])),
    ),
  },
  {
    name: 'pad',
    secondOrder: false,
    samples: (rng) => [
      padSample(
        rng,
        [2, 3],
        [
          [1, 0],
          [2, 1],
        ],
      ),
      padSample(rng, [3], [[0, 2]], -1.5),
      padSample(rng, [2, 2, 2], [[1, 1]]),
      padSample(rng, [2, 2], []),
      {
        label: 'repeated x=[2] pad(x) * pad(x) value=1',
        inputs: [uniform(rng, [2])],
        fn: (x) => mul(pad(x, [[1, 0]], 1), pad(x, [[0, 1]], 1)),
        ref: (x) => ({ shape: [3], data: [x.data[0]!, x.data[0]! * x.data[1]!, x.data[1]!] }),
      },
    ],
    arbitrary: shapeAndSeed(1, 3).chain(([shape, seed]) =>
      fc
        .tuple(
          ...shape.map(() =>
            fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
          ),
        )
        .chain((pads) =>
          fc
            .double({ min: -2, max: 2, noNaN: true })
            .map((value) => padSample(rngOf(seed), shape, pads as [number, number][], value)),
        ),
    ),
  },
  {
    name: 'concat',
    secondOrder: false,
    samples: (rng) => [
      concatSample(
        rng,
        [
          [2, 3],
          [1, 3],
        ],
        0,
      ),
      concatSample(
        rng,
        [
          [2, 1],
          [2, 3],
          [2, 2],
        ],
        1,
      ),
      concatSample(
        rng,
        [
          [2, 2, 1],
          [2, 2, 2],
        ],
        -1,
      ),
      concatSample(rng, [[3]], 0),
      {
        label: 'repeated xs=x,x x=[2,2] axis=1',
        inputs: [uniform(rng, [2, 2])],
        fn: (x) => concat([x, x], 1),
        ref: (x) => refConcat([x, x], 1),
      },
    ],
    arbitrary: shapeAndSeed(1, 3).chain(([shape, seed]) =>
      fc
        .tuple(
          fc.integer({ min: 0, max: shape.length - 1 }),
          fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
        )
        .map(([axis, sizes]) =>
          concatSample(
            rngOf(seed),
            sizes.map((s) => shape.map((d, i) => (i === axis ? s : d))),
            axis,
          ),
        ),
    ),
  },
];
