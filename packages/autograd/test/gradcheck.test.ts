/** gradCheck's report: the worst entry, catching a wrong rule, random directions, warnings. */
import { describe, expect, test } from 'vitest';
import {
  type Logger,
  type Tensor,
  customVjp,
  exp,
  gradCheck,
  mul,
  noGrad,
  setLogger,
  sum,
  tensor,
  ValueError,
} from '../src/index.js';

const v64 = (v: number[], shape?: number[]): Tensor =>
  tensor(v, { dtype: 'float64', ...(shape ? { shape } : {}) });

/** a*b, with a rule that is wrong for b at flat index 2 only (an extra +1 there). */
const badMul = customVjp(
  (a: Tensor, b: Tensor) => mul(a, b),
  (gy, { inputs: [a, b] }) => [mul(gy, b!), mul(gy, a!).add(v64([0, 0, 1, 0], [2, 2]))],
  { name: 'badMul' },
);

/** x^3 with a first-order rule right but built from constants, so its second order is 0. */
const cube = customVjp(
  (x: Tensor) => mul(x, mul(x, x)),
  (gy, { inputs: [x] }) => [mul(gy, noGrad(() => mul(mul(x!, x!), 3)).detach())],
  { name: 'cube' },
);

describe('gradCheck report', () => {
  test('a correct function exp(x) x=[2,3]: ok, every entry checked, worst fields consistent', () => {
    const x = v64([0.1, -0.5, 1, 2, 0, -1], [2, 3]);
    const r = gradCheck((t) => exp(t), [x]);
    expect(r.ok).toBe(true);
    expect(r.checked).toBe(6);
    expect(r.warnings).toEqual([]);
    const w = r.worst!;
    expect(w.input).toBe(0);
    expect(w.index).toBeGreaterThanOrEqual(0);
    expect(w.index).toBeLessThan(6);
    expect(w.error).toBe(Math.abs(w.numeric - w.analytic));
    expect(w.score).toBeCloseTo(w.error / (1e-6 + 1e-4 * Math.abs(w.numeric)), 12);
    expect(w.score).toBeLessThanOrEqual(1);
  });

  test('checked counts the entries of every input: a=[2,2] b=[3] gives 7', () => {
    const r = gradCheck((a, b) => sum(a).add(sum(b)), [v64([1, 2, 3, 4], [2, 2]), v64([1, 2, 3])]);
    expect(r.checked).toBe(7);
    expect(r.ok).toBe(true);
  });

  test('a wrong customVjp is caught: ok=false, worst is input 1 at flat index 2', () => {
    const a = v64([1, 2, 3, 4], [2, 2]);
    const b = v64([0.5, -1, 2, 0.25], [2, 2]);
    const r = gradCheck(badMul, [a, b]);
    expect(r.ok).toBe(false);
    expect(r.worst).toMatchObject({ input: 1, index: 2 });
    // The rule adds 1 to the true cotangent c[2] a[2] of b[2], whatever the random c.
    const w = r.worst!;
    expect(w.analytic - w.numeric).toBeCloseTo(1, 8);
    expect(w.error).toBeCloseTo(1, 8);
    expect(w.score).toBeGreaterThan(1);
  });

  test('random-direction mode: checks `directions` entries, input and index -1', () => {
    const x = v64([0.3, -0.2, 0.9]);
    const r = gradCheck((t) => exp(t), [x], { mode: 'random', directions: 5 });
    expect(r.ok).toBe(true);
    expect(r.checked).toBe(5);
    expect(r.worst).toMatchObject({ input: -1, index: -1 });
  });

  test('random-direction mode catches the wrong customVjp too', () => {
    const r = gradCheck(badMul, [v64([1, 2, 3, 4], [2, 2]), v64([0.5, -1, 2, 0.25], [2, 2])], {
      mode: 'random',
    });
    expect(r.ok).toBe(false);
    expect(r.checked).toBe(8);
  });

  test('order 2 catches a rule that is right at first order but not differentiable', () => {
    const x = v64([0.5, -1.5]);
    expect(gradCheck(cube, [x]).ok).toBe(true);
    const r = gradCheck(cube, [x], { order: 2 });
    expect(r.ok).toBe(false);
    expect(r.worst!.analytic).toBe(0);
  });

  test('float32 inputs: a warning in the report and to the logger, the check still runs', () => {
    const warned: string[] = [];
    const logger: Logger = { debug() {}, warn: (m) => warned.push(m) };
    const previous = setLogger(logger);
    try {
      const r = gradCheck((t) => mul(t, t), [tensor([1, 2])]);
      expect(r.warnings).toEqual([
        'gradCheck: float32 inputs were converted to float64; check in float64 throughout',
      ]);
      expect(warned).toEqual(r.warnings);
      expect(r.ok).toBe(true);
    } finally {
      setLogger(previous);
    }
  });

  test('a NaN gradient makes ok=false and is the worst entry', () => {
    const r = gradCheck((t) => mul(t, v64([NaN, 1])), [v64([1, 2])]);
    expect(r.ok).toBe(false);
    expect(r.worst!.input).toBe(0);
    expect(Number.isNaN(r.worst!.score)).toBe(true);
  });

  test('the same seed gives the same report; another seed another cotangent', () => {
    const x = v64([0.3, 0.7]);
    const a = gradCheck((t) => exp(t), [x], { seed: 4 });
    const b = gradCheck((t) => exp(t), [x], { seed: 4 });
    const c = gradCheck((t) => exp(t), [x], { seed: 5 });
    expect(a).toEqual(b);
    expect(c.worst!.analytic).not.toBe(a.worst!.analytic);
  });
});

describe('gradCheck option validation', () => {
  test('rejects an unknown mode or order with a ValueError naming it', () => {
    const x = [tensor([1, 2], { dtype: 'float64' })];
    const f = (t: Tensor): Tensor => t.mul(t);
    const mode = () => gradCheck(f, x, { mode: 'sideways' as 'full' });
    expect(mode).toThrow(ValueError);
    expect(mode).toThrow(/gradCheck: mode must be full or random/);
    expect(() => gradCheck(f, x, { order: 3 as 1 })).toThrow(/gradCheck: order must be 1 or 2/);
  });
});
