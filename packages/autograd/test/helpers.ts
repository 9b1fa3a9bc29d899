import { expect } from 'vitest';
import type { GradCheckReport, Tensor } from '../src/index.js';
import type { Expected } from './samples/types.js';

/** Asserts a tensor's shape exactly and its values to `tol` (relative), NaN and inf included. */
export function expectValues(actual: Tensor, expected: Expected, tol = 1e-12): void {
  expect([...actual.shape]).toEqual(expected.shape);
  expect(actual.size).toBe(expected.data.length);
  expected.data.forEach((e, i) => {
    const a = actual.data[i]!;
    if (!Number.isFinite(e)) {
      expect(a, `flat index ${i}`).toBe(e);
    } else if (Math.abs(a - e) > tol * Math.max(1, Math.abs(e))) {
      expect.fail(`flat index ${i} of ${JSON.stringify(expected.shape)}: got ${a}, want ${e}`);
    }
  });
}

/** A gradCheck failure message naming the worst entry. */
export function reportText(r: GradCheckReport): string {
  const w = r.worst;
  return w
    ? `worst: input ${w.input} index ${w.index} numeric ${w.numeric} analytic ${w.analytic} ` +
        `error ${w.error} score ${w.score} (${r.checked} checked)`
    : 'no entries';
}

export function expectGradOk(r: GradCheckReport): void {
  expect(r.ok, reportText(r)).toBe(true);
  expect(r.warnings).toEqual([]);
}

/** Runs `fn` and returns what it threw (failing when it throws nothing). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return expect.fail('expected a throw');
}
