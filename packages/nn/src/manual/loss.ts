/**
 * The softmax output and the cross-entropy loss of PAPER.md: forward equations 5 (last layer)
 * and 6, and backward equation 1.
 */
import { ShapeError, ValueError, fmtShape } from '@tapegrad/autograd';

import { type ManualArray, checkArray, checkShape, zerosLike } from './array.js';

/**
 * Targets for the loss: one class index per image (length `N`), or an `[N, K]` array of
 * probability rows (non-negative, each summing to 1), e.g. one-hot or label-smoothed.
 */
export type ManualTargets = ArrayLike<number> | ManualArray;

/** Targets after validation: either integer class indices or checked probability rows. */
type CheckedTargets = { indices: Int32Array } | { rows: ManualArray };

/**
 * Forward equation 5, last layer: `yhat[n,i] = exp(z[n,i]) / sum_j exp(z[n,j])`. Each row is
 * shifted by its maximum first, which leaves the result unchanged and keeps `exp` from
 * overflowing.
 *
 * @param logits `z^L`, `[N, K]`
 * @returns `yhat`, `[N, K]`, rows summing to 1
 */
export function softmaxRows(logits: ManualArray): ManualArray {
  checkArray('softmaxRows', 'logits', logits, 2);
  const [batch, classes] = logits.shape as [number, number];

  const out = zerosLike(logits.data, logits.shape);
  const z = logits.data;
  for (let nb = 0; nb < batch; nb++) {
    const row = nb * classes;
    const top = rowMax(z, row, classes);
    let sum = 0;
    for (let i = 0; i < classes; i++) sum += Math.exp(z[row + i]! - top);
    for (let i = 0; i < classes; i++) out.data[row + i] = Math.exp(z[row + i]! - top) / sum;
  }
  return out;
}

/**
 * Forward equation 6: `E = -(1/N) sum_{n,i} y[n,i] log yhat[n,i]`, computed from the logits as
 * `(1/N) sum_n (logsumexp(z[n,:]) - sum_i y[n,i] z[n,i])` (for index targets,
 * `logsumexp(z[n,:]) - z[n, target_n]`). Equal to the definition because each target row sums to
 * 1, and finite for any finite logits: no `log` of a softmax that may have underflowed to 0.
 *
 * @param logits `z^L`, `[N, K]`
 * @param targets `N` class indices, or `[N, K]` probability rows
 * @returns the mean loss `E`
 */
export function crossEntropyLoss(logits: ManualArray, targets: ManualTargets): number {
  const op = 'crossEntropyLoss';
  checkArray(op, 'logits', logits, 2);
  const [batch, classes] = logits.shape as [number, number];
  const checked = checkTargets(op, targets, batch, classes);

  const z = logits.data;
  let total = 0;
  for (let nb = 0; nb < batch; nb++) {
    const row = nb * classes;
    const top = rowMax(z, row, classes);
    let sum = 0;
    for (let i = 0; i < classes; i++) sum += Math.exp(z[row + i]! - top);
    const logSumExp = top + Math.log(sum);
    if ('indices' in checked) {
      total += logSumExp - z[row + checked.indices[nb]!]!;
    } else {
      let picked = 0;
      for (let i = 0; i < classes; i++) picked += checked.rows.data[row + i]! * z[row + i]!;
      total += logSumExp - picked;
    }
  }
  return total / batch;
}

/**
 * Backward equation 1: softmax and cross-entropy together give `delta^L = dE/dz^L =
 * (yhat - y) / N`, with `y` one-hot for index targets.
 *
 * @param probs `yhat`, `[N, K]`, from `softmaxRows`
 * @param targets `N` class indices, or `[N, K]` probability rows
 * @returns `delta^L`, `[N, K]`
 */
export function softmaxCrossEntropyDelta(probs: ManualArray, targets: ManualTargets): ManualArray {
  const op = 'softmaxCrossEntropyDelta';
  checkArray(op, 'probs', probs, 2);
  const [batch, classes] = probs.shape as [number, number];
  const checked = checkTargets(op, targets, batch, classes);

  const out = zerosLike(probs.data, probs.shape);
  for (let nb = 0; nb < batch; nb++) {
    const row = nb * classes;
    for (let i = 0; i < classes; i++) {
      const y =
        'indices' in checked ? (checked.indices[nb] === i ? 1 : 0) : checked.rows.data[row + i]!;
      out.data[row + i] = (probs.data[row + i]! - y) / batch;
    }
  }
  return out;
}

/**
 * Validates `targets` for a batch of `batch` rows over `classes` classes: indices must be `batch`
 * integers in `[0, K)`; rows must be `[N, K]`, finite, non-negative and sum to 1 (to 1e-6 in
 * float64, 1e-4 in float32).
 */
export function checkTargets(
  op: string,
  targets: ManualTargets,
  batch: number,
  classes: number,
): CheckedTargets {
  if (isManualArray(targets)) {
    checkShape(op, 'targets', targets, [batch, classes]);
    const tolerance = targets.data instanceof Float64Array ? 1e-6 : 1e-4;
    for (let nb = 0; nb < batch; nb++) {
      let sum = 0;
      for (let i = 0; i < classes; i++) {
        const y = targets.data[nb * classes + i]!;
        if (!(Number.isFinite(y) && y >= 0)) {
          throw new ValueError(
            op,
            'targets',
            'finite probabilities >= 0',
            String(y),
            `targets[${nb},${i}] = ${y} is not a probability`,
          );
        }
        sum += y;
      }
      if (Math.abs(sum - 1) > tolerance) {
        throw new ValueError(
          op,
          'targets',
          'rows summing to 1',
          String(sum),
          `targets row ${nb} sums to ${sum}, expected 1`,
        );
      }
    }
    return { rows: targets };
  }

  if (targets === null || typeof targets !== 'object' || typeof targets.length !== 'number') {
    throw new ValueError(
      op,
      'targets',
      'class indices or [N,K] probability rows',
      String(targets),
      `targets must be class indices or an [N,K] ManualArray, got ${String(targets)}`,
    );
  }
  if (targets.length !== batch) {
    throw new ShapeError(
      op,
      'targets',
      fmtShape([batch]),
      fmtShape([targets.length]),
      `targets has ${targets.length} class indices for a batch of ${batch}`,
    );
  }
  const indices = new Int32Array(batch);
  for (let nb = 0; nb < batch; nb++) {
    const t = targets[nb]!;
    if (!(Number.isInteger(t) && t >= 0 && t < classes)) {
      throw new ValueError(
        op,
        'targets',
        `integer class indices in [0, ${classes})`,
        String(t),
        `targets[${nb}] = ${t} is not a class index in [0, ${classes})`,
      );
    }
    indices[nb] = t;
  }
  return { indices };
}

function isManualArray(targets: ManualTargets): targets is ManualArray {
  return typeof targets === 'object' && targets !== null && 'shape' in targets && 'data' in targets;
}

function rowMax(z: ArrayLike<number>, start: number, length: number): number {
  let top = -Infinity;
  for (let i = 0; i < length; i++) if (z[start + i]! > top) top = z[start + i]!;
  return top;
}
