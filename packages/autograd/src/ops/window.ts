/**
 * Window primitives over `[N, C, H, W]` images. `unfold` (im2col) turns every window into a
 * column; `fold` (col2im) sums columns back into an image. Each is the other's vjp (they are
 * adjoint linear maps), so gradients of any order come for free.
 *
 * Output size per spatial axis, for size `h`, kernel `k`, stride `s`, padding `p`, dilation `d`:
 * `floor((h + 2p - d(k - 1) - 1) / s) + 1`.
 */
import { ShapeError, ValueError, fmtShape } from '../errors.js';
import { type WindowGeometry, getBackend } from '../backend/index.js';
import { record } from '../tape.js';
import { Tensor, arrayFor } from '../tensor.js';

/** One size for both spatial axes, or `[height, width]`. */
export type Pair = number | readonly [number, number];

/** The window geometry of `unfold` and `fold`. */
export interface WindowOptions {
  /** `[kH, kW]` of the window. */
  kernelSize: Pair;
  /** Default 1. */
  stride?: Pair;
  /** Zero padding on both sides of each axis; default 0. */
  padding?: Pair;
  /** Spacing between kernel taps; default 1. */
  dilation?: Pair;
}

/** `fold`'s options: the window geometry and the size of the image to rebuild. */
export interface FoldOptions extends WindowOptions {
  /** `[H, W]` of the image the columns came from. */
  outputSize: readonly [number, number];
}

function pair(
  op: string,
  arg: string,
  v: Pair | undefined,
  fallback: number,
  min: number,
): [number, number] {
  const p: readonly [number, number] =
    v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : v;
  if (p.length !== 2 || !p.every((x) => Number.isInteger(x) && x >= min)) {
    const shown = typeof v === 'number' ? String(v) : `[${(v as readonly number[]).join(',')}]`;
    throw new ValueError(
      op,
      arg,
      `an integer >= ${min} or a pair of them`,
      shown,
      `${arg} must be an integer >= ${min} or a pair of them, got ${shown}`,
    );
  }
  return [p[0], p[1]];
}

/** Checks the options against an image of `[n, c, h, w]` and returns the full geometry. */
export function windowGeometry(
  op: string,
  shape: readonly number[],
  o: WindowOptions,
): WindowGeometry {
  const [kh, kw] = pair(op, 'kernelSize', o.kernelSize, 1, 1);
  const [sh, sw] = pair(op, 'stride', o.stride, 1, 1);
  const [ph, pw] = pair(op, 'padding', o.padding, 0, 0);
  const [dh, dw] = pair(op, 'dilation', o.dilation, 1, 1);
  const [n, c, h, w] = shape as [number, number, number, number];
  const spanH = dh * (kh - 1) + 1;
  const spanW = dw * (kw - 1) + 1;
  if (spanH > h + 2 * ph || spanW > w + 2 * pw) {
    throw new ShapeError(
      op,
      'kernelSize',
      `a window within the padded input ${h + 2 * ph}x${w + 2 * pw}`,
      `${spanH}x${spanW}`,
      `window ${spanH}x${spanW} (kernel ${kh}x${kw}, dilation ${dh}x${dw}) is larger than the ` +
        `padded input ${h + 2 * ph}x${w + 2 * pw} of ${fmtShape(shape)}`,
    );
  }
  const oh = Math.floor((h + 2 * ph - spanH) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - spanW) / sw) + 1;
  return { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow };
}

function check4d(op: string, arg: string, x: Tensor): void {
  if (x.ndim !== 4) {
    throw new ShapeError(
      op,
      arg,
      '[N, C, H, W]',
      fmtShape(x.shape),
      `${arg} must be [N, C, H, W], got ${fmtShape(x.shape)}`,
    );
  }
}

/**
 * im2col: every `kh x kw` window of `x` `[N, C, H, W]` becomes a column of the result
 * `[N, C*kh*kw, oh*ow]`, rows ordered channel-major, then kernel row, then kernel column. Taps in
 * the padding read 0.
 *
 * @example
 * unfold(randn([2, 3, 8, 8]), { kernelSize: 3, padding: 1 }).shape; // [2, 27, 64]
 */
export function unfold(x: Tensor, options: WindowOptions): Tensor {
  check4d('unfold', 'x', x);
  const g = windowGeometry('unfold', x.shape, options);
  return unfoldWith(x, g, options);
}

function unfoldWith(x: Tensor, g: WindowGeometry, options: WindowOptions): Tensor {
  const out = arrayFor(x.dtype, g.n * g.c * g.kh * g.kw * g.oh * g.ow);
  getBackend().unfold(x.data, out, g);
  const y = new Tensor(out, [g.n, g.c * g.kh * g.kw, g.oh * g.ow]);
  return record('unfold', [x], y, (gy) => [foldWith(gy, g, options)]);
}

/**
 * col2im, the adjoint of `unfold`: columns `[N, C*kh*kw, L]` are summed into an image
 * `[N, C, H, W]` of `outputSize`, overlapping taps adding up; `L` must equal `oh*ow`.
 *
 * @example
 * const cols = unfold(ones([1, 1, 4, 4]), { kernelSize: 2, stride: 2 });
 * fold(cols, { kernelSize: 2, stride: 2, outputSize: [4, 4] }); // ones again
 */
export function fold(cols: Tensor, options: FoldOptions): Tensor {
  if (cols.ndim !== 3) {
    throw new ShapeError(
      'fold',
      'cols',
      '[N, C*kh*kw, L]',
      fmtShape(cols.shape),
      `cols must be [N, C*kh*kw, L], got ${fmtShape(cols.shape)}`,
    );
  }
  const [h, w] = pair('fold', 'outputSize', options.outputSize, 1, 1);
  const [kh, kw] = pair('fold', 'kernelSize', options.kernelSize, 1, 1);
  const [n, rows, l] = cols.shape as [number, number, number];
  if (rows % (kh * kw) !== 0) {
    throw new ShapeError(
      'fold',
      'cols',
      `rows a multiple of ${kh}*${kw}`,
      fmtShape(cols.shape),
      `cols has ${rows} rows, not a multiple of the kernel's ${kh}*${kw} taps`,
    );
  }
  const g = windowGeometry('fold', [n, rows / (kh * kw), h, w], options);
  if (g.oh * g.ow !== l) {
    throw new ShapeError(
      'fold',
      'cols',
      `${g.oh * g.ow} columns (${g.oh}x${g.ow})`,
      `${l}`,
      `cols has ${l} columns, the geometry gives ${g.oh}x${g.ow} = ${g.oh * g.ow}`,
    );
  }
  return foldWith(cols, g, options);
}

function foldWith(cols: Tensor, g: WindowGeometry, options: WindowOptions): Tensor {
  const out = arrayFor(cols.dtype, g.n * g.c * g.h * g.w);
  getBackend().fold(cols.data, out, g);
  const y = new Tensor(out, [g.n, g.c, g.h, g.w]);
  return record('fold', [cols], y, (gy) => [unfoldWith(gy, g, options)]);
}
