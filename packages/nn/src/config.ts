/**
 * The configuration of the paper's network (see /work/shared/PAPER.md): one convolution, one
 * activation, one pooling layer, a flatten and `L` dense layers ending in `K` softmax logits.
 * Both the manual run and the autograd composite read the same resolved config, so their shapes
 * and parameter names cannot drift apart.
 */
import { ShapeError, ValueError, fmtShape } from '@tapegrad/autograd';

/** The non-linearity `g`: ReLU or the logistic sigmoid. */
export type Activation = 'relu' | 'sigmoid';

/** Max pooling (the paper) or average pooling (the usual alternative). */
export type PoolKind = 'max' | 'avg';

/** A fully resolved and validated configuration; build one with `resolvePaperCNNConfig`. */
export interface PaperCNNConfig {
  /** Input channels `C`; the paper's grey images have 1, any `C >= 1` works. */
  inChannels: number;
  /** Image size `[H, W]`. */
  inputSize: readonly [number, number];
  /** Number of filters `F`. */
  filters: number;
  /** Kernel size `[m, n]`. */
  kernelSize: readonly [number, number];
  /** Convolution stride `s`, on both axes; there is no padding. */
  stride: number;
  pooling: PoolKind;
  /** Pooling window and stride `q`: non-overlapping windows, a ragged edge is dropped (floor). */
  poolSize: number;
  /** Widths `d_1..d_{L-1}` of the hidden dense layers; empty for a single dense layer. */
  hidden: readonly number[];
  /** `g`, applied to the convolution maps. */
  activation: Activation;
  /** Applied to the hidden dense layers; the last layer is always the softmax. */
  denseActivation: Activation;
  /** Number of classes `K`, the width of the last dense layer. */
  classes: number;
}

/**
 * The options accepted by `resolvePaperCNNConfig`: every field of `PaperCNNConfig`, optional,
 * with `inputSize` and `kernelSize` also accepted as one number for a square.
 */
export interface PaperCNNOptions {
  inChannels?: number | undefined;
  inputSize?: number | readonly [number, number] | undefined;
  filters?: number | undefined;
  kernelSize?: number | readonly [number, number] | undefined;
  stride?: number | undefined;
  pooling?: PoolKind | undefined;
  poolSize?: number | undefined;
  hidden?: readonly number[] | undefined;
  activation?: Activation | undefined;
  denseActivation?: Activation | undefined;
  classes?: number | undefined;
}

/** The sizes of every stage of the network, as `paperCNNShapes` returns them. */
export interface PaperCNNShapes {
  /** `[H', W']` with `H' = floor((H - m) / s) + 1`. */
  conv: [number, number];
  /** `[Hp, Wp]` with `Hp = floor(H' / q)`. */
  pooled: [number, number];
  /** `D = F * Hp * Wp`, the width of the flattened vector `f`. */
  flat: number;
  /** `d_0..d_L`: `d_0 = D`, then the hidden widths, then `d_L = K`. */
  dense: number[];
}

const OP = 'PaperCNN';

/** The defaults, defined once: the paper's MNIST-sized network. */
const DEFAULTS = {
  inChannels: 1,
  inputSize: [28, 28],
  filters: 8,
  kernelSize: [5, 5],
  stride: 1,
  pooling: 'max',
  poolSize: 2,
  hidden: [128],
  activation: 'relu',
  denseActivation: 'sigmoid',
  classes: 10,
} as const satisfies PaperCNNConfig;

const ACTIVATIONS: readonly Activation[] = ['relu', 'sigmoid'];
const POOL_KINDS: readonly PoolKind[] = ['max', 'avg'];

/**
 * Fills in the defaults and validates the result.
 *
 * @example
 * ```ts
 * const config = resolvePaperCNNConfig({ inputSize: 12, kernelSize: 3, hidden: [] });
 * // config.kernelSize is [3, 3]; paperCNNShapes(config).conv is [10, 10]
 * ```
 * @throws ValueError for a size that is not a positive integer or an unknown activation or
 *   pooling kind; ShapeError when the kernel does not fit the image or the pool window does not
 *   fit the convolution output. Both name op `PaperCNN` and the field.
 */
export function resolvePaperCNNConfig(options: PaperCNNOptions = {}): PaperCNNConfig {
  const config: PaperCNNConfig = {
    inChannels: options.inChannels ?? DEFAULTS.inChannels,
    inputSize: toPair('inputSize', options.inputSize ?? DEFAULTS.inputSize),
    filters: options.filters ?? DEFAULTS.filters,
    kernelSize: toPair('kernelSize', options.kernelSize ?? DEFAULTS.kernelSize),
    stride: options.stride ?? DEFAULTS.stride,
    pooling: options.pooling ?? DEFAULTS.pooling,
    poolSize: options.poolSize ?? DEFAULTS.poolSize,
    // A copy, so the caller's array can change without changing the config.
    hidden: Array.isArray(options.hidden)
      ? [...options.hidden]
      : (options.hidden ?? [...DEFAULTS.hidden]),
    activation: options.activation ?? DEFAULTS.activation,
    denseActivation: options.denseActivation ?? DEFAULTS.denseActivation,
    classes: options.classes ?? DEFAULTS.classes,
  };
  paperCNNShapes(config);
  return config;
}

/**
 * The size of every stage for `config`, which it validates first (so a hand-built config gets
 * the same checks as a resolved one).
 */
export function paperCNNShapes(config: PaperCNNConfig): PaperCNNShapes {
  checkPositiveInteger('inChannels', config.inChannels);
  checkPair('inputSize', config.inputSize);
  checkPositiveInteger('filters', config.filters);
  checkPair('kernelSize', config.kernelSize);
  checkPositiveInteger('stride', config.stride);
  checkEnum('pooling', config.pooling, POOL_KINDS);
  checkPositiveInteger('poolSize', config.poolSize);
  if (!Array.isArray(config.hidden)) {
    throw new ValueError(
      OP,
      'hidden',
      'an array of widths',
      String(config.hidden),
      'hidden must be an array of widths',
    );
  }
  config.hidden.forEach((width, l) => checkPositiveInteger(`hidden[${l}]`, width, 'hidden'));
  checkEnum('activation', config.activation, ACTIVATIONS);
  checkEnum('denseActivation', config.denseActivation, ACTIVATIONS);
  checkPositiveInteger('classes', config.classes);

  const [h, w] = config.inputSize;
  const [m, n] = config.kernelSize;
  if (m > h || n > w) {
    throw new ShapeError(
      OP,
      'kernelSize',
      `at most the input size ${fmtShape([h, w])}`,
      fmtShape([m, n]),
      `kernelSize ${fmtShape([m, n])} does not fit inputSize ${fmtShape([h, w])}`,
    );
  }
  const conv: [number, number] = [
    Math.floor((h - m) / config.stride) + 1,
    Math.floor((w - n) / config.stride) + 1,
  ];
  const q = config.poolSize;
  if (q > conv[0] || q > conv[1]) {
    throw new ShapeError(
      OP,
      'poolSize',
      `at most the convolution output ${fmtShape(conv)}`,
      String(q),
      `poolSize ${q} does not fit the convolution output ${fmtShape(conv)}`,
    );
  }
  const pooled: [number, number] = [Math.floor(conv[0] / q), Math.floor(conv[1] / q)];
  const flat = config.filters * pooled[0] * pooled[1];
  return { conv, pooled, flat, dense: [flat, ...config.hidden, config.classes] };
}

/**
 * The shape of every parameter, keyed by the name both runs use, in this order: `conv.weight`
 * `[F, C, m, n]`, `conv.bias` `[F]`, then `dense.{l}.weight` `[d_{l+1}, d_l]` and
 * `dense.{l}.bias` `[d_{l+1}]` for `l = 0..L-1`. Layer `l` here is the paper's layer `l + 1`.
 */
export function paperCNNParameterShapes(config: PaperCNNConfig): Record<string, readonly number[]> {
  const { dense } = paperCNNShapes(config);
  const [m, n] = config.kernelSize;
  const shapes: Record<string, readonly number[]> = {
    'conv.weight': [config.filters, config.inChannels, m, n],
    'conv.bias': [config.filters],
  };
  for (let l = 0; l + 1 < dense.length; l++) {
    shapes[`dense.${l}.weight`] = [dense[l + 1]!, dense[l]!];
    shapes[`dense.${l}.bias`] = [dense[l + 1]!];
  }
  return shapes;
}

function toPair(field: string, value: number | readonly number[]): readonly [number, number] {
  if (typeof value === 'number') return [value, value];
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ValueError(
      OP,
      field,
      'a number or a pair [rows, cols]',
      describe(value),
      `${field} must be a number or a pair, got ${describe(value)}`,
    );
  }
  return [value[0], value[1]];
}

function checkPair(field: string, value: readonly number[]): void {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ValueError(
      OP,
      field,
      'a pair [rows, cols]',
      describe(value),
      `${field} must be a pair, got ${describe(value)}`,
    );
  }
  checkPositiveInteger(`${field}[0]`, value[0]!, field);
  checkPositiveInteger(`${field}[1]`, value[1]!, field);
}

function checkPositiveInteger(label: string, value: number, field: string = label): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new ValueError(
      OP,
      field,
      'a positive integer',
      describe(value),
      `${label} must be a positive integer, got ${describe(value)}`,
    );
  }
}

function checkEnum<T extends string>(field: string, value: T, allowed: readonly T[]): void {
  if (!allowed.includes(value)) {
    const names = allowed.map((a) => `'${a}'`).join(' or ');
    throw new ValueError(
      OP,
      field,
      names,
      describe(value),
      `${field} must be ${names}, got ${describe(value)}`,
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (Array.isArray(value)) return fmtShape(value as number[]);
  return String(value);
}
