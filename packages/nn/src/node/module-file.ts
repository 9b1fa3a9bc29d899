/// <reference types="node" />
import { readFile } from 'node:fs/promises';
import { CheckpointError } from '../checkpoint/errors.js';
import { type CheckpointOptions, encodeCheckpoint, loadCheckpoint } from '../checkpoint/state.js';
import type { Module } from '../module.js';
import type { Optimizer } from '../optim.js';
import { writeFileAtomic } from './checkpoint-file.js';

/** Writes the module's parameters (and optimizer state) to a safetensors file, atomically. */
export async function saveCheckpoint(
  path: string,
  module: Module,
  options: CheckpointOptions = {},
): Promise<void> {
  await writeFileAtomic(path, encodeCheckpoint(module, options));
}

/** Reads a checkpoint file into the module (and optimizer); returns the file's metadata. */
export async function loadCheckpointFile(
  path: string,
  module: Module,
  options: { optimizer?: Optimizer } = {},
): Promise<Record<string, string>> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new CheckpointError(
      'loadCheckpoint',
      'path',
      'a readable file',
      (err as { code?: string }).code ?? 'unreadable',
      `cannot read checkpoint ${path}: ${(err as Error).message}`,
    );
  }
  return loadCheckpoint(bytes, module, { ...options, source: path });
}
