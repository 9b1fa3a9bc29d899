/**
 * Reductions over axes: `sum` and `max` are primitives; `mean` is a composite. `axis` is a number
 * or a list (negative counts from the end); omitted, it means every axis.
 */
import { ShapeError, fmtShape } from '../errors.js';
import { type Shape, normalizeAxes, sizeOf, stridesOf } from '../shape.js';
import { record } from '../tape.js';
import { Tensor, arrayFor } from '../tensor.js';
import { mul, div } from './elementwise.js';
import { broadcastTo, reshape } from './layout.js';

export type Axis = number | readonly number[] | null | undefined;

interface Reduction {
  axes: number[];
  /** The output shape with reduced axes kept as 1. */
  kept: number[];
  /** The output shape as returned. */
  shape: number[];
  /** For each input element (row-major), the flat index of its output slot. */
  slot: Int32Array;
}

function plan(op: string, x: Tensor, axis: Axis, keepdims: boolean): Reduction {
  const axes = normalizeAxes(op, axis, x.ndim);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i));
  const outStrides = stridesOf(kept).map((s, i) => (axes.includes(i) ? 0 : s));
  const slot = new Int32Array(x.size);
  const rank = x.ndim;
  const idx = new Array<number>(rank).fill(0);
  let o = 0;
  for (let i = 0; i < x.size; i++) {
    slot[i] = o;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      o += outStrides[ax]!;
      if (idx[ax]! < x.shape[ax]!) break;
      o -= outStrides[ax]! * x.shape[ax]!;
      idx[ax] = 0;
    }
  }
  return { axes, kept, shape, slot };
}

/**
 * The sum over `axis` (default: all), keeping reduced axes as size 1 with `keepdims`. The vjp
 * broadcasts the cotangent back over the reduced axes.
 */
export function sum(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  const p = plan('sum', x, axis, keepdims);
  const out = arrayFor(x.dtype, sizeOf(p.shape));
  const d = x.data;
  if (p.axes.length === x.ndim) {
    let s = 0;
    for (let i = 0; i < d.length; i++) s += d[i]!;
    out[0] = s;
  } else {
    const slot = p.slot;
    for (let i = 0; i < d.length; i++) out[slot[i]!] += d[i]!;
  }
  const inShape = x.shape;
  return record('sum', [x], new Tensor(out, p.shape), (gy) => [
    broadcastTo(reshape(gy, p.kept), inShape),
  ]);
}

/** The mean over `axis` (default: all): `sum / count`. */
export function mean(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  const axes = normalizeAxes('mean', axis, x.ndim);
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  return div(sum(x, axes, keepdims), count);
}

/**
 * The maximum over `axis` (default: all). The gradient goes to one position per output, the
 * first maximum in row-major order, never split between ties. NaN propagates.
 */
export function max(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  const p = plan('max', x, axis, keepdims);
  const n = sizeOf(p.shape);
  if (n > 0 && x.size === 0) {
    throw new ShapeError(
      'max',
      'x',
      'non-empty reduced axes',
      fmtShape(x.shape),
      `cannot take the max over an empty axis of ${fmtShape(x.shape)}`,
    );
  }
  const out = arrayFor(x.dtype, n).fill(-Infinity);
  const arg = new Int32Array(n).fill(-1);
  const d = x.data;
  const slot = p.slot;
  for (let i = 0; i < d.length; i++) {
    const s = slot[i]!;
    const v = d[i]!;
    const best = out[s]!;
    if (arg[s] === -1 || v > best || (v !== v && best === best)) {
      out[s] = v;
      arg[s] = i;
    }
  }
  // Saved: a constant one-hot mask of the winners, so the vjp is linear in gy and differentiates
  // again without special code.
  const inShape = x.shape;
  return record('max', [x], new Tensor(out, p.shape), (gy) => {
    const mask = arrayFor(x.dtype, x.size);
    for (let s = 0; s < n; s++) mask[arg[s]!] = 1;
    return [mul(broadcastTo(reshape(gy, p.kept), inShape), new Tensor(mask, inShape))];
  });
}

/**
 * Sums `g` down to `shape`, undoing a broadcast: leading axes are summed away and axes where
 * `shape` has 1 are summed with `keepdims`.
 */
export function sumTo(g: Tensor, shape: Shape, op = 'sumTo'): Tensor {
  const lead = g.ndim - shape.length;
  const bad = lead < 0 || shape.some((d, i) => d !== 1 && d !== g.shape[lead + i]);
  if (bad) {
    throw new ShapeError(
      op,
      'gy',
      fmtShape(shape),
      fmtShape(g.shape),
      `cannot sum a cotangent of shape ${fmtShape(g.shape)} down to ${fmtShape(shape)}`,
    );
  }
  const axes: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length > 0 ? sum(g, axes, true) : g;
  return summed.ndim === shape.length ? summed : reshape(summed, shape);
}
