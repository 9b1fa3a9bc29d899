import { elementwiseOps } from './elementwise.js';
import { indexingOps } from './indexing.js';
import { layoutOps } from './layout.js';
import { matmulOps } from './matmul.js';
import { reduceOps } from './reduce.js';
import type { OpInfo } from './types.js';
import { windowOps } from './window.js';

export type { OpInfo, SampleInput, Expected } from './types.js';

/** Every op of the table, family by family. */
export const opTable: OpInfo[] = [
  ...elementwiseOps,
  ...reduceOps,
  ...matmulOps,
  ...layoutOps,
  ...windowOps,
  ...indexingOps,
];
