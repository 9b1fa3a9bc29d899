/**
 * Manual vs automatic gradients, number by number: runs the paper's hand-derived backward run and
 * autograd on the same batch and reports, per parameter, how far apart they are (and, on request,
 * how far each is from central finite differences).
 */
import { type FloatArray, type Tensor, ValueError, noGrad } from '@tapegrad/autograd';
import { crossEntropy, type Targets } from './functional.js';
import {
  type ManualParams,
  type ManualTargets,
  manualBackward,
  manualForward,
  manualLoss,
} from './manual/index.js';
import type { PaperCNN } from './paper.js';

/** How two gradients of one parameter differ. */
export interface Difference {
  /** `max_i |a_i - b_i|`. */
  maxAbs: number;
  /**
   * `max_i |a_i - b_i| / max(|a_i|, |b_i|)`, over entries where either magnitude exceeds `1e-12`
   * of the parameter's largest gradient entry (smaller ones are round-off around zero).
   */
  maxRel: number;
  /** `maxAbs / max_i |b_i|`: the difference relative to the gradient's scale. */
  scaledMax: number;
  /** The flat index where `|a_i - b_i|` is largest, and its multi-index. */
  worstIndex: number;
  worstPosition: number[];
  /** The two values at the worst index. */
  worst: [number, number];
}

/** One parameter's row of `compareGradients`. */
export interface ParameterComparison {
  name: string;
  shape: readonly number[];
  /** Manual (a) vs autograd (b). */
  manualVsAutograd: Difference;
  /** Over the sampled entries only: autograd (a) vs finite differences (b). */
  autogradVsFiniteDifferences?: Difference;
  /** Over the sampled entries only: manual (a) vs finite differences (b). */
  manualVsFiniteDifferences?: Difference;
  /** The flat indices checked by finite differences. */
  sampled?: number[];
}

/** What `compareGradients` returns. */
export interface GradientComparison {
  /** The loss `E` from each run. */
  loss: { manual: number; autograd: number };
  /** One row per parameter, in `namedParameters` order. */
  parameters: ParameterComparison[];
  /** The largest `maxRel` and `scaledMax` of manual vs autograd over all parameters. */
  worst: { maxRel: number; scaledMax: number };
}

/** Options of `compareGradients`. */
export interface CompareOptions {
  /**
   * Also compare against central finite differences of the loss: `true` for every entry of
   * small parameters and up to 16 sampled entries of large ones, or explicit settings.
   */
  finiteDifferences?: boolean | { eps?: number; samplesPerParameter?: number; seed?: number };
}

function toManualTargets(targets: Targets): ManualTargets {
  if (Array.isArray(targets)) return targets as readonly number[];
  const t = targets as Tensor;
  return t.ndim === 2 ? { data: t.data, shape: t.shape } : Array.from(t.data);
}

/** Compares two gradients of one shape. */
export function difference(
  a: FloatArray,
  b: FloatArray,
  shape: readonly number[],
  indices?: readonly number[],
): Difference {
  const at = indices ?? Array.from({ length: a.length }, (_, i) => i);
  let scale = 0;
  for (const i of at) scale = Math.max(scale, Math.abs(b[i]!), Math.abs(a[i]!));
  let maxAbs = 0;
  let maxRel = 0;
  let worstIndex = at[0] ?? 0;
  for (const i of at) {
    const d = Math.abs(a[i]! - b[i]!);
    if (d > maxAbs || Number.isNaN(d)) {
      maxAbs = d;
      worstIndex = i;
    }
    const mag = Math.max(Math.abs(a[i]!), Math.abs(b[i]!));
    if (mag > 1e-12 * scale && mag > 0) maxRel = Math.max(maxRel, d / mag);
  }
  const position: number[] = [];
  let rest = worstIndex;
  for (let ax = shape.length - 1; ax >= 0; ax--) {
    position.unshift(rest % shape[ax]!);
    rest = Math.floor(rest / shape[ax]!);
  }
  return {
    maxAbs,
    maxRel,
    scaledMax: scale > 0 ? maxAbs / scale : maxAbs,
    worstIndex,
    worstPosition: position,
    worst: [a[worstIndex] ?? 0, b[worstIndex] ?? 0],
  };
}

/**
 * Runs one batch through the manual backward run and through autograd and compares the loss and
 * every parameter's gradient. The model's parameters and gradients are left as they were.
 *
 * @example
 * const model = new PaperCNN({ inputSize: 12, kernelSize: 3, hidden: [16], dtype: 'float64' });
 * const x = randn([4, 1, 12, 12], { dtype: 'float64' });
 * compareGradients(model, x, [0, 1, 2, 3]).worst.maxRel; // about 1e-12
 */
export function compareGradients(
  model: PaperCNN,
  x: Tensor,
  targets: Targets,
  options: CompareOptions = {},
): GradientComparison {
  const named = model.namedParameters();
  const params: ManualParams = Object.fromEntries(
    named.map(([n, p]) => [n, { data: p.data, shape: p.shape }]),
  );
  const mt = toManualTargets(targets);
  const input = { data: x.data, shape: x.shape };
  const fwd = manualForward(model.config, params, input);
  const manual = manualBackward(model.config, params, fwd, mt);

  const saved = named.map(([, p]) => p.grad);
  for (const [, p] of named) p.grad = null;
  const loss = crossEntropy(model.forward(x.detach()), targets);
  loss.backward();
  const auto = named.map(([, p]) => p.grad);
  named.forEach(([, p], i) => (p.grad = saved[i]!));

  const fd = options.finiteDifferences;
  const fdOptions = fd === true ? {} : fd || null;
  const rows = named.map(([name, p], i) => {
    const a = manual.grads[name]!.data;
    const g = auto[i]?.data ?? new (p.data.constructor as new (n: number) => FloatArray)(p.size);
    const row: ParameterComparison = {
      name,
      shape: p.shape,
      manualVsAutograd: difference(a, g, p.shape),
    };
    if (fdOptions) {
      const indices = sampleIndices(
        p.size,
        fdOptions.samplesPerParameter ?? 16,
        (fdOptions.seed ?? 0) + i,
      );
      const numeric = finiteDifferences(model, params, input, mt, p, indices, fdOptions.eps);
      row.sampled = indices;
      row.autogradVsFiniteDifferences = difference(g, numeric, p.shape, indices);
      row.manualVsFiniteDifferences = difference(a, numeric, p.shape, indices);
    }
    return row;
  });
  return {
    loss: { manual: manual.loss, autograd: loss.item() },
    parameters: rows,
    worst: {
      maxRel: Math.max(0, ...rows.map((r) => r.manualVsAutograd.maxRel)),
      scaledMax: Math.max(0, ...rows.map((r) => r.manualVsAutograd.scaledMax)),
    },
  };
}

function sampleIndices(size: number, count: number, seed: number): number[] {
  if (!Number.isInteger(count) || count < 1) {
    throw new ValueError(
      'compareGradients',
      'samplesPerParameter',
      'a positive integer',
      String(count),
      `samplesPerParameter must be a positive integer, got ${count}`,
    );
  }
  if (size <= count) return Array.from({ length: size }, (_, i) => i);
  // A small LCG keeps the sample reproducible without touching any shared generator.
  let s = (seed * 2654435761 + 1) >>> 0;
  const picked = new Set<number>();
  while (picked.size < count) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    picked.add(s % size);
  }
  return [...picked].sort((p, q) => p - q);
}

/** Central differences of the manual loss, perturbing the parameter's data in place and back. */
function finiteDifferences(
  model: PaperCNN,
  params: ManualParams,
  input: { data: FloatArray; shape: readonly number[] },
  targets: ManualTargets,
  p: Tensor,
  indices: readonly number[],
  eps?: number,
): FloatArray {
  const h = eps ?? (p.dtype === 'float64' ? 1e-6 : 1e-2);
  const out = new Float64Array(p.size);
  const lossAt = (): number =>
    noGrad(() => manualLoss(manualForward(model.config, params, input), targets));
  for (const i of indices) {
    const v = p.data[i]!;
    p.data[i] = v + h;
    const up = lossAt();
    p.data[i] = v - h;
    const down = lossAt();
    p.data[i] = v;
    out[i] = (up - down) / (2 * h);
  }
  return out;
}
