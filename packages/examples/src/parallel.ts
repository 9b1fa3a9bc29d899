/**
 * Data-parallel training over worker threads (Node only): every thread holds the same model,
 * whose parameters live in one SharedArrayBuffer, and each step splits the batch across the
 * threads. Each thread runs the forward pass and a plain `loss.backward()` on its share; the
 * main thread combines the gradients weighted by share size and runs the optimizer in place on
 * the shared parameters, so the workers see the update without a copy.
 *
 * The core packages know nothing of this: the tape and `nn` run unchanged in every thread.
 *
 * @example
 * const trainer = await createParallelTrainer({
 *   threads: 2,
 *   model: { kind: 'paper', options: { seed: 1 } },
 *   optimizer: (m) => new SGD(m, { lr: 0.1 }),
 * });
 * const loss = await trainer.step(images, labels); // images [N, 1, 28, 28]
 * await trainer.close();
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';
import { type DType, type FloatArray, Tensor, ValueError, fmtShape } from '@tapegrad/autograd';
import {
  type Module,
  type Optimizer,
  type Parameter,
  PaperCNN,
  type PaperCNNModuleOptions,
  type Targets,
  crossEntropy,
} from '@tapegrad/nn';

/**
 * A description of the model that every thread can build for itself (functions and class
 * instances cannot cross a thread boundary): the paper's network from its options, or a factory
 * function exported by a module that a worker can `import()` (a file URL of plain JavaScript).
 * Only the architecture matters: the workers' parameters are replaced by views of the main
 * thread's shared ones.
 */
export type ModelSpec =
  | { kind: 'paper'; options?: PaperCNNModuleOptions }
  | { kind: 'factory'; url: string; name: string; args?: readonly unknown[] };

/** How the threads hand a step over to each other. See Note [synchronisation]. */
export type SyncMode = 'atomics' | 'messages';

export interface ParallelTrainerOptions {
  /** Compute threads in all, the main thread included; default 2. `1` runs no worker. */
  threads?: number;
  model: ModelSpec;
  /**
   * The optimizer of the main thread's model: a function building it, or an optimizer already
   * built over `instance` (its parameters keep their identity, see Note [shared parameters]).
   */
  optimizer: Optimizer | ((model: Module) => Optimizer);
  /**
   * The main thread's model, when the caller built it already from the same spec (to load a
   * checkpoint into it first, say); by default it is built from `model`.
   */
  instance?: Module;
  /** The workers' kernels; default `wasm`. The main thread keeps whatever backend is set. */
  backend?: 'wasm' | 'js';
  /** Default `atomics`, measured the faster (see Note [synchronisation]). */
  sync?: SyncMode;
  /**
   * How long a waiting thread spins on shared memory before it blocks, in ms; default
   * DEFAULT_SPIN_MS. See Note [synchronisation].
   */
  spinMs?: number;
  /** The compiled worker script; default `parallel-worker.js` next to this module. */
  workerUrl?: URL;
}

export const DEFAULT_SPIN_MS = 0;

/** Cumulative milliseconds of the main thread's parts of a step, and of the workers' shares. */
export interface ParallelProfile {
  steps: number;
  /** Splitting the batch and writing the workers' inputs. */
  scatter: number;
  /** Forward and backward of the main thread's share. */
  share: number;
  /** Waiting for the workers (their shares, then their chunks of the sum). */
  wait: number;
  /** Summing this thread's chunk of the gradients (all of them in `messages` mode). */
  combine: number;
  /** The optimizer step. */
  update: number;
  /** Forward, backward and gradient copy of the workers' shares (summed over workers). */
  worker: number;
  /** From handing a worker its share to the worker starting on it (summed over workers). */
  wake: number;
  /** `messages` mode: from the later of the threads finishing to this thread going on. */
  lag: number;
}

export interface ParallelTrainer {
  /** The main thread's model; its parameters are the shared ones. */
  readonly model: Module;
  readonly optimizer: Optimizer;
  readonly threads: number;
  readonly sync: SyncMode;
  /** Workers still running: `threads - 1` until `close()` (or a crash), then 0. */
  readonly liveWorkers: number;
  /**
   * One optimizer step on the batch `x` `[N, ...]` with targets `y` (class indices or
   * probability rows `[N, K]`); resolves to the batch's mean cross-entropy. Equal to a
   * single-thread step up to float32 rounding (the gradient sums run in another order), not
   * bit for bit. A failure in any thread rejects the step and leaves the parameters untouched.
   */
  step(x: Tensor, y: Targets): Promise<number>;
  /** Time spent so far, by part; `reset` starts the counts again. */
  profile(reset?: boolean): ParallelProfile;
  /** Stops the workers; the trainer cannot step afterwards. */
  close(): Promise<void>;
}

/** A failure inside a worker, carrying the worker's own error name and message. */
export class ParallelWorkerError extends Error {
  constructor(
    readonly worker: number,
    readonly workerName: string,
    readonly workerMessage: string,
  ) {
    super(`parallel worker ${worker}: ${workerName}: ${workerMessage}`);
    this.name = 'ParallelWorkerError';
  }
}

// ---- shared parameters -------------------------------------------------------------------------

/** Where each parameter sits in the shared buffer, in `namedParameters` order. */
export interface ParameterLayout {
  dtype: DType;
  /** Elements in all. */
  size: number;
  entries: { name: string; shape: readonly number[]; offset: number }[];
}

const BYTES: Record<DType, number> = { float32: 4, float64: 8 };

function view(dtype: DType, buffer: SharedArrayBuffer, offset: number, length: number): FloatArray {
  return dtype === 'float32'
    ? new Float32Array(buffer, 4 * offset, length)
    : new Float64Array(buffer, 8 * offset, length);
}

// Note [shared parameters]
// A Parameter's `data` is a Float32Array (or Float64Array) like any other: one over a
// SharedArrayBuffer passes every check of Tensor and of the kernels. The layers allocate their
// own arrays, so each parameter's values are copied into a view of one SharedArrayBuffer and
// that view is put in the parameter's `data` slot. `readonly data` is a compile-time promise
// only: at run time it is an own, writable data property that Tensor's constructor defines,
// and `Object.defineProperty` keeps its attributes. The alternative, building new Parameters
// and writing them into the modules' fields, would reach into fields the library finds by
// reflection (some in arrays, all `readonly`), and anything already holding a parameter (an
// optimizer built over the model, a caller's reference) would go on with a detached copy;
// swapping the array keeps every parameter's identity, so such holders see shared memory.
function rebind(p: Parameter, data: FloatArray): void {
  const slot = Object.getOwnPropertyDescriptor(p, 'data');
  if (slot === undefined || !('value' in slot) || !slot.configurable)
    throw new Error('parallel: Parameter.data is not an own configurable property any more');
  Object.defineProperty(p, 'data', { ...slot, value: data });
}

function uniqueParameters(model: Module): [string, Parameter][] {
  const seen = new Set<Parameter>();
  return model.namedParameters().filter(([, p]) => !seen.has(p) && seen.add(p) !== undefined);
}

/**
 * Moves every parameter of `model` into one new SharedArrayBuffer (values copied, identities
 * kept; see Note [shared parameters]) and returns the buffer and its layout.
 */
export function shareParameters(model: Module): {
  buffer: SharedArrayBuffer;
  layout: ParameterLayout;
} {
  const named = uniqueParameters(model);
  const dtype = named[0]?.[1].dtype ?? 'float32';
  const mixed = named.find(([, p]) => p.dtype !== dtype);
  if (mixed !== undefined)
    throw new ValueError(
      'createParallelTrainer',
      'model',
      `parameters of one dtype (${dtype})`,
      mixed[1].dtype,
      `parameter ${mixed[0]} is ${mixed[1].dtype}, the others ${dtype}; share one dtype`,
    );
  const entries: ParameterLayout['entries'] = [];
  let size = 0;
  for (const [name, p] of named) {
    entries.push({ name, shape: [...p.shape], offset: size });
    size += p.size;
  }
  const buffer = new SharedArrayBuffer(Math.max(1, size) * BYTES[dtype]);
  named.forEach(([, p], i) => {
    const data = view(dtype, buffer, entries[i]!.offset, p.size);
    data.set(p.data);
    rebind(p, data);
  });
  return { buffer, layout: { dtype, size, entries } };
}

/** Points a worker's model at the shared parameters, checking it matches the layout. */
export function attachParameters(
  model: Module,
  buffer: SharedArrayBuffer,
  layout: ParameterLayout,
): Parameter[] {
  const named = uniqueParameters(model);
  if (named.length !== layout.entries.length)
    throw new Error(
      `the worker's model has ${named.length} parameters, the main thread's ` +
        `${layout.entries.length}`,
    );
  return named.map(([name, p], i) => {
    const e = layout.entries[i]!;
    if (name !== e.name || fmtShape(p.shape) !== fmtShape(e.shape) || p.dtype !== layout.dtype)
      throw new Error(
        `the worker's parameter ${i} is ${name} ${fmtShape(p.shape)} ${p.dtype}, the main ` +
          `thread's ${e.name} ${fmtShape(e.shape)} ${layout.dtype}`,
      );
    rebind(p, view(layout.dtype, buffer, e.offset, p.size));
    return p;
  });
}

/** Builds a model from its spec; the same code runs in the main thread and in every worker. */
export async function buildModel(spec: ModelSpec): Promise<Module> {
  if (spec.kind === 'paper') return new PaperCNN(spec.options ?? {});
  const mod = (await import(spec.url)) as Record<string, unknown>;
  const factory = mod[spec.name];
  if (typeof factory !== 'function')
    throw new Error(`${spec.url} exports no function ${spec.name}`);
  return (await (factory as (...a: unknown[]) => Module | Promise<Module>)(
    ...(spec.args ?? []),
  )) as Module;
}

/** The loss every thread computes on its share: the softmax cross-entropy, a batch mean. */
export function shareLoss(model: Module, x: Tensor, y: Targets): Tensor {
  return crossEntropy(model.forward(x), y);
}

// ---- the step protocol -------------------------------------------------------------------------

// Note [step protocol]
// Shared memory of a trainer with T threads (thread 0 is the main one):
//   params        every parameter, in `ParameterLayout` order; the optimizer writes it in place
//   grads[t]      thread t's gradients of its share, same layout
//   combined      sum_t w_t grads[t] with w_t = n_t / N, which the optimizer reads as `p.grad`
//   weights       w_t, float64, written by the main thread before it hands out the shares
//   barrier       [arrived]: threads that have written their gradients this step
//   per worker    a control array (CTRL), results (RESULT), error text, input buffers
// A step: the main thread resets `arrived`, writes each worker's rows into its input buffers,
// bumps the worker's `seq` and computes its own share. Every thread writes its gradients,
// bumps `arrived`, waits for all T, then sums its own chunk of `combined` (a flat range of
// elements, so the sum runs on all threads at once) and reports `done`. The main thread then
// points every `p.grad` at `combined` and runs the optimizer. A thread whose share fails still
// arrives and sums (garbage, which nobody uses): the main thread sees its status and throws
// before the optimizer runs, so no step waits forever on a failed one. In `messages` mode the
// hand-over and the `done` report are messages and the main thread sums all of `combined`.

/** Slots of a worker's control array (Int32Array over a SharedArrayBuffer). */
export const CTRL = {
  /** Bumped by the main thread for every command. */
  seq: 0,
  /** Set by the worker to the `seq` it finished. */
  done: 1,
  /** The command: STEP or STOP. */
  cmd: 2,
  /** 1 when new input buffers wait on the port. */
  resize: 3,
  /** Rows of the worker's share (0: nothing to compute, but still arrive and sum). */
  rows: 4,
  /** Targets: 0 plain numbers, 1 a float32 tensor, 2 a float64 tensor. */
  yKind: 5,
  /** Target columns (0 for class indices). */
  yCols: 6,
  /** 0 ok, 1 failed (name and message in the text buffer). */
  status: 7,
  /** Bytes of the error text. */
  textLength: 8,
  /** Rank of x, then its dims from `dims` on. */
  xRank: 9,
  dims: 10,
  length: 20,
} as const;
export const CMD = { step: 1, stop: 2 } as const;
/**
 * Slots of a worker's results (Float64Array): the share's loss, the worker's milliseconds, and
 * when it woke and finished (`performance.timeOrigin + performance.now()`).
 */
export const RESULT = { loss: 0, ms: 1, wokeAt: 2, doneAt: 3, length: 4 } as const;
export const TEXT_BYTES = 4096;
const ARRIVED = 0;

/** What a worker gets in `workerData`. */
export interface WorkerInit {
  index: number;
  threads: number;
  model: ModelSpec;
  backend: 'wasm' | 'js';
  sync: SyncMode;
  spinMs: number;
  params: SharedArrayBuffer;
  layout: ParameterLayout;
  /** Every thread's gradient buffer, the main thread's first. */
  grads: SharedArrayBuffer[];
  combined: SharedArrayBuffer;
  weights: SharedArrayBuffer;
  barrier: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  result: SharedArrayBuffer;
  text: SharedArrayBuffer;
  port: MessagePort;
}

/** Input buffers of a worker: x in the input's dtype, targets as float64. */
export interface InputBuffers {
  dtype: DType;
  x: SharedArrayBuffer;
  y: SharedArrayBuffer;
}

/** Writes an error's name and message into the shared text buffer (truncated to fit). */
export function writeError(ctrl: Int32Array, text: Uint8Array, err: unknown): void {
  const e = err instanceof Error ? err : new Error(String(err));
  const bytes = new TextEncoder().encode(JSON.stringify([e.name, e.message]));
  const n = Math.min(bytes.length, text.length);
  text.set(bytes.subarray(0, n));
  Atomics.store(ctrl, CTRL.textLength, n);
  Atomics.store(ctrl, CTRL.status, 1);
}

function readError(ctrl: Int32Array, text: Uint8Array): [string, string] {
  const raw = new TextDecoder().decode(text.slice(0, Atomics.load(ctrl, CTRL.textLength)));
  try {
    const [name, message] = JSON.parse(raw) as [string, string];
    return [name, message];
  } catch {
    return ['Error', raw];
  }
}

/** Writes a model's gradients into a flat buffer of the layout (zeros for a missing one). */
export function writeGradients(
  params: readonly Parameter[],
  layout: ParameterLayout,
  out: FloatArray,
): void {
  layout.entries.forEach((e, i) => {
    const p = params[i]!;
    const g = p.grad;
    if (g === null) out.fill(0, e.offset, e.offset + p.size);
    else out.set(g.data, e.offset);
  });
}

/** The elements `[lo, hi)` that thread `t` of `threads` sums: even chunks, 16-aligned. */
export function chunk(t: number, threads: number, size: number): [number, number] {
  const at = (k: number): number =>
    k >= threads ? size : Math.min(size, 16 * Math.round((k * size) / threads / 16));
  return [at(t), at(t + 1)];
}

/**
 * `out[j] = sum_t weights[t] grads[t][j]` for `lo <= j < hi`, skipping zero weights (a thread
 * with no rows has stale gradients).
 */
export function combineRange(
  out: FloatArray,
  grads: readonly FloatArray[],
  weights: Float64Array,
  lo: number,
  hi: number,
): void {
  const used = grads.map((g, t) => [g, weights[t]!] as const).filter(([, w]) => w !== 0);
  if (used.length === 2) {
    // The common case, two threads: one pass, one rounding.
    const [[a, wa], [b, wb]] = used as [
      readonly [FloatArray, number],
      readonly [FloatArray, number],
    ];
    for (let j = lo; j < hi; j++) out[j] = wa * a[j]! + wb * b[j]!;
    return;
  }
  if (used.length === 0) {
    out.fill(0, lo, hi);
    return;
  }
  const [a, wa] = used[0]!;
  for (let j = lo; j < hi; j++) out[j] = wa * a[j]!;
  for (const [g, w] of used.slice(1)) for (let j = lo; j < hi; j++) out[j] += w * g[j]!;
}

// Atomics.waitAsync is in Node 20 (V8) but typed only from lib es2024; this project's is ES2022.
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
      timeout: number,
    ): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

// Note [synchronisation]
// Measured on this 2-core VM (Node 20). An idle round trip costs about 20 us with
// Atomics.wait/notify on both sides, 35-40 us with Atomics.waitAsync on the main thread, and
// 60-70 us with postMessage both ways. On whole PAPER steps at batch 32 the difference is small
// next to a 4 ms share: atomics 5,400-5,700 images/s against messages 4,900-5,400 (1 thread:
// 3,800-4,400) in the quiet stretches. Spinning before blocking (`spinMs`) was worse: 2 ms of
// spin gave 2,200 images/s in four runs of five, because a spinning thread takes the core V8's
// parallel scavenger and compiler tasks need, and the main thread's collections wait for them.
// So the default is `atomics` with no spin: a waiting thread blocks in Atomics.wait at once.
// The main thread blocks in slices of WAIT_SLICE_MS and past the first one waits
// asynchronously, racing the workers' `exit`, so a worker that dies rejects the step instead of
// hanging it.
const WAIT_SLICE_MS = 200;

/** Spins until `a[i] >= target` or `spinMs` pass; true if it got there. */
export function spinUntil(a: Int32Array, i: number, target: number, spinMs: number): boolean {
  if (Atomics.load(a, i) >= target) return true;
  if (spinMs <= 0) return false;
  const end = performance.now() + spinMs;
  for (;;) {
    for (let k = 0; k < 256; k++) if (Atomics.load(a, i) >= target) return true;
    if (performance.now() > end) return false;
  }
}

/** Blocks (in a worker) until `a[i] >= target`: spins, then Atomics.wait. */
export function blockUntil(a: Int32Array, i: number, target: number, spinMs: number): void {
  if (spinUntil(a, i, target, spinMs)) return;
  for (let v = Atomics.load(a, i); v < target; v = Atomics.load(a, i)) Atomics.wait(a, i, v);
}

/** The main thread's wait for `a[i] >= target`, rejecting with `dead` if a worker dies. */
async function awaitSlot(
  a: Int32Array,
  i: number,
  target: number,
  spinMs: number,
  dead: Promise<never>,
): Promise<void> {
  if (spinUntil(a, i, target, spinMs)) return;
  let v = Atomics.load(a, i);
  if (v >= target) return;
  if (Atomics.wait(a, i, v, WAIT_SLICE_MS) !== 'timed-out' && Atomics.load(a, i) >= target) return;
  for (v = Atomics.load(a, i); v < target; v = Atomics.load(a, i)) {
    const w = waitAsync(a, i, v, WAIT_SLICE_MS);
    if (w.async) await Promise.race([w.value, dead]);
  }
}

interface Remote {
  index: number;
  worker: Worker;
  ctrl: Int32Array;
  result: Float64Array;
  text: Uint8Array;
  port: MessagePort;
  inputs: { dtype: DType; x: FloatArray; y: Float64Array } | null;
  /** Rejects when the worker dies. */
  dead: Promise<never>;
  exited: boolean;
  /** Resolvers of `done` messages (`messages` mode), by seq. */
  pending: Map<number, () => void>;
}

/** Rows of each thread's share: even, with the remainder going to the workers. */
export function splitRows(n: number, threads: number): number[] {
  const base = Math.floor(n / threads);
  const extra = n % threads;
  // Thread 0 (the main thread) also runs the optimizer, so it gets no extra row.
  return Array.from({ length: threads }, (_, t) => base + (t >= threads - extra ? 1 : 0));
}

function floats(dtype: DType, length: number): { buffer: SharedArrayBuffer; data: FloatArray } {
  const buffer = new SharedArrayBuffer(Math.max(1, length) * BYTES[dtype]);
  return { buffer, data: view(dtype, buffer, 0, length) };
}

/**
 * Starts the workers and resolves once each has built its model over the shared parameters.
 * See the module comment and Note [step protocol]; `threads: 1` gives the same interface with
 * no worker.
 */
export async function createParallelTrainer(
  options: ParallelTrainerOptions,
): Promise<ParallelTrainer> {
  const threads = options.threads ?? 2;
  if (!Number.isInteger(threads) || threads < 1)
    throw new ValueError(
      'createParallelTrainer',
      'threads',
      'an integer >= 1',
      String(threads),
      `threads must be an integer >= 1, got ${threads}`,
    );
  const sync = options.sync ?? 'atomics';
  const spinMs = options.spinMs ?? DEFAULT_SPIN_MS;
  const backend = options.backend ?? 'wasm';
  const workerUrl = options.workerUrl ?? new URL('./parallel-worker.js', import.meta.url);
  if (threads > 1 && workerUrl.protocol === 'file:' && !existsSync(fileURLToPath(workerUrl)))
    throw new Error(
      `parallel: the worker script ${fileURLToPath(workerUrl)} does not exist; build the ` +
        `examples package first (pnpm run build)`,
    );

  const model = options.instance ?? (await buildModel(options.model));
  const { buffer, layout } = shareParameters(model);
  const optimizer =
    typeof options.optimizer === 'function' ? options.optimizer(model) : options.optimizer;
  const params = uniqueParameters(model).map(([, p]) => p);
  const foreign = optimizer.params.find(([, p]) => !params.includes(p));
  if (foreign !== undefined)
    throw new ValueError(
      'createParallelTrainer',
      'optimizer',
      "an optimizer over the model's parameters",
      foreign[0],
      `the optimizer's parameter ${foreign[0]} is not one of the model's`,
    );

  const grads = Array.from({ length: threads }, () => floats(layout.dtype, layout.size));
  const combined = floats(layout.dtype, layout.size);
  const weightsBuffer = new SharedArrayBuffer(8 * threads);
  const weights = new Float64Array(weightsBuffer);
  const barrierBuffer = new SharedArrayBuffer(4);
  const barrier = new Int32Array(barrierBuffer);
  // A `p.grad` for every parameter, viewing `combined`; set anew before each optimizer step.
  const gradViews = layout.entries.map(
    (e, i) => new Tensor(combined.data.subarray(e.offset, e.offset + params[i]!.size), e.shape),
  );

  const remotes: Remote[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(
      remotes.map(async (r) => {
        if (!r.exited) {
          const gone = new Promise<void>((res) => r.worker.once('exit', () => res()));
          Atomics.store(r.ctrl, CTRL.cmd, CMD.stop);
          const seq = Atomics.add(r.ctrl, CTRL.seq, 1) + 1;
          Atomics.notify(r.ctrl, CTRL.seq);
          if (sync === 'messages') r.port.postMessage({ type: 'step', seq });
          // A worker stuck in a share (or in a barrier a dead thread never reached) is ended.
          const timer = setTimeout(() => void r.worker.terminate(), 1000);
          await gone;
          clearTimeout(timer);
        }
        r.port.close();
      }),
    );
  };

  try {
    for (let index = 1; index < threads; index++) {
      const ctrl = new SharedArrayBuffer(4 * CTRL.length);
      const result = new SharedArrayBuffer(8 * RESULT.length);
      const text = new SharedArrayBuffer(TEXT_BYTES);
      const { port1, port2 } = new MessageChannel();
      const init: WorkerInit = {
        index,
        threads,
        model: options.model,
        backend,
        sync,
        spinMs,
        params: buffer,
        layout,
        grads: grads.map((g) => g.buffer),
        combined: combined.buffer,
        weights: weightsBuffer,
        barrier: barrierBuffer,
        ctrl,
        result,
        text,
        port: port2,
      };
      const worker = new Worker(workerUrl, { workerData: init, transferList: [port2] });
      let failure: Error | null = null;
      let exited = (_code: number): void => undefined;
      const dead = new Promise<never>((_, reject) => {
        exited = (code) =>
          reject(failure ?? new Error(`parallel worker ${index} exited (code ${code})`));
      });
      dead.catch(() => undefined);
      const r: Remote = {
        index,
        worker,
        ctrl: new Int32Array(ctrl),
        result: new Float64Array(result),
        text: new Uint8Array(text),
        port: port1,
        inputs: null,
        dead,
        exited: false,
        pending: new Map(),
      };
      worker.on('error', (err) => {
        failure = new ParallelWorkerError(index, err.name, err.message);
      });
      worker.once('exit', (code) => {
        r.exited = true;
        exited(code);
      });
      r.port.on('message', (m: { type: string; seq?: number }) => {
        if (m.type === 'done') r.pending.get(m.seq!)?.();
      });
      remotes.push(r);
    }
    // Each worker says `ready` (or `failed`) on its port once its model is built.
    await Promise.all(
      remotes.map(
        (r) =>
          new Promise<void>((resolve, reject) => {
            const onMessage = (m: { type: string; name?: string; message?: string }): void => {
              if (m.type === 'ready') resolve();
              else if (m.type === 'failed')
                reject(new ParallelWorkerError(r.index, m.name ?? 'Error', m.message ?? ''));
            };
            r.port.on('message', onMessage);
            r.dead.catch(reject);
          }),
      ),
    );
    // An idle port must not keep the process alive; the Worker objects do, until close().
    for (const r of remotes) r.port.unref();
  } catch (err) {
    await stop();
    throw err;
  }

  const profile: ParallelProfile = {
    steps: 0,
    scatter: 0,
    share: 0,
    wait: 0,
    combine: 0,
    update: 0,
    worker: 0,
    wake: 0,
    lag: 0,
  };
  let closed = false;
  let busy = false;
  const anyDead = Promise.race(remotes.map((r) => r.dead));
  anyDead.catch(() => undefined);

  /** Writes rows `[start, start + rows)` of the batch into worker `r`'s input buffers. */
  const scatter = (r: Remote, x: Tensor, y: Targets, start: number, rows: number): void => {
    const n = x.shape[0]!;
    const rowSize = x.size / n;
    const yTensor = Array.isArray(y) ? null : (y as Tensor);
    const yCols = yTensor !== null && yTensor.ndim === 2 ? yTensor.shape[1]! : 0;
    const yRow = Math.max(1, yCols);
    if (
      r.inputs === null ||
      r.inputs.dtype !== x.dtype ||
      r.inputs.x.length < rows * rowSize ||
      r.inputs.y.length < rows * yRow
    ) {
      // Room for twice this share, so a growing batch does not reallocate every step.
      const xs = floats(x.dtype, 2 * rows * rowSize);
      const ys = new SharedArrayBuffer(Math.max(1, 2 * rows * yRow) * 8);
      r.inputs = { dtype: x.dtype, x: xs.data, y: new Float64Array(ys) };
      const message: InputBuffers = { dtype: x.dtype, x: xs.buffer, y: ys };
      r.port.postMessage({ type: 'inputs', ...message });
      Atomics.store(r.ctrl, CTRL.resize, 1);
    }
    r.inputs.x.set(x.data.subarray(start * rowSize, (start + rows) * rowSize));
    const yv = r.inputs.y;
    if (yTensor === null) {
      const labels = y as readonly number[];
      for (let i = 0; i < rows; i++) yv[i] = labels[start + i]!;
    } else yv.set(yTensor.data.subarray(start * yRow, (start + rows) * yRow));
    Atomics.store(r.ctrl, CTRL.rows, rows);
    Atomics.store(r.ctrl, CTRL.yKind, yTensor === null ? 0 : yTensor.dtype === 'float32' ? 1 : 2);
    Atomics.store(r.ctrl, CTRL.yCols, yCols);
    Atomics.store(r.ctrl, CTRL.xRank, x.ndim);
    x.shape.forEach((d, i) => Atomics.store(r.ctrl, CTRL.dims + i, d));
    Atomics.store(r.ctrl, CTRL.status, 0);
    Atomics.store(r.ctrl, CTRL.cmd, CMD.step);
  };

  const checkBatch = (x: Tensor, y: Targets): number => {
    const n = x.shape[0] ?? 0;
    const maxRank = CTRL.length - CTRL.dims;
    if (x.ndim < 1 || n < 1 || x.ndim > maxRank)
      throw new ValueError(
        'ParallelTrainer.step',
        'x',
        `a batch [N, ...] with N >= 1 and rank <= ${maxRank}`,
        fmtShape(x.shape),
        `x must be a batch [N, ...] with N >= 1 and rank <= ${maxRank}, got ${fmtShape(x.shape)}`,
      );
    const yRows = Array.isArray(y) ? y.length : (y as Tensor).shape[0];
    if (yRows !== n)
      throw new ValueError(
        'ParallelTrainer.step',
        'y',
        `${n} targets`,
        String(yRows),
        `y has ${yRows} targets for a batch of ${n}`,
      );
    return n;
  };

  const sliceTargets = (y: Targets, rows: number): Targets => {
    if (Array.isArray(y)) return (y as readonly number[]).slice(0, rows);
    const t = y as Tensor;
    const row = t.size / t.shape[0]!;
    return new Tensor(t.data.slice(0, rows * row), [rows, ...t.shape.slice(1)]);
  };

  const step = async (x: Tensor, y: Targets): Promise<number> => {
    if (closed) throw new Error('parallel: step() after close()');
    if (busy) throw new Error('parallel: step() while another step is running; await each step');
    const gone = remotes.find((r) => r.exited);
    if (gone !== undefined) throw new Error(`parallel worker ${gone.index} is not running`);
    const n = checkBatch(x, y);
    busy = true;
    try {
      const rows = splitRows(n, threads);
      let t = performance.now();
      const tick = (): number => {
        const now = performance.now();
        const ms = now - t;
        t = now;
        return ms;
      };
      // Hand the workers their shares first, so they compute while this thread does its own.
      rows.forEach((k, i) => (weights[i] = k / n));
      Atomics.store(barrier, ARRIVED, 0);
      const seqs: number[] = [];
      let start = rows[0]!;
      remotes.forEach((r, i) => {
        const k = rows[i + 1]!;
        scatter(r, x, y, start, k);
        const seq = Atomics.add(r.ctrl, CTRL.seq, 1) + 1;
        Atomics.notify(r.ctrl, CTRL.seq);
        if (sync === 'messages') r.port.postMessage({ type: 'step', seq });
        seqs.push(seq);
        start += k;
      });
      const handed = performance.timeOrigin + performance.now();
      profile.scatter += tick();

      // The main thread's share. Its failure still goes through the barrier and waits for the
      // workers, so that the next step never overlaps them.
      let ownLoss = 0;
      let ownError: unknown = null;
      const own = rows[0]!;
      for (const p of params) p.grad = null;
      if (own > 0) {
        try {
          const xs =
            own === n
              ? x
              : new Tensor(x.data.subarray(0, (own * x.size) / n), [own, ...x.shape.slice(1)]);
          const loss = shareLoss(model, xs, own === n ? y : sliceTargets(y, own));
          loss.backward();
          ownLoss = loss.item();
          writeGradients(params, layout, grads[0]!.data);
        } catch (err) {
          ownError = err;
        }
      }
      profile.share += tick();
      const shareEnd = performance.timeOrigin + performance.now();
      const data = grads.map((g) => g.data);
      let waited = 0;
      try {
        if (sync === 'atomics') {
          Atomics.add(barrier, ARRIVED, 1);
          Atomics.notify(barrier, ARRIVED);
          await awaitSlot(barrier, ARRIVED, threads, spinMs, anyDead);
          waited += tick();
          const [lo, hi] = chunk(0, threads, layout.size);
          combineRange(combined.data, data, weights, lo, hi);
          profile.combine += tick();
          for (const [i, r] of remotes.entries())
            await awaitSlot(r.ctrl, CTRL.done, seqs[i]!, spinMs, r.dead);
        } else {
          await Promise.all(
            remotes.map((r, i) =>
              Atomics.load(r.ctrl, CTRL.done) >= seqs[i]!
                ? undefined
                : Promise.race([
                    new Promise<void>((res) => r.pending.set(seqs[i]!, res)),
                    r.dead,
                  ]).finally(() => r.pending.delete(seqs[i]!)),
            ),
          );
          waited += tick();
          combineRange(combined.data, data, weights, 0, layout.size);
          profile.combine += tick();
        }
      } finally {
        // A dead worker: the error propagates; the time still counts as waiting.
        waited += tick();
        profile.wait += waited;
      }
      const noticed = performance.timeOrigin + performance.now();
      if (ownError !== null) throw ownError;
      let loss = (own * ownLoss) / n;
      for (const [i, r] of remotes.entries()) {
        if (Atomics.load(r.ctrl, CTRL.status) !== 0) {
          const [name, message] = readError(r.ctrl, r.text);
          throw new ParallelWorkerError(r.index, name, message);
        }
        loss += (rows[i + 1]! * r.result[RESULT.loss]!) / n;
        profile.worker += r.result[RESULT.ms]!;
        profile.wake += r.result[RESULT.wokeAt]! - handed;
      }
      const lastDone = Math.max(shareEnd, ...remotes.map((r) => r.result[RESULT.doneAt]!));
      if (sync === 'messages') profile.lag += noticed - lastDone;

      params.forEach((p, i) => (p.grad = gradViews[i]!));
      optimizer.step();
      profile.update += tick();
      profile.steps++;
      return loss;
    } finally {
      busy = false;
    }
  };

  return {
    model,
    optimizer,
    threads,
    sync,
    get liveWorkers() {
      return remotes.filter((r) => !r.exited).length;
    },
    step,
    profile(reset = false) {
      const out = { ...profile };
      if (reset) for (const k of Object.keys(profile) as (keyof ParallelProfile)[]) profile[k] = 0;
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await stop();
    },
  };
}
