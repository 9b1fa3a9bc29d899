/**
 * The plain arrays of the manual run and the few checks every equation shares. A `ManualArray`
 * is a dense row-major buffer and its shape; nothing here knows about the autograd tape.
 */
import { DTypeError, ShapeError, fmtShape } from '@tapegrad/autograd';

/** The element types the manual run computes in. */
export type FloatArray = Float32Array | Float64Array;

/** A dense row-major array: `data.length` is the product of `shape`. */
export interface ManualArray {
  data: Float32Array | Float64Array;
  shape: readonly number[];
}

/** The number of elements of `shape`. */
export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/** A zero-filled array of `shape` with the element type of `like`. */
export function zerosLike(like: FloatArray, shape: readonly number[]): ManualArray {
  const size = sizeOf(shape);
  const data = like instanceof Float64Array ? new Float64Array(size) : new Float32Array(size);
  return { data, shape: [...shape] };
}

/**
 * Checks that `array` is a well-formed `ManualArray`: a Float32Array or Float64Array whose length
 * matches its shape of non-negative integers, of rank `rank` when one is given.
 */
export function checkArray(op: string, arg: string, array: ManualArray, rank?: number): void {
  const data: unknown = array?.data;
  if (!(data instanceof Float32Array || data instanceof Float64Array)) {
    const found = data === undefined || data === null ? String(data) : typeName(data);
    throw new DTypeError(
      op,
      arg,
      'Float32Array or Float64Array',
      found,
      `${arg} must hold a Float32Array or Float64Array, got ${found}`,
    );
  }
  const shape = array.shape;
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(
      op,
      arg,
      'a shape of non-negative integers',
      String(shape),
      `${arg} has an invalid shape ${String(shape)}`,
    );
  }
  if (rank !== undefined && shape.length !== rank) {
    throw new ShapeError(
      op,
      arg,
      `rank ${rank}`,
      fmtShape(shape),
      `${arg} must have rank ${rank}, got shape ${fmtShape(shape)}`,
    );
  }
  if (data.length !== sizeOf(shape)) {
    throw new ShapeError(
      op,
      arg,
      `${sizeOf(shape)} elements for ${fmtShape(shape)}`,
      `${data.length} elements`,
      `${arg} has ${data.length} elements but shape ${fmtShape(shape)} needs ${sizeOf(shape)}`,
    );
  }
}

/** Checks `array` (as `checkArray`) and that its shape is exactly `expected`. */
export function checkShape(
  op: string,
  arg: string,
  array: ManualArray,
  expected: readonly number[],
): void {
  checkArray(op, arg, array, expected.length);
  if (expected.some((d, i) => array.shape[i] !== d)) {
    throw new ShapeError(
      op,
      arg,
      fmtShape(expected),
      fmtShape(array.shape),
      `${arg} has shape ${fmtShape(array.shape)}, expected ${fmtShape(expected)}`,
    );
  }
}

/** Checks that `array` has the same element type as `reference` (argument `referenceArg`). */
export function checkSameType(
  op: string,
  arg: string,
  array: ManualArray,
  referenceArg: string,
  reference: ManualArray,
): void {
  const found = typeName(array.data);
  const wanted = typeName(reference.data);
  if (found !== wanted) {
    throw new DTypeError(
      op,
      arg,
      wanted,
      found,
      `${arg} is a ${found} but ${referenceArg} is a ${wanted}; use one element type`,
    );
  }
}

function typeName(value: unknown): string {
  if (value instanceof Float64Array) return 'Float64Array';
  if (value instanceof Float32Array) return 'Float32Array';
  if (typeof value === 'object' && value !== null) return value.constructor.name;
  return typeof value;
}
