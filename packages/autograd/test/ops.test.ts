/**
 * The op-driven suite: every entry of the op table (test/samples/*.ts) gets its forward checked
 * against a reference computation, its vjp against finite differences (gradCheck, full mode,
 * float64) on every sample and on random shapes, and its second order where it has one.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import * as lib from '../src/index.js';
import { GradientError, Rng, type Tensor, gradCheck, grad, mul, sum } from '../src/index.js';
import { expectGradOk, expectValues, thrown } from './helpers.js';
import { opTable } from './samples/index.js';
import type { OpInfo, SampleInput } from './samples/types.js';

const NUM_RUNS = 25;

/** A per-op seed, so adding an op does not change the samples of the others. */
const seedOf = (name: string): number =>
  [...name].reduce((h, ch) => (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0, 7);

const finite = (t: Tensor): boolean => t.data.every((v) => Number.isFinite(v));

/** The squared op, `fn(x)^2`: its second order exercises the op's vjp being recorded. */
const squared =
  (s: SampleInput) =>
  (...xs: Tensor[]): Tensor => {
    const y = s.fn(...xs);
    return mul(y, y);
  };

function checkSample(op: OpInfo, s: SampleInput, secondOrder: boolean): void {
  expectValues(s.fn(...s.inputs), s.ref(...s.inputs));
  expectGradOk(gradCheck(s.fn, s.inputs, s.check));
  if (secondOrder && s.secondOrder !== false)
    expectGradOk(gradCheck(s.fn, s.inputs, { ...s.check, order: 2 }));
  else if (op.differentiable !== false && s.secondOrder !== false && finite(s.fn(...s.inputs))) {
    expectGradOk(gradCheck(squared(s), s.inputs, { ...s.check, order: 2 }));
  }
}

const differentiable = opTable.filter((op) => op.differentiable !== false);
const comparisons = opTable.filter((op) => op.differentiable === false);

describe.each(differentiable)('$name', (op) => {
  const samples = op.samples(new Rng(seedOf(op.name)));

  test.each(samples)('forward $label', (s) => {
    expectValues(s.fn(...s.inputs), s.ref(...s.inputs));
  });

  test.each(samples)('gradCheck $label', (s) => {
    expectGradOk(gradCheck(s.fn, s.inputs, s.check));
  });

  if (op.secondOrder) {
    test.each(samples.filter((s) => s.secondOrder !== false))('second order $label', (s) => {
      expectGradOk(gradCheck(s.fn, s.inputs, { ...s.check, order: 2 }));
    });

    test.each(samples.filter((s) => s.secondOrder !== false))(
      'grad(x => grad(f)(x)) matches gradCheck order 2 on $label',
      (s) => {
        // The nested functional form: the gradient of a contraction of the gradient.
        const ws = s.inputs.map((x) => lib.randn(x.shape, { dtype: 'float64', rng: new Rng(3) }));
        const argnums = s.inputs.map((_, i) => i);
        const c = lib.randn(s.fn(...s.inputs).shape, { dtype: 'float64', rng: new Rng(4) });
        const first = grad((...xs: Tensor[]) => sum(mul(s.fn(...xs), c)), { argnums });
        const contracted = (...xs: Tensor[]): Tensor =>
          (first(...xs) as Tensor[]).map((g, i) => sum(mul(g, ws[i]!))).reduce((a, b) => a.add(b));
        const second = grad(contracted, { argnums })(...s.inputs) as Tensor[];
        expect(second).toHaveLength(s.inputs.length);
        // Check against central differences of the first gradient's contraction.
        const eps = 1e-6;
        s.inputs.forEach((x, k) => {
          for (let i = 0; i < x.size; i++) {
            const at = (d: number): number => {
              const data = Float64Array.from(x.data);
              data[i]! += d;
              const xs = s.inputs.map((t, j) =>
                j === k ? lib.tensor(data, { shape: x.shape }) : t,
              );
              return contracted(...xs).item();
            };
            const numeric = (at(eps) - at(-eps)) / (2 * eps);
            expect(second[k]!.data[i]!).toBeCloseTo(numeric, 5);
          }
        });
      },
    );
  } else {
    test.each(samples.filter((s) => s.secondOrder !== false && finite(s.fn(...s.inputs))))(
      'second order of the squared op $label',
      (s) => {
        expectGradOk(gradCheck(squared(s), s.inputs, { ...s.check, order: 2 }));
      },
    );
  }

  if (op.arbitrary) {
    const arb = op.arbitrary;
    test(`property: forward and gradCheck over random shapes (${NUM_RUNS} runs)`, () => {
      fc.assert(
        fc.property(arb, (s) => {
          checkSample(op, s, op.secondOrder);
        }),
        { numRuns: NUM_RUNS, seed: seedOf(op.name) },
      );
    });
  }
});

describe.each(comparisons)('$name (comparison, no gradient)', (op) => {
  const samples = op.samples(new Rng(seedOf(op.name)));

  test.each(samples)('forward $label', (s) => {
    expectValues(s.fn(...s.inputs), s.ref(...s.inputs));
  });

  test.each(samples)('backward through it throws GradientError naming the op, $label', (s) => {
    const xs = s.inputs.map((x) => x.detach().requireGrad());
    const y = sum(s.fn(...xs));
    const e = thrown(() => y.backward());
    expect(e).toBeInstanceOf(GradientError);
    expect(e).toMatchObject({ op: op.name, arg: '', expected: 'a differentiable op' });
    expect((e as Error).message).toContain(`${op.name}: ${op.name} has no gradient`);
  });

  test(`grad through ${op.name} throws GradientError`, () => {
    const f = (x: Tensor): Tensor => sum(samples[0]!.fn(x, x));
    const e = thrown(() => grad(f)(samples[0]!.inputs[0]!));
    expect(e).toBeInstanceOf(GradientError);
    expect(e).toMatchObject({ op: op.name });
  });

  if (op.arbitrary) {
    const arb = op.arbitrary;
    test(`property: forward over random shapes (${NUM_RUNS} runs)`, () => {
      fc.assert(
        fc.property(arb, (s) => expectValues(s.fn(...s.inputs), s.ref(...s.inputs))),
        { numRuns: NUM_RUNS, seed: seedOf(op.name) },
      );
    });
  }
});

// Functions exported from the index that are not ops on tensors: constructors, the functional
// API, modes, the backend and logger hooks.
const NOT_PRIMITIVES = new Set([
  'fmtShape',
  'sizeOf',
  'broadcastShapes',
  'normalizeAxis',
  'manualSeed',
  'defaultRng',
  'getLogger',
  'setLogger',
  'tensor',
  'zeros',
  'ones',
  'full',
  'zerosLike',
  'onesLike',
  'arange',
  'eye',
  'rand',
  'randn',
  'noGrad',
  'enableGrad',
  'isGradEnabled',
  'setDebug',
  'isDebug',
  'grad',
  'valueAndGrad',
  'vjp',
  'customVjp',
  'gradCheck',
  'getBackend',
  'setBackend',
  'createWasmBackend',
  'createWasmBackendSync',
  'zeroGrad',
]);

const isClass = (v: unknown): boolean =>
  typeof v === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(v));

const primitives = Object.entries(lib)
  .filter(([name, v]) => typeof v === 'function' && !isClass(v) && !NOT_PRIMITIVES.has(name))
  .map(([name]) => name)
  .sort();

describe('op table', () => {
  test('every primitive exported from the index has an OpInfo entry', () => {
    const covered = new Set(opTable.map((op) => op.name));
    expect(primitives.filter((name) => !covered.has(name))).toEqual([]);
  });

  test('every OpInfo entry names an exported primitive, once', () => {
    const names = opTable.map((op) => op.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => !primitives.includes(n))).toEqual([]);
  });

  test('the list of primitives is the one DESIGN.md promises', () => {
    const promised =
      'neg exp log sqrt abs add sub mul div pow maximum gt ge lt le eq where sum max mean ' +
      'matmul reshape permute transpose broadcastTo slice pad concat unfold fold gather ' +
      'scatterAdd astype';
    for (const name of promised.split(' ')) expect(primitives).toContain(name);
  });

  test.each(opTable)('$name has samples of float64 tensors with labels', (op) => {
    const samples = op.samples(new Rng(1));
    expect(samples.length).toBeGreaterThan(0);
    for (const s of samples) {
      expect(s.label.length).toBeGreaterThan(0);
      for (const x of s.inputs) expect(x.dtype).toBe('float64');
    }
  });
});
