/**
 * The paper's network (PAPER.md) as a module of autograd composites: convolution, activation,
 * pooling, flatten, dense layers, logits. Its parameters carry the names of
 * `paperCNNParameterShapes`, the same the manual run uses, so the two can be compared name by
 * name.
 */
import { type DType, Rng, ShapeError, type Tensor, fmtShape } from '@tapegrad/autograd';
import {
  type Activation,
  type PaperCNNConfig,
  type PaperCNNOptions,
  paperCNNShapes,
  resolvePaperCNNConfig,
} from './config.js';
import {
  avgPool2d,
  conv2d,
  crossEntropy,
  flatten,
  maxPool2d,
  relu,
  sigmoid,
  type Targets,
} from './functional.js';
import { Conv2d, Linear } from './layers.js';
import { Module } from './module.js';

/** Options of `new PaperCNN()`: the network's config plus the seed and dtype of its weights. */
export interface PaperCNNModuleOptions extends PaperCNNOptions {
  /** Seed of the weight initialisation; default 0. */
  seed?: number;
  /** Default `float32`. */
  dtype?: DType;
}

/** `relu(x)` or `sigmoid(x)`, as the config's `activation` names it. */
export function activate(kind: Activation, x: Tensor): Tensor {
  return kind === 'relu' ? relu(x) : sigmoid(x);
}

/**
 * `conv (valid, stride s) -> g -> pool q -> flatten -> dense ... -> logits`. `forward` returns
 * the logits `[N, K]`; `loss` adds the softmax cross-entropy. Weights feeding a ReLU start with
 * Kaiming (He) uniform, those feeding a sigmoid or the softmax with Xavier (Glorot) uniform;
 * biases start at zero.
 *
 * @example
 * const model = new PaperCNN({ filters: 8, hidden: [128], seed: 1 });
 * const images = randn([4, 1, 28, 28]); // [N, 1, 28, 28]
 * const loss = model.loss(images, [3, 1, 4, 1]); // one class index per image
 * loss.backward(); // model.conv.weight.grad is now set
 */
export class PaperCNN extends Module {
  readonly config: PaperCNNConfig;
  readonly conv: Conv2d;
  readonly dense: Linear[];

  constructor(options: PaperCNNModuleOptions = {}) {
    super();
    const { seed, dtype, ...rest } = options;
    this.config = resolvePaperCNNConfig(rest);
    const c = this.config;
    const rng = new Rng(seed ?? 0);
    const common = { rng, ...(dtype ? { dtype } : {}) };
    const initFor = (a: Activation | 'softmax') =>
      a === 'relu' ? 'kaimingUniform' : 'xavierUniform';
    this.conv = new Conv2d(c.inChannels, c.filters, c.kernelSize, {
      ...common,
      init: initFor(c.activation),
    });
    const widths = paperCNNShapes(c).dense;
    this.dense = widths.slice(1).map((out, l) => {
      const last = l === widths.length - 2;
      return new Linear(widths[l]!, out, {
        ...common,
        init: initFor(last ? 'softmax' : c.denseActivation),
      });
    });
  }

  forward(x: Tensor): Tensor {
    const c = this.config;
    const [ih, iw] = c.inputSize;
    // Checked here, not left to the dense layer: an image a row or two larger can pool to the
    // same flat width and would be accepted silently.
    if (x.ndim !== 4 || x.shape[1] !== c.inChannels || x.shape[2] !== ih || x.shape[3] !== iw) {
      throw new ShapeError(
        'PaperCNN',
        'x',
        `[N, ${c.inChannels}, ${ih}, ${iw}]`,
        fmtShape(x.shape),
        `input must be [N, ${c.inChannels}, ${ih}, ${iw}] for this config, ` +
          `got ${fmtShape(x.shape)}`,
      );
    }
    const maps = activate(
      c.activation,
      conv2d(x, this.conv.weight, this.conv.bias, { stride: c.stride }),
    );
    const pool = c.pooling === 'max' ? maxPool2d : avgPool2d;
    let h = flatten(pool(maps, { kernelSize: c.poolSize }));
    this.dense.forEach((layer, l) => {
      h = layer.forward(h);
      if (l < this.dense.length - 1) h = activate(c.denseActivation, h);
    });
    return h;
  }

  /** The softmax cross-entropy of the logits, averaged over the batch. */
  loss(x: Tensor, targets: Targets): Tensor {
    return crossEntropy(this.forward(x), targets);
  }
}
