/** `matmul`: batched, with broadcast batch axes and 1-D operands. */
import fc from 'fast-check';
import { type Rng, type Tensor, matmul } from '../../src/index.js';
import {
  type Expected,
  type OpInfo,
  type SampleInput,
  atBroadcast,
  broadcastPairArb,
  broadcastShape,
  indices,
  rngOf,
  seedArb,
  show,
  uniform,
} from './types.js';

/** The product by its definition, `sum_p a[..., i, p] b[..., p, j]`, 1-D operands promoted. */
export function refMatmul(a: Tensor, b: Tensor): Expected {
  const as = a.ndim === 1 ? [1, a.shape[0]!] : [...a.shape];
  const bs = b.ndim === 1 ? [b.shape[0]!, 1] : [...b.shape];
  const A = { ...a, shape: as, ndim: as.length } as unknown as Tensor;
  const B = { ...b, shape: bs, ndim: bs.length } as unknown as Tensor;
  const [m, k] = as.slice(-2) as [number, number];
  const n = bs[bs.length - 1]!;
  const batch = broadcastShape(as.slice(0, -2), bs.slice(0, -2));
  const data: number[] = [];
  for (const t of indices(batch))
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++)
          s += atBroadcast(A, [...t, i, p]) * atBroadcast(B, [...t, p, j]);
        data.push(s);
      }
  const shape = [...batch];
  if (a.ndim !== 1) shape.push(m);
  if (b.ndim !== 1) shape.push(n);
  return { shape, data };
}

/** `t` with its last two axes swapped, by index arithmetic (no library op). */
function refTranspose(t: Tensor): Tensor {
  const shape = [...t.shape];
  const [r, c] = shape.slice(-2) as [number, number];
  const batch = t.size / (r * c);
  const data = new Float64Array(t.size);
  for (let b = 0; b < batch; b++)
    for (let i = 0; i < r; i++)
      for (let j = 0; j < c; j++) data[b * r * c + j * r + i] = t.data[b * r * c + i * c + j]!;
  shape.splice(-2, 2, c, r);
  return { data, shape, ndim: shape.length, size: t.size } as unknown as Tensor;
}

function transposedSample(
  rng: Rng,
  sa: number[],
  sb: number[],
  ta: boolean,
  tb: boolean,
): SampleInput {
  return {
    label: `${ta ? 'transA ' : ''}${tb ? 'transB ' : ''}a=${show(sa)} b=${show(sb)}`,
    inputs: [uniform(rng, sa), uniform(rng, sb)],
    fn: (a, b) => matmul(a!, b!, { transA: ta, transB: tb }),
    ref: (a, b) => refMatmul(ta ? refTranspose(a!) : a!, tb ? refTranspose(b!) : b!),
  };
}

function sample(rng: Rng, sa: number[], sb: number[], tag = ''): SampleInput {
  return {
    label: `${tag}a=${show(sa)} b=${show(sb)}`,
    inputs: [uniform(rng, sa), uniform(rng, sb)],
    fn: (a, b) => matmul(a!, b!),
    ref: refMatmul,
  };
}

export const matmulOps: OpInfo[] = [
  {
    name: 'matmul',
    secondOrder: true,
    samples: (rng) => [
      sample(rng, [2, 3], [3, 4]),
      sample(rng, [1, 1], [1, 1]),
      sample(rng, [3], [3, 4], 'vector '),
      sample(rng, [2, 3], [3], 'vector '),
      sample(rng, [3], [3], 'vector '),
      sample(rng, [2, 2, 3], [2, 3, 4], 'batched '),
      sample(rng, [2, 3, 4], [4, 2], 'broadcast '),
      sample(rng, [3], [2, 3, 2], 'broadcast '),
      sample(rng, [2, 1, 2, 3], [3, 3, 2], 'broadcast '),
      sample(rng, [1, 2, 3], [2, 3, 2], 'broadcast '),
      transposedSample(rng, [3, 2], [3, 4], true, false),
      transposedSample(rng, [2, 3], [4, 3], false, true),
      transposedSample(rng, [3, 2], [4, 3], true, true),
      transposedSample(rng, [2, 3, 2], [4, 3], true, true),
      transposedSample(rng, [2, 3], [2, 4, 3], false, true),
      {
        label: 'repeated x@x x=[3,3]',
        inputs: [uniform(rng, [3, 3])],
        fn: (x) => matmul(x, x),
        ref: (x) => refMatmul(x, x),
      },
    ],
    arbitrary: fc
      .tuple(broadcastPairArb(2), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }))
      .chain(([[ba, bb], m, n]) =>
        fc
          .tuple(fc.integer({ min: 1, max: 3 }), seedArb, fc.constantFrom(0, 1, 2))
          .map(([k, seed, vec]) =>
            sample(rngOf(seed), vec === 1 ? [k] : [...ba, m, k], vec === 2 ? [k] : [...bb, k, n]),
          ),
      ),
  },
];
