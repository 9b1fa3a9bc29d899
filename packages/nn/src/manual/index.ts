/**
 * The manual run of PAPER.md: the paper's forward and backward equations written out by hand as
 * loops over typed arrays, one function per equation, with no autograd. Each function computes
 * in the element type of its input (Float32Array or Float64Array) and allocates its outputs of
 * the same kind.
 *
 * @example
 * ```ts
 * const config = resolvePaperCNNConfig({ inputSize: 8, kernelSize: 3, filters: 2, classes: 3 });
 * const params = Object.fromEntries(
 *   Object.entries(paperCNNParameterShapes(config)).map(([name, shape]) => {
 *     const data = Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, Math.random);
 *     return [name, { data, shape }];
 *   }),
 * );
 * const x = { data: new Float64Array(2 * 8 * 8).fill(0.5), shape: [2, 1, 8, 8] }; // N = 2
 * const forward = manualForward(config, params, x);
 * const { loss, grads } = manualBackward(config, params, forward, [0, 2]);
 * const next = sgdStep(params, grads, 0.1);
 * ```
 */
export type { FloatArray, ManualArray } from './array.js';
export { activationBackward, activationForward, sigmoid } from './activation.js';
export {
  convBiasGradient,
  convInputGradient,
  convKernelGradient,
  convOutputSize,
  convolutionForward,
} from './conv.js';
export {
  denseBiasGradient,
  denseForward,
  denseInputGradient,
  denseWeightGradient,
  flattenMaps,
  unflattenMaps,
} from './dense.js';
export {
  type ManualTargets,
  checkTargets,
  crossEntropyLoss,
  softmaxCrossEntropyDelta,
  softmaxRows,
} from './loss.js';
export {
  type ManualBackward,
  type ManualForward,
  type ManualParams,
  manualBackward,
  manualForward,
  manualLoss,
} from './network.js';
export {
  type MaxPoolResult,
  avgPoolBackward,
  avgPoolForward,
  maxPoolBackward,
  maxPoolForward,
  pooledSize,
} from './pool.js';
export { sgdStep } from './sgd.js';
