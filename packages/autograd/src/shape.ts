import { AxisError, ShapeError, ValueError, fmtShape } from './errors.js';

/** A tensor shape: one non-negative integer per axis, outermost first. */
export type Shape = readonly number[];

/** The number of elements of a shape; 1 for a scalar `[]`. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides, in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Throws unless every entry is a non-negative integer. */
export function checkShape(op: string, arg: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ValueError(
        op,
        arg,
        'non-negative integer sizes',
        fmtShape(shape),
        `${arg} must hold non-negative integer sizes, got ${fmtShape(shape)}`,
      );
    }
  }
}

/** NumPy broadcasting: align trailing axes; a size of 1 stretches. */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new ShapeError(
        op,
        'b',
        fmtShape(a),
        fmtShape(b),
        `shapes ${fmtShape(a)} and ${fmtShape(b)} do not broadcast (axis ${i - n}: ${da} vs ${db})`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Normalises an axis (negative counts from the end) and checks its range. */
export function normalizeAxis(op: string, axis: number, rank: number, arg = 'axis'): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new AxisError(
      op,
      arg,
      `an integer in [${-rank}, ${rank - 1}]`,
      String(axis),
      `${arg} ${axis} is out of range for a tensor of rank ${rank}`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

/**
 * Normalises an axis or list of axes, sorted and checked for repeats; `undefined` or `null` means
 * every axis.
 */
export function normalizeAxes(
  op: string,
  axis: number | readonly number[] | undefined | null,
  rank: number,
): number[] {
  if (axis === undefined || axis === null) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof axis === 'number' ? [axis] : axis;
  const out = list.map((a) => normalizeAxis(op, a, rank));
  const seen = new Set<number>();
  for (let i = 0; i < out.length; i++) {
    if (seen.has(out[i]!)) {
      throw new AxisError(
        op,
        'axis',
        'distinct axes',
        `[${list.join(',')}]`,
        `axis ${list[i]} is repeated in [${list.join(',')}]`,
      );
    }
    seen.add(out[i]!);
  }
  return out.sort((x, y) => x - y);
}
