/**
 * Test helpers: direct reference loops for the windowed ops, written from their definitions and
 * sharing no code with the library, plus small utilities for typed-error checks and random data.
 */
import { Rng, type Tensor, TapegradError, tensor } from '@tapegrad/autograd';
import { expect } from 'vitest';

export interface Arr {
  data: Float64Array;
  shape: number[];
}

export type P2 = [number, number];

/** `[N, C_in, H, W]` (x) cross-correlated with `[C_out, C_in, kH, kW]` (w), zero padding. */
export function refConv2d(
  x: Arr,
  w: Arr,
  bias: Float64Array | null,
  stride: P2 = [1, 1],
  padding: P2 = [0, 0],
  dilation: P2 = [1, 1],
): Arr {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [F, Cw, KH, KW] = w.shape as [number, number, number, number];
  if (C !== Cw) throw new Error('refConv2d: channels');
  const OH = Math.floor((H + 2 * padding[0] - dilation[0] * (KH - 1) - 1) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * padding[1] - dilation[1] * (KW - 1) - 1) / stride[1]) + 1;
  const out = new Float64Array(N * F * OH * OW);
  for (let n = 0; n < N; n++) {
    for (let co = 0; co < F; co++) {
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let s = bias ? bias[co]! : 0;
          for (let ci = 0; ci < C; ci++) {
            for (let a = 0; a < KH; a++) {
              for (let b = 0; b < KW; b++) {
                const r = i * stride[0] - padding[0] + a * dilation[0];
                const c = j * stride[1] - padding[1] + b * dilation[1];
                if (r < 0 || r >= H || c < 0 || c >= W) continue;
                s +=
                  w.data[((co * C + ci) * KH + a) * KW + b]! *
                  x.data[((n * C + ci) * H + r) * W + c]!;
              }
            }
          }
          out[((n * F + co) * OH + i) * OW + j] = s;
        }
      }
    }
  }
  return { data: out, shape: [N, F, OH, OW] };
}

/**
 * Max pooling by loops. Padded taps are skipped (they never win); a tie keeps the first maximum
 * in row-major window order (strictly greater replaces). `argmax` holds flat input indices.
 */
export function refMaxPool(
  x: Arr,
  kernel: P2,
  stride: P2 = kernel,
  padding: P2 = [0, 0],
): Arr & { argmax: Int32Array } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const OH = Math.floor((H + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  const out = new Float64Array(N * C * OH * OW);
  const argmax = new Int32Array(out.length);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let best = -Infinity;
          let at = -1;
          for (let a = 0; a < kernel[0]; a++) {
            for (let b = 0; b < kernel[1]; b++) {
              const r = i * stride[0] - padding[0] + a;
              const q = j * stride[1] - padding[1] + b;
              if (r < 0 || r >= H || q < 0 || q >= W) continue;
              const idx = ((n * C + c) * H + r) * W + q;
              if (at < 0 || x.data[idx]! > best) {
                best = x.data[idx]!;
                at = idx;
              }
            }
          }
          const o = ((n * C + c) * OH + i) * OW + j;
          out[o] = best;
          argmax[o] = at;
        }
      }
    }
  }
  return { data: out, shape: [N, C, OH, OW], argmax };
}

/** Average pooling by loops; padded taps count as zeros, the divisor is always `kH * kW`. */
export function refAvgPool(x: Arr, kernel: P2, stride: P2 = kernel, padding: P2 = [0, 0]): Arr {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const OH = Math.floor((H + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const OW = Math.floor((W + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  const out = new Float64Array(N * C * OH * OW);
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < OH; i++) {
        for (let j = 0; j < OW; j++) {
          let s = 0;
          for (let a = 0; a < kernel[0]; a++) {
            for (let b = 0; b < kernel[1]; b++) {
              const r = i * stride[0] - padding[0] + a;
              const q = j * stride[1] - padding[1] + b;
              if (r >= 0 && r < H && q >= 0 && q < W) s += x.data[((n * C + c) * H + r) * W + q]!;
            }
          }
          out[((n * C + c) * OH + i) * OW + j] = s / (kernel[0] * kernel[1]);
        }
      }
    }
  }
  return { data: out, shape: [N, C, OH, OW] };
}

/** A float64 tensor of normal samples from a seeded generator. */
export function randT(shape: number[], seed: number, scale = 1, requiresGrad = false): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = scale * rng.normal();
  return tensor(d, { shape, dtype: 'float64', requiresGrad });
}

export function arr(t: Tensor): Arr {
  return { data: Float64Array.from(t.data), shape: [...t.shape] };
}

/** `max_i |a_i - b_i|`, and that divided by `max_i |b_i|` (relative to the array's scale). */
export function diff(a: ArrayLike<number>, b: ArrayLike<number>): { abs: number; rel: number } {
  expect(a.length).toBe(b.length);
  let abs = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    abs = Number.isNaN(d) ? Infinity : Math.max(abs, d);
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return { abs, rel: scale > 0 ? abs / scale : abs };
}

/** Asserts that `a` and `b` agree to `tol` relative to `b`'s scale (absolute if `b` is zero). */
export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  const d = diff(a, b);
  expect(d.rel, `max abs difference ${d.abs}`).toBeLessThanOrEqual(tol);
}

type ErrorClass = abstract new (...args: never[]) => TapegradError;

/** Runs `fn`, expects a typed error of `cls` with the given fields, and returns it. */
export function expectThrows(
  fn: () => unknown,
  cls: ErrorClass,
  fields: Partial<Pick<TapegradError, 'op' | 'arg' | 'expected' | 'actual' | 'message'>>,
): TapegradError {
  let caught: unknown = null;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a throw').toBeInstanceOf(cls);
  const err = caught as TapegradError;
  expect({
    op: err.op,
    arg: err.arg,
    expected: err.expected,
    actual: err.actual,
    message: err.message,
  }).toMatchObject(fields);
  return err;
}

/** Async `expectThrows`. */
export async function expectRejects(
  p: Promise<unknown>,
  cls: ErrorClass,
  fields: Partial<Pick<TapegradError, 'op' | 'arg' | 'expected' | 'actual'>>,
): Promise<TapegradError> {
  const caught: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(caught, 'expected a rejection').toBeInstanceOf(cls);
  const err = caught as TapegradError;
  expect({ op: err.op, arg: err.arg, expected: err.expected, actual: err.actual }).toMatchObject(
    fields,
  );
  return err;
}
