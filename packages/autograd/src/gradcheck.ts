/**
 * Checks autograd against central finite differences in float64.
 *
 * For a function `f` of tensors with any output shape, the check contracts the output with a
 * fixed random cotangent `c`, `L(x) = sum(c * f(x))`, and compares autograd's `dL/dx` with
 * `(L(x + eps e) - L(x - eps e)) / 2 eps`: for every element `e` of every input (mode `full`), or
 * for a few random directions `t`, comparing `<dL/dx, t>` (mode `random`, cheap for large inputs).
 * `order: 2` checks the gradient of the gradient the same way.
 */
import { ValueError } from './errors.js';
import { getLogger } from './logger.js';
import { Rng } from './random.js';
import { noGrad } from './tape.js';
import { Tensor, randn } from './tensor.js';
import { grad } from './functional.js';
import { mul } from './ops/elementwise.js';
import { sum } from './ops/reduce.js';

/** Options of `gradCheck`; every field has a default. */
export interface GradCheckOptions {
  /** Step of the central difference; default 1e-6. */
  eps?: number;
  /** Absolute tolerance; default 1e-6. */
  atol?: number;
  /** Relative tolerance; default 1e-4. */
  rtol?: number;
  /** `full` perturbs every element; `random` checks random directions. Default `full`. */
  mode?: 'full' | 'random';
  /** Directions in `random` mode; default 8. */
  directions?: number;
  /** 1 (default) checks the gradient, 2 the gradient of a random contraction of the gradient. */
  order?: 1 | 2;
  /** Seed of the random cotangent and directions; default 0. */
  seed?: number;
}

/** One compared entry: an element (mode `full`) or a random direction (mode `random`). */
export interface GradCheckEntry {
  /** The input's position among the arguments, or -1 for a random direction (all inputs). */
  input: number;
  /** The flat index of the element, or -1 for a random direction. */
  index: number;
  /** The central finite difference. */
  numeric: number;
  /** Autograd's value. */
  analytic: number;
  /** `|numeric - analytic|`. */
  error: number;
  /** `error / (atol + rtol * |numeric|)`: at most 1 passes. */
  score: number;
}

/** What `gradCheck` returns. */
export interface GradCheckReport {
  /** Whether every entry scored at most 1. */
  ok: boolean;
  /** The entry with the highest score. */
  worst: GradCheckEntry | null;
  /** How many entries were compared. */
  checked: number;
  /** Conditions that weaken the check (float32 inputs); also sent to the logger. */
  warnings: string[];
}

/**
 * Compares the gradients of `f` at `inputs` with finite differences and reports the worst entry.
 * Inputs are converted to float64 (a float32 input adds a warning: its own rounding would swamp
 * the comparison).
 *
 * @example
 * const report = gradCheck((x) => x.exp().sum(), [randn([3], { dtype: 'float64' })]);
 * report.ok; // true
 */
export function gradCheck(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  options: GradCheckOptions = {},
): GradCheckReport {
  if (options.mode !== undefined && options.mode !== 'full' && options.mode !== 'random') {
    throw new ValueError(
      'gradCheck',
      'mode',
      'full or random',
      String(options.mode),
      `mode must be full or random, got ${String(options.mode)}`,
    );
  }
  if (options.order !== undefined && options.order !== 1 && options.order !== 2) {
    throw new ValueError(
      'gradCheck',
      'order',
      '1 or 2',
      String(options.order),
      `order must be 1 or 2, got ${String(options.order)}`,
    );
  }
  const eps = options.eps ?? 1e-6;
  const atol = options.atol ?? 1e-6;
  const rtol = options.rtol ?? 1e-4;
  const rng = new Rng(options.seed ?? 0);
  const warnings: string[] = [];
  if (inputs.some((x) => x.dtype === 'float32')) {
    const w = 'gradCheck: float32 inputs were converted to float64; check in float64 throughout';
    warnings.push(w);
    getLogger().warn(w);
  }
  const xs = inputs.map((x) => new Tensor(Float64Array.from(x.data), x.shape));
  const y0 = noGrad(() => f(...xs));
  const c = randn(y0.shape, { dtype: 'float64', rng });
  let loss = (...a: Tensor[]): Tensor => sum(mul(f(...a), c));
  if ((options.order ?? 1) === 2) {
    const first = loss;
    const ws = xs.map((x) => randn(x.shape, { dtype: 'float64', rng }));
    const g = grad(first, { argnums: xs.map((_, i) => i) });
    loss = (...a: Tensor[]): Tensor => {
      const gs = g(...a) as Tensor[];
      return gs.map((gi, i) => sum(mul(gi, ws[i]!))).reduce((s, t) => s.add(t));
    };
  }
  const analytic = grad(loss, { argnums: xs.map((_, i) => i) })(...xs) as Tensor[];
  const value = (a: Tensor[]): number => noGrad(() => loss(...a).item());
  const entries: GradCheckEntry[] = [];
  const score = (e: Omit<GradCheckEntry, 'error' | 'score'>): void => {
    const error = Math.abs(e.numeric - e.analytic);
    entries.push({ ...e, error, score: error / (atol + rtol * Math.abs(e.numeric)) });
  };
  if ((options.mode ?? 'full') === 'full') {
    xs.forEach((x, k) => {
      for (let i = 0; i < x.size; i++) {
        const at = (delta: number): number => {
          const d = Float64Array.from(x.data);
          d[i]! += delta;
          return value(xs.map((t, j) => (j === k ? new Tensor(d, x.shape) : t)));
        };
        score({
          input: k,
          index: i,
          numeric: (at(eps) - at(-eps)) / (2 * eps),
          analytic: analytic[k]!.data[i]!,
        });
      }
    });
  } else {
    for (let r = 0; r < (options.directions ?? 8); r++) {
      const ts = xs.map((x) => randn(x.shape, { dtype: 'float64', rng }));
      const shifted = (s: number): Tensor[] =>
        xs.map(
          (x, k) =>
            new Tensor(x.data.map((v, i) => v + s * ts[k]!.data[i]!) as Float64Array, x.shape),
        );
      const numeric = (value(shifted(eps)) - value(shifted(-eps))) / (2 * eps);
      let dot = 0;
      analytic.forEach((g, k) => {
        for (let i = 0; i < g.size; i++) dot += g.data[i]! * ts[k]!.data[i]!;
      });
      score({ input: -1, index: -1, numeric, analytic: dot });
    }
  }
  const worst = entries.reduce<GradCheckEntry | null>(
    (w, e) => (w === null || e.score > w.score || Number.isNaN(e.score) ? e : w),
    null,
  );
  const ok = entries.every((e) => e.score <= 1);
  return { ok, worst, checked: entries.length, warnings };
}
