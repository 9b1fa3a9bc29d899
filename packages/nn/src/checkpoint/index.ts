/**
 * Checkpoints in the safetensors format, browser-safe: encode and decode bytes, and check a
 * loaded state against a model's. Reading and writing files lives in `@tapegrad/nn/node`.
 */
export { CheckpointError } from './errors.js';
export {
  checkState,
  decodeSafetensors,
  encodeSafetensors,
  type DecodedSafetensors,
  type DecodeOptions,
  type StoredDType,
  type StoredTensor,
  type TensorSpec,
} from './safetensors.js';
export { type CheckpointOptions, encodeCheckpoint, loadCheckpoint } from './state.js';
