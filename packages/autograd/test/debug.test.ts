/**
 * Debug mode: every op's output and every vjp's result is checked for NaN and Inf, and each tape
 * node keeps the line of user code that created it.
 */
import { afterEach, describe, expect, test } from 'vitest';
import {
  NonFiniteError,
  type Tensor,
  customVjp,
  div,
  isDebug,
  log,
  mul,
  setDebug,
  sqrt,
  sum,
  tensor,
} from '../src/index.js';
import { thrown } from './helpers.js';

afterEach(() => {
  setDebug(false);
});

const t64 = (v: number[], requiresGrad = true): Tensor =>
  tensor(v, { dtype: 'float64', requiresGrad });

describe('debug mode', () => {
  test('setDebug toggles isDebug', () => {
    setDebug(true);
    expect(isDebug()).toBe(true);
    setDebug(false);
    expect(isDebug()).toBe(false);
  });

  test('log(x) at x=[1,0] throws NonFiniteError naming log and this test file', () => {
    setDebug(true);
    const x = t64([1, 0]);
    const e = thrown(() => log(x));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e).toMatchObject({
      op: 'log',
      arg: 'output',
      expected: 'finite values',
      actual: 'Inf at flat index 1 of [2]',
    });
    expect((e as Error).message).toMatch(
      /^log: output has Inf at flat index 1 of \[2\]; created at /,
    );
    expect((e as Error).message).toMatch(/debug\.test\.ts:\d+:\d+/);
  });

  test('div(0, 0) on constants throws NonFiniteError naming div (NaN)', () => {
    setDebug(true);
    const e = thrown(() => div(t64([0], false), 0));
    expect(e).toMatchObject({ op: 'div', actual: 'NaN at flat index 0 of [1]' });
    expect((e as Error).message).toMatch(/debug\.test\.ts:\d+/);
  });

  test('the same ops without debug mode return Inf silently', () => {
    expect(log(t64([0])).data[0]).toBe(-Infinity);
  });

  test('a tape node keeps its creation stack in debug mode only', () => {
    const x = t64([1]);
    expect(mul(x, 2).node!.stack).toBeUndefined();
    setDebug(true);
    expect(mul(x, 2).node!.stack).toMatch(/debug\.test\.ts:\d+:\d+/);
  });

  test('an Inf made in backward (sqrt at 0) names sqrt (vjp) and the forward line', () => {
    setDebug(true);
    const x = t64([0, 4]);
    const y = sum(sqrt(x)); // the forward line the error must point at
    const e = thrown(() => y.backward());
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e).toMatchObject({ op: 'sqrt (vjp)', actual: 'Inf at flat index 0 of [2]' });
    expect((e as Error).message).toMatch(/^sqrt \(vjp\): /);
    expect((e as Error).message).toMatch(/debug\.test\.ts:\d+:\d+/);
  });

  test('a NaN returned by a custom rule names the rule (vjp)', () => {
    const bad = customVjp(
      (a: Tensor) => mul(a, 2),
      (gy) => [
        new (gy.constructor as typeof import('../src/index.js').Tensor)(new Float64Array([NaN]), [
          1,
        ]),
      ],
      { name: 'badRule' },
    );
    setDebug(true);
    const e = thrown(() => sum(bad(t64([1]))).backward());
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e).toMatchObject({ op: 'badRule (vjp)', arg: 'cotangent of input 0' });
  });
});
