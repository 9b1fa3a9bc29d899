// Data-parallel training over worker threads: K steps of the 2-thread trainer end where a plain
// single-thread run of the same batches ends, up to float32 rounding (the gradient sums run in
// another order); failures in a worker reject the step with the worker's message; close() ends
// the workers; the training CLI's --threads 2 ends where --threads 1 does. The workers run the compiled dist/parallel-worker.js (vitest runs only the
// sources), so `pnpm run build` comes first, as the root `pnpm test` does.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type DType,
  Rng,
  Tensor,
  createWasmBackendSync,
  jsBackend,
  setBackend,
} from '@tapegrad/autograd';
import {
  Adam,
  type Module,
  type Optimizer,
  PaperCNN,
  type PaperCNNModuleOptions,
  SGD,
  crossEntropy,
} from '@tapegrad/nn';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  type ParallelTrainer,
  type SyncMode,
  ParallelWorkerError,
  chunk,
  createParallelTrainer,
  splitRows,
} from './parallel.js';

const WORKER = new URL('../dist/parallel-worker.js', import.meta.url);

function workerUrl(): URL {
  if (!existsSync(fileURLToPath(WORKER)))
    throw new Error(
      `${fileURLToPath(WORKER)} is missing: the workers run the compiled script, so build first (pnpm run build)`,
    );
  return WORKER;
}

interface Batch {
  x: Tensor;
  y: number[];
}

function batches(count: number, size: number, seed: number, dtype: DType = 'float32'): Batch[] {
  const rng = new Rng(seed);
  return Array.from({ length: count }, () => {
    const n = size * 28 * 28;
    const data = dtype === 'float32' ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = rng.uniform();
    const y = Array.from({ length: size }, () => Math.floor(rng.uniform() * 10));
    return { x: new Tensor(data, [size, 1, 28, 28]), y };
  });
}

/** The single-thread reference: the plain loop of train.ts. */
function reference(
  options: PaperCNNModuleOptions,
  optimizer: (m: Module) => Optimizer,
  data: Batch[],
): { losses: number[]; params: Float32Array[] | Float64Array[] } {
  const model = new PaperCNN(options);
  const opt = optimizer(model);
  const losses = data.map(({ x, y }) => {
    const loss = crossEntropy(model.forward(x), y);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    return loss.item();
  });
  return { losses, params: model.parameters().map((p) => p.data.slice()) as Float32Array[] };
}

/** Largest `|a - b| / (|b| + floor)` over all entries. */
function worstRelative(a: ArrayLike<number>, b: ArrayLike<number>, floor: number): number {
  let worst = 0;
  for (let i = 0; i < b.length; i++)
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + floor));
  return worst;
}

async function run(trainer: ParallelTrainer, data: Batch[]): Promise<number[]> {
  const losses: number[] = [];
  for (const { x, y } of data) losses.push(await trainer.step(x, y));
  return losses;
}

/** Rejects after `ms`, so a hanging step fails the test instead of the run. */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    p,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms),
    ),
  ]);
}

beforeAll(() => {
  setBackend(createWasmBackendSync());
});

afterAll(() => {
  setBackend(jsBackend);
});

describe('splitRows and chunk', () => {
  it('splitRows 33 over 2 threads gives the main thread 16, the worker 17', () => {
    expect(splitRows(33, 2)).toEqual([16, 17]);
    expect(splitRows(32, 2)).toEqual([16, 16]);
    expect(splitRows(1, 2)).toEqual([0, 1]);
    expect(splitRows(10, 3)).toEqual([3, 3, 4]);
  });

  it('chunk tiles [0, size) in 16-aligned pieces', () => {
    for (const [threads, size] of [
      [2, 149082],
      [3, 1000],
      [2, 5],
    ] as const) {
      const parts = Array.from({ length: threads }, (_, t) => chunk(t, threads, size));
      expect(parts[0]![0]).toBe(0);
      expect(parts[threads - 1]![1]).toBe(size);
      for (let t = 1; t < threads; t++) {
        expect(parts[t]![0]).toBe(parts[t - 1]![1]);
        expect(parts[t]![0] % 16 === 0 || parts[t]![0] === size).toBe(true);
      }
    }
  });
});

describe('createParallelTrainer matches a single-thread run', () => {
  const cases: {
    name: string;
    options: PaperCNNModuleOptions;
    batch: number;
    sync: SyncMode;
    optimizer: (m: Module) => Optimizer;
  }[] = [
    {
      name: 'PaperCNN relu, batch 32, SGD lr 0.1, atomics',
      options: { seed: 1, activation: 'relu', denseActivation: 'relu' },
      batch: 32,
      sync: 'atomics',
      optimizer: (m) => new SGD(m, { lr: 0.1 }),
    },
    {
      name: 'PaperCNN sigmoid, batch 33 (16 + 17 rows), SGD momentum 0.9, atomics',
      options: { seed: 2, activation: 'sigmoid', denseActivation: 'sigmoid' },
      batch: 33,
      sync: 'atomics',
      optimizer: (m) => new SGD(m, { lr: 0.1, momentum: 0.9 }),
    },
    {
      name: 'PaperCNN relu conv, sigmoid dense, batch 17 (8 + 9 rows), SGD, messages',
      options: { seed: 3, activation: 'relu', denseActivation: 'sigmoid' },
      batch: 17,
      sync: 'messages',
      optimizer: (m) => new SGD(m, { lr: 0.1 }),
    },
  ];
  const STEPS = 4;

  for (const c of cases) {
    it(c.name, async () => {
      const data = batches(STEPS, c.batch, 11);
      const ref = reference(c.options, c.optimizer, data);
      const trainer = await createParallelTrainer({
        threads: 2,
        model: { kind: 'paper', options: c.options },
        optimizer: c.optimizer,
        sync: c.sync,
        workerUrl: workerUrl(),
      });
      try {
        const losses = await within(run(trainer, data), 30_000);
        expect(worstRelative(losses, ref.losses, 0)).toBeLessThan(1e-5);
        const params = trainer.model.parameters();
        params.forEach((p, i) => {
          expect(p.data.buffer).toBeInstanceOf(SharedArrayBuffer);
          expect(worstRelative(p.data, ref.params[i]!, 1e-3)).toBeLessThan(1e-5);
        });
        // The parameters moved, so the comparison is not of two untrained models.
        expect(
          worstRelative(params[0]!.data, new PaperCNN(c.options).conv.weight.data, 0),
        ).toBeGreaterThan(1e-3);
      } finally {
        await trainer.close();
      }
    });
  }

  it('PaperCNN relu conv, sigmoid dense, batch 17, Adam: losses to 1e-5, weights to 1e-4', async () => {
    // Adam divides by the root of the second moment, so an entry whose gradient is all
    // rounding noise (near zero) moves by about lr either way: there the runs differ by a
    // fraction of one lr step (1.5e-5 with lr 0.002 here), not by a relative 1e-5.
    const options: PaperCNNModuleOptions = {
      seed: 3,
      activation: 'relu',
      denseActivation: 'sigmoid',
    };
    const optimizer = (m: Module): Optimizer => new Adam(m, { lr: 0.002 });
    const data = batches(4, 17, 11);
    const ref = reference(options, optimizer, data);
    const trainer = await createParallelTrainer({
      model: { kind: 'paper', options },
      optimizer,
      workerUrl: workerUrl(),
    });
    try {
      const losses = await within(run(trainer, data), 30_000);
      expect(worstRelative(losses, ref.losses, 0)).toBeLessThan(1e-5);
      trainer.model
        .parameters()
        .forEach((p, i) => expect(worstRelative(p.data, ref.params[i]!, 1)).toBeLessThan(1e-4));
    } finally {
      await trainer.close();
    }
  });

  it('threads: 1 runs no worker and equals the plain loop bit for bit', async () => {
    const options = { seed: 4 };
    const optimizer = (m: Module): Optimizer => new SGD(m, { lr: 0.1 });
    const data = batches(3, 8, 12);
    const ref = reference(options, optimizer, data);
    const trainer = await createParallelTrainer({
      threads: 1,
      model: { kind: 'paper', options },
      optimizer,
    });
    expect(trainer.liveWorkers).toBe(0);
    expect(await run(trainer, data)).toEqual(ref.losses);
    trainer.model.parameters().forEach((p, i) => expect(p.data).toEqual(ref.params[i]));
    await trainer.close();
  });

  it('float64 PaperCNN, batch 9, matches to 1e-12', async () => {
    const options: PaperCNNModuleOptions = { seed: 5, dtype: 'float64' };
    const optimizer = (m: Module): Optimizer => new SGD(m, { lr: 0.1 });
    const data = batches(3, 9, 13, 'float64');
    const ref = reference(options, optimizer, data);
    const trainer = await createParallelTrainer({
      model: { kind: 'paper', options },
      optimizer,
      workerUrl: workerUrl(),
    });
    try {
      const losses = await within(run(trainer, data), 30_000);
      expect(worstRelative(losses, ref.losses, 0)).toBeLessThan(1e-12);
      trainer.model
        .parameters()
        .forEach((p, i) => expect(worstRelative(p.data, ref.params[i]!, 1e-3)).toBeLessThan(1e-12));
    } finally {
      await trainer.close();
    }
  });

  it('an optimizer built before the trainer keeps training the shared parameters', async () => {
    const options = { seed: 6 };
    const data = batches(2, 10, 14);
    const ref = reference(options, (m) => new SGD(m, { lr: 0.1 }), data);
    const model = new PaperCNN(options);
    const optimizer = new SGD(model, { lr: 0.1 });
    const trainer = await createParallelTrainer({
      model: { kind: 'paper', options },
      instance: model,
      optimizer,
      workerUrl: workerUrl(),
    });
    try {
      await within(run(trainer, data), 30_000);
      expect(trainer.model).toBe(model);
      model
        .parameters()
        .forEach((p, i) => expect(worstRelative(p.data, ref.params[i]!, 1e-3)).toBeLessThan(1e-5));
    } finally {
      await trainer.close();
    }
  });
});

describe('failures and close()', () => {
  const options = { seed: 7 };
  const optimizer = (m: Module): Optimizer => new SGD(m, { lr: 0.1 });

  for (const sync of ['atomics', 'messages'] as const) {
    it(`${sync}: a bad label in the worker's half rejects with the worker's message`, async () => {
      const trainer = await createParallelTrainer({
        model: { kind: 'paper', options },
        optimizer,
        sync,
        workerUrl: workerUrl(),
      });
      try {
        const [good] = batches(1, 8, 15);
        const before = trainer.model.parameters().map((p) => p.data.slice());
        // Rows 0-3 are the main thread's, rows 4-7 the worker's: only the worker meets label 12.
        const y = [...good!.y.slice(0, 7), 12];
        const err = await within(trainer.step(good!.x, y), 10_000).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ParallelWorkerError);
        expect((err as ParallelWorkerError).worker).toBe(1);
        expect((err as ParallelWorkerError).workerName).toBe('ValueError');
        expect((err as Error).message).toBe(
          'parallel worker 1: ValueError: crossEntropy: target 12 at position 3 is not a class index in [0, 9]',
        );
        // No optimizer step was taken, and the trainer still works.
        trainer.model.parameters().forEach((p, i) => expect(p.data).toEqual(before[i]));
        const loss = await within(trainer.step(good!.x, good!.y), 10_000);
        expect(Number.isFinite(loss)).toBe(true);
      } finally {
        await trainer.close();
      }
    });
  }

  it('a bad batch shape rejects with the PaperCNN ShapeError, then the trainer goes on', async () => {
    const trainer = await createParallelTrainer({
      model: { kind: 'paper', options },
      optimizer,
      workerUrl: workerUrl(),
    });
    try {
      const bad = new Tensor(new Float32Array(8 * 27 * 27), [8, 1, 27, 27]);
      await expect(
        within(trainer.step(bad, [0, 1, 2, 3, 4, 5, 6, 7]), 10_000),
      ).rejects.toMatchObject({ name: 'ShapeError', op: 'PaperCNN' });
      const [good] = batches(1, 8, 16);
      await expect(
        within(trainer.step(good!.x, good!.y.slice(0, 5)), 10_000),
      ).rejects.toMatchObject({
        arg: 'y',
        message: 'ParallelTrainer.step: y has 5 targets for a batch of 8',
      });
      expect(Number.isFinite(await within(trainer.step(good!.x, good!.y), 10_000))).toBe(true);
    } finally {
      await trainer.close();
    }
  });

  it('a model spec the worker cannot build rejects createParallelTrainer', async () => {
    const missing = new URL('./no-such-module.mjs', import.meta.url).href;
    const model = new PaperCNN(options);
    await expect(
      within(
        createParallelTrainer({
          model: { kind: 'factory', url: missing, name: 'build' },
          instance: model,
          optimizer,
          workerUrl: workerUrl(),
        }),
        20_000,
      ),
    ).rejects.toMatchObject({ name: 'ParallelWorkerError', message: /no-such-module/ });
  });

  it('close() ends the workers and later steps reject', async () => {
    const trainer = await createParallelTrainer({
      model: { kind: 'paper', options },
      optimizer,
      workerUrl: workerUrl(),
    });
    expect(trainer.liveWorkers).toBe(1);
    await within(trainer.close(), 5_000);
    expect(trainer.liveWorkers).toBe(0);
    const [b] = batches(1, 4, 17);
    await expect(trainer.step(b!.x, b!.y)).rejects.toThrow('step() after close()');
    await trainer.close();
  });
});

describe('the training CLI with --threads', () => {
  const TRAIN = fileURLToPath(new URL('../dist/cli/train.js', import.meta.url));
  const work = mkdtempSync(join(tmpdir(), 'tapegrad-parallel-cli-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  const cli = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      if (!existsSync(TRAIN)) throw new Error(`${TRAIN} is missing: run pnpm run build first`);
      execFile(
        process.execPath,
        [TRAIN, ...args],
        { env: { ...process.env, INIT_CWD: work }, timeout: 120_000, maxBuffer: 16 << 20 },
        (err, stdout, stderr) =>
          resolve({
            code: err === null ? 0 : typeof err.code === 'number' ? err.code : null,
            stdout,
            stderr,
          }),
      );
    });
  const summary = (stdout: string): { trainLoss: number; testLoss: number; threads: number } => {
    const s = JSON.parse(stdout.trimEnd().split('\n').pop()!) as {
      history: { trainLoss: number }[];
      testLoss: number;
      threads: number;
    };
    return { trainLoss: s.history[0]!.trainLoss, testLoss: s.testLoss, threads: s.threads };
  };

  it('--threads 2 ends one epoch where --threads 1 does, to float32 rounding', async () => {
    const common = ['--epochs', '1', '--train-size', '600', '--test-size', '200', '--json'];
    const [one, two] = await Promise.all([
      cli([...common, '--out', 'one']),
      cli([...common, '--out', 'two', '--threads', '2']),
    ]);
    expect(one.code, one.stderr).toBe(0);
    expect(two.code, two.stderr).toBe(0);
    expect(two.stdout).toContain('data-parallel over 2 threads');
    const [a, b] = [summary(one.stdout), summary(two.stdout)];
    expect([a.threads, b.threads]).toEqual([1, 2]);
    expect(Math.abs(b.trainLoss - a.trainLoss) / a.trainLoss).toBeLessThan(1e-5);
    expect(Math.abs(b.testLoss - a.testLoss) / a.testLoss).toBeLessThan(1e-4);
  });

  it('--threads 0 is a usage error naming --threads; --help explains the rounding', async () => {
    const bad = await cli(['--threads', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe("error: --threads must be an integer in [1, 64], got '0'\n");
    const help = await cli(['--help']);
    expect(help.stdout).toMatch(/--threads N[\s\S]*float32[\s\S]*rounding[\s\S]*not bit for bit/);
  });
});
