/**
 * The worker thread of `parallel.ts` (Note [step protocol] there): builds the model from its
 * spec over the shared parameters, then for every step computes the loss and gradients of its
 * share of the batch with a plain `loss.backward()`, writes the gradients into its shared
 * buffer and sums its chunk of the combined gradient. Never started by hand:
 * `createParallelTrainer` spawns it with its `workerData`.
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import {
  type FloatArray,
  Tensor,
  createWasmBackendSync,
  jsBackend,
  setBackend,
} from '@tapegrad/autograd';
import type { Module, Parameter, Targets } from '@tapegrad/nn';
import {
  CMD,
  CTRL,
  type InputBuffers,
  RESULT,
  type WorkerInit,
  attachParameters,
  blockUntil,
  buildModel,
  chunk,
  combineRange,
  shareLoss,
  writeError,
  writeGradients,
} from './parallel.js';

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
const result = new Float64Array(init.result);
const text = new Uint8Array(init.text);
const barrier = new Int32Array(init.barrier);
const weights = new Float64Array(init.weights);
const port = init.port;
const floats = (b: SharedArrayBuffer): FloatArray =>
  init.layout.dtype === 'float32' ? new Float32Array(b) : new Float64Array(b);
const grads = init.grads.map(floats);
const combined = floats(init.combined);
const [lo, hi] = chunk(init.index, init.threads, init.layout.size);

let inputs: { x: FloatArray; y: Float64Array } | null = null;

function takeInputs(m: InputBuffers): void {
  inputs = {
    x: m.dtype === 'float32' ? new Float32Array(m.x) : new Float64Array(m.x),
    y: new Float64Array(m.y),
  };
}

/** One share: reads the inputs, runs forward and backward, writes gradients and loss. */
function runShare(model: Module, params: Parameter[]): void {
  const t0 = performance.now();
  result[RESULT.wokeAt] = performance.timeOrigin + t0;
  try {
    const rows = Atomics.load(ctrl, CTRL.rows);
    if (rows > 0) {
      if (inputs === null) throw new Error('no input buffers');
      const rank = Atomics.load(ctrl, CTRL.xRank);
      const shape = [rows];
      for (let i = 1; i < rank; i++) shape.push(Atomics.load(ctrl, CTRL.dims + i));
      const rowSize = shape.slice(1).reduce((a, b) => a * b, 1);
      // A view of the shared input: tensors are immutable, and the main thread writes the
      // next share only after this one is done.
      const x = new Tensor(inputs.x.subarray(0, rows * rowSize), shape);
      const kind = Atomics.load(ctrl, CTRL.yKind);
      const cols = Atomics.load(ctrl, CTRL.yCols);
      const yv = inputs.y.subarray(0, rows * Math.max(1, cols));
      const y: Targets =
        kind === 0
          ? Array.from(yv)
          : new Tensor(
              kind === 1 ? Float32Array.from(yv) : Float64Array.from(yv),
              cols === 0 ? [rows] : [rows, cols],
            );
      for (const p of params) p.grad = null;
      const loss = shareLoss(model, x, y);
      loss.backward();
      writeGradients(params, init.layout, grads[init.index]!);
      result[RESULT.loss] = loss.item();
    }
    Atomics.store(ctrl, CTRL.status, 0);
  } catch (err) {
    writeError(ctrl, text, err);
  }
  const t1 = performance.now();
  result[RESULT.ms] = t1 - t0;
  result[RESULT.doneAt] = performance.timeOrigin + t1;
}

async function main(): Promise<void> {
  setBackend(init.backend === 'js' ? jsBackend : createWasmBackendSync());
  let model: Module;
  let params: Parameter[];
  try {
    model = await buildModel(init.model);
    params = attachParameters(model, init.params, init.layout);
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    port.postMessage({ type: 'failed', name: e.name, message: e.message });
    port.close();
    return;
  }

  if (init.sync === 'messages') {
    port.on('message', (m: { type: string; seq?: number } & Partial<InputBuffers>) => {
      if (m.type === 'inputs') takeInputs(m as InputBuffers);
      else if (m.type === 'step') {
        if (Atomics.load(ctrl, CTRL.cmd) === CMD.stop) {
          port.close();
          return;
        }
        Atomics.store(ctrl, CTRL.resize, 0);
        runShare(model, params);
        Atomics.store(ctrl, CTRL.done, m.seq!);
        port.postMessage({ type: 'done', seq: m.seq });
      }
    });
    port.postMessage({ type: 'ready' });
    return;
  }

  // Atomics: this loop never returns to the event loop; new input buffers are read from the
  // port synchronously.
  port.postMessage({ type: 'ready' });
  for (let seen = 0; ; ) {
    blockUntil(ctrl, CTRL.seq, seen + 1, init.spinMs);
    seen = Atomics.load(ctrl, CTRL.seq);
    if (Atomics.load(ctrl, CTRL.cmd) === CMD.stop) break;
    if (Atomics.load(ctrl, CTRL.resize) === 1) {
      // The main thread posts the buffers before it bumps `seq`, so they are queued here.
      for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
        const msg = m.message as { type: string } & InputBuffers;
        if (msg.type === 'inputs') takeInputs(msg);
      }
      Atomics.store(ctrl, CTRL.resize, 0);
    }
    runShare(model, params);
    Atomics.add(barrier, 0, 1);
    Atomics.notify(barrier, 0);
    blockUntil(barrier, 0, init.threads, init.spinMs);
    combineRange(combined, grads, weights, lo, hi);
    Atomics.store(ctrl, CTRL.done, seen);
    Atomics.notify(ctrl, CTRL.done);
  }
  port.close();
}

void main();
