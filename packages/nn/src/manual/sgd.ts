/** Backward equation 7 of PAPER.md: one step of plain gradient descent. */
import { ValueError } from '@tapegrad/autograd';

import { type ManualArray, checkArray, checkSameType, checkShape, zerosLike } from './array.js';

/**
 * Backward equation 7: `theta <- theta - alpha * dE/dtheta` for every parameter. Pure: returns
 * new arrays and leaves `params` untouched, so a test can compare before and after.
 *
 * @param params parameters by name, any shapes
 * @param grads a gradient for every parameter, same names, shapes and element types
 * @param learningRate `alpha`, finite
 * @returns the updated parameters, same names in the same order
 */
export function sgdStep(
  params: Record<string, ManualArray>,
  grads: Record<string, ManualArray>,
  learningRate: number,
): Record<string, ManualArray> {
  const op = 'sgdStep';
  if (!Number.isFinite(learningRate)) {
    throw new ValueError(
      op,
      'learningRate',
      'a finite number',
      String(learningRate),
      `learningRate must be finite, got ${learningRate}`,
    );
  }
  for (const name of Object.keys(grads)) {
    if (!(name in params)) {
      throw new ValueError(
        op,
        'grads',
        'only names of params',
        name,
        `grads has '${name}', which is not a parameter`,
      );
    }
  }

  const next: Record<string, ManualArray> = {};
  for (const [name, theta] of Object.entries(params)) {
    const grad = grads[name];
    if (grad === undefined) {
      throw new ValueError(op, 'grads', name, 'missing', `grads has no entry for '${name}'`);
    }
    checkArray(op, `params['${name}']`, theta);
    checkShape(op, `grads['${name}']`, grad, theta.shape);
    checkSameType(op, `grads['${name}']`, grad, `params['${name}']`, theta);
    const out = zerosLike(theta.data, theta.shape);
    for (let k = 0; k < out.data.length; k++) {
      out.data[k] = theta.data[k]! - learningRate * grad.data[k]!;
    }
    next[name] = out;
  }
  return next;
}
