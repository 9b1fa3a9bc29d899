/** Window primitives: `unfold` (im2col) and `fold` (col2im, its adjoint). */
import fc from 'fast-check';
import { type Rng, type Tensor, fold, mul, unfold } from '../../src/index.js';
import {
  type Expected,
  type OpInfo,
  type SampleInput,
  rngOf,
  seedArb,
  show,
  uniform,
} from './types.js';

export interface Geometry {
  n: number;
  c: number;
  h: number;
  w: number;
  k: [number, number];
  s: [number, number];
  p: [number, number];
  d: [number, number];
}

export function outSize(g: Geometry): [number, number] {
  const o = (i: 0 | 1, len: number): number =>
    Math.floor((len + 2 * g.p[i] - g.d[i] * (g.k[i] - 1) - 1) / g.s[i]) + 1;
  return [o(0, g.h), o(1, g.w)];
}

/** Visits every (image position, column position) pair a window tap links, by the definition. */
function taps(g: Geometry, visit: (img: number, col: number) => void): void {
  const [oh, ow] = outSize(g);
  const [kh, kw] = g.k;
  for (let b = 0; b < g.n; b++)
    for (let ch = 0; ch < g.c; ch++)
      for (let u = 0; u < kh; u++)
        for (let v = 0; v < kw; v++)
          for (let i = 0; i < oh; i++)
            for (let j = 0; j < ow; j++) {
              const y = i * g.s[0] - g.p[0] + u * g.d[0];
              const x = j * g.s[1] - g.p[1] + v * g.d[1];
              const row = (ch * kh + u) * kw + v;
              const col = (b * g.c * kh * kw + row) * oh * ow + i * ow + j;
              if (y >= 0 && y < g.h && x >= 0 && x < g.w)
                visit(((b * g.c + ch) * g.h + y) * g.w + x, col);
              else visit(-1, col);
            }
}

export function refUnfold(x: Tensor, g: Geometry): Expected {
  const [oh, ow] = outSize(g);
  const data = new Array<number>(g.n * g.c * g.k[0] * g.k[1] * oh * ow).fill(NaN);
  taps(g, (img, col) => (data[col] = img < 0 ? 0 : x.data[img]!));
  return { shape: [g.n, g.c * g.k[0] * g.k[1], oh * ow], data };
}

export function refFold(cols: Tensor, g: Geometry): Expected {
  const data = new Array<number>(g.n * g.c * g.h * g.w).fill(0);
  taps(g, (img, col) => {
    if (img >= 0) data[img]! += cols.data[col]!;
  });
  return { shape: [g.n, g.c, g.h, g.w], data };
}

const options = (g: Geometry) => ({ kernelSize: g.k, stride: g.s, padding: g.p, dilation: g.d });

const pairLabel = (p: [number, number]): string => (p[0] === p[1] ? `${p[0]}` : show(p));

export function geometryLabel(g: Geometry): string {
  return `k=${pairLabel(g.k)} s=${pairLabel(g.s)} p=${pairLabel(g.p)} d=${pairLabel(g.d)}`;
}

function geo(
  n: number,
  c: number,
  h: number,
  w: number,
  k: number | [number, number],
  s: number | [number, number] = 1,
  p: number | [number, number] = 0,
  d: number | [number, number] = 1,
): Geometry {
  const two = (v: number | [number, number]): [number, number] =>
    typeof v === 'number' ? [v, v] : v;
  return { n, c, h, w, k: two(k), s: two(s), p: two(p), d: two(d) };
}

function unfoldSample(rng: Rng, g: Geometry): SampleInput {
  return {
    label: `x=${show([g.n, g.c, g.h, g.w])} ${geometryLabel(g)}`,
    inputs: [uniform(rng, [g.n, g.c, g.h, g.w])],
    fn: (x) => unfold(x, options(g)),
    ref: (x) => refUnfold(x, g),
  };
}

function foldSample(rng: Rng, g: Geometry): SampleInput {
  const [oh, ow] = outSize(g);
  const shape = [g.n, g.c * g.k[0] * g.k[1], oh * ow];
  return {
    label: `cols=${show(shape)} outputSize=${show([g.h, g.w])} ${geometryLabel(g)}`,
    inputs: [uniform(rng, shape)],
    fn: (cols) => fold(cols, { ...options(g), outputSize: [g.h, g.w] }),
    ref: (cols) => refFold(cols, g),
  };
}

const cases: Geometry[] = [
  geo(1, 1, 3, 3, 2),
  geo(2, 3, 7, 7, 3, 2, 1, 2),
  geo(1, 2, 4, 5, [2, 3], [1, 2], [0, 1], 1),
  geo(1, 1, 5, 4, 2, [2, 1], 1, [2, 1]),
  geo(1, 1, 2, 2, 4, 1, 1, 1), // the window exactly fills the padded input
  geo(2, 1, 3, 3, 1, 2, 0, 1),
];

export const geometryArb: fc.Arbitrary<Geometry> = fc
  .record({
    n: fc.integer({ min: 1, max: 2 }),
    c: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 5 }),
    w: fc.integer({ min: 1, max: 5 }),
    k: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    s: fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 })),
    p: fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 })),
    d: fc.tuple(fc.integer({ min: 1, max: 2 }), fc.integer({ min: 1, max: 2 })),
  })
  .filter(
    (g) =>
      g.d[0] * (g.k[0] - 1) + 1 <= g.h + 2 * g.p[0] &&
      g.d[1] * (g.k[1] - 1) + 1 <= g.w + 2 * g.p[1],
  );

export const windowOps: OpInfo[] = [
  {
    name: 'unfold',
    secondOrder: false,
    samples: (rng) => [
      ...cases.map((g) => unfoldSample(rng, g)),
      {
        label: 'repeated x=[1,1,3,3] unfold(x) * unfold(x) k=2',
        inputs: [uniform(rng, [1, 1, 3, 3])],
        fn: (x) => mul(unfold(x, { kernelSize: 2 }), unfold(x, { kernelSize: 2 })),
        ref: (x) => {
          const r = refUnfold(x, geo(1, 1, 3, 3, 2));
          return { shape: r.shape, data: r.data.map((v) => v * v) };
        },
      },
    ],
    arbitrary: fc.tuple(geometryArb, seedArb).map(([g, seed]) => unfoldSample(rngOf(seed), g)),
  },
  {
    name: 'fold',
    secondOrder: false,
    samples: (rng) => cases.map((g) => foldSample(rng, g)),
    arbitrary: fc.tuple(geometryArb, seedArb).map(([g, seed]) => foldSample(rngOf(seed), g)),
  },
];
