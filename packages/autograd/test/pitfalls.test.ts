/**
 * The pitfalls DESIGN.md asks a test for, and the tie rule: `max` and `maximum` route a tie's
 * gradient to one position (the first maximum, the first operand), never an even split.
 */
import { describe, expect, test } from 'vitest';
import {
  type Tensor,
  add,
  concat,
  div,
  eq,
  exp,
  grad,
  max,
  maximum,
  mul,
  neg,
  pow,
  reshape,
  sum,
  tensor,
  unfold,
  where,
} from '../src/index.js';

const t64 = (v: number | number[] | number[][], shape?: number[]): Tensor =>
  tensor(v, { dtype: 'float64', requiresGrad: true, ...(shape ? { shape } : {}) });

const gradOf = (x: Tensor): number[] | number => x.grad!.toArray() as number[];

describe('max: a tie sends the whole gradient to the first maximum', () => {
  test('x=[3,1,3] axis=all: grad [1,0,0]', () => {
    const x = t64([3, 1, 3]);
    max(x).backward();
    expect(gradOf(x)).toEqual([1, 0, 0]);
  });

  test('x=[[2,5,5],[7,7,1]] axis=1: grad [[0,1,0],[1,0,0]]', () => {
    const x = t64([
      [2, 5, 5],
      [7, 7, 1],
    ]);
    sum(max(x, 1)).backward();
    expect(gradOf(x)).toEqual([
      [0, 1, 0],
      [1, 0, 0],
    ]);
  });

  test('x=[[1,4],[1,4]] axis=0 keepdims: grad [[1,1],[0,0]]', () => {
    const x = t64([
      [1, 4],
      [1, 4],
    ]);
    sum(max(x, 0, true)).backward();
    expect(gradOf(x)).toEqual([
      [1, 1],
      [0, 0],
    ]);
  });

  test('x=[2,2,2] all equal axis=[0,2]: the first in row-major order of each slice wins', () => {
    const x = t64(new Array(8).fill(1), [2, 2, 2]);
    max(x, [0, 2]).backward(tensor([10, 20], { dtype: 'float64' }));
    expect(gradOf(x)).toEqual([
      [
        [10, 0],
        [20, 0],
      ],
      [
        [0, 0],
        [0, 0],
      ],
    ]);
  });

  test('x=[-inf,-inf] axis=all: grad [1,0]', () => {
    const x = t64([-Infinity, -Infinity]);
    max(x).backward();
    expect(gradOf(x)).toEqual([1, 0]);
  });

  test('max pool x=[1,1,2,3] k=2 s=1 with ties: each window routes to its first maximum', () => {
    // Windows [[5,5],[5,5]] and [[5,2],[5,5]] overlap; the first 5 of each wins.
    const x = t64([5, 5, 2, 5, 5, 5], [1, 1, 2, 3]);
    const cols = unfold(x, { kernelSize: 2 }); // [1, 4, 2]
    sum(max(cols, 1)).backward();
    expect(gradOf(x)).toEqual([
      [
        [
          [1, 1, 0],
          [0, 0, 0],
        ],
      ],
    ]);
  });

  test('the tie gradient differentiates again to zero (second order x=[3,1,3])', () => {
    const d2 = grad((x: Tensor) => sum(mul(grad((y: Tensor) => max(y))(x) as Tensor, x)));
    expect((d2(t64([3, 1, 3])) as Tensor).toArray()).toEqual([1, 0, 0]);
  });
});

describe('maximum: a tie sends the gradient to the first operand', () => {
  test('a=[1,2,3] b=[1,5,3]: grad a [1,0,1], grad b [0,1,0]', () => {
    const a = t64([1, 2, 3]);
    const b = t64([1, 5, 3]);
    sum(maximum(a, b)).backward();
    expect(gradOf(a)).toEqual([1, 0, 1]);
    expect(gradOf(b)).toEqual([0, 1, 0]);
  });

  test('broadcast a=[2,2] b=[] tie at two positions: b gets only where it is strictly larger', () => {
    const a = t64([
      [2, 1],
      [2, 3],
    ]);
    const b = t64(2, []);
    sum(maximum(a, b)).backward();
    expect(gradOf(a)).toEqual([
      [1, 0],
      [1, 1],
    ]);
    expect(gradOf(b)).toBe(1);
  });

  test('a=number 0 b=[3] (relu-like) tie at 0: b gets no gradient there', () => {
    const x = t64([-1, 0, 2]);
    sum(maximum(0, x)).backward();
    expect(gradOf(x)).toEqual([0, 0, 1]);
  });

  test('maximum(x, x): the whole gradient once, through a', () => {
    const x = t64([1, -2]);
    sum(maximum(x, x)).backward();
    expect(gradOf(x)).toEqual([1, 1]);
  });
});

describe('DESIGN.md pitfalls', () => {
  test('where with inf in the untaken branch x=[-1,2]: finite gradient [0,1]', () => {
    const x = t64([-1, 2]);
    const inf = tensor([Infinity, Infinity], { dtype: 'float64' });
    sum(where(x.gt(0), x, inf)).backward();
    expect(gradOf(x)).toEqual([0, 1]);
  });

  test('where(x == 0, 0, 1/safe) with safe = where(x == 0, 1, x): finite gradient at x=0', () => {
    const x = t64([0, 2]);
    const zero = eq(x, 0);
    sum(where(zero, 0, div(1, where(zero, 1, x)))).backward();
    expect(gradOf(x)).toEqual([0, -0.25]);
  });

  test('sigmoid 1/(1+exp(-x)) at x=-100 in float64: finite gradient exp(-100)', () => {
    const x = t64([-100]);
    sum(div(1, add(1, exp(neg(x))))).backward();
    const g = (x.grad!.data[0] as number) / Math.exp(-100);
    expect(g).toBeCloseTo(1, 12);
  });

  test('sigmoid 1/(1+exp(-x)) at x=-100 in float32: stable forward, NaN backward (why nn needs a stable form)', () => {
    const x = tensor([-100], { requiresGrad: true });
    const y = div(1, add(1, exp(neg(x))));
    expect(y.data[0]).toBe(0);
    sum(y).backward();
    expect(Number.isNaN(x.grad!.data[0])).toBe(true);
  });

  test('x*x accumulates: d/dx sum(x*x) = 2x for x=[1,-2,3]', () => {
    const x = t64([1, -2, 3]);
    sum(mul(x, x)).backward();
    expect(gradOf(x)).toEqual([2, -4, 6]);
  });

  test('a tensor used in three places x=[2]: x*x + x gives 2x + 1', () => {
    const x = t64([2, 5]);
    sum(add(mul(x, x), x)).backward();
    expect(gradOf(x)).toEqual([5, 11]);
  });

  test.each([
    [[3], [2, 2, 2]],
    [[1, 3], [[2, 2, 2]]],
    [[], 6],
    [
      [2, 1],
      [[3], [3]],
    ],
  ])('broadcasting in a vjp sums back: a=[2,3] + b=%j gives b.grad %j', (shape, expected) => {
    const a = t64(new Array(6).fill(0), [2, 3]);
    const b = t64(new Array(shape.reduce((n: number, d: number) => n * d, 1)).fill(1), shape);
    sum(add(a, b)).backward();
    expect(b.grad!.shape).toEqual(shape);
    expect(gradOf(b)).toEqual(expected);
    expect(a.grad!.shape).toEqual([2, 3]);
  });

  test('broadcasting in a vjp sums back through mul: a=[2,3] * b=[3] gives b.grad = column sums', () => {
    const a = t64([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = t64([1, 1, 1]);
    sum(mul(a, b)).backward();
    expect(gradOf(b)).toEqual([5, 7, 9]);
    expect(gradOf(a)).toEqual([
      [1, 1, 1],
      [1, 1, 1],
    ]);
  });

  test('broadcast batch of matmul sums back: a=[2,2,3] @ b=[3,1] gives b.grad of shape [3,1]', () => {
    const a = t64([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]);
    const b = t64([1, 1, 1], [3, 1]);
    sum(a.matmul(b)).backward();
    expect(gradOf(b)).toEqual([[22], [26], [30]]);
    expect(reshape(a.grad!, [-1]).toArray()).toEqual(new Array(12).fill(1));
  });
});

describe('pow at a zero base', () => {
  test('d/da a^0 at a=[0,2] is [0,0], not NaN at 0 (a^0 is constant)', () => {
    const a = t64([0, 2]);
    sum(pow(a, 0)).backward();
    expect(gradOf(a)).toEqual([0, 0]);
  });

  test('d/da a^b at a=0, b=[0,1,2] is [0,1,0]; second derivative of a^2 at 0 is 2', () => {
    const a = t64([0, 0, 0]);
    sum(pow(a, tensor([0, 1, 2], { dtype: 'float64' }))).backward();
    expect(gradOf(a)).toEqual([0, 1, 0]);
    const d2 = grad((x: Tensor) => sum(grad((y: Tensor) => sum(pow(y, 2)))(x) as Tensor));
    expect((d2(t64([0])) as Tensor).toArray()).toEqual([2]);
  });
});

describe('concat records its own list of inputs', () => {
  test("pushing onto the caller's array after concat does not change the recorded inputs", () => {
    const a = t64([1, 2]);
    const b = t64([3]);
    const parts = [a, b];
    const y = concat(parts);
    parts.push(t64([4]));
    sum(mul(y, tensor([1, 2, 3], { dtype: 'float64' }))).backward();
    expect(gradOf(a)).toEqual([1, 2]);
    expect(gradOf(b)).toEqual([3]);
  });
});

describe('maximum routes the cotangent to the operand it took, NaN included', () => {
  test('maximum(a=[NaN, 1], b=[1, NaN]): value [NaN, NaN], a.grad [1, 0], b.grad [0, 1]', () => {
    const a = t64([NaN, 1]);
    const b = t64([1, NaN]);
    const y = maximum(a, b);
    expect(Array.from(y.data)).toEqual([NaN, NaN]);
    sum(y).backward();
    expect(gradOf(a)).toEqual([1, 0]);
    expect(gradOf(b)).toEqual([0, 1]);
  });
});
