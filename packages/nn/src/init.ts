/**
 * Seeded weight initialisation. `fanIn` and `fanOut` of a weight `[out, in, ...kernel]` are
 * `in * prod(kernel)` and `out * prod(kernel)`.
 *
 * - Kaiming (He): variance `gain^2 / fanIn`, gain `sqrt(2)` for ReLU;
 * - Xavier (Glorot): variance `2 gain^2 / (fanIn + fanOut)`, gain 1 (sigmoid, tanh).
 *
 * The uniform forms draw from `[-b, b]` with `b = sqrt(3) * std`.
 */
import { type DType, Rng, type Shape, ValueError, defaultRng, fmtShape } from '@tapegrad/autograd';
import { Parameter } from './module.js';

/** How `initParameter` fills a weight (see the formulas above); biases use `zeros`. */
export type InitKind =
  | 'kaimingUniform'
  | 'kaimingNormal'
  | 'xavierUniform'
  | 'xavierNormal'
  | 'zeros';

/** Options of `initParameter`. */
export interface InitOptions {
  /** Default: the default generator (`manualSeed`). */
  rng?: Rng;
  /** Default `float32`. */
  dtype?: DType;
  /** Default: `sqrt(2)` for Kaiming, 1 for Xavier. */
  gain?: number;
}

/** `[fanIn, fanOut]` of a weight `[out, in, ...kernel]`; it needs at least 2 axes. */
export function fans(shape: Shape): [number, number] {
  if (shape.length < 2) {
    throw new ValueError(
      'init',
      'shape',
      'at least 2 axes',
      fmtShape(shape),
      `fan-in and fan-out need a weight of at least 2 axes, got ${fmtShape(shape)}`,
    );
  }
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [shape[1]! * receptive, shape[0]! * receptive];
}

const KINDS: readonly InitKind[] = [
  'kaimingUniform',
  'kaimingNormal',
  'xavierUniform',
  'xavierNormal',
  'zeros',
];

/**
 * A new parameter of `shape` initialised by `kind`.
 *
 * @example
 * const w = initParameter([16, 8], 'kaimingUniform', { rng: new Rng(0) }); // bound sqrt(6 / 8)
 */
export function initParameter(shape: Shape, kind: InitKind, options: InitOptions = {}): Parameter {
  if (!KINDS.includes(kind)) {
    // Otherwise an unknown name (say 'xavier') would silently draw Xavier-normal weights.
    throw new ValueError(
      'init',
      'kind',
      KINDS.join(', '),
      String(kind),
      `unknown init kind ${String(kind)}; expected one of ${KINDS.join(', ')}`,
    );
  }
  const dtype = options.dtype ?? 'float32';
  const n = shape.reduce((a, b) => a * b, 1);
  const data = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  if (kind === 'zeros') return new Parameter(data, shape);
  const rng = options.rng ?? defaultRng();
  const [fanIn, fanOut] = fans(shape);
  const kaiming = kind === 'kaimingUniform' || kind === 'kaimingNormal';
  const gain = options.gain ?? (kaiming ? Math.SQRT2 : 1);
  const std = kaiming ? gain / Math.sqrt(fanIn) : gain * Math.sqrt(2 / (fanIn + fanOut));
  if (kind === 'kaimingUniform' || kind === 'xavierUniform') {
    const bound = Math.sqrt(3) * std;
    for (let i = 0; i < n; i++) data[i] = (2 * rng.uniform() - 1) * bound;
  } else {
    for (let i = 0; i < n; i++) data[i] = std * rng.normal();
  }
  return new Parameter(data, shape);
}
