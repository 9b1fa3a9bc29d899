/**
 * `pnpm start`: trains the paper's CNN on MNIST digits and writes what it learned to an output
 * folder: loss and accuracy curves, the kernels, feature maps of a few digits, the confusion
 * matrix (SVG, Vega-Lite) and the final checkpoint (safetensors).
 *
 * Options: --epochs --batch-size --lr --optimizer sgd|adam --activation relu|sigmoid --seed
 * --out DIR --resume CHECKPOINT --backend wasm|js --threads N --train-size --test-size --json
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { TapegradError, noGrad } from '@tapegrad/autograd';
import { activate, conv2d } from '@tapegrad/nn';
import { loadCheckpointFile, loadSafetensorsFile, saveCheckpoint } from '@tapegrad/nn/node';
import { AVAILABLE, loadMnist, take } from '../data.js';
import {
  DEFAULT_CONFIG,
  type EpochResult,
  type TrainConfig,
  createRun,
  evaluate,
  modelOptions,
  trainEpochs,
} from '../train.js';
import type { ParallelTrainer } from '../parallel.js';
import {
  type BackendName,
  UsageError,
  backendOption,
  choiceOption,
  numberOption,
  parseCommandLine,
  runMain,
} from './common.js';

const OPTIONS = {
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  optimizer: { type: 'string' },
  activation: { type: 'string' },
  seed: { type: 'string' },
  out: { type: 'string' },
  resume: { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  'train-size': { type: 'string' },
  'test-size': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

const HELP = `usage: pnpm start [-- options]
  --epochs N          epochs to train in all (default ${DEFAULT_CONFIG.epochs})
  --batch-size N      mini-batch size (default ${DEFAULT_CONFIG.batchSize})
  --lr X              learning rate (default ${DEFAULT_CONFIG.lr})
  --optimizer NAME    sgd (momentum 0.9) or adam (default ${DEFAULT_CONFIG.optimizer})
  --activation NAME   relu or sigmoid (default ${DEFAULT_CONFIG.activation})
  --seed N            seed of weights, split and batches (default ${DEFAULT_CONFIG.seed})
  --out DIR           output folder (default out)
  --resume FILE       continue from a checkpoint written by an earlier run
  --backend NAME      wasm (WebAssembly SIMD, default) or js
  --threads N         compute threads (default 1); N > 1 trains data-parallel over worker
                      threads, each taking a share of every batch: the same run up to float32
                      rounding (gradients are summed in another order), not bit for bit
  --train-size N      training digits (default 8000)
  --test-size N       held-out digits (default 2000)
  --json              print one JSON summary as the last line
`;

const CHECKPOINT = 'checkpoint.safetensors';

interface Summary {
  testAccuracy: number;
  testLoss: number;
  trainSeconds: number;
  imagesPerSecond: number;
  epochs: number;
  seed: number;
  config: TrainConfig;
  history: EpochResult[];
  out: string;
  backend: string;
  threads: number;
}

async function main(): Promise<void> {
  const v = parseCommandLine(OPTIONS, HELP);
  if (v === null) return;
  const backend = backendOption(v.backend);
  const base = process.env.INIT_CWD ?? process.cwd();
  const out = resolve(base, v.out ?? 'out');
  let config: TrainConfig = {
    ...DEFAULT_CONFIG,
    epochs: numberOption('epochs', v.epochs, DEFAULT_CONFIG.epochs, 'int', 1),
    batchSize: numberOption('batch-size', v['batch-size'], DEFAULT_CONFIG.batchSize, 'int', 1),
    lr: numberOption('lr', v.lr, DEFAULT_CONFIG.lr, 'float', { above: 0 }),
    optimizer: choiceOption('optimizer', v.optimizer, DEFAULT_CONFIG.optimizer, [
      'sgd',
      'adam',
    ] as const),
    activation: choiceOption('activation', v.activation, DEFAULT_CONFIG.activation, [
      'relu',
      'sigmoid',
    ] as const),
    seed: numberOption('seed', v.seed, DEFAULT_CONFIG.seed, 'int', 0),
  };
  const sizeRange = { min: 1, max: AVAILABLE - 1 };
  let trainSize = numberOption('train-size', v['train-size'], 8000, 'int', sizeRange);
  let testSize = numberOption('test-size', v['test-size'], 2000, 'int', sizeRange);
  const threads = numberOption('threads', v.threads, 1, 'int', { min: 1, max: 64 });
  const json = v.json ?? false;
  const log = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };

  let history: EpochResult[] = [];
  let startEpoch = 0;
  let run = createRun(config);
  if (v.resume !== undefined) {
    const path = resolve(base, v.resume);
    const meta = await resumeStep(() => readResumeMeta(path));
    // The run goes on with the settings it started with (the split too); only the epoch count
    // may grow. A setting given again must agree, so that no option is silently ignored.
    const kept = [
      ['batch-size', config.batchSize, meta.config.batchSize],
      ['lr', config.lr, meta.config.lr],
      ['optimizer', config.optimizer, meta.config.optimizer],
      ['activation', config.activation, meta.config.activation],
      ['seed', config.seed, meta.config.seed],
      ['train-size', trainSize, meta.sizes?.trainSize ?? trainSize],
      ['test-size', testSize, meta.sizes?.testSize ?? testSize],
    ] as const;
    for (const [name, given, saved] of kept) {
      if (v[name] !== undefined && given !== saved)
        throw new UsageError(
          `--${name} ${given} differs from the checkpoint's ${saved}; ` +
            'a resumed run keeps its settings (only --epochs may change)',
        );
    }
    config = {
      ...meta.config,
      epochs: v.epochs === undefined ? meta.config.epochs : config.epochs,
    };
    trainSize = meta.sizes?.trainSize ?? trainSize;
    testSize = meta.sizes?.testSize ?? testSize;
    run = createRun(config);
    await resumeStep(() => loadCheckpointFile(path, run.model, { optimizer: run.optimizer }));
    history = meta.history;
    startEpoch = meta.epoch;
    if (startEpoch >= config.epochs)
      throw new UsageError(
        `the checkpoint has already trained ${startEpoch} of ${config.epochs} epochs; ` +
          'pass a larger --epochs',
      );
    log(`resuming from ${path} after epoch ${startEpoch}`);
  }
  if (trainSize + testSize > AVAILABLE)
    throw new UsageError(
      `--train-size ${trainSize} and --test-size ${testSize} add up to more than the ` +
        `${AVAILABLE} digits of the mnist package`,
    );
  if (config.batchSize > trainSize)
    throw new UsageError(
      `--batch-size ${config.batchSize} is larger than the ${trainSize} training digits ` +
        `(--train-size)`,
    );
  const data = loadMnist({ trainSize, testSize, seed: config.seed });
  await mkdir(out, { recursive: true });
  log(
    `training PaperCNN on ${data.train.size} MNIST digits, testing on ${data.test.size} ` +
      `(backend ${backend}, ${config.optimizer} lr ${config.lr}, batch ${config.batchSize}, ` +
      `${config.activation}${threads > 1 ? `, data-parallel over ${threads} threads` : ''})`,
  );
  const parallel = threads > 1 ? await startParallel(threads, config, run, backend) : null;

  const bar = new cliProgress.SingleBar(
    {
      format: 'epoch {epoch} |{bar}| {value}/{total} batches | loss {loss} | {rate} img/s',
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let epochStart = 0;
  let epochImages = 0;
  let trainSeconds = 0;
  let trainImages = 0;
  const results = await trainEpochs(
    run.model,
    run.optimizer,
    data,
    config,
    {
      ...(parallel !== null ? { step: (x, y) => parallel.step(x, y) } : {}),
      onBatch: (b) => {
        if (b.batch === 1) {
          epochStart = performance.now();
          epochImages = 0;
          bar.start(b.batches, 0, { epoch: b.epoch, loss: '-', rate: '-' });
        }
        epochImages += b.images;
        const rate = epochImages / Math.max(1e-3, (performance.now() - epochStart) / 1000);
        bar.update(b.batch, { epoch: b.epoch, loss: b.loss.toFixed(4), rate: rate.toFixed(0) });
      },
      onEpoch: async (r) => {
        bar.stop();
        trainSeconds += r.seconds;
        trainImages += data.train.size;
        history.push(r);
        log(
          `epoch ${r.epoch}/${config.epochs}  train loss ${r.trainLoss.toFixed(4)}  test loss ` +
            `${r.testLoss.toFixed(4)}  test accuracy ${(100 * r.testAccuracy).toFixed(2)}%  ` +
            `(${r.seconds.toFixed(1)} s, ${(data.train.size / r.seconds).toFixed(0)} img/s)`,
        );
        const metadata = {
          epoch: String(r.epoch),
          config: JSON.stringify(config),
          history: JSON.stringify(history),
          sizes: JSON.stringify({ trainSize, testSize }),
        };
        await saveCheckpoint(resolve(out, CHECKPOINT), run.model, {
          optimizer: run.optimizer,
          metadata,
        });
      },
    },
    startEpoch,
  ).finally(() => parallel?.close());

  const final = evaluate(run.model, data.test);
  await writeOutputs(out, run.model, data.test, history, final.confusion);
  log(
    `final test accuracy ${(100 * final.accuracy).toFixed(2)}% on ${data.test.size} held-out ` +
      `digits; outputs in ${out}`,
  );
  if (json) {
    const summary: Summary = {
      testAccuracy: final.accuracy,
      testLoss: final.loss,
      trainSeconds,
      imagesPerSecond: trainSeconds > 0 ? trainImages / trainSeconds : 0,
      epochs: config.epochs,
      seed: config.seed,
      config,
      history,
      out,
      backend,
      threads,
    };
    log(JSON.stringify(summary));
  }
  void results;
}

/**
 * The data-parallel trainer over the run's own model and optimizer (loaded only for
 * `--threads` above 1, so a single-thread run starts no worker and loads no more code).
 */
async function startParallel(
  threads: number,
  config: TrainConfig,
  run: ReturnType<typeof createRun>,
  backend: BackendName,
): Promise<ParallelTrainer> {
  const { createParallelTrainer } = await import('../parallel.js');
  return createParallelTrainer({
    threads,
    model: { kind: 'paper', options: modelOptions(config) },
    instance: run.model,
    optimizer: run.optimizer,
    backend,
  });
}

interface ResumeMeta {
  epoch: number;
  config: TrainConfig;
  history: EpochResult[];
  /** Absent in checkpoints written before the sizes were saved. */
  sizes?: { trainSize: number; testSize: number };
}

/** A library error while reading the checkpoint is the user's file: one line naming --resume. */
async function resumeStep<T>(step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof TapegradError) throw new UsageError(`--resume: ${err.message}`);
    throw err;
  }
}

async function readResumeMeta(path: string): Promise<ResumeMeta> {
  const { metadata } = await loadSafetensorsFile(path);
  try {
    const epoch = Number(metadata.epoch);
    const config = { ...DEFAULT_CONFIG, ...(JSON.parse(metadata.config ?? '') as TrainConfig) };
    const history = JSON.parse(metadata.history ?? '[]') as EpochResult[];
    if (!Number.isInteger(epoch) || epoch < 1) throw new Error('bad epoch');
    if (metadata.sizes === undefined) return { epoch, config, history };
    const sizes = JSON.parse(metadata.sizes) as { trainSize: number; testSize: number };
    return { epoch, config, history, sizes };
  } catch {
    throw new UsageError(
      `--resume: ${path} is not a checkpoint of this training script (its metadata has no ` +
        `epoch, config and history)`,
    );
  }
}

/** The plots and a few digits' feature maps. */
async function writeOutputs(
  out: string,
  model: ReturnType<typeof createRun>['model'],
  test: ReturnType<typeof loadMnist>['test'],
  history: EpochResult[],
  confusion: number[][],
): Promise<void> {
  const digits = take(test, [0, 1, 2, 3]);
  const maps = noGrad(() =>
    activate(
      model.config.activation,
      conv2d(digits.x, model.conv.weight, model.conv.bias, { stride: model.config.stride }),
    ),
  );
  // Loaded here, not at the top: Vega takes longer to load than a usage error takes to print.
  const { confusionMatrixPlot, featureMapsPlot, kernelsPlot, lossAccuracyPlot } = await import(
    '../plots.js'
  );
  const files: [string, Promise<string>][] = [
    ['loss-accuracy.svg', lossAccuracyPlot(history)],
    ['kernels.svg', kernelsPlot(model.conv.weight, { title: 'Learned 5x5 kernels' })],
    ['feature-maps.svg', featureMapsPlot(maps, digits.x, digits.y)],
    ['confusion-matrix.svg', confusionMatrixPlot(confusion)],
  ];
  for (const [name, svg] of files) await writeFile(resolve(out, name), await svg);
}

runMain(main);
