// The MNIST loader: shapes and values of a split, a seeded split that repeats, disjoint train and
// test, label balance, size validation with the error's fields, `batches` and `shiftImages`.
import { Rng, Tensor, ValueError } from '@tapegrad/autograd';
import { describe, expect, it } from 'vitest';

import {
  AVAILABLE,
  CLASSES,
  IMAGE_SIZE,
  PIXELS,
  type Split,
  batchCount,
  batches,
  loadMnist,
  shiftImages,
  take,
} from '../src/data.js';

// The default split, loaded once: 8,000 and 2,000 digits.
const full = loadMnist({ seed: 3 });

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]!;
  return s;
}

/** Byte equality: `toEqual` on millions of elements takes tens of seconds. */
function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const bytes = (v: ArrayBufferView): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return bytes(a).equals(bytes(b));
}

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('loadMnist', () => {
  it('the mnist package holds 10,000 digits', () => {
    expect(AVAILABLE).toBe(10_000);
  });

  it.each([
    ['train', 8000],
    ['test', 2000],
  ] as const)('default %s split: [%d,1,28,28] float32 in [0,1], labels 0-9', (name, n) => {
    const split = full[name];
    expect(split.size).toBe(n);
    expect(split.images.shape).toEqual([n, 1, IMAGE_SIZE, IMAGE_SIZE]);
    expect(split.images.dtype).toBe('float32');
    expect(split.images.data).toBeInstanceOf(Float32Array);
    expect(split.images.data.length).toBe(n * PIXELS);
    expect(split.labels).toBeInstanceOf(Int32Array);
    expect(split.labels.length).toBe(n);
    expect(split.sources.length).toBe(n);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of split.images.data) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    expect(lo).toBeGreaterThanOrEqual(0);
    expect(hi).toBeLessThanOrEqual(1);
    // Real digits, not blank images: ink reaches full strength somewhere.
    expect(hi).toBeGreaterThan(0.9);
    for (const l of split.labels) {
      expect(Number.isInteger(l) && l >= 0 && l < CLASSES).toBe(true);
    }
  });

  it('dtype float64 gives a Float64Array with the same values', () => {
    const a = loadMnist({ trainSize: 50, testSize: 10, seed: 5 });
    const b = loadMnist({ trainSize: 50, testSize: 10, seed: 5, dtype: 'float64' });
    expect(b.train.images.dtype).toBe('float64');
    expect(b.train.images.data).toBeInstanceOf(Float64Array);
    expect(b.train.images.shape).toEqual([50, 1, 28, 28]);
    expect(Array.from(b.train.labels)).toEqual(Array.from(a.train.labels));
    // The package's values are float64; the float32 split is their rounding.
    expect(Array.from(b.train.images.data, Math.fround)).toEqual(Array.from(a.train.images.data));
  });

  it('the same seed gives the same split: labels, sources and pixels', () => {
    const again = loadMnist({ seed: 3 });
    for (const name of ['train', 'test'] as const) {
      expect(again[name].labels).toEqual(full[name].labels);
      expect(again[name].sources).toEqual(full[name].sources);
      expect(sameBytes(again[name].images.data, full[name].images.data)).toBe(true);
    }
  });

  it('a different seed gives a different split', () => {
    const other = loadMnist({ seed: 4 });
    const same = full.train.sources.filter((s, i) => other.train.sources[i] === s).length;
    // Two independent shuffles agree at a position with probability 1/10,000.
    expect(same).toBeLessThan(20);
    expect(other.train.labels).not.toEqual(full.train.labels);
  });

  it('train and test are disjoint and cover distinct digits', () => {
    const train = new Set(full.train.sources);
    const test = new Set(full.test.sources);
    expect(train.size).toBe(8000);
    expect(test.size).toBe(2000);
    for (const s of test) expect(train.has(s)).toBe(false);
    for (const s of [...train, ...test]) expect(s >= 0 && s < AVAILABLE).toBe(true);
  });

  it('the same source always holds the same digit, whatever the seed', () => {
    const other = loadMnist({ trainSize: 3000, testSize: 1000, seed: 9 });
    const where = new Map<number, [Split, number]>();
    const add = (split: Split): void => {
      split.sources.forEach((s, i) => where.set(s, [split, i]));
    };
    add(full.train);
    add(full.test);
    for (let i = 0; i < 200; i++) {
      const [split, j] = where.get(other.train.sources[i]!)!;
      expect(other.train.labels[i]).toBe(split.labels[j]);
      const a = other.train.images.data.subarray(i * PIXELS, (i + 1) * PIXELS);
      const b = split.images.data.subarray(j * PIXELS, (j + 1) * PIXELS);
      expect(a).toEqual(b);
    }
  });

  it.each([
    ['train', 8000],
    ['test', 2000],
  ] as const)('%s split of %d: every class holds 7% to 13%', (name, n) => {
    const counts = new Array<number>(CLASSES).fill(0);
    for (const l of full[name].labels) counts[l]!++;
    for (const c of counts) {
      expect(c / n).toBeGreaterThanOrEqual(0.07);
      expect(c / n).toBeLessThanOrEqual(0.13);
    }
  });

  it.each([
    [{ trainSize: 0 }, 'trainSize', '0'],
    [{ trainSize: -5 }, 'trainSize', '-5'],
    [{ trainSize: 10.5 }, 'trainSize', '10.5'],
    [{ trainSize: Number.NaN }, 'trainSize', 'NaN'],
    [{ testSize: 0 }, 'testSize', '0'],
    [{ testSize: -1 }, 'testSize', '-1'],
    [{ testSize: 2.5 }, 'testSize', '2.5'],
    [{ trainSize: 10_000 }, 'trainSize', '10000'],
    [{ trainSize: 9000, testSize: 1001 }, 'trainSize', '9000 + 1001'],
  ])('loadMnist(%o) throws ValueError naming %s', (options, arg, actual) => {
    const err = thrown(() => loadMnist(options));
    expect(err).toBeInstanceOf(ValueError);
    const e = err as ValueError;
    expect(e.op).toBe('loadMnist');
    expect(e.arg).toBe(arg);
    expect(e.actual).toBe(actual);
    expect(e.message.startsWith('loadMnist: ')).toBe(true);
    expect(e.message).toContain(arg);
  });

  it('trainSize + testSize = 10,000 uses every digit once', () => {
    const all = loadMnist({ trainSize: 9000, testSize: 1000, seed: 2 });
    const sources = new Set([...all.train.sources, ...all.test.sources]);
    expect(sources.size).toBe(10_000);
  });
});

describe('batches', () => {
  const split = loadMnist({ trainSize: 103, testSize: 1, seed: 1 }).train;

  it('covers a split of 103 exactly once in batches of 10, the last one of 3', () => {
    const got = [...batches(split, 10, new Rng(7))];
    expect(got.map((b) => b.y.length)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    expect(batchCount(split, 10)).toBe(11);
    const seen = got.flatMap((b) => b.indices);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    for (const b of got) {
      expect(b.x.shape).toEqual([b.y.length, 1, 28, 28]);
      expect(b.y).toEqual(b.indices.map((j) => split.labels[j]));
    }
  });

  it('batch images are the split images at their indices', () => {
    const [b] = batches(split, 4, new Rng(1));
    b!.indices.forEach((j, k) => {
      expect(b!.x.data.subarray(k * PIXELS, (k + 1) * PIXELS)).toEqual(
        split.images.data.subarray(j * PIXELS, (j + 1) * PIXELS),
      );
    });
  });

  it('is shuffled; the same seed repeats the order, another seed changes it', () => {
    const order = (seed: number): number[] =>
      [...batches(split, 10, new Rng(seed))].flatMap((b) => b.indices);
    const a = order(7);
    expect(a).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
    expect(order(7)).toEqual(a);
    expect(order(8)).not.toEqual(a);
  });

  it('dropLast drops the short batch', () => {
    const got = [...batches(split, 10, new Rng(7), true)];
    expect(got.length).toBe(10);
    expect(batchCount(split, 10, true)).toBe(10);
    expect(got.every((b) => b.y.length === 10)).toBe(true);
    expect(new Set(got.flatMap((b) => b.indices)).size).toBe(100);
  });

  it('a batch size equal to the split gives one batch', () => {
    const got = [...batches(split, 103, new Rng(0))];
    expect(got.length).toBe(1);
    expect(got[0]!.y.length).toBe(103);
  });

  it.each([0, -1, 1.5, 104, Number.NaN])('batch size %d throws ValueError', (size) => {
    const err = thrown(() => [...batches(split, size, new Rng(0))]);
    expect(err).toBeInstanceOf(ValueError);
    const e = err as ValueError;
    expect(e.op).toBe('batches');
    expect(e.arg).toBe('batchSize');
    expect(e.actual).toBe(String(size));
    expect(e.expected).toBe('an integer in [1, 103]');
  });

  it('take keeps the dtype and copies the rows', () => {
    const s64 = loadMnist({ trainSize: 5, testSize: 1, dtype: 'float64' }).train;
    const b = take(s64, [4, 0]);
    expect(b.x.data).toBeInstanceOf(Float64Array);
    expect(b.y).toEqual([s64.labels[4], s64.labels[0]]);
    b.x.data[0] = 123;
    expect(s64.images.data[4 * PIXELS]).not.toBe(123);
  });
});

describe('shiftImages', () => {
  const x = take(full.test, [0, 1, 2, 3, 4, 5, 6, 7]).x;

  it('shift 0 is the identity', () => {
    expect(shiftImages(x, 0, new Rng(1))).toBe(x);
  });

  it('maxShift 2 keeps the shape and dtype and roughly the ink of each digit', () => {
    const y = shiftImages(x, 2, new Rng(1));
    expect(y.shape).toEqual(x.shape);
    expect(y.data).toBeInstanceOf(Float32Array);
    let moved = 0;
    for (let i = 0; i < 8; i++) {
      const a = sum(x.data.subarray(i * PIXELS, (i + 1) * PIXELS));
      const b = sum(y.data.subarray(i * PIXELS, (i + 1) * PIXELS));
      // MNIST digits sit in a 20x20 box centred in 28x28: a 2-pixel shift loses no ink.
      expect(b).toBeCloseTo(a, 3);
      const same = x.data
        .subarray(i * PIXELS, (i + 1) * PIXELS)
        .every((v, p) => v === y.data[i * PIXELS + p]);
      if (!same) moved++;
    }
    // Each image stays put with probability 1/25.
    expect(moved).toBeGreaterThanOrEqual(5);
  });

  it('a shift moves the pixels without changing them', () => {
    // One bright pixel in the middle; every shifted copy holds it somewhere within 2 pixels.
    const data = new Float32Array(4 * PIXELS);
    for (let i = 0; i < 4; i++) data[i * PIXELS + 14 * 28 + 14] = 0.5;
    const y = shiftImages(new Tensor(data, [4, 1, 28, 28]), 2, new Rng(3));
    for (let i = 0; i < 4; i++) {
      const img = y.data.subarray(i * PIXELS, (i + 1) * PIXELS);
      const at = img.findIndex((v) => v !== 0);
      expect(img[at]).toBe(0.5);
      expect(sum(img)).toBe(0.5);
      expect(Math.abs(Math.floor(at / 28) - 14)).toBeLessThanOrEqual(2);
      expect(Math.abs((at % 28) - 14)).toBeLessThanOrEqual(2);
    }
  });

  it('the same seed gives the same shifts', () => {
    expect(shiftImages(x, 1, new Rng(5)).data).toEqual(shiftImages(x, 1, new Rng(5)).data);
  });
});
