/**
 * The tape: how op results remember where they came from, and the reverse sweep over them.
 *
 * Vocabulary, used everywhere in tapegrad:
 * - a *vjp* (vector-Jacobian product) maps the cotangent `gy` of an op's output to one cotangent
 *   per input, or `null` for "no gradient" (an input that needs none, or a constant);
 * - *saved* tensors are what a vjp keeps from the forward run; each op names them where it
 *   records itself, and a vjp captures nothing else;
 * - `needs[i]` says whether input `i` wants a gradient, so a vjp can skip work nobody uses.
 *
 * A vjp is written with the same differentiable ops as user code. When the backward sweep runs
 * with `createGraph`, those ops are recorded too, which is all higher-order gradients need.
 */
import { DTypeError, GradientError, NonFiniteError, fmtShape } from './errors.js';
import { getLogger } from './logger.js';
import { sameShape } from './shape.js';
import type { Tensor } from './tensor.js';
import { add } from './ops/elementwise.js';
import { sumTo } from './ops/reduce.js';

/**
 * An op's vector-Jacobian product: from the output cotangent `gy`, one cotangent per input, or
 * `null` where `needs[i]` is false or the input gets no gradient.
 */
export type Vjp = (gy: Tensor, needs: readonly boolean[]) => readonly (Tensor | null)[];

/** What an op result remembers: the op, its inputs and its vjp. */
export interface TapeNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** `null` for an op without a gradient: backward through it throws, naming the op. */
  readonly vjp: Vjp | null;
  /** Where the result was created, kept in debug mode only. */
  readonly stack: string | undefined;
}

let gradEnabled = true;
let debugMode = false;

/** Whether ops record themselves on the tape. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/**
 * Runs `fn` without recording: results have no tape node and need no gradient.
 *
 * @example
 * const w = randn([3], { requiresGrad: true });
 * noGrad(() => w.mul(2)).requiresGrad; // false
 */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with recording on, even inside `noGrad`. */
export function enableGrad<T>(fn: () => T): T {
  return withGradMode(true, fn);
}

function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * Debug mode checks every op's output (and every vjp's result) for NaN and Inf and keeps each tape
 * node's creation stack, so a bad value names the op and the line of user code that made it.
 */
export function setDebug(enabled: boolean): void {
  debugMode = enabled;
}

/** Whether debug mode (`setDebug`) is on. */
export function isDebug(): boolean {
  return debugMode;
}

/**
 * Attaches a tape node to `out` when recording is on and some input needs a gradient, then runs
 * debug mode's checks. Every differentiable op ends with this call.
 */
export function record(
  op: string,
  inputs: readonly Tensor[],
  out: Tensor,
  vjp: Vjp | null,
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    const stack = debugMode ? userStack() : undefined;
    out.node = { op, inputs, vjp, stack };
    out.requiresGrad = true;
  }
  if (debugMode) checkFinite(op, out, 'output', out.node?.stack ?? userStack());
  return out;
}

function checkFinite(op: string, t: Tensor, what: string, stack: string | undefined): void {
  const d = t.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i]!;
    if (v - v !== 0) {
      const where = stack ? `; created at ${stack}` : '';
      const kind = Number.isNaN(v) ? 'NaN' : 'Inf';
      throw new NonFiniteError(
        op,
        what,
        'finite values',
        `${kind} at flat index ${i} of ${fmtShape(t.shape)}`,
        `${what} has ${kind} at flat index ${i} of ${fmtShape(t.shape)}${where}`,
      );
    }
  }
}

// Frames of tapegrad's own sources are skipped, so the stack names the user's line. Only the
// library's code counts: a test or example file inside the monorepo is user code.
const libraryFrame = new RegExp(
  [
    String.raw`[\\/]@tapegrad[\\/](autograd|nn)[\\/]`,
    String.raw`[\\/]packages[\\/](autograd|nn)[\\/](src|dist)[\\/]`,
    'node:internal',
    '<anonymous>',
  ].join('|'),
);
const testFrame = /\.test\.[cm]?[jt]s\b/;

function userStack(): string | undefined {
  const lines = (new Error().stack ?? '').split('\n').slice(1);
  const isLibrary = (l: string): boolean => libraryFrame.test(l) && !testFrame.test(l);
  const user = lines.find((l) => l.includes('at ') && !isLibrary(l));
  return (user ?? lines[0])?.trim().replace(/^at /, '');
}

/** Options of `Tensor.backward`. */
export interface BackwardOptions {
  /** Record the backward sweep itself, so its results can be differentiated again. */
  createGraph?: boolean;
}

/**
 * The reverse sweep. From `root` with cotangent `gy`, visits in reverse topological order every
 * tensor that needs a gradient and runs its vjp. With `inputs`, returns the cotangents of those
 * tensors and touches no `.grad`; without, accumulates into `.grad` of every leaf that needs one.
 * The graph is ordered iteratively, never recursively, so deep tapes cannot overflow the stack.
 */
export function runBackward(
  root: Tensor,
  gy: Tensor,
  inputs: readonly Tensor[] | null,
  options: BackwardOptions = {},
): (Tensor | null)[] {
  const run = (): (Tensor | null)[] => sweep(root, gy, inputs);
  return options.createGraph ? enableGrad(run) : noGrad(run);
}

function sweep(root: Tensor, gy: Tensor, inputs: readonly Tensor[] | null): (Tensor | null)[] {
  const wanted = inputs ? new Set(inputs) : null;
  const reaches = new Map<Tensor, boolean>();
  const order = topoOrder(root, wanted, reaches);
  const grads = new Map<Tensor, Tensor>([[root, gy]]);

  for (let i = order.length - 1; i >= 0; i--) {
    const t = order[i]!;
    const g = grads.get(t);
    if (g === undefined) continue;
    const node = t.node;
    if (wanted === null) {
      grads.delete(t);
      if (node === null) {
        t.grad = t.grad ? add(t.grad, g) : g;
        continue;
      }
    } else {
      // A wanted tensor keeps its cotangent as a result; the sweep goes on past it only when
      // another wanted tensor lies behind it.
      if (!wanted.has(t)) grads.delete(t);
      if (node === null || !reaches.get(t)) continue;
    }
    const needs = node.inputs.map((x) => (wanted === null ? x.requiresGrad : reaches.has(x)));
    if (node.vjp === null) {
      throw new GradientError(
        node.op,
        '',
        'a differentiable op',
        `${node.op} (no gradient)`,
        `${node.op} has no gradient; detach() its result or use where()` +
          (node.stack ? `; created at ${node.stack}` : ''),
      );
    }
    const results = runVjp(node, g, needs);
    checkVjpCount(node, results);
    for (let k = 0; k < node.inputs.length; k++) {
      if (!needs[k]) continue;
      const x = node.inputs[k]!;
      const r = results[k];
      if (r === null || r === undefined) continue;
      const gx = fitGradient(node, k, x, r);
      if (debugMode) checkFinite(`${node.op} (vjp)`, gx, `cotangent of input ${k}`, node.stack);
      const prev = grads.get(x);
      grads.set(x, prev ? add(prev, gx) : gx);
    }
  }
  return inputs ? inputs.map((x) => grads.get(x) ?? null) : [];
}

/**
 * Post-order of the tensors that need a gradient (or, with `wanted`, lead to a wanted one). In the
 * `wanted` mode, `reaches` is filled with the tensors that lead to a wanted input, mapped to
 * whether that is through their own inputs (true) or only because they are wanted (false).
 */
function topoOrder(
  root: Tensor,
  wanted: Set<Tensor> | null,
  reaches: Map<Tensor, boolean>,
): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, k] = top;
    const ins = t.node?.inputs ?? [];
    if (k < ins.length) {
      top[1] = k + 1;
      const x = ins[k]!;
      if (x.requiresGrad && !visited.has(x)) {
        visited.add(x);
        stack.push([x, 0]);
      }
      continue;
    }
    stack.pop();
    if (wanted !== null) {
      const through = ins.some((x) => reaches.has(x));
      if (through || wanted.has(t)) reaches.set(t, through);
      if (!reaches.has(t)) continue;
    }
    order.push(t);
  }
  return order;
}

/**
 * Runs a node's vjp. In debug mode a NaN or Inf made by an op inside the vjp is reported as the
 * vjp's (`sqrt (vjp)`), with the forward line that created the node, not as the inner op's.
 */
function runVjp(node: TapeNode, g: Tensor, needs: readonly boolean[]): readonly (Tensor | null)[] {
  try {
    return node.vjp!(g, needs);
  } catch (e) {
    if (!debugMode || !(e instanceof NonFiniteError) || e.op.endsWith(' (vjp)')) throw e;
    const where = node.stack ? `; created at ${node.stack}` : '';
    throw new NonFiniteError(
      `${node.op} (vjp)`,
      e.arg,
      e.expected,
      e.actual,
      `${e.arg} of ${e.op} inside the vjp has ${e.actual}${where}`,
    );
  }
}

function checkVjpCount(node: TapeNode, results: readonly (Tensor | null)[]): void {
  if (results.length !== node.inputs.length) {
    throw new GradientError(
      node.op,
      'vjp',
      `${node.inputs.length} cotangents`,
      `${results.length}`,
      `vjp returned ${results.length} cotangents for ${node.inputs.length} inputs`,
    );
  }
}

// Note [broadcast in vjp]: a vjp may return a cotangent of the broadcast output's shape; the tape
// sums it back to the input's shape here, once, instead of in every rule.
function fitGradient(node: TapeNode, k: number, x: Tensor, g: Tensor): Tensor {
  if (g.dtype !== x.dtype) {
    throw new DTypeError(
      node.op,
      `vjp[${k}]`,
      x.dtype,
      g.dtype,
      `vjp returned a ${g.dtype} cotangent for a ${x.dtype} input ${k}`,
    );
  }
  if (sameShape(g.shape, x.shape)) return g;
  const fitted = sumTo(g, x.shape, node.op);
  if (debugMode) getLogger().debug(`${node.op}: summed cotangent ${fmtShape(g.shape)} to input`);
  return fitted;
}
