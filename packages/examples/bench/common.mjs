// Shared by the runner and the Node workers: the two networks, the work folder's files (digits,
// batch order, initial weights), the timing loop and the result file a worker writes.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const PIXELS = 28 * 28;
export const CLASSES = 10;
export const LR = 0.1;

/**
 * The two networks, layer by layer; every system builds its own from this list. Parameters are
 * stored in PyTorch's layout (conv `[C_out, C_in, kH, kW]`, dense `[out, in]`, flatten in
 * `C, H, W` order) and each system converts them to its own.
 */
export const MODELS = {
  paper: [
    { kind: 'conv', name: 'conv1', cin: 1, cout: 8, k: 5, pad: 0, size: 28 },
    { kind: 'relu' },
    { kind: 'pool', size: 24 },
    { kind: 'flatten', c: 8, h: 12, w: 12 },
    { kind: 'dense', name: 'fc1', in: 1152, out: 128 },
    { kind: 'sigmoid' },
    { kind: 'dense', name: 'fc2', in: 128, out: 10 },
  ],
  lenet: [
    { kind: 'conv', name: 'conv1', cin: 1, cout: 16, k: 5, pad: 2, size: 28 },
    { kind: 'relu' },
    { kind: 'pool', size: 28 },
    { kind: 'conv', name: 'conv2', cin: 16, cout: 32, k: 5, pad: 2, size: 14 },
    { kind: 'relu' },
    { kind: 'pool', size: 14 },
    { kind: 'flatten', c: 32, h: 7, w: 7 },
    { kind: 'dense', name: 'fc1', in: 1568, out: 128 },
    { kind: 'relu' },
    { kind: 'dense', name: 'fc2', in: 128, out: 10 },
  ],
};

/** `[name, shape]` of every parameter of a model, in the order of the init file. */
export function paramShapes(model) {
  const out = [];
  for (const l of MODELS[model]) {
    if (l.kind === 'conv') {
      out.push([`${l.name}.weight`, [l.cout, l.cin, l.k, l.k]]);
      out.push([`${l.name}.bias`, [l.cout]]);
    } else if (l.kind === 'dense') {
      out.push([`${l.name}.weight`, [l.out, l.in]]);
      out.push([`${l.name}.bias`, [l.out]]);
    }
  }
  return out;
}

// The conv2d benchmark: batch 64, 16 -> 32 channels, 3x3, pad 1, 28x28. The forward pass is
// 2 N C_out H_out W_out C_in kH kW multiply-adds counted as two flops; the backward pass holds two
// products of the same size (input and filter gradients).
export const CONV = { n: 64, cin: 16, cout: 32, k: 3, pad: 1, size: 28 };
export const CONV_FLOPS = 3 * 2 * CONV.n * CONV.cout * CONV.size * CONV.size * CONV.cin * 9;

const f32 = (path) => {
  const b = readFileSync(path);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const i32 = (path) => {
  const b = readFileSync(path);
  return new Int32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};

/** Reads the work folder the runner wrote. */
export function readPlan(work) {
  const plan = JSON.parse(readFileSync(join(work, 'plan.json'), 'utf8'));
  return {
    ...plan,
    trainImages: f32(join(work, 'train-images.f32')),
    trainLabels: i32(join(work, 'train-labels.i32')),
    testImages: f32(join(work, 'test-images.f32')),
    testLabels: i32(join(work, 'test-labels.i32')),
    order: i32(join(work, 'order.i32')),
    /** `{ name: Float32Array }` of a model's initial parameters. */
    init(model) {
      const all = f32(join(work, `init-${model}.f32`));
      const out = {};
      let offset = 0;
      for (const [name, shape] of paramShapes(model)) {
        const n = shape.reduce((a, b) => a * b, 1);
        out[name] = all.slice(offset, offset + n);
        offset += n;
      }
      return out;
    },
  };
}

/**
 * The training batches of a run: step `i` takes positions `i B .. i B + B - 1` of the seeded
 * order, wrapping around, so every system sees the same digits in the same order.
 */
export function trainIndices(plan, batch, step) {
  const n = plan.order.length;
  return Array.from({ length: batch }, (_, j) => plan.order[(step * batch + j) % n]);
}

/** Inference batches walk the test digits in their stored order, wrapping around. */
export function testIndices(plan, batch, step) {
  const n = plan.testLabels.length;
  return Array.from({ length: batch }, (_, j) => (step * batch + j) % n);
}

/** Copies the images at `indices` into one `[B, 784]` array. */
export function gather(images, indices) {
  const out = new Float32Array(indices.length * PIXELS);
  indices.forEach((j, k) => out.set(images.subarray(j * PIXELS, (j + 1) * PIXELS), k * PIXELS));
  return out;
}

/**
 * Runs `step` for a warm-up (at least `warmSteps` calls and `warm` seconds, so the engine tiers
 * the code up and memory pools reach their size), then times it for at least `minSteps` calls and
 * `seconds` seconds. Returns the number of timed calls and their seconds.
 */
export function timeSteps(step, timing) {
  let i = 0;
  const w0 = performance.now();
  while (i < timing.warmSteps || performance.now() - w0 < timing.warm * 1000) step(i++);
  const t0 = performance.now();
  let n = 0;
  while (n < timing.minSteps || performance.now() - t0 < timing.seconds * 1000) {
    step(i++);
    n++;
  }
  return { steps: n, seconds: (performance.now() - t0) / 1000 };
}

/** `timeSteps` for a step that returns a promise (tapegrad-2t), awaiting every call. */
export async function timeStepsAsync(step, timing) {
  let i = 0;
  const w0 = performance.now();
  while (i < timing.warmSteps || performance.now() - w0 < timing.warm * 1000) await step(i++);
  const t0 = performance.now();
  let n = 0;
  while (n < timing.minSteps || performance.now() - t0 < timing.seconds * 1000) {
    await step(i++);
    n++;
  }
  return { steps: n, seconds: (performance.now() - t0) / 1000 };
}

/** Peak resident set size of this process, in MB. */
export function peakRssMb() {
  return process.resourceUsage().maxRSS / 1024;
}

/** Index of the largest of `k` values at `row * k` in `logits`. */
export function argmaxRow(logits, row, k = CLASSES) {
  let best = 0;
  for (let j = 1; j < k; j++) if (logits[row * k + j] > logits[row * k + best]) best = j;
  return best;
}

export function writeResult(path, result) {
  writeFileSync(path, JSON.stringify({ ...result, peakRssMb: peakRssMb() }));
}
