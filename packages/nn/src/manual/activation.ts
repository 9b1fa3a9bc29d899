/**
 * The non-linearities of PAPER.md: forward equation 2 (and the hidden layers of equation 5) and
 * backward equation 5 (and the `sigma'` factor of equation 2 of the backward run).
 */
import { ValueError } from '@tapegrad/autograd';

import type { Activation } from '../config.js';
import { type ManualArray, checkArray, checkSameType, checkShape, zerosLike } from './array.js';

/**
 * The logistic sigmoid `1 / (1 + e^{-x})`, evaluated so that no branch overflows: for negative
 * `x` it uses the equal form `e^x / (1 + e^x)`.
 */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/**
 * Forward equation 2, element-wise: `A = g(C)` with `g` ReLU (`max(0, x)`) or the sigmoid.
 *
 * @param input any shape, e.g. `C` `[N, F, H', W']` or `z^l` `[N, d_l]`
 * @returns `g(input)`, same shape and element type
 */
export function activationForward(input: ManualArray, activation: Activation): ManualArray {
  const op = 'activationForward';
  checkArray(op, 'input', input);
  checkActivation(op, activation);

  const out = zerosLike(input.data, input.shape);
  const x = input.data;
  if (activation === 'relu') {
    for (let k = 0; k < x.length; k++) out.data[k] = x[k]! > 0 ? x[k]! : 0;
  } else {
    for (let k = 0; k < x.length; k++) out.data[k] = sigmoid(x[k]!);
  }
  return out;
}

/**
 * Backward equation 5: `dE/dC = dE/dA * g'(C)`, element-wise, with `relu'(x) = 1 if x > 0 else
 * 0` and `sigma'(x) = sigma(x) (1 - sigma(x))`. The same rule gives `delta^{l-1}` from `dE/da`
 * for a hidden dense layer.
 *
 * @param gradOutput `dE/dA`, any shape
 * @param input the pre-activation `C` (or `z^l`) the forward run saw, same shape
 * @returns `dE/dC`, same shape
 */
export function activationBackward(
  gradOutput: ManualArray,
  input: ManualArray,
  activation: Activation,
): ManualArray {
  const op = 'activationBackward';
  checkArray(op, 'input', input);
  checkShape(op, 'gradOutput', gradOutput, input.shape);
  checkSameType(op, 'gradOutput', gradOutput, 'input', input);
  checkActivation(op, activation);

  const out = zerosLike(input.data, input.shape);
  const x = input.data;
  const gy = gradOutput.data;
  if (activation === 'relu') {
    for (let k = 0; k < x.length; k++) out.data[k] = x[k]! > 0 ? gy[k]! : 0;
  } else {
    for (let k = 0; k < x.length; k++) {
      const s = sigmoid(x[k]!);
      out.data[k] = gy[k]! * s * (1 - s);
    }
  }
  return out;
}

function checkActivation(op: string, activation: Activation): void {
  if (activation !== 'relu' && activation !== 'sigmoid') {
    throw new ValueError(
      op,
      'activation',
      "'relu' or 'sigmoid'",
      String(activation),
      `unknown activation ${String(activation)}; expected 'relu' or 'sigmoid'`,
    );
  }
}
