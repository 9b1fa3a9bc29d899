/**
 * Optimizers. `step()` updates every parameter that has a gradient, in place and off the tape;
 * `zeroGrad()` clears the gradients. State (momentum buffers, Adam's moments, the step count)
 * is keyed by parameter name, so it can be saved with a checkpoint and restored exactly.
 */
import { type FloatArray, ValueError } from '@tapegrad/autograd';
import { Module, type Parameter } from './module.js';

/** What an optimizer updates: a module, parameters, or named parameters. */
export type ParamSource = Module | Iterable<Parameter> | Iterable<[string, Parameter]>;

function named(source: ParamSource): [string, Parameter][] {
  if (source instanceof Module) return source.namedParameters();
  return [...source].map((e, i) => (Array.isArray(e) ? e : [String(i), e]) as [string, Parameter]);
}

function checkRate(op: string, arg: string, v: number, min: number, strictly = false): void {
  if (!Number.isFinite(v) || v < min || (strictly && v === min)) {
    throw new ValueError(
      op,
      arg,
      `a finite number ${strictly ? '>' : '>='} ${min}`,
      String(v),
      `${arg} must be a finite number ${strictly ? '>' : '>='} ${min}, got ${v}`,
    );
  }
}

/** Saved optimizer state: the step count and named buffers. */
export interface OptimizerState {
  kind: string;
  step: number;
  buffers: Record<string, FloatArray>;
}

/** The base of the optimizers: the named parameters, the step count and the state buffers. */
export abstract class Optimizer {
  readonly params: [string, Parameter][];
  /** Steps taken so far. */
  stepCount = 0;
  protected buffers = new Map<string, FloatArray>();
  abstract readonly kind: string;

  constructor(params: ParamSource) {
    this.params = named(params);
  }

  /** Updates every parameter that has a gradient, in place. */
  abstract step(): void;

  /** Clears the gradient of every parameter. */
  zeroGrad(): void {
    for (const [, p] of this.params) p.grad = null;
  }

  protected buffer(key: string, like: FloatArray): FloatArray {
    let b = this.buffers.get(key);
    if (b === undefined) {
      b = new (like.constructor as new (n: number) => FloatArray)(like.length);
      this.buffers.set(key, b);
    }
    return b;
  }

  /** A copy of the state, for checkpoints. */
  stateDict(): OptimizerState {
    const buffers: Record<string, FloatArray> = {};
    for (const [k, v] of this.buffers) buffers[k] = v.slice();
    return { kind: this.kind, step: this.stepCount, buffers };
  }

  /** Restores state saved by `stateDict` of the same kind of optimizer. */
  loadStateDict(state: OptimizerState): void {
    if (state.kind !== this.kind) {
      throw new ValueError(
        'loadStateDict',
        'kind',
        this.kind,
        state.kind,
        `state of a ${state.kind} optimizer cannot load into ${this.kind}`,
      );
    }
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new ValueError(
        'loadStateDict',
        'step',
        'a non-negative integer',
        String(state.step),
        `step must be a non-negative integer, got ${state.step}`,
      );
    }
    // Every buffer must belong to one of this optimizer's parameters and match its size: a
    // wrong-sized buffer would otherwise turn the next step into NaN without a word.
    for (const [key, v] of Object.entries(state.buffers)) {
      // The longest matching name, so `a.b.m` belongs to `a.b` rather than `a`.
      const owner = this.params
        .filter(([name]) => key.startsWith(`${name}.`))
        .reduce<
          [string, Parameter] | undefined
        >((best, e) => (best === undefined || e[0].length > best[0].length ? e : best), undefined);
      if (owner === undefined) {
        throw new ValueError(
          'loadStateDict',
          key,
          `a buffer of one of ${this.params.map(([n]) => n).join(', ')}`,
          key,
          `buffer ${key} belongs to no parameter of this optimizer`,
        );
      }
      if (v.length !== owner[1].size) {
        throw new ValueError(
          'loadStateDict',
          key,
          `${owner[1].size} values`,
          `${v.length}`,
          `buffer ${key} has ${v.length} values, parameter ${owner[0]} has ${owner[1].size}`,
        );
      }
    }
    this.stepCount = state.step;
    this.buffers = new Map(Object.entries(state.buffers).map(([k, v]) => [k, v.slice()]));
  }
}

/** Options of `SGD`. */
export interface SGDOptions {
  /** The learning rate `alpha`, finite and >= 0. */
  lr: number;
  /** Default 0. */
  momentum?: number;
  /** L2 penalty added to the gradient; default 0. */
  weightDecay?: number;
  /** Nesterov momentum; default false. */
  nesterov?: boolean;
}

/**
 * Stochastic gradient descent: `g = grad + weightDecay p`; with momentum `v = momentum v + g`
 * and the step uses `v` (or `g + momentum v` for Nesterov); `p = p - lr step`.
 *
 * @example
 * const model = new Linear(4, 2);
 * const opt = new SGD(model, { lr: 0.1, momentum: 0.9 });
 * mse(model.forward(randn([8, 4])), zeros([8, 2])).backward();
 * opt.step();
 * opt.zeroGrad();
 */
export class SGD extends Optimizer {
  readonly kind = 'sgd';
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;

  constructor(params: ParamSource, options: SGDOptions) {
    super(params);
    checkRate('SGD', 'lr', options.lr, 0);
    checkRate('SGD', 'momentum', options.momentum ?? 0, 0);
    checkRate('SGD', 'weightDecay', options.weightDecay ?? 0, 0);
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0;
    this.weightDecay = options.weightDecay ?? 0;
    this.nesterov = options.nesterov ?? false;
  }

  step(): void {
    const { lr, momentum: mu, weightDecay: wd, nesterov } = this;
    for (const [name, p] of this.params) {
      if (p.grad === null) continue;
      const g = p.grad.data;
      const w = p.data;
      const v = mu !== 0 ? this.buffer(`${name}.momentum`, w) : null;
      for (let i = 0; i < w.length; i++) {
        let d = g[i]! + wd * w[i]!;
        if (v !== null) {
          v[i] = mu * v[i]! + d;
          d = nesterov ? d + mu * v[i]! : v[i]!;
        }
        w[i] = w[i]! - lr * d;
      }
    }
    this.stepCount++;
  }
}

/** Options of `Adam`. */
export interface AdamOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Default [0.9, 0.999]. */
  betas?: readonly [number, number];
  /** Default 1e-8. */
  eps?: number;
  /** L2 penalty added to the gradient; default 0. */
  weightDecay?: number;
}

/**
 * Adam (Kingma and Ba): moments `m = b1 m + (1 - b1) g`, `v = b2 v + (1 - b2) g^2`, and
 * `p = p - lr m_hat / (sqrt(v_hat) + eps)` with the bias-corrected `m_hat`, `v_hat`.
 *
 * @example
 * const opt = new Adam(new PaperCNN(), { lr: 1e-3 });
 */
export class Adam extends Optimizer {
  readonly kind = 'adam';
  lr: number;
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;

  constructor(params: ParamSource, options: AdamOptions = {}) {
    super(params);
    this.lr = options.lr ?? 1e-3;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    checkRate('Adam', 'lr', this.lr, 0);
    checkRate('Adam', 'eps', this.eps, 0);
    checkRate('Adam', 'weightDecay', this.weightDecay, 0);
    this.betas.forEach((b, i) => {
      if (!(b >= 0 && b < 1)) {
        throw new ValueError(
          'Adam',
          `betas[${i}]`,
          'a number in [0, 1)',
          String(b),
          `betas[${i}] must be in [0, 1), got ${b}`,
        );
      }
    });
  }

  step(): void {
    const [b1, b2] = this.betas;
    const t = this.stepCount + 1;
    const c1 = 1 - Math.pow(b1, t);
    const c2 = 1 - Math.pow(b2, t);
    const { lr, eps, weightDecay: wd } = this;
    for (const [name, p] of this.params) {
      if (p.grad === null) continue;
      const g = p.grad.data;
      const w = p.data;
      const m = this.buffer(`${name}.m`, w);
      const v = this.buffer(`${name}.v`, w);
      for (let i = 0; i < w.length; i++) {
        const d = g[i]! + wd * w[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * d;
        v[i] = b2 * v[i]! + (1 - b2) * d * d;
        w[i] = w[i]! - (lr * (m[i]! / c1)) / (Math.sqrt(v[i]! / c2) + eps);
      }
    }
    this.stepCount = t;
  }
}
