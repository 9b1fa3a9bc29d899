import { DTypeError, GradientError, ShapeError, ValueError, fmtShape } from './errors.js';
import { Rng, defaultRng } from './random.js';
import { type Shape, checkShape, sizeOf } from './shape.js';
import { type BackwardOptions, type TapeNode, runBackward } from './tape.js';
import * as ew from './ops/elementwise.js';
import * as red from './ops/reduce.js';
import * as lay from './ops/layout.js';
import { type MatmulOptions, matmul } from './ops/matmul.js';
import { type FoldOptions, type WindowOptions, fold, unfold } from './ops/window.js';
import { gather, scatterAdd } from './ops/indexing.js';

/** The element type of a tensor: `float32` (the default) or `float64` (for gradient checks). */
export type DType = 'float32' | 'float64';
/** The typed array behind a tensor's `data`. */
export type FloatArray = Float32Array | Float64Array;
/** A nested array of numbers, as `toArray()` returns and `tensor()` takes. */
export type NestedArray = number | NestedArray[];
/** Where an op takes a tensor it also takes a plain number, as a constant of the other's dtype. */
export type TensorLike = Tensor | number;

/**
 * A dense, row-major tensor of `float32` (the default) or `float64` values. Tensors are immutable:
 * ops return new tensors, and `reshape` shares its input's data, so never write into `data` of a
 * tensor that an op has seen.
 */
export class Tensor {
  readonly data: FloatArray;
  readonly shape: Shape;
  readonly dtype: DType;
  readonly size: number;
  /** Whether gradients flow to this tensor; set on leaves by the user, on results by the tape. */
  requiresGrad: boolean;
  /** The accumulated gradient of a leaf after `backward`, or `null`. */
  grad: Tensor | null = null;
  /** The tape node of an op result; `null` for a leaf or an untracked result. */
  node: TapeNode | null = null;

  /** Wraps a typed array without copying; `tensor()` is the checked way to build one. */
  constructor(data: FloatArray, shape: Shape, requiresGrad = false) {
    if (data.length !== sizeOf(shape)) {
      throw new ShapeError(
        'Tensor',
        'data',
        `${sizeOf(shape)} values for shape ${fmtShape(shape)}`,
        `${data.length}`,
        `data has ${data.length} values but shape ${fmtShape(shape)} needs ${sizeOf(shape)}`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.dtype = data instanceof Float64Array ? 'float64' : 'float32';
    this.size = data.length;
    this.requiresGrad = requiresGrad;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** True for tensors made by the user (or detached), false for recorded op results. */
  get isLeaf(): boolean {
    return this.node === null;
  }

  /** Marks a leaf as needing gradients (or not) and returns it. */
  requireGrad(flag = true): this {
    if (this.node !== null) {
      throw new GradientError(
        'requireGrad',
        'this',
        'a leaf tensor',
        `result of ${this.node.op}`,
        `only leaf tensors can change requiresGrad; this one is the result of ${this.node.op}`,
      );
    }
    this.requiresGrad = flag;
    return this;
  }

  /** Clears the accumulated gradient. */
  zeroGrad(): void {
    this.grad = null;
  }

  /**
   * Reverse-mode differentiation from this tensor: accumulates `d this / d leaf` into `.grad` of
   * every leaf that needs a gradient. A non-scalar tensor needs the cotangent `gy`.
   */
  backward(gy?: Tensor, options: BackwardOptions = {}): void {
    if (gy === undefined && this.size !== 1) {
      throw new GradientError(
        'backward',
        'gy',
        'a scalar output or an explicit gy',
        fmtShape(this.shape),
        `backward on a non-scalar tensor of shape ${fmtShape(this.shape)} needs gy`,
      );
    }
    if (!this.requiresGrad) {
      throw new GradientError(
        'backward',
        'this',
        'a tensor that requires grad',
        'a constant',
        'this tensor does not depend on any tensor that requires grad',
      );
    }
    const g = gy ?? ones(this.shape, { dtype: this.dtype });
    checkCotangentShape('backward', this, g);
    runBackward(this, g, null, options);
  }

  /** The same values, cut from the tape: a leaf that needs no gradient. Shares data. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  /** A copy with its own data, cut from the tape. */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new ShapeError(
        'item',
        'this',
        'one element',
        fmtShape(this.shape),
        `item() needs a tensor of one element, got shape ${fmtShape(this.shape)}`,
      );
    }
    return this.data[0]!;
  }

  /** The values as nested arrays (a number for a scalar). */
  toArray(): NestedArray {
    return nest(this.data, this.shape, 0, 0);
  }

  /** Converts to another dtype; differentiable. */
  astype(dtype: DType): Tensor {
    return ew.astype(this, dtype);
  }

  toString(): string {
    const body = formatNested(this.data, this.shape);
    const grad = this.node
      ? `, grad_fn=${this.node.op}`
      : this.requiresGrad
        ? ', requiresGrad'
        : '';
    return `tensor(${body}, shape=${fmtShape(this.shape)}, dtype=${this.dtype}${grad})`;
  }

  neg(): Tensor {
    return ew.neg(this);
  }
  exp(): Tensor {
    return ew.exp(this);
  }
  log(): Tensor {
    return ew.log(this);
  }
  sqrt(): Tensor {
    return ew.sqrt(this);
  }
  abs(): Tensor {
    return ew.abs(this);
  }
  add(other: TensorLike): Tensor {
    return ew.add(this, other);
  }
  sub(other: TensorLike): Tensor {
    return ew.sub(this, other);
  }
  mul(other: TensorLike): Tensor {
    return ew.mul(this, other);
  }
  div(other: TensorLike): Tensor {
    return ew.div(this, other);
  }
  pow(other: TensorLike): Tensor {
    return ew.pow(this, other);
  }
  maximum(other: TensorLike): Tensor {
    return ew.maximum(this, other);
  }
  gt(other: TensorLike): Tensor {
    return ew.gt(this, other);
  }
  ge(other: TensorLike): Tensor {
    return ew.ge(this, other);
  }
  lt(other: TensorLike): Tensor {
    return ew.lt(this, other);
  }
  le(other: TensorLike): Tensor {
    return ew.le(this, other);
  }
  eq(other: TensorLike): Tensor {
    return ew.eq(this, other);
  }
  sum(axis?: number | readonly number[] | null, keepdims = false): Tensor {
    return red.sum(this, axis, keepdims);
  }
  mean(axis?: number | readonly number[] | null, keepdims = false): Tensor {
    return red.mean(this, axis, keepdims);
  }
  max(axis?: number | readonly number[] | null, keepdims = false): Tensor {
    return red.max(this, axis, keepdims);
  }
  matmul(other: Tensor, options: MatmulOptions = {}): Tensor {
    return matmul(this, other, options);
  }
  reshape(shape: Shape): Tensor {
    return lay.reshape(this, shape);
  }
  permute(axes: readonly number[]): Tensor {
    return lay.permute(this, axes);
  }
  transpose(axis0 = -2, axis1 = -1): Tensor {
    return lay.transpose(this, axis0, axis1);
  }
  broadcastTo(shape: Shape): Tensor {
    return lay.broadcastTo(this, shape);
  }
  slice(ranges: readonly lay.SliceRange[]): Tensor {
    return lay.slice(this, ranges);
  }
  pad(pads: readonly (readonly [number, number])[], value = 0): Tensor {
    return lay.pad(this, pads, value);
  }
  unfold(options: WindowOptions): Tensor {
    return unfold(this, options);
  }
  fold(options: FoldOptions): Tensor {
    return fold(this, options);
  }
  gather(axis: number, index: Tensor): Tensor {
    return gather(this, axis, index);
  }
  scatterAdd(axis: number, index: Tensor, src: Tensor): Tensor {
    return scatterAdd(this, axis, index, src);
  }
}

/** Throws unless a cotangent has the output's shape and dtype. */
export function checkCotangentShape(op: string, y: Tensor, gy: Tensor): void {
  if (gy.dtype !== y.dtype) {
    throw new DTypeError(op, 'gy', y.dtype, gy.dtype, `gy is ${gy.dtype}, the output ${y.dtype}`);
  }
  if (gy.shape.length !== y.shape.length || gy.shape.some((d, i) => d !== y.shape[i])) {
    throw new ShapeError(
      op,
      'gy',
      fmtShape(y.shape),
      fmtShape(gy.shape),
      `gy has shape ${fmtShape(gy.shape)}, the output ${fmtShape(y.shape)}`,
    );
  }
}

/** Options of `tensor()`. */
export interface TensorOptions {
  /** The shape of a flat input; default one axis (nested arrays give their own). */
  shape?: Shape;
  /** Default: `float64` for a `Float64Array`, else `float32`. */
  dtype?: DType;
  /** Default false. */
  requiresGrad?: boolean;
}

export function arrayFor(dtype: DType, n: number): FloatArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** Throws unless `dtype` is one tapegrad knows. Internal to the package. */
export function checkDType(op: string, dtype: string): asserts dtype is DType {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new DTypeError(op, 'dtype', 'float32 or float64', dtype, `unknown dtype ${dtype}`);
  }
}

/**
 * Builds a tensor from a number, nested arrays, a flat array or a typed array. A flat input takes
 * its shape from `shape` (default: one axis); nested arrays give their own, which `shape` must
 * match in size. The dtype defaults to that of a typed array, else `float32`. Data is copied.
 *
 * @example
 * const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
 */
export function tensor(
  values: NestedArray | ArrayLike<number>,
  options: TensorOptions = {},
): Tensor {
  const inferred = values instanceof Float64Array ? 'float64' : 'float32';
  const dtype = options.dtype ?? inferred;
  checkDType('tensor', dtype);
  let flat: ArrayLike<number>;
  let shape: Shape;
  if (typeof values === 'number') {
    flat = [values];
    shape = [];
  } else if (Array.isArray(values) && values.some((v) => Array.isArray(v))) {
    const nested = flattenNested(values as NestedArray[]);
    flat = nested.flat;
    shape = nested.shape;
  } else {
    flat = values as ArrayLike<number>;
    shape = [flat.length];
  }
  if (options.shape !== undefined) {
    checkShape('tensor', 'shape', options.shape);
    if (sizeOf(options.shape) !== flat.length) {
      throw new ShapeError(
        'tensor',
        'shape',
        `${flat.length} values`,
        fmtShape(options.shape),
        `data has ${flat.length} values but shape ${fmtShape(options.shape)} needs ` +
          `${sizeOf(options.shape)}`,
      );
    }
    shape = options.shape;
  }
  const data = arrayFor(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) data[i] = Number(flat[i]);
  return new Tensor(data, shape, options.requiresGrad ?? false);
}

function flattenNested(values: NestedArray[]): { flat: number[]; shape: number[] } {
  const shape: number[] = [];
  let level: NestedArray = values;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0] ?? 0;
  }
  const flat: number[] = [];
  const walk = (v: NestedArray, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (typeof v !== 'number') throw raggedError(path, 'a number', 'an array');
      flat.push(v);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      const got = Array.isArray(v) ? `length ${v.length}` : 'a number';
      throw raggedError(path, `length ${shape[depth]}`, got);
    }
    v.forEach((c, i) => walk(c, depth + 1, `${path}[${i}]`));
  };
  walk(values, 0, 'values');
  return { flat, shape };
}

function raggedError(path: string, expected: string, actual: string): ShapeError {
  return new ShapeError(
    'tensor',
    path,
    expected,
    actual,
    `ragged nested array: ${path} is ${actual}, expected ${expected}`,
  );
}

function nest(data: FloatArray, shape: Shape, axis: number, offset: number): NestedArray {
  if (axis === shape.length) return data[offset]!;
  const n = shape[axis]!;
  const step = sizeOf(shape.slice(axis + 1));
  const out: NestedArray[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = nest(data, shape, axis + 1, offset + i * step);
  return out;
}

function formatNested(data: FloatArray, shape: Shape): string {
  const fmt = (v: number): string => {
    if (Number.isInteger(v) && Math.abs(v) < 1e6) return String(v);
    const a = Math.abs(v);
    return a !== 0 && (a < 1e-4 || a >= 1e6)
      ? v.toExponential(4)
      : String(Number(v.toPrecision(5)));
  };
  const limit = 6;
  const rec = (axis: number, offset: number): string => {
    if (axis === shape.length) return fmt(data[offset]!);
    const n = shape[axis]!;
    const step = sizeOf(shape.slice(axis + 1));
    const idx =
      n > limit ? [0, 1, 2, -1, n - 3, n - 2, n - 1] : Array.from({ length: n }, (_, i) => i);
    const parts = idx.map((i) => (i < 0 ? '...' : rec(axis + 1, offset + i * step)));
    const sep = axis === shape.length - 1 ? ', ' : `,\n${' '.repeat(8 + axis)}`;
    return `[${parts.join(sep)}]`;
  };
  return rec(0, 0);
}

/** Options of the constructors `zeros`, `ones`, `full`, `arange`, `eye`. */
export interface CreateOptions {
  /** Default `float32`. */
  dtype?: DType;
  /** Default false. */
  requiresGrad?: boolean;
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: Shape, value: number, options: CreateOptions = {}): Tensor {
  return filled('full', shape, value, options);
}

/** `full` that names its caller (`zeros`, `rand`...) in errors. */
function filled(op: string, shape: Shape, value: number, options: CreateOptions): Tensor {
  checkShape(op, 'shape', shape);
  const dtype = options.dtype ?? 'float32';
  checkDType(op, dtype);
  const data = arrayFor(dtype, sizeOf(shape));
  data.fill(value);
  return new Tensor(data, shape, options.requiresGrad ?? false);
}

/** A tensor of `shape` filled with 0. */
export function zeros(shape: Shape, options: CreateOptions = {}): Tensor {
  return filled('zeros', shape, 0, options);
}

/** A tensor of `shape` filled with 1. */
export function ones(shape: Shape, options: CreateOptions = {}): Tensor {
  return filled('ones', shape, 1, options);
}

/** `zeros` with the shape and dtype of `like`. */
export function zerosLike(like: Tensor): Tensor {
  return full(like.shape, 0, { dtype: like.dtype });
}

/** `ones` with the shape and dtype of `like`. */
export function onesLike(like: Tensor): Tensor {
  return full(like.shape, 1, { dtype: like.dtype });
}

/** `[start, start + step, ...]` below `stop`, as `arange(stop)` or `arange(start, stop, step)`. */
export function arange(
  start: number,
  stop?: number,
  step = 1,
  options: CreateOptions = {},
): Tensor {
  const [lo, hi] = stop === undefined ? [0, start] : [start, stop];
  for (const [arg, v] of [
    ['start', start],
    ['stop', stop ?? 0],
  ] as const) {
    if (!Number.isFinite(v)) {
      throw new ValueError(
        'arange',
        arg,
        'a finite number',
        String(v),
        `${arg} must be finite, got ${v}`,
      );
    }
  }
  if (step === 0 || !Number.isFinite(step)) {
    throw new ValueError(
      'arange',
      'step',
      'a finite non-zero step',
      String(step),
      `step must be non-zero and finite, got ${step}`,
    );
  }
  const n = Math.max(0, Math.ceil((hi - lo) / step));
  const dtype = options.dtype ?? 'float32';
  checkDType('arange', dtype);
  const data = arrayFor(dtype, n);
  for (let i = 0; i < n; i++) data[i] = lo + i * step;
  return new Tensor(data, [n], options.requiresGrad ?? false);
}

/** The `n x m` identity (`m` defaults to `n`). */
export function eye(n: number, m = n, options: CreateOptions = {}): Tensor {
  checkShape('eye', 'shape', [n, m]);
  const t = zeros([n, m], options);
  for (let i = 0; i < Math.min(n, m); i++) t.data[i * m + i] = 1;
  return t;
}

/** Options of `rand` and `randn`. */
export interface RandomOptions extends CreateOptions {
  /** The generator to draw from; default the seeded default generator (`manualSeed`). */
  rng?: Rng;
}

/** Uniform samples in `[low, high)` (default `[0, 1)`) from `rng` or the default generator. */
export function rand(
  shape: Shape,
  options: RandomOptions & { low?: number; high?: number } = {},
): Tensor {
  const t = filled('rand', shape, 0, options);
  const rng = options.rng ?? defaultRng();
  const low = options.low ?? 0;
  const span = (options.high ?? 1) - low;
  for (let i = 0; i < t.size; i++) t.data[i] = low + span * rng.uniform();
  return t;
}

/** Normal samples (default mean 0, std 1) from `rng` or the default generator. */
export function randn(
  shape: Shape,
  options: RandomOptions & { mean?: number; std?: number } = {},
): Tensor {
  const t = filled('randn', shape, 0, options);
  const rng = options.rng ?? defaultRng();
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  for (let i = 0; i < t.size; i++) t.data[i] = mean + std * rng.normal();
  return t;
}

/** A number becomes a scalar constant of `like`'s dtype; a tensor is returned as it is. */
export function asTensor(v: TensorLike, like: Tensor): Tensor {
  if (typeof v !== 'number') return v;
  const data = arrayFor(like.dtype, 1);
  data[0] = v;
  return new Tensor(data, []);
}
