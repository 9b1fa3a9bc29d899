/// <reference types="node" />
/**
 * `@tapegrad/nn/node`: the parts of tapegrad that need Node, kept out of the browser-safe main
 * entry. Checkpoint files in the safetensors format, written atomically.
 */
export { loadSafetensorsFile, saveSafetensorsFile, writeFileAtomic } from './checkpoint-file.js';
export { loadCheckpointFile, saveCheckpoint } from './module-file.js';
