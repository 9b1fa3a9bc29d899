/// <reference types="node" />
/**
 * `writeFileAtomic` when the file system fails part-way: the write, the flush or the rename.
 * `node:fs/promises` is wrapped so each step can be made to fail on demand.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { writeFileAtomic } from './checkpoint-file.js';

const fault = vi.hoisted(() => ({ step: 'none' as 'none' | 'write' | 'sync' | 'rename' }));

vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const injected = (step: string) =>
    Object.assign(new Error(`injected ${step} failure`), { code: 'EIO' });
  return {
    ...fs,
    open: async (...args: Parameters<typeof fs.open>) => {
      const handle = await fs.open(...args);
      const write = handle.writeFile.bind(handle);
      const sync = handle.sync.bind(handle);
      handle.writeFile = async (data: Parameters<typeof write>[0]) => {
        if (fault.step !== 'write' || !(data instanceof Uint8Array)) return write(data);
        // Half the bytes reach the disk, then the device fails.
        await write(data.subarray(0, data.length >> 1));
        throw injected('write');
      };
      handle.sync = async () => {
        if (fault.step === 'sync') throw injected('sync');
        return sync();
      };
      return handle;
    },
    rename: async (...args: Parameters<typeof fs.rename>) => {
      if (fault.step === 'rename') throw injected('rename');
      return fs.rename(...args);
    },
  };
});

let folder = '';
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'tapegrad-faults-'));
  fault.step = 'none';
});
afterEach(async () => {
  fault.step = 'none';
  await rm(folder, { recursive: true, force: true });
});

describe('writeFileAtomic under injected failures', () => {
  it.each(['write', 'sync', 'rename'] as const)(
    'a failed %s rejects, keeps the old file intact and leaves no temporary file',
    async (step) => {
      const path = join(folder, 'model.safetensors');
      await writeFile(path, 'old content');
      fault.step = step;
      await expect(writeFileAtomic(path, new Uint8Array(1000).fill(7))).rejects.toThrow(
        `injected ${step} failure`,
      );
      expect(await readFile(path, 'utf8')).toBe('old content');
      expect(await readdir(folder)).toEqual(['model.safetensors']);
    },
  );

  it('a failed first write creates no target', async () => {
    fault.step = 'rename';
    await expect(writeFileAtomic(join(folder, 'new.bin'), new Uint8Array(8))).rejects.toThrow();
    expect(await readdir(folder)).toEqual([]);
  });

  it('the wrapper passes through when no fault is set', async () => {
    const path = join(folder, 'ok.bin');
    await writeFileAtomic(path, new Uint8Array([9, 9]));
    expect([...(await readFile(path))]).toEqual([9, 9]);
  });
});
