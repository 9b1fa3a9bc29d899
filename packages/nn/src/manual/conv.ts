/**
 * The convolution layer of PAPER.md: forward equation 1 and backward equation 6, as plain loops.
 *
 * Cross-correlation: the kernel is not flipped, as in every framework. A textbook convolution
 * is the same layer with each kernel rotated by 180 degrees.
 */
import { ShapeError, ValueError, fmtShape } from '@tapegrad/autograd';

import { type ManualArray, checkArray, checkShape, checkSameType, zerosLike } from './array.js';

/**
 * Forward equation 1, the valid (unpadded) convolution with stride `s`:
 * `C[n,p,i,j] = c_p + sum_{c,a,b} k_p[c,a,b] * X[n,c,i*s+a,j*s+b]`.
 *
 * @param x input `[N, C, H, W]`
 * @param weight kernels `[F, C, m, n]`
 * @param bias biases `[F]`
 * @param stride `s >= 1`, on both axes
 * @returns `C`, `[N, F, H', W']` with `H' = floor((H - m) / s) + 1`, `W' = floor((W - n) / s) + 1`
 */
export function convolutionForward(
  x: ManualArray,
  weight: ManualArray,
  bias: ManualArray,
  stride: number,
): ManualArray {
  const op = 'convolutionForward';
  checkArray(op, 'x', x, 4);
  checkArray(op, 'weight', weight, 4);
  const [batch, channels, h, w] = x.shape as [number, number, number, number];
  const [filters, , m, n] = weight.shape as [number, number, number, number];
  checkShape(op, 'weight', weight, [filters, channels, m, n]);
  checkShape(op, 'bias', bias, [filters]);
  checkSameType(op, 'weight', weight, 'x', x);
  checkSameType(op, 'bias', bias, 'x', x);
  const [oh, ow] = convOutputSize(op, [h, w], [m, n], stride);

  const out = zerosLike(x.data, [batch, filters, oh, ow]);
  const xd = x.data;
  const kd = weight.data;
  const cd = out.data;
  for (let nb = 0; nb < batch; nb++) {
    for (let p = 0; p < filters; p++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let sum = bias.data[p]!;
          for (let c = 0; c < channels; c++) {
            for (let a = 0; a < m; a++) {
              const xRow = ((nb * channels + c) * h + i * stride + a) * w + j * stride;
              const kRow = ((p * channels + c) * m + a) * n;
              for (let b = 0; b < n; b++) sum += kd[kRow + b]! * xd[xRow + b]!;
            }
          }
          cd[((nb * filters + p) * oh + i) * ow + j] = sum;
        }
      }
    }
  }
  return out;
}

/**
 * Backward equation 6, kernel part: `dE/dk_p[c,a,b] = sum_{n,i,j} G[n,p,i,j] * X[n,c,i*s+a,j*s+b]`,
 * a valid cross-correlation of the input with the output gradient `G = dE/dC`.
 *
 * @param x input `[N, C, H, W]`
 * @param gradOutput `G`, `[N, F, H', W']`
 * @param kernelSize `[m, n]`
 * @param stride `s`, as in the forward run
 * @returns `dE/dk`, `[F, C, m, n]`
 */
export function convKernelGradient(
  x: ManualArray,
  gradOutput: ManualArray,
  kernelSize: readonly [number, number],
  stride: number,
): ManualArray {
  const op = 'convKernelGradient';
  checkArray(op, 'x', x, 4);
  checkArray(op, 'gradOutput', gradOutput, 4);
  const [batch, channels, h, w] = x.shape as [number, number, number, number];
  const [m, n] = kernelSize;
  const [oh, ow] = convOutputSize(op, [h, w], [m, n], stride);
  const filters = gradOutput.shape[1]!;
  checkShape(op, 'gradOutput', gradOutput, [batch, filters, oh, ow]);
  checkSameType(op, 'gradOutput', gradOutput, 'x', x);

  const out = zerosLike(x.data, [filters, channels, m, n]);
  const xd = x.data;
  const gd = gradOutput.data;
  for (let p = 0; p < filters; p++) {
    for (let c = 0; c < channels; c++) {
      for (let a = 0; a < m; a++) {
        for (let b = 0; b < n; b++) {
          let sum = 0;
          for (let nb = 0; nb < batch; nb++) {
            for (let i = 0; i < oh; i++) {
              const xRow = ((nb * channels + c) * h + i * stride + a) * w + b;
              const gRow = ((nb * filters + p) * oh + i) * ow;
              for (let j = 0; j < ow; j++) sum += gd[gRow + j]! * xd[xRow + j * stride]!;
            }
          }
          out.data[((p * channels + c) * m + a) * n + b] = sum;
        }
      }
    }
  }
  return out;
}

/**
 * Backward equation 6, bias part: `dE/dc_p = sum_{n,i,j} G[n,p,i,j]`.
 *
 * @param gradOutput `G = dE/dC`, `[N, F, H', W']`
 * @returns `dE/dc`, `[F]`
 */
export function convBiasGradient(gradOutput: ManualArray): ManualArray {
  checkArray('convBiasGradient', 'gradOutput', gradOutput, 4);
  const [batch, filters, oh, ow] = gradOutput.shape as [number, number, number, number];

  const out = zerosLike(gradOutput.data, [filters]);
  const plane = oh * ow;
  for (let p = 0; p < filters; p++) {
    let sum = 0;
    for (let nb = 0; nb < batch; nb++) {
      const start = (nb * filters + p) * plane;
      for (let k = 0; k < plane; k++) sum += gradOutput.data[start + k]!;
    }
    out.data[p] = sum;
  }
  return out;
}

/**
 * Backward equation 6, input part:
 * `dE/dX[n,c,u,v] = sum_{p,i,j} G[n,p,i,j] * k_p[c, u - i*s, v - j*s]`, where terms whose kernel
 * index falls outside `[0, m) x [0, n)` are zero. For `s = 1` this is the full convolution of `G`
 * with the kernel rotated by 180 degrees. Rows and columns the forward run never read (the
 * ragged edge when `s` does not divide `H - m`) get zero.
 *
 * @param gradOutput `G = dE/dC`, `[N, F, H', W']`
 * @param weight kernels `[F, C, m, n]`
 * @param inputSize `[H, W]` of the forward input
 * @param stride `s`, as in the forward run
 * @returns `dE/dX`, `[N, C, H, W]`
 */
export function convInputGradient(
  gradOutput: ManualArray,
  weight: ManualArray,
  inputSize: readonly [number, number],
  stride: number,
): ManualArray {
  const op = 'convInputGradient';
  checkArray(op, 'gradOutput', gradOutput, 4);
  checkArray(op, 'weight', weight, 4);
  const [filters, channels, m, n] = weight.shape as [number, number, number, number];
  const [h, w] = inputSize;
  const [oh, ow] = convOutputSize(op, [h, w], [m, n], stride);
  const batch = gradOutput.shape[0]!;
  checkShape(op, 'gradOutput', gradOutput, [batch, filters, oh, ow]);
  checkSameType(op, 'weight', weight, 'gradOutput', gradOutput);

  const out = zerosLike(gradOutput.data, [batch, channels, h, w]);
  const gd = gradOutput.data;
  const kd = weight.data;
  for (let nb = 0; nb < batch; nb++) {
    for (let c = 0; c < channels; c++) {
      for (let u = 0; u < h; u++) {
        // The output rows i whose window covers row u: 0 <= u - i*s < m.
        const iFirst = Math.max(0, Math.ceil((u - m + 1) / stride));
        const iLast = Math.min(oh - 1, Math.floor(u / stride));
        for (let v = 0; v < w; v++) {
          const jFirst = Math.max(0, Math.ceil((v - n + 1) / stride));
          const jLast = Math.min(ow - 1, Math.floor(v / stride));
          let sum = 0;
          for (let p = 0; p < filters; p++) {
            for (let i = iFirst; i <= iLast; i++) {
              const gRow = ((nb * filters + p) * oh + i) * ow;
              const kRow = ((p * channels + c) * m + (u - i * stride)) * n;
              for (let j = jFirst; j <= jLast; j++) {
                sum += gd[gRow + j]! * kd[kRow + v - j * stride]!;
              }
            }
          }
          out.data[((nb * channels + c) * h + u) * w + v] = sum;
        }
      }
    }
  }
  return out;
}

/**
 * `[H', W']` for an `[H, W]` input and an `[m, n]` kernel at stride `s`:
 * `H' = floor((H - m) / s) + 1`. Throws when the stride is not a positive integer or the kernel
 * does not fit.
 */
export function convOutputSize(
  op: string,
  inputSize: readonly [number, number],
  kernelSize: readonly [number, number],
  stride: number,
): [number, number] {
  if (!Number.isInteger(stride) || stride < 1) {
    throw new ValueError(
      op,
      'stride',
      'a positive integer',
      String(stride),
      `stride must be a positive integer, got ${stride}`,
    );
  }
  const [h, w] = inputSize;
  const [m, n] = kernelSize;
  if (!(m >= 1 && n >= 1 && Number.isInteger(m) && Number.isInteger(n) && m <= h && n <= w)) {
    throw new ShapeError(
      op,
      'kernelSize',
      `a kernel of positive integers within the input ${fmtShape([h, w])}`,
      fmtShape([m, n]),
      `kernel ${fmtShape([m, n])} does not fit the input ${fmtShape([h, w])}`,
    );
  }
  return [Math.floor((h - m) / stride) + 1, Math.floor((w - n) / stride) + 1];
}
