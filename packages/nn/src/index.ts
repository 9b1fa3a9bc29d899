/**
 * @tapegrad/nn: layers, losses, optimizers and the paper's CNN as composites of autograd
 * primitives, the paper's hand-derived backward run, and the comparison of the two.
 */
export * from './config.js';
export * from './functional.js';
export { Module, Parameter, Sequential } from './module.js';
export { type InitKind, type InitOptions, fans, initParameter } from './init.js';
export * from './layers.js';
export * from './optim.js';
export { PaperCNN, type PaperCNNModuleOptions, activate } from './paper.js';
export * from './compare.js';
export * from './checkpoint/index.js';
/** The paper's hand-derived forward and backward run, with no autograd (see `manual/`). */
export * as manual from './manual/index.js';
