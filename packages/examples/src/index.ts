/**
 * @tapegrad/examples: the MNIST data, the training loop and the plots, for the notebooks
 * (`import { loadMnist, trainEpochs, kernelsPlot } from '@tapegrad/examples'`) and the scripts.
 */
export * from './data.js';
export * from './train.js';
export * from './plots.js';
