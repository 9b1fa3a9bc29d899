/** The overloads of `grad` and `valueAndGrad` give a tensor or a list by what is differentiated. */
import { describe, expect, expectTypeOf, test } from 'vitest';
import { type Tensor, grad, tensor, valueAndGrad } from '../src/index.js';

describe('grad result types', () => {
  const x = tensor([1, 2], { dtype: 'float64' });
  const f = (t: Tensor): Tensor => t.mul(t).sum();
  const h = (a: Tensor, b: Tensor): Tensor => a.mul(b).sum();

  test('one tensor argument gives a Tensor, so grad of grad needs no cast', () => {
    const d2 = grad((t: Tensor) => grad(f)(t).sum());
    expectTypeOf(grad(f)(x)).toEqualTypeOf<Tensor>();
    expect(d2(x).toArray()).toEqual([2, 2]);
  });

  test('argnums as a number gives a Tensor, as a list a Tensor[]', () => {
    expectTypeOf(grad(h, { argnums: 1 })(x, x)).toEqualTypeOf<Tensor>();
    expectTypeOf(grad(h, { argnums: [0, 1] })(x, x)).toEqualTypeOf<Tensor[]>();
    expect((grad(h, { argnums: [0, 1] })(x, x) as Tensor[]).length).toBe(2);
    const [v, g] = valueAndGrad(f)(x);
    expectTypeOf(g).toEqualTypeOf<Tensor>();
    expect(v.item()).toBe(5);
  });
});
