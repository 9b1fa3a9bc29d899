/**
 * Indexing primitives along one axis: `gather` reads `x` at integer positions; `scatterAdd` adds
 * values into those positions. Each is the other's vjp. Indices are given as a tensor of
 * integer values (of any float dtype) with the same rank as `x`.
 */
import { DTypeError, ShapeError, ValueError, fmtShape } from '../errors.js';
import { normalizeAxis, sizeOf, stridesOf } from '../shape.js';
import { record } from '../tape.js';
import { Tensor, arrayFor } from '../tensor.js';

/**
 * The flat position in `x` (of `xShape`) of every element of `index`, where the `axis` coordinate
 * is replaced by the index value. Checks rank, extents and that values are in-range integers.
 */
function positions(op: string, xShape: readonly number[], axis: number, index: Tensor): Int32Array {
  if (index.ndim !== xShape.length) {
    throw new ShapeError(
      op,
      'index',
      `rank ${xShape.length}`,
      fmtShape(index.shape),
      `index of shape ${fmtShape(index.shape)} must have the rank of ${fmtShape(xShape)}`,
    );
  }
  index.shape.forEach((d, i) => {
    if (i !== axis && d > xShape[i]!) {
      throw new ShapeError(
        op,
        'index',
        `axis ${i} at most ${xShape[i]}`,
        fmtShape(index.shape),
        `index ${fmtShape(index.shape)} is larger than ${fmtShape(xShape)} on axis ${i}`,
      );
    }
  });
  const xs = stridesOf(xShape);
  const rank = index.ndim;
  const out = new Int32Array(index.size);
  const idx = new Array<number>(rank).fill(0);
  const dim = xShape[axis]!;
  for (let o = 0; o < index.size; o++) {
    const v = index.data[o]!;
    if (!Number.isInteger(v) || v < -dim || v >= dim) {
      throw new ValueError(
        op,
        'index',
        `integers in [${-dim}, ${dim - 1}]`,
        String(v),
        `index value ${v} at flat position ${o} is not an integer in [${-dim}, ${dim - 1}] ` +
          `for axis ${axis} of ${fmtShape(xShape)}`,
      );
    }
    let off = 0;
    for (let ax = 0; ax < rank; ax++)
      off += (ax === axis ? (v < 0 ? v + dim : v) : idx[ax]!) * xs[ax]!;
    out[o] = off;
    for (let ax = rank - 1; ax >= 0; ax--) {
      idx[ax]!++;
      if (idx[ax]! < index.shape[ax]!) break;
      idx[ax] = 0;
    }
  }
  return out;
}

/**
 * `out[i][j][k] = x[i][index[i][j][k]][k]` for `axis = 1` (likewise for any axis); the result has
 * the shape of `index`. The vjp scatter-adds the cotangent back, so repeated indices accumulate.
 *
 * @example
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * gather(x, 1, tensor([[2], [0]])); // [[3], [4]]
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const ax = normalizeAxis('gather', axis, x.ndim);
  const pos = positions('gather', x.shape, ax, index);
  return gatherAt(x, pos, index, ax);
}

function gatherAt(x: Tensor, pos: Int32Array, index: Tensor, axis: number): Tensor {
  const out = arrayFor(x.dtype, pos.length);
  for (let i = 0; i < pos.length; i++) out[i] = x.data[pos[i]!]!;
  const xShape = x.shape;
  return record('gather', [x], new Tensor(out, index.shape), (gy) => [
    scatterAt(new Tensor(arrayFor(gy.dtype, sizeOf(xShape)), xShape), pos, index, gy, axis),
  ]);
}

/**
 * A copy of `x` with `src[i][j][k]` added at `[i][index[i][j][k]][k]` for `axis = 1`; `src` has
 * the shape of `index`, and repeated indices add up.
 *
 * @example
 * scatterAdd(zeros([2, 3]), 1, tensor([[2], [0]]), ones([2, 1])); // [[0, 0, 1], [1, 0, 0]]
 */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  const ax = normalizeAxis('scatterAdd', axis, x.ndim);
  if (src.ndim !== index.ndim || src.shape.some((d, i) => d !== index.shape[i])) {
    throw new ShapeError(
      'scatterAdd',
      'src',
      fmtShape(index.shape),
      fmtShape(src.shape),
      `src of shape ${fmtShape(src.shape)} must have the shape of index ${fmtShape(index.shape)}`,
    );
  }
  if (src.dtype !== x.dtype) {
    throw new DTypeError(
      'scatterAdd',
      'src',
      x.dtype,
      src.dtype,
      `src is ${src.dtype}, x is ${x.dtype}`,
    );
  }
  const pos = positions('scatterAdd', x.shape, ax, index);
  return scatterAt(x, pos, index, src, ax);
}

function scatterAt(x: Tensor, pos: Int32Array, index: Tensor, src: Tensor, axis: number): Tensor {
  const out = x.data.slice();
  for (let i = 0; i < pos.length; i++) out[pos[i]!] += src.data[i]!;
  return record('scatterAdd', [x, src], new Tensor(out, x.shape), (gy, needs) => [
    needs[0] ? gy : null,
    needs[1] ? gatherAt(gy, pos, index, axis) : null,
  ]);
}
