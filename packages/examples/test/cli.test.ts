// The command-line scripts as a user runs them: `node dist/cli/train.js` (`pnpm start`) and
// `node dist/cli/gradients.js` (`pnpm gradients`). Every bad option is one `error:` line naming
// it, exit code 2, no stack trace; --help prints usage; --json ends stdout with one JSON object;
// a run writes its plots and a checkpoint to --out, relative to INIT_CWD like under pnpm. The
// scripts run from the built dist/, which the root `pnpm test` builds first.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSafetensorsFile, saveSafetensorsFile } from '@tapegrad/nn/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const DIST = join(ROOT, 'packages', 'examples', 'dist', 'cli');
const TRAIN = join(DIST, 'train.js');
const GRADIENTS = join(DIST, 'gradients.js');
const work = mkdtempSync(join(tmpdir(), 'tapegrad-cli-'));

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a script from the repository root with INIT_CWD set to the temporary folder. */
function run(script: string, args: string[], timeout = 60_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      {
        cwd: ROOT,
        env: { ...process.env, INIT_CWD: work },
        timeout,
        maxBuffer: 16 << 20,
      },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trimEnd().split('\n');
  return JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
}

/** One line on stderr starting with `error:` and naming the option; exit 2; no stack trace. */
function expectUsageError(r: Result, option: string): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toContain(option);
  expect(r.stderr).not.toMatch(/^\s*at /m);
  expect(r.code).toBe(2);
}

beforeAll(() => {
  for (const script of [TRAIN, GRADIENTS]) {
    if (!existsSync(script))
      throw new Error(
        `${script} is missing: run \`pnpm run build\` first (root \`pnpm test\` does)`,
      );
  }
  writeFileSync(join(work, 'notes.txt'), 'not a checkpoint\n');
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe.concurrent('train.js: bad options', () => {
  it.each([
    [['--epochs', '0'], '--epochs'],
    [['--epochs', 'x'], '--epochs'],
    [['--epochs', '2.5'], '--epochs'],
    [['--epochs'], '--epochs'],
    [['--lr', '-1'], '--lr'],
    [['--lr=-1'], '--lr'],
    [['--lr', '0'], '--lr'],
    [['--lr', 'fast'], '--lr'],
    [['--optimizer', 'foo'], '--optimizer'],
    [['--activation', 'tanh'], '--activation'],
    [['--batch-size', '1.5'], '--batch-size'],
    [['--batch-size', '0'], '--batch-size'],
    [['--batch-size', '200', '--train-size', '100'], '--batch-size'],
    [['--seed', '1.5'], '--seed'],
    [['--backend', 'gpu'], '--backend'],
    [['--bogus'], '--bogus'],
    [['--resume', '/nonexistent/checkpoint.safetensors'], '--resume'],
    [['--resume', 'notes.txt'], '--resume'],
    [['--train-size', '20000'], '--train-size'],
    [['--train-size', '0'], '--train-size'],
    [['--test-size', '-3'], '--test-size'],
    [['--train-size', '9000', '--test-size', '2000'], '--train-size'],
  ])('%j: error naming %s, exit 2', async (args, option) => {
    const r = await run(TRAIN, args);
    expectUsageError(r, option);
    expect(r.stdout).toBe('');
  });

  it('--resume of a safetensors file without training metadata', async () => {
    const path = join(work, 'plain.safetensors');
    await saveSafetensorsFile(path, {
      w: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) },
    });
    const r = await run(TRAIN, ['--resume', 'plain.safetensors']);
    expectUsageError(r, '--resume');
    expect(r.stderr).toContain('not a checkpoint of this training script');
  });

  it('--help prints usage naming every option, exit 0', async () => {
    const r = await run(TRAIN, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^usage: pnpm start/);
    for (const option of [
      '--epochs',
      '--batch-size',
      '--lr',
      '--optimizer',
      '--activation',
      '--seed',
      '--out',
      '--resume',
      '--backend',
      '--train-size',
      '--test-size',
      '--json',
    ])
      expect(r.stdout).toContain(option);
  });

  it('-h is --help, and a bare -- (as pnpm passes it) is ignored', async () => {
    const r = await run(TRAIN, ['--', '-h']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: pnpm start/);
  });
});

describe('train.js: a short run with --json', () => {
  let result: Result;
  let summary: Record<string, unknown>;
  const out = join(work, 'run');

  beforeAll(async () => {
    result = await run(TRAIN, [
      '--',
      '--epochs',
      '1',
      '--train-size',
      '300',
      '--test-size',
      '100',
      '--seed',
      '4',
      '--json',
      '--out',
      'run',
    ]);
    expect(result.code, result.stderr).toBe(0);
    summary = lastJson(result.stdout);
  });

  it('the last stdout line is the JSON summary', () => {
    expect(summary).toMatchObject({ epochs: 1, seed: 4, out, backend: 'wasm' });
    for (const key of ['testAccuracy', 'testLoss', 'trainSeconds', 'imagesPerSecond'])
      expect(typeof summary[key], key).toBe('number');
    expect(summary.testAccuracy as number).toBeGreaterThanOrEqual(0);
    expect(summary.testAccuracy as number).toBeLessThanOrEqual(1);
    expect(summary.trainSeconds as number).toBeGreaterThan(0);
    expect(summary.imagesPerSecond as number).toBeGreaterThan(0);
    const history = summary.history as { epoch: number; testAccuracy: number }[];
    expect(history.map((h) => h.epoch)).toEqual([1]);
    expect(history[0]!.testAccuracy).toBe(summary.testAccuracy);
    expect(result.stdout).toContain('epoch 1/1');
  });

  it.each(['loss-accuracy.svg', 'kernels.svg', 'feature-maps.svg', 'confusion-matrix.svg'])(
    '%s is an SVG in --out (relative to INIT_CWD)',
    (name) => {
      const svg = readFileSync(join(out, name), 'utf8');
      expect(svg.trimStart().startsWith('<svg')).toBe(true);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    },
  );

  it('checkpoint.safetensors holds the model, the optimizer and the run', async () => {
    const { tensors, metadata } = await loadSafetensorsFile(join(out, 'checkpoint.safetensors'));
    const conv = tensors.get('conv.weight');
    expect(conv?.shape).toEqual([8, 1, 5, 5]);
    expect(conv?.dtype).toBe('float32');
    expect(tensors.get('conv.bias')?.shape).toEqual([8]);
    expect(metadata.epoch).toBe('1');
    expect(JSON.parse(metadata.config!)).toMatchObject({ epochs: 1, seed: 4 });
    expect(JSON.parse(metadata.sizes!)).toEqual({ trainSize: 300, testSize: 100 });
    expect(JSON.parse(metadata.history!)).toHaveLength(1);
  });

  it('--resume of a finished run asks for more epochs', async () => {
    const r = await run(TRAIN, ['--resume', 'run/checkpoint.safetensors']);
    expectUsageError(r, '--epochs');
  });

  it('--resume with a setting that differs from the checkpoint names it', async () => {
    const r = await run(TRAIN, [
      '--resume',
      'run/checkpoint.safetensors',
      '--epochs',
      '2',
      '--lr',
      '0.1',
    ]);
    expectUsageError(r, '--lr');
  });

  it('sgd, sigmoid, the js backend and another batch size run too', async () => {
    const r = await run(TRAIN, [
      '--epochs',
      '1',
      '--train-size',
      '100',
      '--test-size',
      '20',
      '--optimizer',
      'sgd',
      '--activation',
      'sigmoid',
      '--backend',
      'js',
      '--batch-size',
      '50',
      '--lr',
      '0.01',
      '--json',
      '--out',
      'other',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson(r.stdout);
    expect(s).toMatchObject({
      backend: 'js',
      config: { optimizer: 'sgd', activation: 'sigmoid', batchSize: 50, lr: 0.01 },
    });
    expect(existsSync(join(work, 'other', 'checkpoint.safetensors'))).toBe(true);
  });
});

interface Comparison {
  name: string;
  shape: number[];
  manualVsAutograd: { maxRel: number };
  autogradVsFiniteDifferences?: { maxRel: number };
  manualVsFiniteDifferences?: { maxRel: number };
}

describe.concurrent('gradients.js', () => {
  it('--json: manual and autograd agree to 1e-9 on every parameter in float64', async () => {
    const r = await run(GRADIENTS, ['--json', '--batch-size', '4']);
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson(r.stdout);
    expect(s).toMatchObject({ batchSize: 4, dtype: 'float64', finiteDifferences: false });
    const params = s.parameters as Comparison[];
    expect(params.map((p) => p.name)).toEqual([
      'conv.weight',
      'conv.bias',
      'dense.0.weight',
      'dense.0.bias',
      'dense.1.weight',
      'dense.1.bias',
    ]);
    expect(params[0]!.shape).toEqual([8, 1, 5, 5]);
    for (const p of params) expect(p.manualVsAutograd.maxRel, p.name).toBeLessThan(1e-9);
  });

  it('--finite-differences --samples 4: both gradients match central differences to 1e-4', async () => {
    const r = await run(GRADIENTS, [
      '--json',
      '--batch-size',
      '4',
      '--finite-differences',
      '--samples',
      '4',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const s = lastJson(r.stdout);
    expect(s.finiteDifferences).toBe(true);
    for (const p of s.parameters as Comparison[]) {
      expect(p.manualVsAutograd.maxRel, p.name).toBeLessThan(1e-9);
      expect(p.autogradVsFiniteDifferences!.maxRel, p.name).toBeLessThan(1e-4);
      expect(p.manualVsFiniteDifferences!.maxRel, p.name).toBeLessThan(1e-4);
    }
  });

  it('--help prints usage', async () => {
    const r = await run(GRADIENTS, ['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: pnpm gradients/);
    expect(r.stdout).toContain('--finite-differences');
  });

  it.each([
    [['--batch-size', '0'], '--batch-size'],
    [['--batch-size', '6000'], '--batch-size'],
    [['--batch-size', 'x'], '--batch-size'],
    [['--dtype', 'float16'], '--dtype'],
    [['--activation', 'tanh'], '--activation'],
    [['--samples', 'x'], '--samples'],
    [['--samples', '0'], '--samples'],
    [['--warmup', '-1'], '--warmup'],
    [['--seed', '0.5'], '--seed'],
    [['--backend', 'gpu'], '--backend'],
    [['--bogus'], '--bogus'],
  ])('%j: error naming %s, exit 2', async (args, option) => {
    const r = await run(GRADIENTS, args);
    expectUsageError(r, option);
  });
});
