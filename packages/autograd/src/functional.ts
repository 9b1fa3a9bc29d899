/**
 * The functional API: `grad`, `valueAndGrad`, `vjp` and `customVjp`. A function given to them
 * takes tensors (other arguments pass through untouched) and returns a tensor.
 *
 * Nesting works: when the value depends on a tensor that needs a gradient from an enclosing
 * computation (an argument, or a tensor the function captured), the backward sweep is itself
 * recorded, so `grad(x => grad(f)(x))` gives second derivatives.
 */
import { GradientError, fmtShape } from './errors.js';
import { type Vjp, enableGrad, isGradEnabled, noGrad, record, runBackward } from './tape.js';
import { Tensor, checkCotangentShape, ones, zerosLike } from './tensor.js';

/** Options of `grad` and `valueAndGrad`. */
export interface GradOptions {
  /**
   * Which arguments to differentiate: one index (the result is one tensor) or a list (a list of
   * tensors). Default: every tensor argument; one tensor if there is exactly one.
   */
  argnums?: number | readonly number[];
}

type Fn = (...args: never[]) => Tensor;
type Grads = Tensor | Tensor[];

interface Prepared {
  inputs: unknown[];
  chosen: number[];
  nested: boolean;
}

function prepare(op: string, args: readonly unknown[], argnums: GradOptions['argnums']): Prepared {
  const tensorArgs = args.flatMap((a, i) => (a instanceof Tensor ? [i] : []));
  const chosen =
    argnums === undefined ? tensorArgs : typeof argnums === 'number' ? [argnums] : [...argnums];
  for (const i of chosen) {
    if (!(args[i] instanceof Tensor)) {
      throw new GradientError(
        op,
        `args[${i}]`,
        'a Tensor',
        typeof args[i],
        `argument ${i} is not a Tensor, so it cannot be differentiated`,
      );
    }
  }
  if (chosen.length === 0) {
    throw new GradientError(
      op,
      'args',
      'at least one Tensor argument',
      'none',
      'the function was given no Tensor argument to differentiate',
    );
  }
  const nested = isGradEnabled() && args.some((a) => a instanceof Tensor && a.requiresGrad);
  const inputs = args.map((a, i) => (chosen.includes(i) ? leafFor(a as Tensor) : a));
  return { inputs, chosen, nested };
}

/**
 * A tensor to differentiate against. Inside an enclosing computation it is an alias that passes
 * gradients on to the original; otherwise a fresh leaf.
 */
function leafFor(x: Tensor): Tensor {
  if (x.requiresGrad && isGradEnabled()) {
    return record('alias', [x], new Tensor(x.data, x.shape), (gy) => [gy]);
  }
  return new Tensor(x.data, x.shape, true);
}

function evaluate(op: string, f: Fn, p: Prepared): Tensor {
  const outer = isGradEnabled();
  const y = enableGrad(() => (f as (...a: unknown[]) => unknown)(...p.inputs));
  if (!(y instanceof Tensor)) {
    throw new GradientError(
      op,
      'f',
      'a function returning a Tensor',
      typeof y,
      'the function must return a Tensor',
    );
  }
  const own = new Set(p.chosen.map((i) => p.inputs[i] as Tensor));
  p.nested = outer && dependsOnOuter(y, own);
  return y;
}

/**
 * Whether `y` depends on a leaf that needs a gradient and is not one of `own`: an argument of an
 * enclosing `grad`, or a tensor the function captured (a weight). Then the backward sweep must be
 * recorded, or the enclosing derivative would silently see a constant.
 */
function dependsOnOuter(y: Tensor, own: ReadonlySet<Tensor>): boolean {
  const seen = new Set<Tensor>();
  const stack = [y];
  while (stack.length > 0) {
    const t = stack.pop()!;
    if (seen.has(t)) continue;
    seen.add(t);
    if (t.node === null) {
      if (t.requiresGrad && !own.has(t)) return true;
      continue;
    }
    for (const x of t.node.inputs) if (x.requiresGrad) stack.push(x);
  }
  return false;
}

function sweep(y: Tensor, gy: Tensor, p: Prepared): Tensor[] {
  const xs = p.chosen.map((i) => p.inputs[i] as Tensor);
  const gs = y.requiresGrad
    ? runBackward(y, gy, xs, { createGraph: p.nested })
    : xs.map(() => null);
  // An argument the output does not depend on has a zero gradient (not an error: the function
  // is constant in it, and the derivative of a constant is exactly 0).
  return gs.map((g, k) => g ?? zerosLike(xs[k]!));
}

function scalarCheck(op: string, y: Tensor): void {
  if (y.size !== 1) {
    throw new GradientError(
      op,
      'f',
      'a function returning one value',
      fmtShape(y.shape),
      `the function must return a single value to differentiate, got shape ${fmtShape(y.shape)}; ` +
        'use vjp for other outputs',
    );
  }
}

function shapeResult(gs: Tensor[], argnums: GradOptions['argnums']): Grads {
  if (typeof argnums === 'number' || (argnums === undefined && gs.length === 1)) return gs[0]!;
  return gs;
}

/**
 * The gradient of a function with one output value, as a function of the same arguments.
 *
 * @example
 * const df = grad((x: Tensor) => x.mul(x).sum());
 * df(tensor([1, 2])); // [2, 4]
 */
export function grad<F extends (x: Tensor) => Tensor>(
  f: F,
  options?: { argnums?: 0 },
): (x: Tensor) => Tensor;
export function grad<F extends Fn>(
  f: F,
  options: { argnums: number },
): (...args: Parameters<F>) => Tensor;
export function grad<F extends Fn>(
  f: F,
  options: { argnums: readonly number[] },
): (...args: Parameters<F>) => Tensor[];
export function grad<F extends Fn>(f: F, options?: GradOptions): (...args: Parameters<F>) => Grads;
export function grad(f: Fn, options: GradOptions = {}): (...args: never[]) => Grads {
  const run = valueAndGradAs('grad', f, options);
  return (...args) => run(...args)[1];
}

/**
 * Like `grad`, but also returns the function's value: `[value, gradients]`.
 *
 * @example
 * const [value, dx] = valueAndGrad((x: Tensor) => x.mul(x).sum())(tensor([3]));
 * // value 9, dx [6]
 */
export function valueAndGrad<F extends (x: Tensor) => Tensor>(
  f: F,
  options?: { argnums?: 0 },
): (x: Tensor) => [Tensor, Tensor];
export function valueAndGrad<F extends Fn>(
  f: F,
  options: { argnums: number },
): (...args: Parameters<F>) => [Tensor, Tensor];
export function valueAndGrad<F extends Fn>(
  f: F,
  options: { argnums: readonly number[] },
): (...args: Parameters<F>) => [Tensor, Tensor[]];
export function valueAndGrad<F extends Fn>(
  f: F,
  options?: GradOptions,
): (...args: Parameters<F>) => [Tensor, Grads];
export function valueAndGrad(
  f: Fn,
  options: GradOptions = {},
): (...args: never[]) => [Tensor, Grads] {
  return valueAndGradAs('valueAndGrad', f, options);
}

/** `valueAndGrad` whose errors name `op`, the function the user called. */
function valueAndGradAs<F extends Fn>(
  op: string,
  f: F,
  options: GradOptions,
): (...args: Parameters<F>) => [Tensor, Grads] {
  return (...args) => {
    const p = prepare(op, args, options.argnums);
    const y = evaluate(op, f, p);
    scalarCheck(op, y);
    const gs = sweep(y, ones(y.shape, { dtype: y.dtype }), p);
    return [p.nested ? y : y.detach(), shapeResult(gs, options.argnums)];
  };
}

/** The pullback of `vjp`: maps a cotangent of the output to one cotangent per argument. */
export type Pullback = (gy: Tensor) => Tensor[];

/**
 * Evaluates `f` at `xs` and returns `[value, pullback]`; `pullback(gy)` gives the cotangent of
 * every tensor argument for an output cotangent `gy` of the value's shape. It can be called more
 * than once.
 *
 * @example
 * const [y, pullback] = vjp((x) => x.mul(x), tensor([1, 2]));
 * pullback(ones([2])); // [[2, 4]]
 */
export function vjp(f: (...xs: Tensor[]) => Tensor, ...xs: Tensor[]): [Tensor, Pullback] {
  const p = prepare('vjp', xs, undefined);
  const y = evaluate('vjp', f as Fn, p);
  const pullback: Pullback = (gy) => {
    checkCotangentShape('vjp', y, gy);
    return sweep(y, gy, p);
  };
  return [p.nested ? y : y.detach(), pullback];
}

/** What a custom rule receives besides the cotangent. */
export interface CustomVjpContext {
  /** The tensors the function was called with. */
  inputs: readonly Tensor[];
  /** Its result, as recorded on the tape. */
  output: Tensor;
  /** Whether each input wants a gradient. */
  needs: readonly boolean[];
}

/** A hand-written vjp for `customVjp`: one cotangent (or `null`) per input. */
export type CustomRule = (gy: Tensor, ctx: CustomVjpContext) => readonly (Tensor | null)[];

/**
 * Gives a function of tensors a hand-written vjp. The forward runs without recording; backward
 * calls `rule` with the cotangent and must return one cotangent (or `null`) per input. Write the
 * rule with tensor ops and it can be differentiated again. Use it where the composite's own
 * gradient is unstable or slow, and say so next to it.
 *
 * @example
 * const softplus = customVjp(
 *   (x: Tensor) => x.exp().add(1).log(),
 *   (gy, { inputs: [x] }) => [gy.div(x.neg().exp().add(1))],
 *   { name: 'softplus' },
 * );
 */
export function customVjp(
  fn: (...xs: Tensor[]) => Tensor,
  rule: CustomRule,
  options: { name?: string } = {},
): (...xs: Tensor[]) => Tensor {
  const name = options.name ?? (fn.name || 'customVjp');
  return (...xs) => {
    const y: unknown = noGrad(() => fn(...xs));
    if (!(y instanceof Tensor)) {
      throw new GradientError(
        name,
        'fn',
        'a function returning a Tensor',
        typeof y,
        'the function must return a Tensor',
      );
    }
    // The rule sees the recorded output itself (not a detached copy), so a rule written in terms
    // of the output differentiates correctly again, as exp's vjp does with its own output.
    const output = new Tensor(y.data, y.shape);
    const vjpFn: Vjp = (gy, needs) => rule(gy, { inputs: xs, output, needs });
    return record(name, xs, output, vjpFn);
  };
}
