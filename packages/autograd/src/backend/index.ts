import { jsBackend } from './js.js';
import type { Backend } from './types.js';

export type { Backend, FloatArray, MatmulArgs, WindowGeometry } from './types.js';
export { jsBackend } from './js.js';

let current: Backend = jsBackend;

/** The backend every op runs its kernels on. */
export function getBackend(): Backend {
  return current;
}

/** Replaces the kernel backend; returns the one it replaced. */
export function setBackend(backend: Backend): Backend {
  const previous = current;
  current = backend;
  return previous;
}
