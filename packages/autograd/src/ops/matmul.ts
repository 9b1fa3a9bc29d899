/**
 * Matrix products. `matmul` multiplies the last two axes and broadcasts the leading (batch) axes.
 * Internally every product is `op(a) @ op(b)` with `op` a transpose or not, so the vjp needs no
 * transposed copies: each cotangent is again such a product.
 */
import { DTypeError, ShapeError, fmtShape } from '../errors.js';
import { getBackend } from '../backend/index.js';
import { broadcastShapes, sizeOf, stridesOf } from '../shape.js';
import { record } from '../tape.js';
import { Tensor, arrayFor } from '../tensor.js';
import { reshape } from './layout.js';

/**
 * The matrix product of the last two axes, `[..., m, k] @ [..., k, n] -> [..., m, n]`, with NumPy
 * broadcasting of the batch axes. A 1-D operand is a row (left) or a column (right) vector, and
 * that axis is dropped from the result.
 *
 * `transA` / `transB` multiply by the transpose of the last two axes of `a` / `b` without making
 * a transposed copy (`linear` uses `transB` for `x W^T`); they apply to operands of 2 or more axes.
 *
 * @example
 * matmul(randn([8, 3, 4]), randn([4, 5])) // [8, 3, 5]
 * matmul(randn([8, 3, 4]), randn([5, 4]), { transB: true }) // [8, 3, 5]
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(
      'matmul',
      a.ndim === 0 ? 'a' : 'b',
      'at least 1 axis',
      `${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
      `operands need at least one axis, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
    );
  }
  if (a.ndim === 1 || b.ndim === 1) {
    const a2 = a.ndim === 1 ? reshape(a, [1, a.shape[0]!]) : a;
    const b2 = b.ndim === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
    const ta = a.ndim !== 1 && (options.transA ?? false);
    const tb = b.ndim !== 1 && (options.transB ?? false);
    const y = matmulT(a2, b2, ta, tb, 'matmul', [a.shape, b.shape]);
    const shape = y.shape.slice(0, -2);
    if (a.ndim !== 1) shape.push(y.shape[y.ndim - 2]!);
    if (b.ndim !== 1) shape.push(y.shape[y.ndim - 1]!);
    return reshape(y, shape);
  }
  return matmulT(a, b, options.transA ?? false, options.transB ?? false, 'matmul');
}

/** Options of `matmul`. */
export interface MatmulOptions {
  /** Multiply by the transpose of `a`'s last two axes; default false. */
  transA?: boolean;
  /** Multiply by the transpose of `b`'s last two axes; default false. */
  transB?: boolean;
}

/**
 * `op(a) @ op(b)` where `op` transposes the last two axes when its flag is set. Broadcast batch
 * axes run as one kernel call per output matrix on views of the operands, so nothing is copied.
 */
export function matmulT(
  a: Tensor,
  b: Tensor,
  transA: boolean,
  transB: boolean,
  op = 'matmul',
  shown?: readonly (readonly number[])[],
): Tensor {
  if (a.ndim < 2 || b.ndim < 2) {
    throw new ShapeError(
      op,
      a.ndim < 2 ? 'a' : 'b',
      'at least 2 axes',
      `${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
      `operands need 2 axes, got ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}`,
    );
  }
  if (a.dtype !== b.dtype) {
    throw new DTypeError(
      op,
      'b',
      a.dtype,
      b.dtype,
      `operands have different dtypes: ${a.dtype} ${fmtShape(a.shape)} @ ${b.dtype} ` +
        fmtShape(b.shape),
    );
  }
  const ra = a.shape.slice(-2);
  const rb = b.shape.slice(-2);
  const [m, ka] = transA ? [ra[1]!, ra[0]!] : [ra[0]!, ra[1]!];
  const [kb, n] = transB ? [rb[1]!, rb[0]!] : [rb[0]!, rb[1]!];
  const [sa, sb] = shown ?? [a.shape, b.shape];
  if (ka !== kb) {
    throw new ShapeError(
      op,
      'b',
      `${ka} ${transB ? 'columns' : 'rows'} in b`,
      `${kb}`,
      `inner dimensions differ, ${fmtShape(sa!)} @ ${fmtShape(sb!)}`,
    );
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  let batch: number[];
  try {
    batch = broadcastShapes(op, batchA, batchB);
  } catch {
    throw new ShapeError(
      op,
      'b',
      `batch axes that broadcast with ${fmtShape(batchA)}`,
      fmtShape(batchB),
      `batch axes do not broadcast, ${fmtShape(sa!)} @ ${fmtShape(sb!)}`,
    );
  }
  const k = ka;
  const count = sizeOf(batch);
  const out = arrayFor(a.dtype, count * m * n);
  const backend = getBackend();
  const sameBatch = sizeOf(batchA) === count && sizeOf(batchB) === count;
  if (sameBatch) {
    backend.matmul({ a: a.data, b: b.data, out, batch: count, m, k, n, transA, transB });
  } else {
    const offA = batchOffsets(batch, batchA, m * k);
    const offB = batchOffsets(batch, batchB, k * n);
    for (let t = 0; t < count; t++) {
      backend.matmul({
        a: a.data.subarray(offA[t]!, offA[t]! + m * k),
        b: b.data.subarray(offB[t]!, offB[t]! + k * n),
        out: out.subarray(t * m * n, (t + 1) * m * n),
        batch: 1,
        m,
        k,
        n,
        transA,
        transB,
      });
    }
  }
  const y = new Tensor(out, [...batch, m, n]);
  // Saved: both operands. For C = op(A) op(B):
  //   dA = dC op(B)^T, or its transpose op(B) dC^T when A entered transposed;
  //   dB = op(A)^T dC, or its transpose dC^T op(A) when B entered transposed.
  return record(op, [a, b], y, (gy, needs) => [
    needs[0] ? (transA ? matmulT(b, gy, transB, true) : matmulT(gy, b, false, !transB)) : null,
    needs[1] ? (transB ? matmulT(gy, a, true, transA) : matmulT(a, gy, !transA, false)) : null,
  ]);
}

/** For each output batch index, the offset of the operand's matrix (broadcast axes repeat). */
function batchOffsets(batch: readonly number[], own: readonly number[], matrix: number): number[] {
  const lead = batch.length - own.length;
  const ownStrides = stridesOf(own);
  const outStrides = stridesOf(batch);
  const count = sizeOf(batch);
  const offsets = new Array<number>(count);
  for (let t = 0; t < count; t++) {
    let off = 0;
    for (let ax = lead; ax < batch.length; ax++) {
      const i = Math.floor(t / outStrides[ax]!) % batch[ax]!;
      if (own[ax - lead] !== 1) off += i * ownStrides[ax - lead]!;
    }
    offsets[t] = off * matrix;
  }
  return offsets;
}
