// Training end to end: a short run of the shared loop beats 90% test accuracy, the loop's hooks
// and config checks, and resuming the CLI from a checkpoint, after a clean stop and after a
// SIGKILL mid-epoch, ends exactly where an uninterrupted run ends (the batch order of an epoch
// comes from the seed and the epoch, and the optimizer state is in the checkpoint).
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ValueError, jsBackend, setBackend } from '@tapegrad/autograd';
import { loadSafetensorsFile } from '@tapegrad/nn/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useBackend } from '../src/cli/common.js';
import { batchCount, loadMnist } from '../src/data.js';
import {
  DEFAULT_CONFIG,
  type EpochResult,
  type TrainConfig,
  checkConfig,
  createRun,
  evaluate,
  trainEpochs,
} from '../src/train.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const TRAIN = join(ROOT, 'packages', 'examples', 'dist', 'cli', 'train.js');
const work = mkdtempSync(join(tmpdir(), 'tapegrad-training-'));

afterAll(() => {
  setBackend(jsBackend);
  rmSync(work, { recursive: true, force: true });
});

describe('trainEpochs', () => {
  beforeAll(() => {
    useBackend('wasm');
  });

  it('2 epochs on 3,000 digits beat 90% on 1,000 held-out digits', async () => {
    const data = loadMnist({ trainSize: 3000, testSize: 1000, seed: 1 });
    const config: TrainConfig = { ...DEFAULT_CONFIG, epochs: 2 };
    const { model, optimizer } = createRun(config);
    const batchesSeen: number[] = [];
    const epochs: EpochResult[] = [];
    const results = await trainEpochs(model, optimizer, data, config, {
      onBatch: (b) => batchesSeen.push(b.batch),
      onEpoch: (r) => {
        epochs.push(r);
      },
    });
    expect(results.map((r) => r.epoch)).toEqual([1, 2]);
    expect(epochs).toEqual(results);
    expect(batchesSeen).toHaveLength(2 * batchCount(data.train, config.batchSize));
    const final = evaluate(model, data.test);
    expect(final.accuracy).toBeGreaterThan(0.9);
    expect(final.accuracy).toBe(results[1]!.testAccuracy);
    expect(results[1]!.trainLoss).toBeLessThan(results[0]!.trainLoss);
    // The confusion matrix counts every test digit once, by its true class.
    const counts = new Array<number>(10).fill(0);
    for (const l of data.test.labels) counts[l]!++;
    expect(final.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(counts);
  });

  it('shouldStop ends the run before the next batch', async () => {
    const data = loadMnist({ trainSize: 64, testSize: 16, seed: 2 });
    const config: TrainConfig = { ...DEFAULT_CONFIG, epochs: 3, batchSize: 16 };
    const { model, optimizer } = createRun(config);
    let batches = 0;
    const results = await trainEpochs(model, optimizer, data, config, {
      onBatch: () => batches++,
      shouldStop: () => batches === 6,
    });
    // Epoch 1 (4 batches) finished; epoch 2 stopped after 2.
    expect(results.map((r) => r.epoch)).toEqual([1]);
    expect(batches).toBe(6);
  });

  it.each([
    ['epochs', 0],
    ['epochs', 1.5],
    ['batchSize', 0],
    ['seed', -1],
    ['augmentShift', -1],
    ['lrDecay', 0],
    ['lrDecay', 1.5],
    ['lr', 0],
    ['lr', Number.POSITIVE_INFINITY],
    ['optimizer', 'rmsprop'],
    ['activation', 'tanh'],
  ] as const)('checkConfig: %s = %s throws ValueError naming it', (arg, value) => {
    const config = { ...DEFAULT_CONFIG, [arg]: value } as TrainConfig;
    let err: unknown;
    try {
      checkConfig(config);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValueError);
    expect((err as ValueError).op).toBe('train');
    expect((err as ValueError).arg).toBe(arg);
    expect((err as ValueError).actual).toBe(String(value));
  });
});

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `train.js` from the repository root with INIT_CWD set to the temporary folder. */
function start(args: string[]): { child: ChildProcess; done: Promise<Result> } {
  let child!: ChildProcess;
  const done = new Promise<Result>((resolve) => {
    child = execFile(
      process.execPath,
      [TRAIN, ...args],
      { cwd: ROOT, env: { ...process.env, INIT_CWD: work }, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, signal: err?.signal ?? null, stdout, stderr });
      },
    );
  });
  return { child, done };
}

async function train(args: string[]): Promise<{ result: Result; summary: Summary }> {
  const result = await start(args).done;
  expect(result.code, result.stderr).toBe(0);
  const lines = result.stdout.trimEnd().split('\n');
  return { result, summary: JSON.parse(lines[lines.length - 1]!) as Summary };
}

interface Summary {
  testAccuracy: number;
  testLoss: number;
  epochs: number;
  seed: number;
  history: EpochResult[];
}

/** The epoch results without their timings, which differ between runs. */
function untimed(history: EpochResult[]): Omit<EpochResult, 'seconds'>[] {
  return history.map(({ seconds: _, ...rest }) => rest);
}

/** Every tensor of two checkpoints, byte for byte: weights and optimizer state. */
async function expectSameTensors(a: string, b: string): Promise<void> {
  const [x, y] = await Promise.all([loadSafetensorsFile(a), loadSafetensorsFile(b)]);
  expect([...y.tensors.keys()]).toEqual([...x.tensors.keys()]);
  for (const [name, t] of x.tensors) {
    const u = y.tensors.get(name)!;
    expect(u.shape, name).toEqual(t.shape);
    const bytes = (v: ArrayBufferView): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    expect(bytes(u.data).equals(bytes(t.data)), name).toBe(true);
  }
}

/** Waits until a complete checkpoint of `epoch` is on disk (writes are atomic renames). */
async function waitForCheckpoint(path: string, epoch: string, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the run ended before writing ${path}`);
    if (existsSync(path)) {
      const { metadata } = await loadSafetensorsFile(path);
      if (metadata.epoch === epoch) return;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('train.js --resume', () => {
  // 1,000 training digits, 300 test digits: about a second an epoch.
  const sizes = ['--train-size', '1000', '--test-size', '300', '--seed', '3'];
  let full: Summary;
  let resumed: Summary;
  let resumedOutput: string;
  let killed: { result: Result; epochAtKill: string | undefined };
  let afterKill: Summary;

  beforeAll(async () => {
    if (!existsSync(TRAIN))
      throw new Error(
        `${TRAIN} is missing: run \`pnpm run build\` first (root \`pnpm test\` does)`,
      );
    // The three runs are independent: an uninterrupted one, one stopped after epoch 1 and
    // resumed, one killed during epoch 2 and resumed.
    const uninterrupted = train([...sizes, '--epochs', '2', '--json', '--out', 'full']).then(
      (r) => r.summary,
    );
    const stopped = (async () => {
      await train([...sizes, '--epochs', '1', '--json', '--out', 'resumed']);
      // No sizes or seed: a resumed run takes them from the checkpoint.
      const r = await train([
        '--resume',
        'resumed/checkpoint.safetensors',
        '--epochs',
        '2',
        '--json',
        '--out',
        'resumed',
      ]);
      resumedOutput = r.result.stdout;
      return r.summary;
    })();
    const interrupted = (async () => {
      // Asks for 3 epochs so that the kill surely lands before the run ends.
      const { child, done } = start([...sizes, '--epochs', '3', '--out', 'killed']);
      const checkpoint = join(work, 'killed', 'checkpoint.safetensors');
      await waitForCheckpoint(checkpoint, '1', child);
      child.kill('SIGKILL');
      const result = await done;
      const { metadata } = await loadSafetensorsFile(checkpoint);
      killed = { result, epochAtKill: metadata.epoch };
      const r = await train([
        '--resume',
        'killed/checkpoint.safetensors',
        '--epochs',
        '2',
        '--json',
        '--out',
        'killed',
      ]);
      return r.summary;
    })();
    [full, resumed, afterKill] = await Promise.all([uninterrupted, stopped, interrupted]);
  });

  it('a run resumed after epoch 1 ends with the same accuracy and loss', () => {
    expect(resumedOutput).toContain('after epoch 1');
    expect(resumed.testAccuracy).toBe(full.testAccuracy);
    expect(resumed.testLoss).toBe(full.testLoss);
    expect(resumed.seed).toBe(3);
    expect(resumed.epochs).toBe(2);
  });

  it('its history holds both epochs, equal to the uninterrupted run', () => {
    expect(resumed.history.map((h) => h.epoch)).toEqual([1, 2]);
    expect(untimed(resumed.history)).toEqual(untimed(full.history));
  });

  it('its checkpoint holds the same weights and optimizer state', async () => {
    await expectSameTensors(
      join(work, 'full', 'checkpoint.safetensors'),
      join(work, 'resumed', 'checkpoint.safetensors'),
    );
  });

  it('a run killed during epoch 2 leaves the epoch-1 checkpoint intact', () => {
    expect(killed.result.signal).toBe('SIGKILL');
    expect(killed.epochAtKill).toBe('1');
  });

  it('resumed after the kill, it ends where the uninterrupted run ends', async () => {
    expect(afterKill.testAccuracy).toBe(full.testAccuracy);
    expect(afterKill.testLoss).toBe(full.testLoss);
    expect(untimed(afterKill.history)).toEqual(untimed(full.history));
    await expectSameTensors(
      join(work, 'full', 'checkpoint.safetensors'),
      join(work, 'killed', 'checkpoint.safetensors'),
    );
  });
});
