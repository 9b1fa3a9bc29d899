/**
 * The flatten and the dense layers of PAPER.md: forward equations 4 and 5 and backward
 * equations 2 and 3. Layer weights are `[d_l, d_{l-1}]` (out by in), so `z = a W^T + b`.
 */
import { ShapeError, fmtShape } from '@tapegrad/autograd';

import {
  type ManualArray,
  checkArray,
  checkSameType,
  checkShape,
  sizeOf,
  zerosLike,
} from './array.js';

/**
 * Forward equation 4: `f[n,:] = vec(P[n])`, the maps one after another and the rows of each map
 * in order. Row-major storage makes this a copy under a new shape.
 *
 * @param maps `P`, `[N, F, Hp, Wp]`
 * @returns `f`, `[N, F*Hp*Wp]`
 */
export function flattenMaps(maps: ManualArray): ManualArray {
  checkArray('flattenMaps', 'maps', maps, 4);
  const [batch, ...rest] = maps.shape as [number, number, number, number];

  const out = zerosLike(maps.data, [batch, sizeOf(rest)]);
  out.data.set(maps.data);
  return out;
}

/**
 * Backward equation 3, second half: `dE/df` reshaped to the shape of `P`, the inverse of
 * `flattenMaps`.
 *
 * @param gradFlat `dE/df`, `[N, D]`
 * @param mapsShape the shape of `P`, `[N, F, Hp, Wp]` with `F*Hp*Wp = D`
 * @returns `dE/dP`, `[N, F, Hp, Wp]`
 */
export function unflattenMaps(gradFlat: ManualArray, mapsShape: readonly number[]): ManualArray {
  const op = 'unflattenMaps';
  checkArray(op, 'gradFlat', gradFlat, 2);
  const ok =
    Array.isArray(mapsShape) &&
    mapsShape.length === 4 &&
    mapsShape.every((d) => Number.isInteger(d) && d >= 0) &&
    mapsShape[0] === gradFlat.shape[0] &&
    sizeOf(mapsShape) === gradFlat.data.length;
  if (!ok) {
    throw new ShapeError(
      op,
      'mapsShape',
      `[N,F,Hp,Wp] with N*F*Hp*Wp = ${gradFlat.data.length}`,
      String(mapsShape),
      `mapsShape ${String(mapsShape)} does not fit gradFlat ${fmtShape(gradFlat.shape)}`,
    );
  }

  const out = zerosLike(gradFlat.data, mapsShape);
  out.data.set(gradFlat.data);
  return out;
}

/**
 * Forward equation 5, the affine part: `z^l = a^{l-1} (W^l)^T + b^l`.
 *
 * @param input `a^{l-1}`, `[N, d_{l-1}]`
 * @param weight `W^l`, `[d_l, d_{l-1}]`
 * @param bias `b^l`, `[d_l]`
 * @returns `z^l`, `[N, d_l]`
 */
export function denseForward(
  input: ManualArray,
  weight: ManualArray,
  bias: ManualArray,
): ManualArray {
  const op = 'denseForward';
  checkArray(op, 'input', input, 2);
  checkArray(op, 'weight', weight, 2);
  const [batch, inWidth] = input.shape as [number, number];
  const outWidth = weight.shape[0]!;
  checkShape(op, 'weight', weight, [outWidth, inWidth]);
  checkShape(op, 'bias', bias, [outWidth]);
  checkSameType(op, 'weight', weight, 'input', input);
  checkSameType(op, 'bias', bias, 'input', input);

  const out = zerosLike(input.data, [batch, outWidth]);
  const a = input.data;
  const wd = weight.data;
  for (let nb = 0; nb < batch; nb++) {
    for (let o = 0; o < outWidth; o++) {
      let sum = bias.data[o]!;
      for (let k = 0; k < inWidth; k++) sum += a[nb * inWidth + k]! * wd[o * inWidth + k]!;
      out.data[nb * outWidth + o] = sum;
    }
  }
  return out;
}

/**
 * Backward equation 2, weights: `dE/dW^l = (delta^l)^T a^{l-1}`.
 *
 * @param delta `delta^l = dE/dz^l`, `[N, d_l]`
 * @param input `a^{l-1}`, `[N, d_{l-1}]`
 * @returns `dE/dW^l`, `[d_l, d_{l-1}]`
 */
export function denseWeightGradient(delta: ManualArray, input: ManualArray): ManualArray {
  const op = 'denseWeightGradient';
  checkArray(op, 'delta', delta, 2);
  checkArray(op, 'input', input, 2);
  const [batch, outWidth] = delta.shape as [number, number];
  const inWidth = input.shape[1]!;
  checkShape(op, 'input', input, [batch, inWidth]);
  checkSameType(op, 'input', input, 'delta', delta);

  const out = zerosLike(delta.data, [outWidth, inWidth]);
  for (let o = 0; o < outWidth; o++) {
    for (let k = 0; k < inWidth; k++) {
      let sum = 0;
      for (let nb = 0; nb < batch; nb++) {
        sum += delta.data[nb * outWidth + o]! * input.data[nb * inWidth + k]!;
      }
      out.data[o * inWidth + k] = sum;
    }
  }
  return out;
}

/**
 * Backward equation 2, bias: `dE/db^l = sum_n delta^l[n,:]`.
 *
 * @param delta `delta^l`, `[N, d_l]`
 * @returns `dE/db^l`, `[d_l]`
 */
export function denseBiasGradient(delta: ManualArray): ManualArray {
  checkArray('denseBiasGradient', 'delta', delta, 2);
  const [batch, outWidth] = delta.shape as [number, number];

  const out = zerosLike(delta.data, [outWidth]);
  for (let o = 0; o < outWidth; o++) {
    let sum = 0;
    for (let nb = 0; nb < batch; nb++) sum += delta.data[nb * outWidth + o]!;
    out.data[o] = sum;
  }
  return out;
}

/**
 * Backward equations 2 and 3, the gradient that flows down: `dE/da^{l-1} = delta^l W^l`. For a
 * hidden layer `activationBackward` then multiplies by `g'(z^{l-1})` to give `delta^{l-1}`; for
 * the first layer this is `dE/df = delta^1 W^1`.
 *
 * @param delta `delta^l`, `[N, d_l]`
 * @param weight `W^l`, `[d_l, d_{l-1}]`
 * @returns `dE/da^{l-1}`, `[N, d_{l-1}]`
 */
export function denseInputGradient(delta: ManualArray, weight: ManualArray): ManualArray {
  const op = 'denseInputGradient';
  checkArray(op, 'delta', delta, 2);
  checkArray(op, 'weight', weight, 2);
  const [batch, outWidth] = delta.shape as [number, number];
  const inWidth = weight.shape[1]!;
  checkShape(op, 'weight', weight, [outWidth, inWidth]);
  checkSameType(op, 'weight', weight, 'delta', delta);

  const out = zerosLike(delta.data, [batch, inWidth]);
  for (let nb = 0; nb < batch; nb++) {
    for (let k = 0; k < inWidth; k++) {
      let sum = 0;
      for (let o = 0; o < outWidth; o++) {
        sum += delta.data[nb * outWidth + o]! * weight.data[o * inWidth + k]!;
      }
      out.data[nb * inWidth + k] = sum;
    }
  }
  return out;
}
