/**
 * Reductions over axes: `sum` and `max` are primitives; `mean` is a composite. `axis` is a number
 * or a list (negative counts from the end); omitted, it means every axis.
 */
import { ShapeError, fmtShape } from '../errors.js';
import { type Shape, normalizeAxes, sizeOf, stridesOf } from '../shape.js';
import { record } from '../tape.js';
import { type FloatArray, Tensor, arrayFor } from '../tensor.js';
import { div } from './elementwise.js';
import { broadcastTo, put, reshape } from './layout.js';

/** An axis, a list of axes (negative counts from the end), or `null`/`undefined` for all. */
export type Axis = number | readonly number[] | null | undefined;

interface Reduction {
  axes: number[];
  /** The output shape with reduced axes kept as 1. */
  kept: number[];
  /** The output shape as returned. */
  shape: number[];
  /**
   * For each input element (row-major), the flat index of its output slot; only computed when the
   * reduced axes are not one run of consecutive axes.
   */
  slot: Int32Array | null;
}

function plan(op: string, x: Tensor, axis: Axis, keepdims: boolean): Reduction {
  const axes = normalizeAxes(op, axis, x.ndim);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i));
  if (runsOf(axes).length <= 1) return { axes, kept, shape, slot: null };
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

/** Splits sorted axes into runs of consecutive axes. */
function runsOf(axes: readonly number[]): number[][] {
  const runs: number[][] = [];
  for (const a of axes) {
    const last = runs[runs.length - 1];
    if (last && last[last.length - 1] === a - 1) last.push(a);
    else runs.push([a]);
  }
  return runs;
}

/** `[outer, reduced, inner]` sizes for a reduction over one run of consecutive axes. */
function blocks(shape: readonly number[], run: readonly number[]): [number, number, number] {
  const first = run[0]!;
  const last = run[run.length - 1]!;
  return [
    sizeOf(shape.slice(0, first)),
    sizeOf(shape.slice(first, last + 1)),
    sizeOf(shape.slice(last + 1)),
  ];
}

/**
 * The sum over `axis` (default: all), keeping reduced axes as size 1 with `keepdims`. The vjp
 * broadcasts the cotangent back over the reduced axes.
 *
 * @example
 * sum(tensor([[1, 2], [3, 4]]), 0); // [4, 6]
 */
export function sum(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  const axes = normalizeAxes('sum', axis, x.ndim);
  const runs = runsOf(axes);
  const kept = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = keepdims ? kept : x.shape.filter((_, i) => !axes.includes(i));
  if (runs.length > 1) {
    // Several separate runs: one pass per run, last run first, so each pass is a plain loop.
    let t = x;
    for (let r = runs.length - 1; r >= 0; r--) t = sum(t, runs[r]!, true);
    return keepdims ? t : reshape(t, shape);
  }
  const out = arrayFor(x.dtype, sizeOf(shape));
  const d = x.data;
  const [outer, red, inner] = runs.length === 1 ? blocks(x.shape, runs[0]!) : [x.size, 1, 1];
  if (inner === 1) {
    for (let o = 0; o < outer; o++) {
      let acc = 0;
      const base = o * red;
      for (let k = 0; k < red; k++) acc += d[base + k]!;
      out[o] = acc;
    }
  } else {
    for (let o = 0; o < outer; o++) {
      const ob = o * inner;
      for (let k = 0; k < red; k++) {
        const ib = (o * red + k) * inner;
        for (let j = 0; j < inner; j++) out[ob + j] += d[ib + j]!;
      }
    }
  }
  const inShape = x.shape;
  return record('sum', [x], new Tensor(out, shape), (gy) => [
    broadcastTo(reshape(gy, kept), inShape),
  ]);
}

/**
 * The mean over `axis` (default: all): `sum / count`.
 *
 * @example
 * mean(tensor([[1, 2], [3, 4]]), -1, true); // [[1.5], [3.5]]
 */
export function mean(x: Tensor, axis?: Axis, keepdims = false): Tensor {
  const axes = normalizeAxes('mean', axis, x.ndim);
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  return div(sum(x, axes, keepdims), count);
}

/**
 * The maximum over `axis` (default: all). The gradient goes to one position per output, the
 * first maximum in row-major order, never split between ties. NaN propagates.
 *
 * @example
 * max(tensor([[1, 5], [7, 2]]), 1); // [5, 7]
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
  const out = arrayFor(x.dtype, n);
  const arg = new Int32Array(n);
  const runs = runsOf(p.axes);
  if (p.slot !== null) argmaxSlots(x.data, p.slot, out, arg);
  else
    argmaxBlocks(x.data, runs.length === 1 ? blocks(x.shape, runs[0]!) : [x.size, 1, 1], out, arg);
  // Saved: the flat index of each winner. The vjp writes each cotangent to its winner, which is
  // linear in gy (its own vjp reads the winners back), so it differentiates again for free.
  const inShape = x.shape;
  return record('max', [x], new Tensor(out, p.shape), (gy) => [
    put(gy, arg, inShape, 0, 'max (vjp)'),
  ]);
}

/**
 * The first maximum over the middle axis of `[outer, reduced, inner]` blocks, as values and as
 * flat indices into `d`. A NaN wins over any number (it propagates).
 */
function argmaxBlocks(
  d: FloatArray,
  [outer, red, inner]: [number, number, number],
  out: FloatArray,
  arg: Int32Array,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let bi = o * red * inner + j;
      let best = d[bi]!;
      for (let k = 1; k < red; k++) {
        const i = (o * red + k) * inner + j;
        const v = d[i]!;
        if (v > best || (v !== v && best === best)) {
          best = v;
          bi = i;
        }
      }
      out[o * inner + j] = best;
      arg[o * inner + j] = bi;
    }
  }
}

/** `argmaxBlocks` for axes that are not one run, through each element's output slot. */
function argmaxSlots(d: FloatArray, slot: Int32Array, out: FloatArray, arg: Int32Array): void {
  arg.fill(-1);
  for (let i = 0; i < d.length; i++) {
    const s = slot[i]!;
    const v = d[i]!;
    const best = out[s]!;
    if (arg[s] === -1 || v > best || (v !== v && best === best)) {
      out[s] = v;
      arg[s] = i;
    }
  }
}

/**
 * Sums `g` down to `shape`, undoing a broadcast: leading axes are summed away and axes where
 * `shape` has 1 are summed with `keepdims`.
 *
 * @example
 * sumTo(ones([4, 2, 3]), [2, 1]); // [[12], [12]]
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
