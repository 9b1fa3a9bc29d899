/**
 * Typed errors. Every error names the op that raised it and the argument at fault, and carries
 * what was expected and what was found, so a caller (or a test) can read the fields instead of
 * parsing the message.
 */

/** The base of every error tapegrad throws on purpose. */
export class TapegradError extends Error {
  /** The op or function that rejected its input, e.g. `matmul` or `conv2d`. */
  readonly op: string;
  /** The argument at fault, e.g. `b` or `weight`; empty when no single argument is. */
  readonly arg: string;
  /** What the op needed, in words or as a shape string. */
  readonly expected: string;
  /** What it was given. */
  readonly actual: string;

  constructor(op: string, arg: string, expected: string, actual: string, message: string) {
    super(`${op}: ${message}`);
    this.name = new.target.name;
    this.op = op;
    this.arg = arg;
    this.expected = expected;
    this.actual = actual;
  }
}

/** Shapes that do not fit: broadcast, inner dimensions, data length, window size. */
export class ShapeError extends TapegradError {}

/** Operands of different dtypes, or a dtype the op does not support. */
export class DTypeError extends TapegradError {}

/** A bad axis: out of range or repeated. */
export class AxisError extends TapegradError {}

/** A bad scalar argument: a negative size, a non-integer count, an unknown option. */
export class ValueError extends TapegradError {}

/** A gradient that cannot be computed: an op without a vjp, backward on a non-scalar. */
export class GradientError extends TapegradError {}

/** A NaN or Inf found by debug mode, naming the op and where the tensor was created. */
export class NonFiniteError extends TapegradError {}

/** Formats a shape the way every message shows it: `[2,3]`. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
