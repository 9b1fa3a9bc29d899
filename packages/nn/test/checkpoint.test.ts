/**
 * Module checkpoints: bytes (`encodeCheckpoint` / `loadCheckpoint`) and files (`saveCheckpoint` /
 * `loadCheckpointFile` from '@tapegrad/nn/node') round trip exactly, parameters and optimizer
 * state; a mismatched model or a corrupt file fails with a CheckpointError naming the fault and
 * leaves the model untouched.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Rng, type Tensor, tensor } from '@tapegrad/autograd';
import {
  Adam,
  CheckpointError,
  type Optimizer,
  PaperCNN,
  type PaperCNNModuleOptions,
  SGD,
  encodeCheckpoint,
  loadCheckpoint,
} from '@tapegrad/nn';
import { loadCheckpointFile, saveCheckpoint } from '@tapegrad/nn/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { expectRejects, expectThrows } from './reference.js';

const base: PaperCNNModuleOptions = {
  inputSize: 8,
  kernelSize: 3,
  filters: 2,
  hidden: [4],
  classes: 3,
};
const rng = new Rng(17);
const x = tensor(
  Array.from({ length: 4 * 64 }, () => rng.normal()),
  { shape: [4, 1, 8, 8] },
);
const x64 = tensor(x.data, { shape: x.shape, dtype: 'float64' });
const targets = [0, 1, 2, 1];

const snapshot = (m: PaperCNN): number[][] => m.parameters().map((p) => Array.from(p.data));

function train(model: PaperCNN, opt: Optimizer, steps: number, input: Tensor = x): void {
  for (let s = 0; s < steps; s++) {
    opt.zeroGrad();
    model.loss(input, targets).backward();
    opt.step();
  }
}

let folder = '';
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'tapegrad-nn-test-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('checkpoint round trips', () => {
  for (const dtype of ['float32', 'float64'] as const) {
    it(`bytes, ${dtype}: parameters come back bit for bit; metadata is kept`, () => {
      const a = new PaperCNN({ ...base, seed: 1, dtype });
      const b = new PaperCNN({ ...base, seed: 2, dtype });
      expect(snapshot(b)).not.toEqual(snapshot(a));
      const bytes = encodeCheckpoint(a, { metadata: { epoch: '3' } });
      const meta = loadCheckpoint(bytes, b);
      expect(snapshot(b)).toEqual(snapshot(a));
      expect(b.parameters()[0]!.data).toBeInstanceOf(
        dtype === 'float32' ? Float32Array : Float64Array,
      );
      expect(meta.epoch).toBe('3');
      expect(meta.format).toBe('tapegrad-checkpoint/1');
    });
  }

  for (const kind of ['sgd', 'adam'] as const) {
    it(`file, ${kind} with state: resuming from the file equals never stopping (3 + 2 steps)`, async () => {
      const makeOpt = (m: PaperCNN): Optimizer =>
        kind === 'sgd'
          ? new SGD(m, { lr: 0.1, momentum: 0.9, weightDecay: 1e-3, nesterov: true })
          : new Adam(m, { lr: 0.01 });
      const a = new PaperCNN({ ...base, seed: 1 });
      const optA = makeOpt(a);
      train(a, optA, 3);
      const path = join(folder, `${kind}.safetensors`);
      await saveCheckpoint(path, a, { optimizer: optA, metadata: { note: kind } });
      train(a, optA, 2);

      const b = new PaperCNN({ ...base, seed: 9 });
      const optB = makeOpt(b);
      const meta = await loadCheckpointFile(path, b, { optimizer: optB });
      expect(meta['optimizer.kind']).toBe(kind);
      expect(meta['optimizer.step']).toBe('3');
      expect(meta.note).toBe(kind);
      expect(optB.stepCount).toBe(3);
      train(b, optB, 2);
      expect(snapshot(b)).toEqual(snapshot(a));
      expect(optB.stateDict()).toEqual(optA.stateDict());
    });
  }

  it('file without optimizer: parameters round trip; loading optimizer state from it throws', async () => {
    const a = new PaperCNN({ ...base, seed: 3, dtype: 'float64' });
    const path = join(folder, 'plain.safetensors');
    await saveCheckpoint(path, a);
    const b = new PaperCNN({ ...base, seed: 4, dtype: 'float64' });
    await loadCheckpointFile(path, b);
    expect(snapshot(b)).toEqual(snapshot(a));
    const c = new PaperCNN({ ...base, seed: 5, dtype: 'float64' });
    const before = snapshot(c);
    await expectRejects(
      loadCheckpointFile(path, c, { optimizer: new SGD(c, { lr: 0.1 }) }),
      CheckpointError,
      {
        op: 'loadCheckpoint',
        arg: 'optimizer',
        expected: 'sgd',
        actual: 'none',
      },
    );
    expect(snapshot(c)).toEqual(before);
  });

  it('a trained float64 model predicts the same logits after a round trip', () => {
    const a = new PaperCNN({ ...base, seed: 6, dtype: 'float64' });
    train(a, new SGD(a, { lr: 0.2 }), 3, x64);
    const b = new PaperCNN({ ...base, seed: 7, dtype: 'float64' });
    loadCheckpoint(encodeCheckpoint(a), b);
    expect(Array.from(b.forward(x64).data)).toEqual(Array.from(a.forward(x64).data));
  });
});

describe('checkpoint mismatches leave the model untouched', () => {
  const saved = encodeCheckpoint(new PaperCNN({ ...base, seed: 1 }));

  const cases: [string, PaperCNNModuleOptions, Record<string, string>][] = [
    [
      'a different hidden width (shape)',
      { hidden: [5] },
      { arg: 'dense.0.weight', expected: '[5,18]', actual: '[4,18]' },
    ],
    [
      'more filters (shape)',
      { filters: 3 },
      { arg: 'conv.weight', expected: '[3,1,3,3]', actual: '[2,1,3,3]' },
    ],
    [
      'float64 parameters (dtype)',
      { dtype: 'float64' },
      { arg: 'conv.weight', expected: 'float64', actual: 'float32' },
    ],
    [
      'an extra dense layer (missing name)',
      { hidden: [4, 3] },
      { arg: 'dense.2.weight', actual: 'missing' },
    ],
    ['no hidden layer (extra name)', { hidden: [] }, { arg: 'dense.0.weight' }],
  ];
  for (const [what, options, fields] of cases) {
    it(`loading into a model with ${what} throws naming the tensor`, () => {
      const model = new PaperCNN({ ...base, ...options, seed: 2 });
      const before = snapshot(model);
      const err = expectThrows(() => loadCheckpoint(saved, model), CheckpointError, {
        op: 'loadCheckpoint',
        ...fields,
      });
      expect(err.message).toContain(fields.arg!);
      expect(snapshot(model)).toEqual(before);
    });
  }

  it('optimizer state of another kind throws and changes neither model nor optimizer', () => {
    const a = new PaperCNN({ ...base, seed: 1 });
    const optA = new Adam(a);
    train(a, optA, 1);
    const bytes = encodeCheckpoint(a, { optimizer: optA });
    const b = new PaperCNN({ ...base, seed: 2 });
    const optB = new SGD(b, { lr: 0.1, momentum: 0.9 });
    const before = snapshot(b);
    expectThrows(() => loadCheckpoint(bytes, b, { optimizer: optB }), CheckpointError, {
      op: 'loadCheckpoint',
      arg: 'optimizer',
      expected: 'sgd',
      actual: 'adam',
    });
    expect(snapshot(b)).toEqual(before);
    expect(optB.stepCount).toBe(0);
  });
});

describe('corrupt checkpoint files', () => {
  const good = encodeCheckpoint(new PaperCNN({ ...base, seed: 1 }));

  it('truncated inside the data: CheckpointError naming the file and the last tensor', async () => {
    const path = join(folder, 'truncated.safetensors');
    await writeFile(path, good.slice(0, good.length - 10));
    const model = new PaperCNN({ ...base, seed: 2 });
    const before = snapshot(model);
    const err = await expectRejects(loadCheckpointFile(path, model), CheckpointError, {
      op: 'loadCheckpoint',
    });
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/run past|data/);
    expect(snapshot(model)).toEqual(before);
  });

  it('truncated inside the header: the header size runs past the end', () => {
    const model = new PaperCNN({ ...base, seed: 2 });
    expectThrows(() => loadCheckpoint(good.slice(0, 40), model), CheckpointError, {
      op: 'loadCheckpoint',
      arg: 'header_size',
    });
  });

  it('shorter than 8 bytes: header_size, "at least 8 bytes"', () => {
    expectThrows(() => loadCheckpoint(good.slice(0, 5), new PaperCNN(base)), CheckpointError, {
      op: 'loadCheckpoint',
      arg: 'header_size',
      expected: 'at least 8 bytes',
      actual: '5 bytes',
    });
  });

  it('trailing garbage after the data: arg "data"', () => {
    const longer = new Uint8Array(good.length + 4);
    longer.set(good);
    expectThrows(() => loadCheckpoint(longer, new PaperCNN(base)), CheckpointError, {
      op: 'loadCheckpoint',
      arg: 'data',
    });
  });

  it('a header that is not JSON: arg "header"', () => {
    const bad = good.slice();
    bad[8] = 0x78; // 'x' where '{' was
    expectThrows(() => loadCheckpoint(bad, new PaperCNN(base)), CheckpointError, {
      op: 'loadCheckpoint',
      arg: 'header',
    });
  });

  it('a missing file: arg "path", actual ENOENT', async () => {
    const path = join(folder, 'nope.safetensors');
    const err = await expectRejects(loadCheckpointFile(path, new PaperCNN(base)), CheckpointError, {
      op: 'loadCheckpoint',
      arg: 'path',
      actual: 'ENOENT',
    });
    expect(err.message).toContain(path);
  });

  it('an optimizer buffer of the wrong length throws and leaves model and optimizer untouched', async () => {
    const a = new PaperCNN({ ...base, seed: 1 });
    const optA = new SGD(a, { lr: 0.1, momentum: 0.9 });
    train(a, optA, 1);
    // Rebuild the file with a shortened conv.bias momentum buffer but a consistent layout.
    const state = optA.stateDict();
    state.buffers['conv.bias.momentum'] = state.buffers['conv.bias.momentum']!.slice(0, 1);
    const fake = new SGD(a, { lr: 0.1, momentum: 0.9 });
    fake.stepCount = state.step;
    (fake as unknown as { buffers: Map<string, Float32Array | Float64Array> }).buffers = new Map(
      Object.entries(state.buffers),
    );
    const path = join(folder, 'short-buffer.safetensors');
    await saveCheckpoint(path, a, { optimizer: fake });
    expect((await readFile(path)).length).toBeGreaterThan(8);

    const b = new PaperCNN({ ...base, seed: 2 });
    const optB = new SGD(b, { lr: 0.1, momentum: 0.9 });
    const before = snapshot(b);
    const caught = await loadCheckpointFile(path, b, { optimizer: optB }).then(
      () => null,
      (e: unknown) => e as Error & { arg?: string },
    );
    expect(caught).not.toBeNull();
    expect(caught!.arg).toBe('conv.bias.momentum');
    expect(snapshot(b)).toEqual(before);
    expect(optB.stepCount).toBe(0);
  });
});
