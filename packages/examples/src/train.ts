/**
 * The training loop shared by the CLI, the notebooks and the tests: PaperCNN on MNIST digits with
 * SGD or Adam, evaluated after every epoch.
 */
import { Rng, type Tensor, ValueError, noGrad } from '@tapegrad/autograd';
import {
  type Activation,
  Adam,
  type Optimizer,
  PaperCNN,
  type PaperCNNModuleOptions,
  SGD,
  crossEntropy,
} from '@tapegrad/nn';
import { CLASSES, type Split, batchCount, batches, shiftImages, take } from './data.js';

export type OptimizerKind = 'sgd' | 'adam';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  optimizer: OptimizerKind;
  /** The activation of the convolution maps and the hidden dense layers. */
  activation: Activation;
  seed: number;
  /** The learning rate is multiplied by this after every epoch. */
  lrDecay: number;
  /** Random shift of training images, in pixels (0 for none). */
  augmentShift: number;
}

/** The defaults of the main job, defined once. */
export const DEFAULT_CONFIG: TrainConfig = {
  epochs: 8,
  batchSize: 32,
  lr: 0.002,
  optimizer: 'adam',
  activation: 'relu',
  seed: 1,
  lrDecay: 0.75,
  augmentShift: 1,
};

export interface EpochResult {
  epoch: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
  seconds: number;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  /** `[true][predicted]` counts. */
  confusion: number[][];
}

/** The PaperCNN options of a config (also the model spec of `--threads` workers). */
export function modelOptions(config: TrainConfig): PaperCNNModuleOptions {
  return { seed: config.seed, activation: config.activation, denseActivation: config.activation };
}

/** Builds the model and optimizer of a config. */
export function createRun(
  config: TrainConfig,
  model?: PaperCNN,
): { model: PaperCNN; optimizer: Optimizer } {
  const m = model ?? new PaperCNN(modelOptions(config));
  const optimizer =
    config.optimizer === 'adam'
      ? new Adam(m, { lr: config.lr })
      : new SGD(m, { lr: config.lr, momentum: 0.9 });
  return { model: m, optimizer };
}

/** Checks a config, naming the bad field. */
export function checkConfig(config: TrainConfig): void {
  // One template for every field: `<field> must be <expected>, got <value>`.
  const check = (ok: boolean, arg: keyof TrainConfig, expected: string): void => {
    if (ok) return;
    const got = String(config[arg]);
    throw new ValueError('train', arg, expected, got, `${arg} must be ${expected}, got ${got}`);
  };
  const int = (arg: keyof TrainConfig, min: number): void => {
    const v = config[arg] as number;
    check(Number.isInteger(v) && v >= min, arg, `an integer >= ${min}`);
  };
  int('epochs', 1);
  int('batchSize', 1);
  int('seed', 0);
  int('augmentShift', 0);
  check(config.lrDecay > 0 && config.lrDecay <= 1, 'lrDecay', 'in (0, 1]');
  check(config.lr > 0 && Number.isFinite(config.lr), 'lr', 'a finite number > 0');
  check(config.optimizer === 'sgd' || config.optimizer === 'adam', 'optimizer', 'sgd or adam');
  check(
    config.activation === 'relu' || config.activation === 'sigmoid',
    'activation',
    'relu or sigmoid',
  );
}

function setLearningRate(optimizer: Optimizer, lr: number): void {
  (optimizer as SGD | Adam).lr = lr;
}

/** Loss, accuracy and confusion matrix of the model over a split, without recording. */
export function evaluate(model: PaperCNN, split: Split, batchSize = 500): Evaluation {
  const confusion = Array.from({ length: CLASSES }, () => new Array<number>(CLASSES).fill(0));
  let lossSum = 0;
  let correct = 0;
  noGrad(() => {
    for (let start = 0; start < split.size; start += batchSize) {
      const idx = Array.from(
        { length: Math.min(batchSize, split.size - start) },
        (_, k) => start + k,
      );
      const { x, y } = take(split, idx);
      const logits = model.forward(x);
      lossSum += crossEntropy(logits, y).item() * y.length;
      predict(logits).forEach((p, k) => {
        confusion[y[k]!]![p]!++;
        if (p === y[k]) correct++;
      });
    }
  });
  return { loss: lossSum / split.size, accuracy: correct / split.size, confusion };
}

/** The argmax class of each row of `[N, K]` logits. */
export function predict(logits: Tensor): number[] {
  const [n, k] = logits.shape as [number, number];
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (logits.data[i * k + j]! > logits.data[i * k + best]!) best = j;
    out.push(best);
  }
  return out;
}

export interface BatchInfo {
  epoch: number;
  batch: number;
  batches: number;
  loss: number;
  images: number;
}

export interface TrainHooks {
  onBatch?: (info: BatchInfo) => void;
  /** Called after each epoch's evaluation; may be async (to write a checkpoint, say). */
  onEpoch?: (result: EpochResult) => void | Promise<void>;
  /** Checked before each batch: return true to stop (an interrupted run). */
  shouldStop?: () => boolean;
  /**
   * Replaces the step on a batch (zero the gradients, backward, optimizer step) and resolves to
   * the batch's mean loss; the data-parallel trainer of `parallel.ts` plugs in here.
   */
  step?: (x: Tensor, y: readonly number[]) => Promise<number>;
}

/**
 * Trains for epochs `startEpoch + 1 .. config.epochs`. The batch order of epoch `e` comes from
 * `seed` and `e` alone, so a resumed run deals the same batches as an uninterrupted one.
 */
export async function trainEpochs(
  model: PaperCNN,
  optimizer: Optimizer,
  data: { train: Split; test: Split },
  config: TrainConfig,
  hooks: TrainHooks = {},
  startEpoch = 0,
): Promise<EpochResult[]> {
  checkConfig(config);
  const results: EpochResult[] = [];
  for (let epoch = startEpoch + 1; epoch <= config.epochs; epoch++) {
    const started = performance.now();
    const rng = new Rng(config.seed * 1000 + epoch);
    const count = batchCount(data.train, config.batchSize);
    let lossSum = 0;
    let seen = 0;
    let b = 0;
    setLearningRate(optimizer, config.lr * Math.pow(config.lrDecay, epoch - 1));
    for (const { x, y } of batches(data.train, config.batchSize, rng)) {
      if (hooks.shouldStop?.()) return results;
      const images = shiftImages(x, config.augmentShift, rng);
      let value: number;
      if (hooks.step !== undefined) value = await hooks.step(images, y);
      else {
        const loss = model.loss(images, y);
        optimizer.zeroGrad();
        loss.backward();
        optimizer.step();
        value = loss.item();
      }
      lossSum += value * y.length;
      seen += y.length;
      hooks.onBatch?.({ epoch, batch: ++b, batches: count, loss: value, images: y.length });
    }
    const seconds = (performance.now() - started) / 1000;
    const test = evaluate(model, data.test);
    const result = {
      epoch,
      trainLoss: lossSum / seen,
      testLoss: test.loss,
      testAccuracy: test.accuracy,
      seconds,
    };
    results.push(result);
    await hooks.onEpoch?.(result);
  }
  return results;
}
