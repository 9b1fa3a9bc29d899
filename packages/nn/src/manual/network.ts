/**
 * The whole manual run of PAPER.md: the forward equations 1-6 chained, and the backward
 * equations 1-6 chained in reverse, each step one call to the function named after it. Nothing
 * here touches the autograd tape; it is the reference the composite network is tested against.
 */
import { ShapeError, ValueError, fmtShape } from '@tapegrad/autograd';

import { type PaperCNNConfig, paperCNNParameterShapes, paperCNNShapes } from '../config.js';
import { activationBackward, activationForward } from './activation.js';
import { type ManualArray, checkArray, checkSameType, checkShape } from './array.js';
import {
  convBiasGradient,
  convInputGradient,
  convKernelGradient,
  convolutionForward,
} from './conv.js';
import {
  denseBiasGradient,
  denseForward,
  denseInputGradient,
  denseWeightGradient,
  flattenMaps,
  unflattenMaps,
} from './dense.js';
import {
  type ManualTargets,
  checkTargets,
  crossEntropyLoss,
  softmaxCrossEntropyDelta,
  softmaxRows,
} from './loss.js';
import { avgPoolBackward, avgPoolForward, maxPoolBackward, maxPoolForward } from './pool.js';

/**
 * Parameters by the names of `paperCNNParameterShapes`: `conv.weight` `[F, C, m, n]`,
 * `conv.bias` `[F]`, `dense.{l}.weight` `[d_{l+1}, d_l]`, `dense.{l}.bias` `[d_{l+1}]`.
 */
export type ManualParams = Record<string, ManualArray>;

/**
 * Every intermediate of the forward run. Dense layers are numbered from 0 like the parameters:
 * layer `l` here is the paper's layer `l + 1`.
 */
export interface ManualForward {
  /** The input `X`, `[N, C, H, W]`, as given. */
  x: ManualArray;
  /** Convolution output before the activation, `[N, F, H', W']` (equation 1). */
  C: ManualArray;
  /** Activated maps `g(C)`, `[N, F, H', W']` (equation 2). */
  A: ManualArray;
  /** Pooled maps, `[N, F, Hp, Wp]` (equation 3). */
  P: ManualArray;
  /** For max pooling, the flat index into `A` that won each element of `P`; else `null`. */
  argmax: Int32Array | null;
  /** `P` flattened, `[N, D]` (equation 4). */
  f: ManualArray;
  /** `z[l]`, the pre-activation of dense layer `l`, `[N, d_{l+1}]` (equation 5). */
  z: ManualArray[];
  /** `a[l]`, the input of dense layer `l`: `a[0] = f`, then the hidden activations. */
  a: ManualArray[];
  /** The last `z`, `[N, K]`. */
  logits: ManualArray;
  /** `softmax(logits)`, `[N, K]` (equation 5, last layer). */
  probs: ManualArray;
}

/** The result of `manualBackward`. */
export interface ManualBackward {
  /** `E`, as `manualLoss` gives it. */
  loss: number;
  /** `dE/dtheta` for every parameter: same names, order, shapes and element type. */
  grads: Record<string, ManualArray>;
  /** Every gradient the backward run passes through, by the name of what it is taken against. */
  intermediates: {
    /** `delta^L = dE/dlogits`, `[N, K]` (backward equation 1). */
    dLogits: ManualArray;
    /** `delta[l] = dE/dz[l]`, `[N, d_{l+1}]`; the last one is `dLogits` (equation 2). */
    delta: ManualArray[];
    /** `dE/df`, `[N, D]` (equation 3). */
    dF: ManualArray;
    /** `dE/dP`, `[N, F, Hp, Wp]` (equation 3). */
    dP: ManualArray;
    /** `dE/dA`, `[N, F, H', W']` (equation 4). */
    dA: ManualArray;
    /** `dE/dC`, `[N, F, H', W']` (equation 5). */
    dC: ManualArray;
    /** `dE/dX`, `[N, C, H, W]` (equation 6). */
    dX: ManualArray;
  };
}

/**
 * The forward run, equations 1-5: convolution, activation, pooling, flatten, dense layers and
 * the softmax.
 *
 * @param config a resolved configuration (validated again here)
 * @param params every parameter of `paperCNNParameterShapes(config)`, one element type
 * @param x images `[N, C, H, W]` with `N >= 1`, of the same element type as `params`
 * @throws ShapeError / DTypeError / ValueError naming op `manualForward` and the argument
 */
export function manualForward(
  config: PaperCNNConfig,
  params: ManualParams,
  x: ManualArray,
): ManualForward {
  const op = 'manualForward';
  const layers = checkInputs(op, config, params, x);

  const C = convolutionForward(x, params['conv.weight']!, params['conv.bias']!, config.stride);
  const A = activationForward(C, config.activation);
  let P: ManualArray;
  let argmax: Int32Array | null = null;
  if (config.pooling === 'max') {
    ({ output: P, argmax } = maxPoolForward(A, config.poolSize));
  } else {
    P = avgPoolForward(A, config.poolSize);
  }
  const f = flattenMaps(P);

  const a: ManualArray[] = [f];
  const z: ManualArray[] = [];
  for (let l = 0; l < layers; l++) {
    z.push(denseForward(a[l]!, params[`dense.${l}.weight`]!, params[`dense.${l}.bias`]!));
    if (l + 1 < layers) a.push(activationForward(z[l]!, config.denseActivation));
  }
  const logits = z[layers - 1]!;
  const probs = softmaxRows(logits);
  return { x, C, A, P, argmax, f, z, a, logits, probs };
}

/**
 * Forward equation 6: the mean cross-entropy of a forward run, computed stably from the logits
 * as `logsumexp(z) - z[target]`.
 *
 * @param targets `N` class indices, or `[N, K]` probability rows
 */
export function manualLoss(forward: ManualForward, targets: ManualTargets): number {
  const op = 'manualLoss';
  checkArray(op, 'forward.logits', forward?.logits, 2);
  const [batch, classes] = forward.logits.shape as [number, number];
  checkTargets(op, targets, batch, classes);

  return crossEntropyLoss(forward.logits, targets);
}

/**
 * The backward run, equations 1-6 in reverse: the softmax-cross-entropy delta, the dense
 * gradients layer by layer, back through the flatten, the pooling and the activation, and the
 * three convolution gradients.
 *
 * @param forward the result of `manualForward(config, params, x)` for the same config and params
 * @param targets `N` class indices, or `[N, K]` probability rows
 * @throws ShapeError / DTypeError / ValueError naming op `manualBackward` and the argument
 */
export function manualBackward(
  config: PaperCNNConfig,
  params: ManualParams,
  forward: ManualForward,
  targets: ManualTargets,
): ManualBackward {
  const op = 'manualBackward';
  const layers = checkInputs(op, config, params, forward?.x);
  checkForward(op, config, forward, layers);
  const [batch, classes] = forward.logits.shape as [number, number];
  checkTargets(op, targets, batch, classes);

  const loss = crossEntropyLoss(forward.logits, targets);
  const dLogits = softmaxCrossEntropyDelta(forward.probs, targets);

  const denseGrads: Record<string, ManualArray> = {};
  const delta: ManualArray[] = new Array<ManualArray>(layers);
  delta[layers - 1] = dLogits;
  let dF: ManualArray | undefined;
  for (let l = layers - 1; l >= 0; l--) {
    const weight = params[`dense.${l}.weight`]!;
    denseGrads[`dense.${l}.weight`] = denseWeightGradient(delta[l]!, forward.a[l]!);
    denseGrads[`dense.${l}.bias`] = denseBiasGradient(delta[l]!);
    const dInput = denseInputGradient(delta[l]!, weight);
    if (l > 0) delta[l - 1] = activationBackward(dInput, forward.z[l - 1]!, config.denseActivation);
    else dF = dInput;
  }

  const dP = unflattenMaps(dF!, forward.P.shape);
  const dA =
    config.pooling === 'max'
      ? maxPoolBackward(dP, forward.argmax!, forward.A.shape)
      : avgPoolBackward(dP, forward.A.shape, config.poolSize);
  const dC = activationBackward(dA, forward.C, config.activation);
  const x = forward.x;
  const weight = params['conv.weight']!;
  const grads: Record<string, ManualArray> = {
    'conv.weight': convKernelGradient(x, dC, config.kernelSize, config.stride),
    'conv.bias': convBiasGradient(dC),
  };
  for (let l = 0; l < layers; l++) {
    grads[`dense.${l}.weight`] = denseGrads[`dense.${l}.weight`]!;
    grads[`dense.${l}.bias`] = denseGrads[`dense.${l}.bias`]!;
  }
  const dX = convInputGradient(dC, weight, config.inputSize, config.stride);

  return { loss, grads, intermediates: { dLogits, delta, dF: dF!, dP, dA, dC, dX } };
}

/**
 * Validates the config, `x` `[N, C, H, W]` and every parameter against the config, all of one
 * element type. Returns the number of dense layers `L`.
 */
function checkInputs(
  op: string,
  config: PaperCNNConfig,
  params: ManualParams,
  x: ManualArray,
): number {
  const shapes = paperCNNShapes(config);
  checkArray(op, 'x', x, 4);
  const [h, w] = config.inputSize;
  checkShape(op, 'x', x, [x.shape[0]!, config.inChannels, h, w]);
  if (x.shape[0]! < 1) {
    throw new ShapeError(
      op,
      'x',
      'at least one image',
      fmtShape(x.shape),
      `x ${fmtShape(x.shape)} holds no images`,
    );
  }

  if (params === null || typeof params !== 'object') {
    throw new ValueError(op, 'params', 'a record of parameters', String(params), 'params missing');
  }
  const expected = paperCNNParameterShapes(config);
  for (const [name, shape] of Object.entries(expected)) {
    const param = params[name];
    if (param === undefined) {
      throw new ValueError(
        op,
        'params',
        `a parameter '${name}' ${fmtShape(shape)}`,
        'missing',
        `params has no '${name}'; expected shape ${fmtShape(shape)}`,
      );
    }
    checkShape(op, `params['${name}']`, param, shape);
    checkSameType(op, `params['${name}']`, param, 'x', x);
  }
  for (const name of Object.keys(params)) {
    if (!(name in expected)) {
      throw new ValueError(
        op,
        'params',
        Object.keys(expected).join(', '),
        name,
        `params has '${name}', which this config does not use`,
      );
    }
  }
  return shapes.dense.length - 1;
}

/** Checks that `forward` is a run of this config: the shapes the backward run reads. */
function checkForward(
  op: string,
  config: PaperCNNConfig,
  forward: ManualForward,
  layers: number,
): void {
  const shapes = paperCNNShapes(config);
  const batch = forward.x.shape[0]!;
  const maps = [batch, config.filters, ...shapes.conv];
  checkShape(op, 'forward.C', forward.C, maps);
  checkShape(op, 'forward.A', forward.A, maps);
  checkShape(op, 'forward.P', forward.P, [batch, config.filters, ...shapes.pooled]);
  if (config.pooling === 'max' && !(forward.argmax instanceof Int32Array)) {
    throw new ValueError(
      op,
      'forward.argmax',
      'an Int32Array for max pooling',
      String(forward.argmax),
      'forward.argmax is missing; was the forward run made with avg pooling?',
    );
  }
  if (!Array.isArray(forward.z) || !Array.isArray(forward.a) || forward.z.length !== layers) {
    throw new ShapeError(
      op,
      'forward.z',
      `${layers} dense layers`,
      String(forward.z?.length),
      `forward has ${String(forward.z?.length)} dense pre-activations, config has ${layers}`,
    );
  }
  for (let l = 0; l < layers; l++) {
    checkShape(op, `forward.a[${l}]`, forward.a[l]!, [batch, shapes.dense[l]!]);
    checkShape(op, `forward.z[${l}]`, forward.z[l]!, [batch, shapes.dense[l + 1]!]);
  }
  checkShape(op, 'forward.probs', forward.probs, [batch, config.classes]);
  checkShape(op, 'forward.logits', forward.logits, [batch, config.classes]);
}
