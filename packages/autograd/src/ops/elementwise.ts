/**
 * Element-wise primitives: unary maps, binary maps with NumPy broadcasting, comparisons and
 * `where`. Each op's forward sits next to its vjp. A binary vjp returns cotangents of the
 * broadcast output's shape; the tape sums them back (see Note [broadcast in vjp] in tape.ts).
 */
import { DTypeError, fmtShape } from '../errors.js';
import { broadcastShapes, sameShape, sizeOf, stridesOf } from '../shape.js';
import { record } from '../tape.js';
import {
  type DType,
  type FloatArray,
  Tensor,
  type TensorLike,
  arrayFor,
  asTensor,
  checkDType,
} from '../tensor.js';

/**
 * Note [kernel per op]: every op gets its own loop function, written out, rather than one loop
 * calling a callback: V8 then compiles each loop for its one operation, where a shared loop over
 * many callbacks would stay slow (megamorphic). A kernel reads `a[ao + i * as]`, so the same
 * code serves equal shapes (stride 1), a scalar (stride 0) and one row of a broadcast.
 */
type UnaryKernel = (src: FloatArray, out: FloatArray) => void;
type BinaryKernel = (
  a: FloatArray,
  ao: number,
  as: number,
  b: FloatArray,
  bo: number,
  bs: number,
  out: FloatArray,
  oo: number,
  n: number,
) => void;

function mapUnary(x: Tensor, kernel: UnaryKernel): Tensor {
  const out = arrayFor(x.dtype, x.size);
  kernel(x.data, out);
  return new Tensor(out, x.shape);
}

/** Both operands as tensors of one dtype; a plain number takes the other's dtype. */
function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (typeof a === 'number' && typeof b === 'number') {
    throw new DTypeError(op, 'a', 'at least one tensor', 'two numbers', 'needs a tensor operand');
  }
  const ta = typeof a === 'number' ? asTensor(a, b as Tensor) : a;
  const tb = asTensor(b, ta);
  if (ta.dtype !== tb.dtype) {
    throw new DTypeError(
      op,
      'b',
      ta.dtype,
      tb.dtype,
      `operands have different dtypes: a is ${ta.dtype} ${fmtShape(ta.shape)}, ` +
        `b is ${tb.dtype} ${fmtShape(tb.shape)}`,
    );
  }
  return [ta, tb];
}

/** A binary kernel over the broadcast shape, with fast paths for equal shapes and scalars. */
export function mapBinary(op: string, a: Tensor, b: Tensor, kernel: BinaryKernel): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  const n = sizeOf(shape);
  const out = arrayFor(a.dtype, n);
  if (
    a.size === n &&
    (b.size === n || b.size === 1) &&
    (b.size === 1 || sameShape(a.shape, b.shape))
  ) {
    kernel(a.data, 0, 1, b.data, 0, b.size === 1 ? 0 : 1, out, 0, n);
  } else if (a.size === 1 && b.size === n) {
    kernel(a.data, 0, 0, b.data, 0, 1, out, 0, n);
  } else if (n > 0) {
    broadcastLoop(shape, a, b, out, kernel);
  }
  return new Tensor(out, shape);
}

function broadcastStrides(shape: readonly number[], of: readonly number[]): number[] {
  const own = stridesOf(of);
  const lead = shape.length - of.length;
  return shape.map((_, i) => (i < lead || of[i - lead] === 1 ? 0 : own[i - lead]!));
}

/**
 * Merges neighbouring axes that both operands walk the same way (each stride equals the next
 * axis's stride times its size, zeros included), so `[32,8,24,24] + [1,8,1,1]` runs as rows of
 * 576 elements instead of rows of 24.
 */
function coalesce(
  shape: readonly number[],
  ta: number[],
  tb: number[],
): [number[], number[], number[]] {
  const dims = [shape[0]!];
  const sa = [ta[0]!];
  const sb = [tb[0]!];
  for (let i = 1; i < shape.length; i++) {
    const k = dims.length - 1;
    if (sa[k] === ta[i]! * shape[i]! && sb[k] === tb[i]! * shape[i]!) {
      dims[k]! *= shape[i]!;
      sa[k] = ta[i]!;
      sb[k] = tb[i]!;
    } else {
      dims.push(shape[i]!);
      sa.push(ta[i]!);
      sb.push(tb[i]!);
    }
  }
  return [dims, sa, sb];
}

function broadcastLoop(
  shape: readonly number[],
  a: Tensor,
  b: Tensor,
  out: FloatArray,
  kernel: BinaryKernel,
): void {
  const [dims, ta, tb] = coalesce(
    shape,
    broadcastStrides(shape, a.shape),
    broadcastStrides(shape, b.shape),
  );
  shape = dims;
  const rank = shape.length;
  const inner = shape[rank - 1]!;
  const ia = ta[rank - 1]!;
  const ib = tb[rank - 1]!;
  const idx = new Array<number>(rank).fill(0);
  const n = out.length;
  let oa = 0;
  let ob = 0;
  for (let o = 0; o < n; o += inner) {
    kernel(a.data, oa, ia, b.data, ob, ib, out, o, inner);
    // Odometer over the outer axes.
    for (let ax = rank - 2; ax >= 0; ax--) {
      idx[ax]!++;
      oa += ta[ax]!;
      ob += tb[ax]!;
      if (idx[ax]! < shape[ax]!) break;
      oa -= ta[ax]! * shape[ax]!;
      ob -= tb[ax]! * shape[ax]!;
      idx[ax] = 0;
    }
  }
}

// The kernels, one loop each (see Note [kernel per op]). The four arithmetic ones also have
// loops without stride multiplies for the common equal-shape and scalar cases (1.5x faster).
const negK: UnaryKernel = (s, o) => {
  for (let i = 0; i < o.length; i++) o[i] = -s[i]!;
};
const expK: UnaryKernel = (s, o) => {
  for (let i = 0; i < o.length; i++) o[i] = Math.exp(s[i]!);
};
const logK: UnaryKernel = (s, o) => {
  for (let i = 0; i < o.length; i++) o[i] = Math.log(s[i]!);
};
const sqrtK: UnaryKernel = (s, o) => {
  for (let i = 0; i < o.length; i++) o[i] = Math.sqrt(s[i]!);
};
const absK: UnaryKernel = (s, o) => {
  for (let i = 0; i < o.length; i++) o[i] = Math.abs(s[i]!);
};
const signK: UnaryKernel = (s, o) => {
  for (let i = 0; i < o.length; i++) o[i] = Math.sign(s[i]!);
};
const addK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  if (as === 1 && bs === 1) {
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! + b[bo + i]!;
  } else if (as === 1 && bs === 0) {
    const v = b[bo]!;
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! + v;
  } else {
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as]! + b[bo + i * bs]!;
  }
};
const subK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  if (as === 1 && bs === 1) {
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! - b[bo + i]!;
  } else if (as === 1 && bs === 0) {
    const v = b[bo]!;
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! - v;
  } else {
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as]! - b[bo + i * bs]!;
  }
};
const mulK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  if (as === 1 && bs === 1) {
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! * b[bo + i]!;
  } else if (as === 1 && bs === 0) {
    const v = b[bo]!;
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! * v;
  } else {
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as]! * b[bo + i * bs]!;
  }
};
const divK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  if (as === 1 && bs === 1) {
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! / b[bo + i]!;
  } else if (as === 1 && bs === 0) {
    const v = b[bo]!;
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i]! / v;
  } else {
    for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as]! / b[bo + i * bs]!;
  }
};
const powK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  for (let i = 0; i < n; i++) o[oo + i] = Math.pow(a[ao + i * as]!, b[bo + i * bs]!);
};
// On a tie (and for a NaN in `a`) the maximum is `a`, matching the vjp's tie rule.
const maxK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  for (let i = 0; i < n; i++) {
    const u = a[ao + i * as]!;
    const v = b[bo + i * bs]!;
    o[oo + i] = u >= v || u !== u ? u : v;
  }
};
/** 1 where `maximum` took `a` (`a >= b`, or `a` is NaN), else 0: the vjp's routing mask. */
const takeAK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  for (let i = 0; i < n; i++) {
    const u = a[ao + i * as]!;
    o[oo + i] = +(u >= b[bo + i * bs]! || u !== u);
  }
};
// `+(a > b)` rather than `a > b ? 1 : 0`: see Note [branch-free select].
const gtK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  for (let i = 0; i < n; i++) o[oo + i] = +(a[ao + i * as]! > b[bo + i * bs]!);
};
const geK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  for (let i = 0; i < n; i++) o[oo + i] = +(a[ao + i * as]! >= b[bo + i * bs]!);
};
const ltK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  for (let i = 0; i < n; i++) o[oo + i] = +(a[ao + i * as]! < b[bo + i * bs]!);
};
const leK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  for (let i = 0; i < n; i++) o[oo + i] = +(a[ao + i * as]! <= b[bo + i * bs]!);
};
const eqK: BinaryKernel = (a, ao, as, b, bo, bs, o, oo, n) => {
  for (let i = 0; i < n; i++) o[oo + i] = +(a[ao + i * as]! === b[bo + i * bs]!);
};
/** Copies `a` (broadcast): used to expand an operand to the output's shape. */
const firstK: BinaryKernel = (a, ao, as, _b, _bo, _bs, o, oo, n) => {
  for (let i = 0; i < n; i++) o[oo + i] = a[ao + i * as]!;
};
function whereK(
  c: FloatArray,
  cs: number,
  x: FloatArray,
  xs: number,
  y: FloatArray,
  ys: number,
  o: FloatArray,
): void {
  // Note [branch-free select]: a data-dependent `c ? x : y` mispredicts on about half the
  // elements of a ReLU mask and ran 4x slower. The select works on the bit patterns instead: the
  // mask is all ones where c != 0 (NaN counts as true), so no value of either branch is ever
  // used in arithmetic, and an inf or NaN in the untaken branch cannot leak through.
  const xi = words(x);
  const yi = words(y);
  const oi = words(o);
  if (o instanceof Float32Array && cs === 1 && xs === 1 && ys === 0) {
    // The ReLU shape, forward and backward: where(mask, x, 0).
    const yv = yi[0]!;
    for (let i = 0; i < o.length; i++) {
      const m = -(c[i] !== 0) | 0;
      oi[i] = (xi[i]! & m) | (yv & ~m);
    }
  } else if (o instanceof Float32Array) {
    for (let i = 0; i < o.length; i++) {
      const m = -(c[i * cs] !== 0) | 0;
      oi[i] = (xi[i * xs]! & m) | (yi[i * ys]! & ~m);
    }
  } else {
    for (let i = 0; i < o.length; i++) {
      const m = -(c[i * cs] !== 0) | 0;
      const xo = 2 * i * xs;
      const yo = 2 * i * ys;
      oi[2 * i] = (xi[xo]! & m) | (yi[yo]! & ~m);
      oi[2 * i + 1] = (xi[xo + 1]! & m) | (yi[yo + 1]! & ~m);
    }
  }
}

/** The 32-bit words under a float array (one per float32, two per float64). */
function words(a: FloatArray): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.byteLength / 4);
}

/**
 * Converts to another dtype; the vjp converts the cotangent back.
 *
 * @example
 * tensor([1, 2]).astype('float64').dtype; // 'float64'
 */
export function astype(x: Tensor, dtype: DType): Tensor {
  checkDType('astype', dtype);
  if (dtype === x.dtype) return x;
  const out = arrayFor(dtype, x.size);
  out.set(x.data);
  const from = x.dtype;
  return record('astype', [x], new Tensor(out, x.shape), (gy) => [astype(gy, from)]);
}

/** `-x`. */
export function neg(x: Tensor): Tensor {
  return record('neg', [x], mapUnary(x, negK), (gy) => [neg(gy)]);
}

/** `e^x`. */
export function exp(x: Tensor): Tensor {
  const y = mapUnary(x, expK);
  // Saved: the output, since exp' = exp.
  return record('exp', [x], y, (gy) => [mul(gy, y)]);
}

/** The natural logarithm; `-inf` at 0 and NaN below. */
export function log(x: Tensor): Tensor {
  return record('log', [x], mapUnary(x, logK), (gy) => [div(gy, x)]);
}

/** The square root; its gradient at 0 is `inf`. */
export function sqrt(x: Tensor): Tensor {
  const y = mapUnary(x, sqrtK);
  return record('sqrt', [x], y, (gy) => [div(gy, mul(y, 2))]);
}

/** `|x|`; its gradient at 0 is taken as 0. */
export function abs(x: Tensor): Tensor {
  // The derivative at 0 is taken as 0 (the sign function).
  return record('abs', [x], mapUnary(x, absK), (gy) => [mul(gy, sign(x))]);
}

/** -1, 0 or 1: a constant for the tape (the derivative is zero almost everywhere). */
function sign(x: Tensor): Tensor {
  return mapUnary(x, signK);
}

/**
 * `a + b` with NumPy broadcasting; a number is a constant of the other operand's dtype. Like
 * every binary op, both operands must have one dtype.
 *
 * @example
 * add(tensor([[1, 2], [3, 4]]), tensor([10, 20])); // [[11, 22], [13, 24]]
 */
export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('add', a, b);
  return record('add', [x, y], mapBinary('add', x, y, addK), (gy) => [gy, gy]);
}

/** `a - b` with broadcasting (see `add`). */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('sub', a, b);
  return record('sub', [x, y], mapBinary('sub', x, y, subK), (gy, needs) => [
    gy,
    needs[1] ? neg(gy) : null,
  ]);
}

/** `a * b`, element-wise with broadcasting (see `add`; `matmul` is the matrix product). */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('mul', a, b);
  return record('mul', [x, y], mapBinary('mul', x, y, mulK), (gy, needs) => [
    needs[0] ? mul(gy, y) : null,
    needs[1] ? mul(gy, x) : null,
  ]);
}

/** `a / b` with broadcasting (see `add`). */
export function div(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('div', a, b);
  return record('div', [x, y], mapBinary('div', x, y, divK), (gy, needs) => [
    needs[0] ? div(gy, y) : null,
    needs[1] ? neg(div(mul(gy, x), mul(y, y))) : null,
  ]);
}

/**
 * `a ** b`. The cotangent of `a` is `gy b a^(b-1)`; where `b = 0` it is 0 (`a^0` is constant),
 * so `0^0` does not turn into `0 * 0^-1 = NaN`. The cotangent of `b` is `gy a^b log a`; where
 * `a = 0` it is taken as 0 (the limit for `b > 0`), so a zero base does not turn into
 * `0 * -inf = NaN`.
 *
 * @example
 * pow(tensor([1, 2, 3]), 2); // [1, 4, 9]
 */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('pow', a, b);
  return record('pow', [x, y], mapBinary('pow', x, y, powK), (gy, needs) => [
    needs[0] ? where(eq(y, 0), 0, mul(gy, mul(y, pow(x, sub(y, 1))))) : null,
    needs[1] ? where(eq(x, 0), 0, mul(gy, mul(pow(x, y), log(where(eq(x, 0), 1, x))))) : null,
  ]);
}

/**
 * The element-wise maximum; on a tie the gradient goes to `a`, the first operand.
 *
 * @example
 * maximum(tensor([1, 5]), 3); // [3, 5]
 */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands('maximum', a, b);
  const out = mapBinary('maximum', x, y, maxK);
  return record('maximum', [x, y], out, (gy, needs) => {
    // The same choice as the forward kernel, NaN included, so the cotangent goes to the operand
    // whose value was taken. A constant for the tape, like a comparison.
    const takeA = mapBinary('maximum', x, y, takeAK);
    return [needs[0] ? where(takeA, gy, 0) : null, needs[1] ? where(takeA, 0, gy) : null];
  });
}

function comparison(op: string, f: BinaryKernel) {
  return (a: TensorLike, b: TensorLike): Tensor => {
    const [x, y] = operands(op, a, b);
    // A comparison has no gradient. Its result records a node without a vjp, so backward through
    // it fails loudly instead of returning a silent zero.
    return record(op, [x, y], mapBinary(op, x, y, f), null);
  };
}

/** 1 where `a > b`, else 0. No gradient. */
export const gt = comparison('gt', gtK);
/** 1 where `a >= b`, else 0. No gradient. */
export const ge = comparison('ge', geK);
/** 1 where `a < b`, else 0. No gradient. */
export const lt = comparison('lt', ltK);
/** 1 where `a <= b`, else 0. No gradient. */
export const le = comparison('le', leK);
/** 1 where `a == b`, else 0. No gradient. */
export const eq = comparison('eq', eqK);

/**
 * `a` where `cond` is non-zero, else `b`, with broadcasting over all three. The cotangent goes to
 * the branch that was taken and is exactly 0 on the other, so an `inf` in the untaken branch
 * never reaches the gradient. `cond` gets none.
 *
 * @example
 * const x = tensor([-1, 2]);
 * where(gt(x, 0), x, 0); // [0, 2], a ReLU
 */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  // Two plain numbers take the dtype of `cond`.
  const [x, y] = operands(
    'where',
    typeof a === 'number' && typeof b === 'number' ? asTensor(a, cond) : a,
    b,
  );
  if (cond.dtype !== x.dtype) {
    throw new DTypeError(
      'where',
      'cond',
      x.dtype,
      cond.dtype,
      `cond is ${cond.dtype}, a is ${x.dtype}`,
    );
  }
  const shape = broadcastShapes('where', broadcastShapes('where', cond.shape, x.shape), y.shape);
  const n = sizeOf(shape);
  const c = cond.size === 1 ? cond.data : expand(cond, shape);
  const xa = x.size === 1 ? x.data : expand(x, shape);
  const ya = y.size === 1 ? y.data : expand(y, shape);
  const out = arrayFor(x.dtype, n);
  whereK(c, c.length === n ? 1 : 0, xa, xa.length === n ? 1 : 0, ya, ya.length === n ? 1 : 0, out);
  return record('where', [cond, x, y], new Tensor(out, shape), (gy, needs) => [
    null,
    needs[1] ? where(cond, gy, 0) : null,
    needs[2] ? where(cond, 0, gy) : null,
  ]);
}

/** The values of `t` broadcast to `shape`, as a flat array (no copy when already that shape). */
function expand(t: Tensor, shape: readonly number[]): FloatArray {
  if (sameShape(t.shape, shape)) return t.data;
  return mapBinary('where', t, new Tensor(arrayFor(t.dtype, sizeOf(shape)), shape), firstK).data;
}
