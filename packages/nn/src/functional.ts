/**
 * The functional layer: convolution, pooling, activations and losses, each a composite of
 * @tapegrad/autograd primitives. None has a hand-written gradient: autograd derives every one
 * from the primitives' vjps, so the formulas here are the whole story.
 */
import {
  DTypeError,
  type Pair,
  ShapeError,
  TapegradError,
  type Tensor,
  ValueError,
  abs,
  add,
  div,
  exp,
  fmtShape,
  gather,
  ge,
  gt,
  log,
  lt,
  matmul,
  max,
  mean,
  mul,
  neg,
  normalizeAxis,
  pad,
  reshape,
  sub,
  sum,
  tensor,
  unfold,
  where,
} from '@tapegrad/autograd';

/** Options of `conv2d` and `Conv2d`. */
/**
 * Runs an autograd primitive on behalf of an nn op, so a bad window (stride, padding, a kernel
 * larger than the padded input) is reported as the nn op the user called, with the same fields.
 */
function asOp<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (!(err instanceof TapegradError) || err.op === op) throw err;
    const Kind = err.constructor as new (
      op: string,
      arg: string,
      expected: string,
      actual: string,
      message: string,
    ) => TapegradError;
    throw new Kind(op, err.arg, err.expected, err.actual, err.message.replace(/^[^:]*: /, ''));
  }
}

export interface Conv2dOptions {
  /** Default 1. */
  stride?: Pair;
  /** Zero padding on both sides; default 0. */
  padding?: Pair;
  /** Spacing between kernel taps; default 1. */
  dilation?: Pair;
  /** Only 1 is supported. */
  groups?: number;
}

/** Throws unless `t` (argument `arg`) has the dtype of the input `x`. */
function checkDType(op: string, arg: string, t: Tensor, x: Tensor): void {
  if (t.dtype !== x.dtype) {
    throw new DTypeError(op, arg, x.dtype, t.dtype, `${arg} is ${t.dtype}, the input ${x.dtype}`);
  }
}

function pairOf(v: Pair | undefined, fallback: number): [number, number] {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/**
 * 2-D convolution of `x` `[N, C_in, H, W]` with `weight` `[C_out, C_in, kH, kW]` and an optional
 * `bias` `[C_out]`, giving `[N, C_out, H_out, W_out]` with
 * `H_out = floor((H + 2 padding - dilation (kH - 1) - 1) / stride) + 1` (likewise `W_out`).
 *
 * This is cross-correlation, as in every framework: the kernel is not flipped. (A textbook
 * convolution rotates it by 180 degrees first.) Computed as `unfold` (im2col), one matrix product
 * with the flattened kernels, a reshape and the bias.
 *
 * @example
 * conv2d(randn([2, 1, 28, 28]), randn([8, 1, 5, 5]), zeros([8])).shape; // [2, 8, 24, 24]
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  options: Conv2dOptions = {},
): Tensor {
  if ((options.groups ?? 1) !== 1) {
    throw new ValueError(
      'conv2d',
      'groups',
      '1',
      String(options.groups),
      'groups > 1 is not supported',
    );
  }
  if (x.ndim !== 4) {
    throw new ShapeError(
      'conv2d',
      'x',
      '[N, C_in, H, W]',
      fmtShape(x.shape),
      `input must be [N, C_in, H, W], got ${fmtShape(x.shape)}`,
    );
  }
  if (weight.ndim !== 4) {
    throw new ShapeError(
      'conv2d',
      'weight',
      '[C_out, C_in, kH, kW]',
      fmtShape(weight.shape),
      `weight must be [C_out, C_in, kH, kW], got ${fmtShape(weight.shape)}`,
    );
  }
  const [n, c] = x.shape as [number, number];
  const [cout, cin, kh, kw] = weight.shape as [number, number, number, number];
  if (c !== cin) {
    throw new ShapeError(
      'conv2d',
      'x',
      `${cin} channels`,
      `${c}`,
      `input has ${c} channels, weight expects ${cin} (${fmtShape(weight.shape)})`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== cout)) {
    throw new ShapeError(
      'conv2d',
      'bias',
      `[${cout}]`,
      fmtShape(bias.shape),
      `bias must be [${cout}] for weight ${fmtShape(weight.shape)}, got ${fmtShape(bias.shape)}`,
    );
  }
  checkDType('conv2d', 'weight', weight, x);
  if (bias) checkDType('conv2d', 'bias', bias, x);
  const cols = asOp('conv2d', () =>
    unfold(x, {
      kernelSize: [kh, kw],
      stride: pairOf(options.stride, 1),
      padding: pairOf(options.padding, 0),
      dilation: pairOf(options.dilation, 1),
    }),
  );
  const [oh, ow] = outputSize(x.shape, [kh, kw], options);
  const y = reshape(matmul(reshape(weight, [cout, cin * kh * kw]), cols), [n, cout, oh, ow]);
  return bias ? add(y, reshape(bias, [1, cout, 1, 1])) : y;
}

function outputSize(
  shape: readonly number[],
  k: [number, number],
  o: Conv2dOptions,
): [number, number] {
  const [sh, sw] = pairOf(o.stride, 1);
  const [ph, pw] = pairOf(o.padding, 0);
  const [dh, dw] = pairOf(o.dilation, 1);
  return [
    Math.floor((shape[2]! + 2 * ph - dh * (k[0] - 1) - 1) / sh) + 1,
    Math.floor((shape[3]! + 2 * pw - dw * (k[1] - 1) - 1) / sw) + 1,
  ];
}

/** Options of `maxPool2d`, `avgPool2d` and their layers. */
export interface Pool2dOptions {
  /** `[kH, kW]` of the window. */
  kernelSize: Pair;
  /** Default: the kernel size (non-overlapping windows). */
  stride?: Pair;
  /** Padding on both sides, at most half the kernel; default 0. */
  padding?: Pair;
}

/** The windows of `x` as `[N, C, kH*kW, H_out*W_out]`, and the output size. */
function poolWindows(
  op: string,
  x: Tensor,
  o: Pool2dOptions,
  fill: number,
): [Tensor, number, number] {
  if (x.ndim !== 4) {
    throw new ShapeError(
      op,
      'x',
      '[N, C, H, W]',
      fmtShape(x.shape),
      `input must be [N, C, H, W], got ${fmtShape(x.shape)}`,
    );
  }
  const k = pairOf(o.kernelSize, 1);
  const s = o.stride === undefined ? k : pairOf(o.stride, 1);
  const p = pairOf(o.padding, 0);
  if (p[0] * 2 > k[0] || p[1] * 2 > k[1]) {
    throw new ValueError(
      op,
      'padding',
      `at most half the kernel ${k.join('x')}`,
      p.join('x'),
      `padding ${p.join('x')} is more than half the kernel ${k.join('x')}`,
    );
  }
  const [n, c, h, w] = x.shape as [number, number, number, number];
  // Padding is applied with `fill` (-inf for max pooling, so a padded tap never wins), then
  // unfold runs without padding of its own.
  const xp =
    p[0] + p[1] > 0
      ? pad(
          x,
          [
            [0, 0],
            [0, 0],
            [p[0], p[0]],
            [p[1], p[1]],
          ],
          fill,
        )
      : x;
  const cols = asOp(op, () => unfold(xp, { kernelSize: k, stride: s }));
  const oh = Math.floor((h + 2 * p[0] - k[0]) / s[0]) + 1;
  const ow = Math.floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
  return [reshape(cols, [n, c, k[0] * k[1], oh * ow]), oh, ow];
}

/**
 * Max pooling of `x` `[N, C, H, W]` to `[N, C, H_out, W_out]`,
 * `H_out = floor((H + 2 padding - kH) / stride) + 1`. The gradient of each window goes to one
 * position: the first maximum in row-major window order (PAPER.md, backward step 4). Padded taps
 * are `-inf`, so they never win.
 *
 * @example
 * maxPool2d(randn([2, 8, 24, 24]), { kernelSize: 2 }).shape; // [2, 8, 12, 12]
 */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  const [windows, oh, ow] = poolWindows('maxPool2d', x, options, -Infinity);
  return reshape(max(windows, 2), [x.shape[0]!, x.shape[1]!, oh, ow]);
}

/**
 * Average pooling of `x` `[N, C, H, W]`, sizes as `maxPool2d`; padded taps count as zeros in the
 * mean. The gradient spreads evenly over each window.
 *
 * @example
 * const x = randn([2, 8, 24, 24]);
 * avgPool2d(x, { kernelSize: 3, stride: 1, padding: 1 }).shape; // [2, 8, 24, 24]
 */
export function avgPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  const [windows, oh, ow] = poolWindows('avgPool2d', x, options, 0);
  return reshape(mean(windows, 2), [x.shape[0]!, x.shape[1]!, oh, ow]);
}

/**
 * `max(0, x)`, with derivative 0 at 0 (PAPER.md's `g'`).
 *
 * @example
 * relu(tensor([-1, 0, 2])); // [0, 0, 2]
 */
export function relu(x: Tensor): Tensor {
  return where(gt(x, 0), x, 0);
}

/**
 * The logistic sigmoid `1 / (1 + e^-x)`, evaluated through `e = exp(-|x|)` on both sides so that
 * no branch overflows: finite values and finite gradients for any input, ±1e3 included.
 *
 * @example
 * sigmoid(tensor([-1000, 0, 1000])); // [0, 0.5, 1]
 */
export function sigmoid(x: Tensor): Tensor {
  // `-|x|` written as a `where`, not `neg(abs(x))`: the vjp of `abs` is 0 at 0, which would give
  // sigmoid a zero gradient at x = 0 instead of 1/4. Here the taken branch carries slope -1.
  const e = exp(where(ge(x, 0), neg(x), x));
  const onePlus = add(e, 1);
  return where(ge(x, 0), div(1, onePlus), div(e, onePlus));
}

/**
 * `tanh(x) = 2 sigmoid(2x) - 1`, stable for the same reason as `sigmoid`.
 *
 * @example
 * tanh(tensor([0, 1000])); // [0, 1]
 */
export function tanh(x: Tensor): Tensor {
  return sub(mul(sigmoid(mul(x, 2)), 2), 1);
}

/**
 * `log(sum(exp(x)))` over `axis`, computed as `m + log(sum(exp(x - m)))` with `m` the (detached)
 * maximum, so large inputs do not overflow. Detaching `m` changes no gradient: the shift cancels.
 * An infinite maximum shifts by 0 instead (`inf - inf` would be NaN), so a row of `-inf` gives
 * `-inf` and a row holding `+inf` gives `+inf`.
 *
 * @example
 * logsumexp(tensor([[1000, 1000], [0, 0]])); // [1000 + log 2, log 2]
 */
export function logsumexp(x: Tensor, axis = -1, keepdims = false): Tensor {
  const ax = normalizeAxis('logsumexp', axis, x.ndim);
  const top = max(x, ax, true).detach();
  const m = where(lt(abs(top), Infinity), top, 0);
  const lse = add(log(sum(exp(sub(x, m)), ax, true)), m);
  return keepdims
    ? lse
    : reshape(
        lse,
        lse.shape.filter((_, i) => i !== ax),
      );
}

/**
 * `exp(x - m) / sum(exp(x - m))` along `axis`, `m` the detached maximum: rows that sum to 1.
 * Not `exp(logSoftmax(x))`, which adds the rounding of `m + log(sum)` (about `|m|` ulps: 2e-4
 * relative in float32 for logits near 1e4).
 *
 * @example
 * softmax(tensor([[1, 1], [0, 1e4]])); // [[0.5, 0.5], [0, 1]]
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  const ax = normalizeAxis('softmax', axis, x.ndim);
  const e = exp(sub(x, max(x, ax, true).detach()));
  return div(e, sum(e, ax, true));
}

/**
 * `(x - m) - log(sum(exp(x - m)))` along `axis`, `m` the detached maximum; never
 * `log(softmax(x))`. Subtracting `m` first keeps the result accurate for large logits (see
 * `softmax`); the shift changes no gradient.
 *
 * @example
 * logSoftmax(tensor([[0, 0]])); // [[-log 2, -log 2]]
 */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const ax = normalizeAxis('logSoftmax', axis, x.ndim);
  const shifted = sub(x, max(x, ax, true).detach());
  return sub(shifted, log(sum(exp(shifted), ax, true)));
}

/**
 * A dense layer: `x W^T + b` for `x` `[..., in]`, `weight` `[out, in]`, `bias` `[out]`, giving
 * `[..., out]`.
 *
 * @example
 * linear(randn([32, 784]), randn([128, 784]), zeros([128])).shape; // [32, 128]
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  if (weight.ndim !== 2) {
    throw new ShapeError(
      'linear',
      'weight',
      '[out, in]',
      fmtShape(weight.shape),
      `weight must be [out, in], got ${fmtShape(weight.shape)}`,
    );
  }
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== weight.shape[1]) {
    throw new ShapeError(
      'linear',
      'x',
      `[..., ${weight.shape[1]}]`,
      fmtShape(x.shape),
      `input ${fmtShape(x.shape)} does not match weight ${fmtShape(weight.shape)} ([out, in])`,
    );
  }
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) {
    throw new ShapeError(
      'linear',
      'bias',
      `[${weight.shape[0]}]`,
      fmtShape(bias.shape),
      `bias must be [${weight.shape[0]}] for weight ${fmtShape(weight.shape)}, ` +
        `got ${fmtShape(bias.shape)}`,
    );
  }
  checkDType('linear', 'weight', weight, x);
  if (bias) checkDType('linear', 'bias', bias, x);
  const y = matmul(x, weight, { transB: true });
  return bias ? add(y, bias) : y;
}

/**
 * Keeps the axes before `startAxis` and joins the rest: `[N, C, H, W] -> [N, C*H*W]`.
 * `startAxis` must be an axis of `x` (negative counts from the end); a scalar flattens to `[1]`
 * with `startAxis = 0`. An empty batch stays empty: `[0, C, H, W] -> [0, C*H*W]`.
 *
 * @example
 * flatten(randn([2, 8, 12, 12])).shape; // [2, 1152]
 */
export function flatten(x: Tensor, startAxis = 1): Tensor {
  const start =
    x.ndim === 0 && startAxis === 0 ? 0 : normalizeAxis('flatten', startAxis, x.ndim, 'startAxis');
  // The joined size is computed, not left to a -1: a -1 cannot be inferred when a kept axis is 0.
  const joined = x.shape.slice(start).reduce((n, d) => n * d, 1);
  return reshape(x, [...x.shape.slice(0, start), joined]);
}

/** Class indices (a tensor of integer values, or numbers) or probability rows `[N, K]`. */
export type Targets = Tensor | readonly number[];

/**
 * Softmax cross-entropy from `logits` `[N, K]`, averaged over the batch:
 * `mean_n(logsumexp(z_n) - z_n[t_n])` for class indices `t`, or
 * `-(1/N) sum_n sum_k y_nk log softmax(z_n)_k` for probability rows `y`. Stable for logits of
 * any magnitude.
 *
 * @example
 * const logits = randn([4, 10], { requiresGrad: true });
 * crossEntropy(logits, [3, 1, 4, 1]).backward(); // logits.grad = (softmax - onehot) / 4
 */
export function crossEntropy(logits: Tensor, targets: Targets): Tensor {
  if (logits.ndim !== 2) {
    throw new ShapeError(
      'crossEntropy',
      'logits',
      '[N, K]',
      fmtShape(logits.shape),
      `logits must be [N, K], got ${fmtShape(logits.shape)}`,
    );
  }
  const [n, k] = logits.shape as [number, number];
  if (!Array.isArray(targets) && (targets as Tensor).ndim === 2) {
    const probs = targets as Tensor;
    if (probs.shape[0] !== n || probs.shape[1] !== k) {
      throw new ShapeError(
        'crossEntropy',
        'targets',
        fmtShape(logits.shape),
        fmtShape(probs.shape),
        `probability targets ${fmtShape(probs.shape)} must match logits ${fmtShape(logits.shape)}`,
      );
    }
    return div(neg(sum(mul(probs, logSoftmax(logits, 1)))), n);
  }
  const values = Array.isArray(targets)
    ? (targets as readonly number[])
    : Array.from((targets as Tensor).data);
  const shape = Array.isArray(targets) ? [values.length] : (targets as Tensor).shape;
  if (shape.length !== 1 || values.length !== n) {
    throw new ShapeError(
      'crossEntropy',
      'targets',
      `[${n}] class indices or [${n}, ${k}] probabilities`,
      fmtShape(shape),
      `targets ${fmtShape(shape)} do not match logits ${fmtShape(logits.shape)}`,
    );
  }
  values.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= k) {
      throw new ValueError(
        'crossEntropy',
        'targets',
        `class indices in [0, ${k - 1}]`,
        String(t),
        `target ${t} at position ${i} is not a class index in [0, ${k - 1}]`,
      );
    }
  });
  const index = tensor(values, { shape: [n, 1], dtype: logits.dtype });
  // `-logSoftmax(z)[t]`, which is `logsumexp(z) - z[t]` computed without the rounding of the
  // large sum `m + log(...)`.
  return neg(mean(gather(logSoftmax(logits, 1), 1, index)));
}

/**
 * Mean squared error `mean((prediction - target)^2)`; the shapes must match (no broadcasting).
 *
 * @example
 * mse(tensor([1, 2]), tensor([1, 4])); // 2
 */
export function mse(prediction: Tensor, target: Tensor): Tensor {
  if (
    prediction.shape.length !== target.shape.length ||
    prediction.shape.some((d, i) => d !== target.shape[i])
  ) {
    throw new ShapeError(
      'mse',
      'target',
      fmtShape(prediction.shape),
      fmtShape(target.shape),
      `target ${fmtShape(target.shape)} does not match prediction ${fmtShape(prediction.shape)}`,
    );
  }
  const d = sub(prediction, target);
  return mean(mul(d, d));
}
