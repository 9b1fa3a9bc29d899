/**
 * @tapegrad/autograd: dense tensors and a reverse-mode autograd tape over a small set of
 * primitive ops, each with its vjp.
 */
export * from './errors.js';
export { type Shape, sizeOf, broadcastShapes, normalizeAxis } from './shape.js';
export { Rng, defaultRng, manualSeed } from './random.js';
export { type Logger, getLogger, setLogger } from './logger.js';
export {
  Tensor,
  type DType,
  type FloatArray,
  type NestedArray,
  type TensorLike,
  type TensorOptions,
  type CreateOptions,
  type RandomOptions,
  tensor,
  zeros,
  ones,
  full,
  zerosLike,
  onesLike,
  arange,
  eye,
  rand,
  randn,
} from './tensor.js';
export {
  type Vjp,
  type TapeNode,
  type BackwardOptions,
  noGrad,
  enableGrad,
  isGradEnabled,
  setDebug,
  isDebug,
} from './tape.js';
export {
  astype,
  neg,
  exp,
  log,
  sqrt,
  abs,
  add,
  sub,
  mul,
  div,
  pow,
  maximum,
  gt,
  ge,
  lt,
  le,
  eq,
  where,
} from './ops/elementwise.js';
export { type Axis, sum, mean, max, sumTo } from './ops/reduce.js';
export { type MatmulOptions, matmul } from './ops/matmul.js';
export {
  type SliceRange,
  reshape,
  permute,
  transpose,
  broadcastTo,
  slice,
  pad,
  concat,
} from './ops/layout.js';
export { type Pair, type WindowOptions, type FoldOptions, unfold, fold } from './ops/window.js';
export { gather, scatterAdd } from './ops/indexing.js';
export {
  type GradOptions,
  type Pullback,
  type CustomVjpContext,
  type CustomRule,
  grad,
  valueAndGrad,
  vjp,
  customVjp,
} from './functional.js';
export {
  type GradCheckOptions,
  type GradCheckEntry,
  type GradCheckReport,
  gradCheck,
} from './gradcheck.js';
export {
  type Backend,
  type MatmulArgs,
  type WindowGeometry,
  getBackend,
  setBackend,
  jsBackend,
} from './backend/index.js';

/** Clears `.grad` of every tensor given. */
export function zeroGrad(tensors: Iterable<{ grad: unknown }>): void {
  for (const t of tensors) t.grad = null;
}
export { createWasmBackend, createWasmBackendSync } from './backend/wasm.js';
