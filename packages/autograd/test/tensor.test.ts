/** Tensor creation, conversion and printing, and backward's accumulation into `.grad`. */
import { describe, expect, test } from 'vitest';
import {
  Rng,
  Tensor,
  arange,
  exp,
  eye,
  full,
  manualSeed,
  mul,
  ones,
  onesLike,
  rand,
  randn,
  sum,
  tensor,
  zeroGrad,
  zeros,
  zerosLike,
} from '../src/index.js';

describe('tensor()', () => {
  test('nested [[1,2,3],[4,5,6]]: shape [2,3], float32, row-major data', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe('float32');
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(Array.from(t.data)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(t.ndim).toBe(2);
    expect(t.size).toBe(6);
  });

  test('a number: scalar shape []', () => {
    const t = tensor(2.5);
    expect(t.shape).toEqual([]);
    expect(t.item()).toBe(2.5);
  });

  test('flat [1..6] with shape [3,2]', () => {
    const t = tensor([1, 2, 3, 4, 5, 6], { shape: [3, 2] });
    expect(t.toArray()).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
  });

  test('flat without shape: one axis', () => {
    expect(tensor([1, 2, 3]).shape).toEqual([3]);
  });

  test('Float64Array infers float64; Float32Array float32; dtype overrides', () => {
    expect(tensor(new Float64Array([1, 2])).dtype).toBe('float64');
    expect(tensor(new Float32Array([1, 2])).dtype).toBe('float32');
    expect(tensor(new Float64Array([1, 2]), { dtype: 'float32' }).dtype).toBe('float32');
    expect(tensor([1, 2], { dtype: 'float64' }).data).toBeInstanceOf(Float64Array);
  });

  test('data is copied from a typed array', () => {
    const src = new Float32Array([1, 2]);
    const t = tensor(src);
    src[0] = 9;
    expect(t.data[0]).toBe(1);
  });

  test('3-D nested and empty arrays', () => {
    expect(
      tensor([
        [[1], [2]],
        [[3], [4]],
      ]).shape,
    ).toEqual([2, 2, 1]);
    expect(tensor([]).shape).toEqual([0]);
    expect(tensor([[], []]).shape).toEqual([2, 0]);
  });

  test('requiresGrad option marks a leaf', () => {
    const t = tensor([1], { requiresGrad: true });
    expect(t.requiresGrad).toBe(true);
    expect(t.isLeaf).toBe(true);
  });

  test('float32 rounds values', () => {
    expect(tensor([0.1]).data[0]).toBe(Math.fround(0.1));
    expect(tensor([0.1], { dtype: 'float64' }).data[0]).toBe(0.1);
  });
});

describe('constructors', () => {
  test('zeros [2,3], ones [2], full [2,2] 7 with dtypes', () => {
    expect(zeros([2, 3]).toArray()).toEqual([
      [0, 0, 0],
      [0, 0, 0],
    ]);
    expect(ones([2], { dtype: 'float64' }).dtype).toBe('float64');
    expect(ones([2]).toArray()).toEqual([1, 1]);
    expect(full([2, 2], 7).toArray()).toEqual([
      [7, 7],
      [7, 7],
    ]);
    expect(zeros([]).shape).toEqual([]);
    expect(zeros([2, 0]).size).toBe(0);
  });

  test('zerosLike / onesLike keep shape and dtype', () => {
    const like = tensor([[1, 2]], { dtype: 'float64' });
    expect(zerosLike(like).toArray()).toEqual([[0, 0]]);
    expect(onesLike(like).dtype).toBe('float64');
  });

  test.each([
    [[5], [0, 1, 2, 3, 4]],
    [
      [2, 5],
      [2, 3, 4],
    ],
    [
      [0, 1, 0.25],
      [0, 0.25, 0.5, 0.75],
    ],
    [
      [5, 0, -2],
      [5, 3, 1],
    ],
    [[3, 1], []],
  ])('arange(%j) = %j', (args, expected) => {
    const [a, b, c] = args as [number, number?, number?];
    expect(arange(a, b, c).toArray()).toEqual(expected);
  });

  test('arange dtype float64', () => {
    expect(arange(3, undefined, 1, { dtype: 'float64' }).dtype).toBe('float64');
  });

  test('eye(3) and eye(2, 3)', () => {
    expect(eye(3).toArray()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    expect(eye(2, 3).toArray()).toEqual([
      [1, 0, 0],
      [0, 1, 0],
    ]);
  });
});

describe('seeded randomness', () => {
  test('rand with new Rng(42) twice gives the same values, in [0, 1)', () => {
    const a = rand([100], { rng: new Rng(42), dtype: 'float64' });
    const b = rand([100], { rng: new Rng(42), dtype: 'float64' });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(a.data.every((v) => v >= 0 && v < 1)).toBe(true);
  });

  test('different seeds give different values', () => {
    const a = randn([10], { rng: new Rng(1) });
    const b = randn([10], { rng: new Rng(2) });
    expect(Array.from(a.data)).not.toEqual(Array.from(b.data));
  });

  test('randn with new Rng(7) twice gives the same values; mean and std roughly right', () => {
    const a = randn([4000], { rng: new Rng(7), dtype: 'float64', mean: 3, std: 2 });
    const b = randn([4000], { rng: new Rng(7), dtype: 'float64', mean: 3, std: 2 });
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    const vals = Array.from(a.data);
    const m = vals.reduce((s, v) => s + v, 0) / a.size;
    const v = vals.reduce((s, x) => s + (x - m) ** 2, 0) / a.size;
    expect(Math.abs(m - 3)).toBeLessThan(0.15);
    expect(Math.abs(Math.sqrt(v) - 2)).toBeLessThan(0.15);
  });

  test('rand low/high bounds', () => {
    const a = rand([200], { rng: new Rng(3), low: -2, high: -1 });
    expect(a.data.every((v) => v >= -2 && v <= -1)).toBe(true);
  });

  test('one rng advances: two draws from it differ; the default rng reseeds with manualSeed', () => {
    const rng = new Rng(5);
    expect(Array.from(rand([3], { rng }).data)).not.toEqual(Array.from(rand([3], { rng }).data));
    manualSeed(11);
    const a = Array.from(rand([3]).data);
    manualSeed(11);
    expect(Array.from(rand([3]).data)).toEqual(a);
  });

  test('Rng.permutation is a permutation and reproducible', () => {
    const p = new Rng(9).permutation(10);
    expect([...p].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(new Rng(9).permutation(10)).toEqual(p);
  });
});

describe('conversion and printing', () => {
  test('toArray of a scalar is a number; of [2,1,2] nested', () => {
    expect(tensor(3).toArray()).toBe(3);
    expect(tensor([1, 2, 3, 4], { shape: [2, 1, 2] }).toArray()).toEqual([[[1, 2]], [[3, 4]]]);
  });

  test('item of [1] and [1,1]', () => {
    expect(tensor([4]).item()).toBe(4);
    expect(tensor([[5]]).item()).toBe(5);
  });

  test('astype float32 -> float64 and back keeps values and shape', () => {
    const x = tensor([[1.5, -2]]);
    const y = x.astype('float64');
    expect(y.dtype).toBe('float64');
    expect(y.toArray()).toEqual([[1.5, -2]]);
    expect(y.astype('float32').dtype).toBe('float32');
    expect(x.astype('float32')).toBe(x);
  });

  test('astype is differentiable: the cotangent comes back in the input dtype', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    sum(mul(x.astype('float64'), tensor([3, 4], { dtype: 'float64' }))).backward();
    expect(x.grad!.dtype).toBe('float32');
    expect(x.grad!.toArray()).toEqual([3, 4]);
  });

  test('toString of [[1,2],[3,4]]', () => {
    expect(
      tensor([
        [1, 2],
        [3, 4],
      ]).toString(),
    ).toBe('tensor([[1, 2],\n        [3, 4]], shape=[2,2], dtype=float32)');
  });

  test('toString shows grad_fn of a result and requiresGrad of a leaf', () => {
    const x = tensor([1.5], { dtype: 'float64', requiresGrad: true });
    expect(x.toString()).toBe('tensor([1.5], shape=[1], dtype=float64, requiresGrad)');
    expect(mul(x, 2).toString()).toBe('tensor([3], shape=[1], dtype=float64, grad_fn=mul)');
    expect(tensor(0.5).toString()).toBe('tensor(0.5, shape=[], dtype=float32)');
  });

  test('toString elides long axes and formats small and large values', () => {
    expect(arange(10).toString()).toBe(
      'tensor([0, 1, 2, ..., 7, 8, 9], shape=[10], dtype=float32)',
    );
    expect(tensor([1e-7, 123456789, 0.333333], { dtype: 'float64' }).toString()).toBe(
      'tensor([1.0000e-7, 1.2346e+8, 0.33333], shape=[3], dtype=float64)',
    );
  });

  test('detach shares data and cuts the tape; clone copies', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = mul(x, 2);
    const d = y.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.isLeaf).toBe(true);
    expect(d.data).toBe(y.data);
    const c = y.clone();
    expect(c.data).not.toBe(y.data);
    expect(Array.from(c.data)).toEqual([2, 4]);
  });
});

describe('backward and .grad', () => {
  test('backward accumulates into .grad across calls; zeroGrad clears it', () => {
    const x = tensor([1, 2, 3], { dtype: 'float64', requiresGrad: true });
    sum(mul(x, x)).backward();
    expect(x.grad!.toArray()).toEqual([2, 4, 6]);
    sum(mul(x, 3)).backward();
    expect(x.grad!.toArray()).toEqual([5, 7, 9]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
    sum(x).backward();
    expect(x.grad!.toArray()).toEqual([1, 1, 1]);
  });

  test('zeroGrad(tensors) clears every .grad', () => {
    const a = tensor([1], { requiresGrad: true });
    const b = tensor([2], { requiresGrad: true });
    sum(mul(a, b)).backward();
    expect(a.grad!.item()).toBe(2);
    expect(b.grad!.item()).toBe(1);
    zeroGrad([a, b]);
    expect(a.grad).toBeNull();
    expect(b.grad).toBeNull();
  });

  test('backward with an explicit gy on a non-scalar output [2]', () => {
    const x = tensor([1, 2], { dtype: 'float64', requiresGrad: true });
    exp(x).backward(tensor([1, 2], { dtype: 'float64' }));
    expect(x.grad!.data[0]).toBeCloseTo(Math.E, 14);
    expect(x.grad!.data[1]).toBeCloseTo(2 * Math.exp(2), 14);
  });

  test('backward on a scalar of shape [1,1] needs no gy', () => {
    const x = tensor([[3]], { requiresGrad: true });
    mul(x, x).backward();
    expect(x.grad!.toArray()).toEqual([[6]]);
  });

  test('only leaves that require grad get .grad; intermediates and constants do not', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const c = tensor([3, 4]);
    const y = mul(x, c);
    sum(y).backward();
    expect(c.grad).toBeNull();
    expect(y.grad).toBeNull();
    expect(y.isLeaf).toBe(false);
    expect(x.grad!.toArray()).toEqual([3, 4]);
  });

  test('requireGrad(false) on a leaf stops gradients', () => {
    const x = tensor([1], { requiresGrad: true }).requireGrad(false);
    expect(x.requiresGrad).toBe(false);
    expect(mul(x, 2).requiresGrad).toBe(false);
  });

  test('a deep chain of 20000 ops backpropagates without a stack overflow', () => {
    const x = tensor([1], { dtype: 'float64', requiresGrad: true });
    let y: Tensor = x;
    for (let i = 0; i < 20000; i++) y = mul(y, 1);
    sum(y).backward();
    expect(x.grad!.item()).toBe(1);
  });
});
