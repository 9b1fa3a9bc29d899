/// <reference types="node" />
/**
 * The Node-only file layer of checkpoints: atomic writes and safetensors files on disk. The
 * codec itself is browser-safe and lives in `../checkpoint`.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import {
  CheckpointError,
  decodeSafetensors,
  encodeSafetensors,
  type DecodedSafetensors,
  type StoredTensor,
} from '../checkpoint/index.js';

/**
 * Writes `bytes` to `path` so that `path` holds either its old content or all of the new, never
 * a partial file, even if the process dies mid-write. The bytes go to a temporary file in the
 * same folder (a rename is only atomic within one file system), are flushed with `fsync`, and
 * the temporary file is renamed over `path`. On failure the temporary file is removed and the
 * error rethrown; `path` is untouched.
 *
 * @throws the file system's error (`ENOENT` for a missing folder, `EACCES`, `EISDIR`, ...).
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | undefined;
  try {
    // `wx`: never reuse a file that happens to exist under the temporary name.
    handle = await open(temp, 'wx');
    await handle.writeFile(bytes);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temp, path);
  } catch (err) {
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncFolder(dirname(path));
}

/**
 * Encodes tensors and optional string metadata as safetensors and writes them to `path` with
 * {@link writeFileAtomic}.
 *
 * @throws CheckpointError (op `encodeSafetensors`) for tensors that cannot be encoded, or the
 *   file system's error.
 */
export async function saveSafetensorsFile(
  path: string,
  tensors: Record<string, StoredTensor> | Iterable<[string, StoredTensor]>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/**
 * Reads and decodes a safetensors file, with the checks of `decodeSafetensors`.
 *
 * @throws CheckpointError with op `loadCheckpoint`: `arg` `path` when the file is missing or
 *   unreadable, otherwise the tensor or field at fault; every message starts with the path.
 */
export async function loadSafetensorsFile(path: string): Promise<DecodedSafetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') {
      throw new CheckpointError(
        'loadCheckpoint',
        'path',
        'an existing file',
        'no such file',
        `no checkpoint file at ${path}`,
        { cause: err },
      );
    }
    const reason = err instanceof Error ? err.message : String(err);
    throw new CheckpointError(
      'loadCheckpoint',
      'path',
      'a readable file',
      code ?? 'unreadable',
      `cannot read checkpoint file ${path}: ${reason}`,
      { cause: err },
    );
  }
  return decodeSafetensors(bytes, { op: 'loadCheckpoint', source: path });
}

/**
 * Flushes a folder's entries so the rename itself survives a crash. Best effort: some systems
 * (Windows) cannot open a folder, and by now the new content is already in place.
 */
async function syncFolder(folder: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch {
    // Durability of the rename is not guaranteed here; the write itself succeeded.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string') {
    return err.code;
  }
  return undefined;
}
