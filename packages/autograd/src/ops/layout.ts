/**
 * Layout primitives: `reshape`, `permute`, `broadcastTo`, `slice`, `pad`, `concat` (and the
 * composite `transpose`). `slice` and `pad` are built on two internal primitives, `take` (read
 * the elements at a list of flat positions) and `put` (write into them); each is the other's vjp.
 */
import { AxisError, DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { type Shape, checkShape, normalizeAxis, sameShape, sizeOf, stridesOf } from '../shape.js';
import { record } from '../tape.js';
import { type FloatArray, Tensor, arrayFor } from '../tensor.js';
import { sumTo } from './reduce.js';

/**
 * The same data under a new shape with the same number of elements; one entry may be `-1`, to be
 * inferred. Shares data with `x` (tensors are immutable).
 *
 * @example
 * reshape(arange(6), [2, -1]).shape; // [2, 3]
 */
export function reshape(x: Tensor, shape: Shape): Tensor {
  const resolved = resolveShape(x, shape);
  if (sameShape(resolved, x.shape)) return x;
  const inShape = x.shape;
  return record('reshape', [x], new Tensor(x.data, resolved), (gy) => [reshape(gy, inShape)]);
}

function resolveShape(x: Tensor, shape: Shape): number[] {
  const free = shape.reduce((n, d, i) => (d === -1 ? [...n, i] : n), [] as number[]);
  if (free.length > 1) {
    throw new ShapeError(
      'reshape',
      'shape',
      'at most one -1',
      fmtShape(shape),
      `shape ${fmtShape(shape)} has more than one -1`,
    );
  }
  if (shape.some((d) => d !== -1 && (!Number.isInteger(d) || d < 0))) {
    throw new ValueError(
      'reshape',
      'shape',
      'non-negative integer sizes and at most one -1',
      fmtShape(shape),
      `shape must hold non-negative integer sizes (or one -1), got ${fmtShape(shape)}`,
    );
  }
  const known = shape.reduce((n, d) => (d === -1 ? n : n * d), 1);
  const out = [...shape];
  if (free.length === 1) {
    if (known === 0 || x.size % known !== 0) throw sizeMismatch(x, shape);
    out[free[0]!] = x.size / known;
  }
  if (sizeOf(out) !== x.size) throw sizeMismatch(x, shape);
  return out;
}

function sizeMismatch(x: Tensor, shape: Shape): ShapeError {
  return new ShapeError(
    'reshape',
    'shape',
    `${x.size} elements`,
    fmtShape(shape),
    `cannot reshape ${fmtShape(x.shape)} (${x.size} elements) to ${fmtShape(shape)}`,
  );
}

/**
 * Reorders the axes: output axis `i` is input axis `axes[i]`.
 *
 * @example
 * permute(zeros([2, 3, 4]), [2, 0, 1]).shape; // [4, 2, 3]
 */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  const rank = x.ndim;
  if (axes.length !== rank) {
    throw new AxisError(
      'permute',
      'axes',
      `${rank} axes`,
      `[${axes.join(',')}]`,
      `axes [${axes.join(',')}] must list each of the ${rank} axes of ${fmtShape(x.shape)} once`,
    );
  }
  const perm = axes.map((a) => normalizeAxis('permute', a, rank, 'axes'));
  if (new Set(perm).size !== rank) {
    throw new AxisError(
      'permute',
      'axes',
      'each axis once',
      `[${axes.join(',')}]`,
      `axes [${axes.join(',')}] repeat an axis`,
    );
  }
  if (perm.every((a, i) => a === i)) return x;
  const shape = perm.map((a) => x.shape[a]!);
  const inStrides = stridesOf(x.shape);
  const strides = perm.map((a) => inStrides[a]!);
  const out = arrayFor(x.dtype, x.size);
  gatherStrided(x.data, out, shape, strides);
  const inverse = new Array<number>(rank);
  perm.forEach((a, i) => (inverse[a] = i));
  return record('permute', [x], new Tensor(out, shape), (gy) => [permute(gy, inverse)]);
}

/**
 * `out[i] = src[offset(i)]` where the offset walks `shape` with the given source strides. Axes
 * the source walks contiguously are merged first, and a contiguous innermost run is one block
 * copy, so a permute that keeps the last axis (or a broadcast of rows) copies whole rows.
 */
function gatherStrided(
  src: FloatArray,
  out: FloatArray,
  fullShape: readonly number[],
  fullStrides: readonly number[],
): void {
  if (out.length === 0) return;
  if (fullShape.length === 0) {
    out[0] = src[0]!;
    return;
  }
  const shape = [fullShape[0]!];
  const strides = [fullStrides[0]!];
  for (let i = 1; i < fullShape.length; i++) {
    const k = shape.length - 1;
    if (strides[k] === fullStrides[i]! * fullShape[i]!) {
      shape[k]! *= fullShape[i]!;
      strides[k] = fullStrides[i]!;
    } else {
      shape.push(fullShape[i]!);
      strides.push(fullStrides[i]!);
    }
  }
  const rank = shape.length;
  const inner = shape[rank - 1]!;
  const is = strides[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  let off = 0;
  for (let o = 0; o < out.length; o += inner) {
    if (is === 1) out.set(src.subarray(off, off + inner), o);
    else if (is === 0) out.fill(src[off]!, o, o + inner);
    else for (let j = 0; j < inner; j++) out[o + j] = src[off + j * is]!;
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]!++;
      off += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      off -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}

/** The flat offsets `base + sum(idx[i] * strides[i])` of every index of `shape`, row-major. */
function stridedPositions(shape: Shape, strides: readonly number[], base: number): Int32Array {
  const out = new Int32Array(sizeOf(shape));
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let off = base;
  for (let o = 0; o < out.length; o++) {
    out[o] = off;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      off += strides[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      off -= strides[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
  return out;
}

/**
 * Swaps two axes (by default the last two).
 *
 * @example
 * transpose(zeros([2, 3, 4])).shape; // [2, 4, 3]
 */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const a = normalizeAxis('transpose', axis0, x.ndim, 'axis0');
  const b = normalizeAxis('transpose', axis1, x.ndim, 'axis1');
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/**
 * Broadcasts to `shape` by NumPy's rules; the vjp sums the cotangent back.
 *
 * @example
 * broadcastTo(tensor([1, 2]), [3, 2]); // [[1, 2], [1, 2], [1, 2]]
 */
export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  checkShape('broadcastTo', 'shape', shape);
  // Each axis of x must be 1 or the target's size; checked here so the error names `shape`.
  const lead = shape.length - x.ndim;
  const fits = lead >= 0 && x.shape.every((d, i) => d === 1 || d === shape[lead + i]);
  if (!fits) {
    throw new ShapeError(
      'broadcastTo',
      'shape',
      `a shape ${fmtShape(x.shape)} broadcasts to`,
      fmtShape(shape),
      `cannot broadcast ${fmtShape(x.shape)} to ${fmtShape(shape)}`,
    );
  }
  if (sameShape(x.shape, shape)) return x;
  const own = stridesOf(x.shape);
  const strides = shape.map((_, i) => (i < lead || x.shape[i - lead] === 1 ? 0 : own[i - lead]!));
  const out = arrayFor(x.dtype, sizeOf(shape));
  gatherStrided(x.data, out, shape, strides);
  const inShape = x.shape;
  return record('broadcastTo', [x], new Tensor(out, shape), (gy) => [
    sumTo(gy, inShape, 'broadcastTo'),
  ]);
}

/**
 * One axis of a `slice`: `null` keeps it whole; `[start, stop]` or `[start, stop, step]` follow
 * Python's rules (negative indices count from the end, out-of-range bounds are clipped; `step`
 * must be a positive integer).
 */
export type SliceRange = null | readonly [number, number] | readonly [number, number, number];

/**
 * Cuts a block out of `x`, one range per leading axis (missing trailing axes are kept whole).
 *
 * @example
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * x.slice([null, [1, 3]]); // columns 1 and 2 of every row: [[2, 3], [5, 6]]
 */
export function slice(x: Tensor, ranges: readonly SliceRange[]): Tensor {
  if (ranges.length > x.ndim) {
    throw new ShapeError(
      'slice',
      'ranges',
      `at most ${x.ndim} ranges`,
      `${ranges.length}`,
      `${ranges.length} ranges for a tensor of shape ${fmtShape(x.shape)}`,
    );
  }
  const starts: number[] = [];
  const steps: number[] = [];
  const shape = x.shape.map((d, ax) => {
    const r = ranges[ax] ?? null;
    if (r === null) {
      starts.push(0);
      steps.push(1);
      return d;
    }
    const step = r[2] ?? 1;
    if (!Number.isInteger(step) || step < 1 || !Number.isInteger(r[0]) || !Number.isInteger(r[1])) {
      throw new ValueError(
        'slice',
        `ranges[${ax}]`,
        'integer bounds and a positive integer step',
        `[${r.join(',')}]`,
        `range [${r.join(',')}] for axis ${ax} needs integer bounds and a positive step`,
      );
    }
    const clip = (v: number): number => Math.min(d, Math.max(0, v < 0 ? v + d : v));
    const start = clip(r[0]);
    const stop = clip(r[1]);
    starts.push(start);
    steps.push(step);
    return Math.max(0, Math.ceil((stop - start) / step));
  });
  const strides = stridesOf(x.shape);
  const base = starts.reduce((o, st, i) => o + st * strides[i]!, 0);
  const positions = stridedPositions(
    shape,
    strides.map((st, i) => st * steps[i]!),
    base,
  );
  return take(x, positions, shape, 'slice');
}

/**
 * Pads each axis with `[before, after]` elements of `value` (missing trailing axes are not
 * padded). Sizes must be non-negative integers.
 *
 * @example
 * pad(ones([2, 2]), [[1, 1], [0, 2]]).shape; // [4, 4]
 */
export function pad(x: Tensor, pads: readonly (readonly [number, number])[], value = 0): Tensor {
  if (pads.length > x.ndim) {
    throw new ShapeError(
      'pad',
      'pads',
      `at most ${x.ndim} pairs`,
      `${pads.length}`,
      `${pads.length} pad pairs for a tensor of shape ${fmtShape(x.shape)}`,
    );
  }
  pads.forEach(([b, a], ax) => checkShape('pad', `pads[${ax}]`, [b, a]));
  const shape = x.shape.map((d, ax) => d + (pads[ax]?.[0] ?? 0) + (pads[ax]?.[1] ?? 0));
  const outStrides = stridesOf(shape);
  const base = x.shape.reduce((o, _, ax) => o + (pads[ax]?.[0] ?? 0) * outStrides[ax]!, 0);
  // Where each input element lands: walk the input's shape with the output's strides, starting at
  // the padded corner.
  const positions = stridedPositions(x.shape, outStrides, base);
  return put(x, positions, shape, value, 'pad');
}

/**
 * Joins tensors along `axis`; all other axes must match.
 *
 * @example
 * concat([zeros([2, 3]), ones([1, 3])]).shape; // [3, 3]
 */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) {
    throw new ValueError('concat', 'xs', 'at least one tensor', '0', 'needs at least one tensor');
  }
  const first = xs[0]!;
  const ax = normalizeAxis('concat', axis, first.ndim);
  xs.forEach((t, i) => {
    const ok = t.ndim === first.ndim && t.shape.every((d, k) => k === ax || d === first.shape[k]);
    if (!ok) {
      throw new ShapeError(
        'concat',
        `xs[${i}]`,
        fmtShape(first.shape.map((d, k) => (k === ax ? -1 : d))),
        fmtShape(t.shape),
        `xs[${i}] has shape ${fmtShape(t.shape)}, which differs from xs[0] ` +
          `${fmtShape(first.shape)} off axis ${ax}`,
      );
    }
    if (t.dtype !== first.dtype) {
      throw new DTypeError(
        'concat',
        `xs[${i}]`,
        first.dtype,
        t.dtype,
        `xs[${i}] is ${t.dtype}, xs[0] ${first.dtype}`,
      );
    }
  });
  const sizes = xs.map((t) => t.shape[ax]!);
  const shape = first.shape.map((d, k) => (k === ax ? sizes.reduce((a, b) => a + b, 0) : d));
  const outer = sizeOf(first.shape.slice(0, ax));
  const inner = sizeOf(first.shape.slice(ax + 1));
  const total = shape[ax]! * inner;
  const out = arrayFor(first.dtype, sizeOf(shape));
  let offset = 0;
  for (const t of xs) {
    const block = t.shape[ax]! * inner;
    for (let o = 0; o < outer; o++)
      out.set(t.data.subarray(o * block, (o + 1) * block), o * total + offset);
    offset += block;
  }
  // A copy of the list: the tape must not see tensors the caller pushes onto its array later.
  return record('concat', [...xs], new Tensor(out, shape), (gy, needs) => {
    let start = 0;
    return sizes.map((s, i) => {
      const r: SliceRange[] = shape.map(() => null);
      r[ax] = [start, start + s];
      start += s;
      return needs[i] ? slice(gy, r) : null;
    });
  });
}

/** `out[i] = x[positions[i]]` as a flat read; its vjp is `put`. Internal to the ops. */
export function take(x: Tensor, positions: Int32Array, shape: Shape, op: string): Tensor {
  const out = arrayFor(x.dtype, positions.length);
  const d = x.data;
  for (let i = 0; i < positions.length; i++) out[i] = d[positions[i]!]!;
  const inShape = x.shape;
  return record(op, [x], new Tensor(out, shape), (gy) => [
    put(gy, positions, inShape, 0, `${op} (vjp)`),
  ]);
}

/**
 * A tensor of `shape` filled with `fill`, with `x[i]` written at flat `positions[i]` (distinct);
 * its vjp is `take`. Internal to the ops.
 */
export function put(
  x: Tensor,
  positions: Int32Array,
  shape: Shape,
  fill: number,
  op: string,
): Tensor {
  const out = arrayFor(x.dtype, sizeOf(shape));
  if (fill !== 0) out.fill(fill);
  const d = x.data;
  for (let i = 0; i < positions.length; i++) out[positions[i]!] = d[i]!;
  const inShape = x.shape;
  return record(op, [x], new Tensor(out, shape), (gy) => [
    take(gy, positions, inShape, `${op} (vjp)`),
  ]);
}
