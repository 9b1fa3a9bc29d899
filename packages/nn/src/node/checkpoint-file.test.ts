/// <reference types="node" />
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CheckpointError, type StoredTensor } from '../checkpoint/index.js';
import { loadSafetensorsFile, saveSafetensorsFile, writeFileAtomic } from './index.js';

let folder = '';
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'tapegrad-checkpoint-'));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Rejects with a CheckpointError, returned for the field checks. */
async function rejected(p: Promise<unknown>): Promise<CheckpointError> {
  const err: unknown = await p.then(
    () => new Error('expected a CheckpointError, but the promise resolved'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CheckpointError);
  return err as CheckpointError;
}

const state: Record<string, StoredTensor> = {
  'conv.weight': { dtype: 'float32', shape: [2, 1, 3, 3], data: new Float32Array(18).fill(0.5) },
  'conv.bias': { dtype: 'float64', shape: [2], data: new Float64Array([NaN, -0]) },
  step: { dtype: 'int32', shape: [], data: new Int32Array([41]) },
};

describe('saveSafetensorsFile and loadSafetensorsFile', () => {
  it('round-trip a state and its metadata through a file', async () => {
    const path = join(folder, 'model.safetensors');
    await saveSafetensorsFile(path, state, { epoch: '3' });
    const { tensors, metadata } = await loadSafetensorsFile(path);
    expect(metadata).toEqual({ epoch: '3' });
    expect(Object.fromEntries(tensors)).toEqual(state);
    expect(Object.is(tensors.get('conv.bias')?.data[1], -0)).toBe(true);
    expect(await readdir(folder)).toEqual(['model.safetensors']);
  });

  it('a missing file is a CheckpointError naming the path', async () => {
    const path = join(folder, 'nope.safetensors');
    const err = await rejected(loadSafetensorsFile(path));
    expect(err).toMatchObject({ op: 'loadCheckpoint', arg: 'path', actual: 'no such file' });
    expect(err.message).toBe(`loadCheckpoint: no checkpoint file at ${path}`);
  });

  it('a folder in place of the file is a CheckpointError with the system code', async () => {
    const err = await rejected(loadSafetensorsFile(folder));
    expect(err).toMatchObject({ op: 'loadCheckpoint', arg: 'path', actual: 'EISDIR' });
  });

  it('a corrupt file is a CheckpointError from loadCheckpoint, its message led by the path', async () => {
    const path = join(folder, 'bad.safetensors');
    await saveSafetensorsFile(path, state);
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 1));
    const err = await rejected(loadSafetensorsFile(path));
    expect(err).toMatchObject({ op: 'loadCheckpoint', arg: 'step' });
    expect(err.message.startsWith(`loadCheckpoint: ${path}: `)).toBe(true);
  });

  it('a state that cannot be encoded writes nothing', async () => {
    const path = join(folder, 'model.safetensors');
    const bad = { x: { dtype: 'float32', shape: [3], data: new Float32Array(2) } } as const;
    const err = await rejected(saveSafetensorsFile(path, bad));
    expect(err).toMatchObject({ op: 'encodeSafetensors', arg: 'x' });
    expect(await readdir(folder)).toEqual([]);
  });
});

describe('writeFileAtomic', () => {
  it('creates, then replaces, the target and leaves no temporary file', async () => {
    const path = join(folder, 'out.bin');
    await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
    expect([...(await readFile(path))]).toEqual([1, 2, 3]);
    await writeFileAtomic(path, new Uint8Array([4]));
    expect([...(await readFile(path))]).toEqual([4]);
    expect(await readdir(folder)).toEqual(['out.bin']);
  });

  it('into a folder that does not exist rejects and creates nothing', async () => {
    const gone = join(folder, 'gone');
    await expect(writeFileAtomic(join(gone, 'out.bin'), new Uint8Array(4))).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(await readdir(folder)).toEqual([]);
  });

  it('over a folder (the rename fails) rejects, keeps the folder and removes the temporary file', async () => {
    const path = join(folder, 'taken');
    await mkdir(path);
    await writeFile(join(path, 'inside'), 'old');
    await expect(writeFileAtomic(path, new Uint8Array(4))).rejects.toMatchObject({
      code: expect.stringMatching(/^(EISDIR|ENOTEMPTY|EEXIST|EPERM)$/),
    });
    expect((await stat(path)).isDirectory()).toBe(true);
    expect(await readFile(join(path, 'inside'), 'utf8')).toBe('old');
    expect(await readdir(folder)).toEqual(['taken']);
  });

  it('readers racing many writes see the whole old or the whole new content, never a mix', async () => {
    const path = join(folder, 'big.bin');
    const size = 1 << 20;
    const versions = [1, 2, 3, 4].map((v) => new Uint8Array(size).fill(v));
    await writeFileAtomic(path, versions[0]);

    let writing = true;
    const writer = (async () => {
      for (let round = 0; round < 12; round++) await writeFileAtomic(path, versions[round % 4]);
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const seen = await readFile(path);
      reads++;
      expect(seen.length).toBe(size);
      expect(versions.some((v) => Buffer.from(v.buffer).equals(seen))).toBe(true);
    }
    await writer;
    expect(reads).toBeGreaterThan(0);
    expect(await readdir(folder)).toEqual(['big.bin']);
  });

  it('concurrent writers leave exactly one of their contents and no temporary files', async () => {
    const path = join(folder, 'race.bin');
    const contents = Array.from({ length: 16 }, (_, i) => new Uint8Array(4096).fill(i));
    await Promise.all(contents.map((c) => writeFileAtomic(path, c)));
    const final = await readFile(path);
    expect(contents.some((c) => Buffer.from(c.buffer).equals(final))).toBe(true);
    expect(await readdir(folder)).toEqual(['race.bin']);
  });
});
