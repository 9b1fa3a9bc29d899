import { TapegradError } from '@tapegrad/autograd';

/**
 * A checkpoint that cannot be written, read or matched to a model: a corrupt or unsupported
 * safetensors file, a missing file, or tensors whose names, shapes or dtypes differ from the
 * model's. `op` is the function that refused (`decodeSafetensors`, `encodeSafetensors`,
 * `loadCheckpoint`, `saveCheckpoint`) and `arg` the tensor name or the header field at fault.
 */
export class CheckpointError extends TapegradError {
  constructor(
    op: string,
    arg: string,
    expected: string,
    actual: string,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(op, arg, expected, actual, message);
    if ('cause' in options) {
      // Non-enumerable, as `new Error(message, { cause })` would make it.
      Object.defineProperty(this, 'cause', {
        value: options.cause,
        configurable: true,
        writable: true,
      });
    }
  }
}
