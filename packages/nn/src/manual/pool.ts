/**
 * The pooling layer of PAPER.md: forward equation 3 and backward equation 4. Windows are `q x q`,
 * non-overlapping (stride `q`), and a ragged edge that does not fill a window is dropped, so the
 * output is `floor(H' / q) x floor(W' / q)` and the dropped rows and columns get zero gradient.
 */
import { ShapeError, ValueError, fmtShape } from '@tapegrad/autograd';

import { type ManualArray, checkArray, checkShape, sizeOf, zerosLike } from './array.js';

/** The output of `maxPoolForward`: the pooled maps and where each maximum came from. */
export interface MaxPoolResult {
  /** `P`, `[N, F, Hp, Wp]`. */
  output: ManualArray;
  /**
   * For each element of `P` (row-major), the flat row-major index into the input `A` of the
   * position that won the max: the first maximum in row-major window order on a tie.
   */
  argmax: Int32Array;
}

/**
 * Forward equation 3, max pooling: `P[n,p,i,j] = max_{0<=u,v<q} A[n,p,i*q+u,j*q+v]`. On a tie
 * the first maximum in row-major window order wins; a NaN in a window wins over any number, so
 * it propagates.
 *
 * @param input `A`, `[N, F, H', W']`
 * @param poolSize `q`, window and stride
 * @returns `P` `[N, F, floor(H'/q), floor(W'/q)]` and the argmax of every window
 */
export function maxPoolForward(input: ManualArray, poolSize: number): MaxPoolResult {
  const op = 'maxPoolForward';
  checkArray(op, 'input', input, 4);
  const [batch, maps, h, w] = input.shape as [number, number, number, number];
  const [ph, pw] = pooledSize(op, [h, w], poolSize);

  const output = zerosLike(input.data, [batch, maps, ph, pw]);
  const argmax = new Int32Array(batch * maps * ph * pw);
  const a = input.data;
  const q = poolSize;
  let k = 0;
  for (let plane = 0; plane < batch * maps; plane++) {
    const base = plane * h * w;
    for (let i = 0; i < ph; i++) {
      for (let j = 0; j < pw; j++) {
        let best = base + i * q * w + j * q;
        for (let u = 0; u < q; u++) {
          for (let v = 0; v < q; v++) {
            const at = base + (i * q + u) * w + j * q + v;
            // Strictly greater, so the first of equal values keeps the window.
            if (a[at]! > a[best]! || (Number.isNaN(a[at]!) && !Number.isNaN(a[best]!))) best = at;
          }
        }
        output.data[k] = a[best]!;
        argmax[k] = best;
        k++;
      }
    }
  }
  return { output, argmax };
}

/**
 * Forward equation 3, average pooling: `P[n,p,i,j] = (1/q^2) sum_{0<=u,v<q} A[n,p,i*q+u,j*q+v]`.
 *
 * @param input `A`, `[N, F, H', W']`
 * @param poolSize `q`, window and stride
 * @returns `P`, `[N, F, floor(H'/q), floor(W'/q)]`
 */
export function avgPoolForward(input: ManualArray, poolSize: number): ManualArray {
  const op = 'avgPoolForward';
  checkArray(op, 'input', input, 4);
  const [batch, maps, h, w] = input.shape as [number, number, number, number];
  const [ph, pw] = pooledSize(op, [h, w], poolSize);

  const output = zerosLike(input.data, [batch, maps, ph, pw]);
  const a = input.data;
  const q = poolSize;
  let k = 0;
  for (let plane = 0; plane < batch * maps; plane++) {
    const base = plane * h * w;
    for (let i = 0; i < ph; i++) {
      for (let j = 0; j < pw; j++) {
        let sum = 0;
        for (let u = 0; u < q; u++) {
          for (let v = 0; v < q; v++) sum += a[base + (i * q + u) * w + j * q + v]!;
        }
        output.data[k++] = sum / (q * q);
      }
    }
  }
  return output;
}

/**
 * Backward equation 4, max pooling: each window's gradient goes to the one position that won
 * its max (the recorded argmax), and every other position gets zero.
 *
 * @param gradOutput `dE/dP`, `[N, F, Hp, Wp]`
 * @param argmax from `maxPoolForward`, one input index per element of `P`
 * @param inputShape the shape of `A`, `[N, F, H', W']`
 * @returns `dE/dA`, `[N, F, H', W']`
 */
export function maxPoolBackward(
  gradOutput: ManualArray,
  argmax: Int32Array,
  inputShape: readonly number[],
): ManualArray {
  const op = 'maxPoolBackward';
  checkArray(op, 'gradOutput', gradOutput, 4);
  checkInputShape(op, gradOutput, inputShape);
  if (!(argmax instanceof Int32Array) || argmax.length !== gradOutput.data.length) {
    const found = argmax instanceof Int32Array ? `${argmax.length} indices` : typeof argmax;
    throw new ShapeError(
      op,
      'argmax',
      `an Int32Array of ${gradOutput.data.length} indices`,
      found,
      `argmax needs one index per element of gradOutput ${fmtShape(gradOutput.shape)}: ${found}`,
    );
  }

  const size = sizeOf(inputShape);
  const out = zerosLike(gradOutput.data, inputShape);
  for (let k = 0; k < argmax.length; k++) {
    const at = argmax[k]!;
    if (at < 0 || at >= size) {
      throw new ValueError(
        op,
        'argmax',
        `indices in [0, ${size})`,
        String(at),
        `argmax[${k}] = ${at} is outside the input ${fmtShape(inputShape)}`,
      );
    }
    // Windows do not overlap, so `+=` only matters for a hand-made argmax; it keeps the adjoint.
    out.data[at]! += gradOutput.data[k]!;
  }
  return out;
}

/**
 * Backward equation 4, average pooling: every position of a window gets `dE/dP / q^2`; positions
 * in the dropped edge get zero.
 *
 * @param gradOutput `dE/dP`, `[N, F, Hp, Wp]`
 * @param inputShape the shape of `A`, `[N, F, H', W']`
 * @param poolSize `q`, as in the forward run
 * @returns `dE/dA`, `[N, F, H', W']`
 */
export function avgPoolBackward(
  gradOutput: ManualArray,
  inputShape: readonly number[],
  poolSize: number,
): ManualArray {
  const op = 'avgPoolBackward';
  checkArray(op, 'gradOutput', gradOutput, 4);
  checkInputShape(op, gradOutput, inputShape);
  const [batch, maps, h, w] = inputShape as [number, number, number, number];
  const [ph, pw] = pooledSize(op, [h, w], poolSize);
  checkShape(op, 'gradOutput', gradOutput, [batch, maps, ph, pw]);

  const out = zerosLike(gradOutput.data, inputShape);
  const q = poolSize;
  const share = 1 / (q * q);
  let k = 0;
  for (let plane = 0; plane < batch * maps; plane++) {
    const base = plane * h * w;
    for (let i = 0; i < ph; i++) {
      for (let j = 0; j < pw; j++) {
        const g = gradOutput.data[k++]! * share;
        for (let u = 0; u < q; u++) {
          for (let v = 0; v < q; v++) out.data[base + (i * q + u) * w + j * q + v] = g;
        }
      }
    }
  }
  return out;
}

/** `[floor(H'/q), floor(W'/q)]`; throws when `q` is not a positive integer or exceeds the maps. */
export function pooledSize(
  op: string,
  inputSize: readonly [number, number],
  poolSize: number,
): [number, number] {
  const [h, w] = inputSize;
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new ValueError(
      op,
      'poolSize',
      'a positive integer',
      String(poolSize),
      `poolSize must be a positive integer, got ${poolSize}`,
    );
  }
  if (poolSize > h || poolSize > w) {
    throw new ShapeError(
      op,
      'poolSize',
      `at most the map size ${fmtShape([h, w])}`,
      String(poolSize),
      `poolSize ${poolSize} does not fit maps of ${fmtShape([h, w])}`,
    );
  }
  return [Math.floor(h / poolSize), Math.floor(w / poolSize)];
}

function checkInputShape(op: string, gradOutput: ManualArray, inputShape: readonly number[]): void {
  const ok =
    Array.isArray(inputShape) &&
    inputShape.length === 4 &&
    inputShape.every((d) => Number.isInteger(d) && d >= 0) &&
    inputShape[0] === gradOutput.shape[0] &&
    inputShape[1] === gradOutput.shape[1];
  if (!ok) {
    throw new ShapeError(
      op,
      'inputShape',
      `[${gradOutput.shape[0]},${gradOutput.shape[1]},H',W']`,
      String(inputShape),
      `inputShape ${String(inputShape)} does not match gradOutput ${fmtShape(gradOutput.shape)}`,
    );
  }
}
