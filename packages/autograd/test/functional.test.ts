/** grad, valueAndGrad, vjp, noGrad, detach, customVjp, and nested second derivatives. */
import { describe, expect, test } from 'vitest';
import {
  GradientError,
  type Tensor,
  customVjp,
  div,
  enableGrad,
  exp,
  grad,
  gradCheck,
  isGradEnabled,
  log,
  matmul,
  mul,
  noGrad,
  pow,
  randn,
  Rng,
  sqrt,
  sum,
  tensor,
  valueAndGrad,
  vjp,
} from '../src/index.js';

const s64 = (v: number): Tensor => tensor(v, { dtype: 'float64' });
const v64 = (v: number[]): Tensor => tensor(v, { dtype: 'float64' });
const arr = (g: unknown): unknown => (g as Tensor).toArray();

describe('grad', () => {
  test('one argument: d/dx sum(x*x) = 2x', () => {
    expect(arr(grad((x: Tensor) => sum(mul(x, x)))(v64([1, 2])))).toEqual([2, 4]);
  });

  test('two arguments: a list of gradients', () => {
    const g = grad((a: Tensor, b: Tensor) => sum(mul(a, b)))(v64([1, 2]), v64([3, 4])) as Tensor[];
    expect(g.map((t) => t.toArray())).toEqual([
      [3, 4],
      [1, 2],
    ]);
  });

  test('argnums=1: only that gradient, as one tensor; argnums=[0] a list', () => {
    const f = (a: Tensor, b: Tensor): Tensor => sum(mul(a, b));
    expect(arr(grad(f, { argnums: 1 })(v64([1, 2]), v64([3, 4])))).toEqual([1, 2]);
    const g = grad(f, { argnums: [0] })(v64([1, 2]), v64([3, 4])) as Tensor[];
    expect(g).toHaveLength(1);
    expect(g[0]!.toArray()).toEqual([3, 4]);
  });

  test('non-tensor arguments pass through', () => {
    const f = (x: Tensor, k: number): Tensor => sum(mul(x, k));
    expect(arr(grad(f)(v64([1, 2]), 5))).toEqual([5, 5]);
  });

  test('an argument the output ignores gets a zero gradient', () => {
    const g = grad((a: Tensor, _b: Tensor) => sum(a))(v64([1]), v64([1, 2])) as Tensor[];
    expect(g[1]!.toArray()).toEqual([0, 0]);
  });

  test('does not touch .grad of the arguments', () => {
    const x = v64([1, 2]);
    grad((y: Tensor) => sum(mul(y, y)))(x);
    expect(x.grad).toBeNull();
  });

  test('a constant function: zero gradient', () => {
    expect(arr(grad((_x: Tensor) => s64(3))(v64([1, 2])))).toEqual([0, 0]);
  });
});

describe('valueAndGrad and vjp', () => {
  test('valueAndGrad returns [value, gradient], value cut from the tape', () => {
    const [v, g] = valueAndGrad((x: Tensor) => sum(mul(x, x)))(v64([1, 2]));
    expect(v.item()).toBe(5);
    expect(v.requiresGrad).toBe(false);
    expect(arr(g)).toEqual([2, 4]);
  });

  test('vjp of x*[2,3] with gy [1,10] and again with [1,1]: the pullback is reusable', () => {
    const [y, back] = vjp((x) => mul(x, v64([2, 3])), v64([1, 1]));
    expect(y.toArray()).toEqual([2, 3]);
    expect(back(v64([1, 10]))[0]!.toArray()).toEqual([2, 30]);
    expect(back(v64([1, 1]))[0]!.toArray()).toEqual([2, 3]);
  });

  test('vjp of matmul a=[2,3] b=[3,2]: one cotangent per argument', () => {
    const a = randn([2, 3], { dtype: 'float64', rng: new Rng(1) });
    const b = randn([3, 2], { dtype: 'float64', rng: new Rng(2) });
    const [, back] = vjp((x, y) => matmul(x!, y!), a, b);
    const [ga, gb] = back(tensor([1, 0, 0, 0], { shape: [2, 2], dtype: 'float64' }));
    // Cotangent e00: ga row 0 = b[:, 0], gb column 0 = a[0, :].
    expect(Array.from(ga!.data.slice(0, 3))).toEqual([b.data[0], b.data[2], b.data[4]]);
    expect(Array.from(ga!.data.slice(3))).toEqual([0, 0, 0]);
    expect([gb!.data[0], gb!.data[2], gb!.data[4]]).toEqual(Array.from(a.data.slice(0, 3)));
  });
});

describe('noGrad, enableGrad, detach', () => {
  test('noGrad: results have no tape node and do not require grad', () => {
    const x = tensor([1], { requiresGrad: true });
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      return mul(x, 2);
    });
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    expect(isGradEnabled()).toBe(true);
  });

  test('enableGrad inside noGrad records again', () => {
    const x = tensor([1], { requiresGrad: true });
    const y = noGrad(() => enableGrad(() => mul(x, 2)));
    expect(y.node?.op).toBe('mul');
  });

  test('noGrad restores the mode after a throw', () => {
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
  });

  test('detach stops the gradient: d/dx (x * detach(x)) = detach(x)', () => {
    const g = grad((x: Tensor) => sum(mul(x, x.detach())))(v64([3, 4]));
    expect(arr(g)).toEqual([3, 4]);
  });
});

describe('customVjp', () => {
  // softplus with its rule written from the inputs, so it differentiates again.
  const softplus = customVjp(
    (x: Tensor) => log(exp(x).add(1)),
    (gy, { inputs: [x] }) => [div(gy, exp(x!.neg()).add(1))],
    { name: 'softplus' },
  );

  test('forward value and tape node named softplus', () => {
    const x = tensor([0], { dtype: 'float64', requiresGrad: true });
    const y = softplus(x);
    expect(y.item()).toBeCloseTo(Math.log(2), 15);
    expect(y.node?.op).toBe('softplus');
  });

  test('the rule receives inputs, output and needs', () => {
    let seen: { needs: readonly boolean[]; output: number[] } | null = null;
    const f = customVjp(
      (a: Tensor, b: Tensor) => mul(a, b),
      (gy, ctx) => {
        seen = { needs: ctx.needs, output: Array.from(ctx.output.data) };
        return [mul(gy, ctx.inputs[1]!), null];
      },
    );
    const a = tensor([2], { dtype: 'float64', requiresGrad: true });
    sum(f(a, v64([5]))).backward();
    expect(seen).toEqual({ needs: [true, false], output: [10] });
    expect(a.grad!.item()).toBe(5);
  });

  test('first order matches finite differences', () => {
    expect(gradCheck((x) => softplus(x), [v64([-1, 0, 2])]).ok).toBe(true);
  });

  test('differentiated twice: gradCheck order 2 and grad(grad) = sigmoid(x)(1 - sigmoid(x))', () => {
    expect(gradCheck((x) => softplus(x), [v64([-1, 0, 2])], { order: 2 }).ok).toBe(true);
    const d2 = grad((x: Tensor) => grad((y: Tensor) => softplus(y))(x) as Tensor)(s64(0.5));
    const s = 1 / (1 + Math.exp(-0.5));
    expect((d2 as Tensor).item()).toBeCloseTo(s * (1 - s), 12);
  });
});

/** For every primitive with a nonzero second derivative: grad(x => grad(f)(x)) at a scalar. */
describe('grad(x => grad(f)(x)) against closed forms', () => {
  const x0 = 0.7;
  const cases: [string, (x: Tensor) => Tensor, number][] = [
    ['exp', (x) => exp(x), Math.exp(x0)],
    ['log', (x) => log(x), -1 / x0 ** 2],
    ['sqrt', (x) => sqrt(x), -0.25 * x0 ** -1.5],
    ['mul x*x', (x) => mul(x, x), 2],
    ['mul x*(x*x)', (x) => mul(x, mul(x, x)), 6 * x0],
    ['div 1/x', (x) => div(1, x), 2 / x0 ** 3],
    ['div x/(x+1)', (x) => div(x, x.add(1)), -2 / (x0 + 1) ** 3],
    ['pow x^2.5', (x) => pow(x, 2.5), 2.5 * 1.5 * x0 ** 0.5],
    ['pow 3^x', (x) => pow(3, x), 3 ** x0 * Math.log(3) ** 2],
    ['pow x^x', (x) => pow(x, x), x0 ** x0 * ((Math.log(x0) + 1) ** 2 + 1 / x0)],
    ['matmul [x]@[x]', (x) => matmul(x.reshape([1]), x.reshape([1])), 2],
    [
      'matmul [[x]]@[[x,x]] summed',
      (x) =>
        sum(
          matmul(x.reshape([1, 1]), mul(x.reshape([1, 1]), tensor([[1, 2]], { dtype: 'float64' }))),
        ),
      6,
    ],
  ];

  test.each(cases)('%s at x=0.7', (_name, f, expected) => {
    const d2 = grad((x: Tensor) => grad(f)(x) as Tensor)(s64(x0)) as Tensor;
    expect(d2.item()).toBeCloseTo(expected, 12);
  });

  test('mixed second derivative of mul: d/db d/da (a*b) = 1', () => {
    const g = grad((b: Tensor) => grad((a: Tensor) => mul(a, b))(s64(2)) as Tensor)(s64(3));
    expect((g as Tensor).item()).toBe(1);
  });

  test('third order: d3/dx3 exp(2x) = 8 exp(2x)', () => {
    const f = (x: Tensor): Tensor => exp(mul(x, 2));
    const d = (h: (x: Tensor) => Tensor) => (x: Tensor) => grad(h)(x) as Tensor;
    expect(d(d(d(f)))(s64(0.1)).item()).toBeCloseTo(8 * Math.exp(0.2), 12);
  });

  test('nested grad with a leaf that requires grad outside: backward of the gradient', () => {
    const x = tensor(0.3, { dtype: 'float64', requiresGrad: true });
    const g = grad((y: Tensor) => mul(y, mul(y, y)))(x) as Tensor; // 3x^2, recorded
    g.backward();
    expect(x.grad!.item()).toBeCloseTo(6 * 0.3, 14);
  });
});

describe('customVjp input checks', () => {
  test('a function that returns no Tensor is a GradientError naming the rule', () => {
    const bad = customVjp((() => 3) as unknown as (x: Tensor) => Tensor, () => [null], {
      name: 'three',
    });
    expect(() => bad(tensor([1]))).toThrow(GradientError);
    expect(() => bad(tensor([1]))).toThrow(/three: the function must return a Tensor/);
  });
});
