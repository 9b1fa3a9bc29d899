/**
 * `pnpm gradients`: one batch of MNIST digits through the paper's hand-derived backward run and
 * through autograd, side by side, per parameter; `--finite-differences` adds central differences
 * on sampled entries. Float64 by default, so the only differences left are rounding.
 *
 * Options: --batch-size --seed --activation relu|sigmoid --dtype float64|float32
 * --finite-differences --samples N --json
 */
import { Tensor } from '@tapegrad/autograd';
import {
  Adam,
  PaperCNN,
  type ParameterComparison,
  compareGradients,
  type Difference,
} from '@tapegrad/nn';
import { loadMnist, take } from '../data.js';
import { backendOption, choiceOption, numberOption, parseCommandLine, runMain } from './common.js';

const OPTIONS = {
  'batch-size': { type: 'string' },
  seed: { type: 'string' },
  activation: { type: 'string' },
  dtype: { type: 'string' },
  'finite-differences': { type: 'boolean' },
  samples: { type: 'string' },
  warmup: { type: 'string' },
  backend: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HELP = `usage: pnpm gradients [-- options]
  --batch-size N          digits in the batch (default 16)
  --seed N                seed of the weights and the batch (default 1)
  --activation NAME       relu or sigmoid (default relu)
  --dtype NAME            float64 (default) or float32
  --finite-differences    also compare with central differences
  --samples N             entries per parameter for finite differences (default 16)
  --warmup N              Adam steps on other digits before comparing (default 10)
  --backend NAME          wasm (default) or js
  --json                  print one JSON object as the last line
`;

const fmt = (v: number): string => (v === 0 ? '0' : v.toExponential(2));

function row(p: ParameterComparison, fd: boolean): string[] {
  const d: Difference = p.manualVsAutograd;
  const cells = [
    p.name,
    `[${p.shape.join(',')}]`,
    fmt(d.maxAbs),
    fmt(d.maxRel),
    `[${d.worstPosition.join(',')}]`,
  ];
  if (fd)
    cells.push(
      fmt(p.autogradVsFiniteDifferences!.maxRel),
      fmt(p.manualVsFiniteDifferences!.maxRel),
    );
  return cells;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const v = parseCommandLine(OPTIONS, HELP);
  if (v === null) return;
  backendOption(v.backend);
  // The batch and the warm-up digits come from a split of at most 9,999 digits.
  const batchSize = numberOption('batch-size', v['batch-size'], 16, 'int', { min: 1, max: 4999 });
  const seed = numberOption('seed', v.seed, 1, 'int', 0);
  const activation = choiceOption('activation', v.activation, 'relu', ['relu', 'sigmoid'] as const);
  const dtype = choiceOption('dtype', v.dtype, 'float64', ['float64', 'float32'] as const);
  const samples = numberOption('samples', v.samples, 16, 'int', 1);
  const fd = v['finite-differences'] ?? false;
  const warmup = numberOption('warmup', v.warmup, 10, 'int', 0);

  const data = loadMnist({ trainSize: Math.max(2 * batchSize, 500), testSize: 1, seed, dtype });
  const batch = take(
    data.train,
    Array.from({ length: batchSize }, (_, i) => i),
  );
  const model = new PaperCNN({ seed, activation, dtype });
  // Note [warm-up before comparing]: at initialisation every bias is 0, so a blank window of the
  // background gives a pre-activation of exactly 0, ReLU's kink, where finite differences see
  // half the slope. A few training steps move the biases off 0 and the weights somewhere typical.
  const optimizer = new Adam(model, { lr: 1e-3 });
  for (let s = 0; s < warmup; s++) {
    const start = batchSize + ((s * batchSize) % (data.train.size - batchSize));
    const w = take(
      data.train,
      Array.from({ length: batchSize }, (_, i) => (start + i) % data.train.size),
    );
    const loss = model.loss(w.x, w.y);
    optimizer.zeroGrad();
    loss.backward();
    optimizer.step();
  }
  model.zeroGrad();
  const started = performance.now();
  const report = compareGradients(
    model,
    batch.x as Tensor,
    batch.y,
    fd ? { finiteDifferences: { samplesPerParameter: samples, seed } } : {},
  );
  const seconds = (performance.now() - started) / 1000;

  const header = ['parameter', 'shape', 'max |manual - autograd|', 'max rel', 'worst index'];
  if (fd) header.push('rel autograd vs FD', 'rel manual vs FD');
  process.stdout.write(
    `PaperCNN (${activation}, ${dtype}), one batch of ${batchSize} MNIST digits, seed ${seed}\n`,
  );
  process.stdout.write(`loss: manual ${report.loss.manual}, autograd ${report.loss.autograd}\n\n`);
  process.stdout.write(
    `${table(
      header,
      report.parameters.map((p) => row(p, fd)),
    )}\n\n`,
  );
  process.stdout.write(
    `largest relative difference, manual vs autograd: ${fmt(report.worst.maxRel)} ` +
      `(${seconds.toFixed(2)} s)\n`,
  );
  if (v.json) {
    process.stdout.write(
      `${JSON.stringify({
        batchSize,
        seed,
        activation,
        dtype,
        finiteDifferences: fd,
        seconds,
        ...report,
      })}\n`,
    );
  }
}

runMain(main);
