/** Layers: thin modules over the functional ops, holding their parameters. */
import { type DType, Rng, type Tensor } from '@tapegrad/autograd';
import {
  type Conv2dOptions,
  type Pool2dOptions,
  avgPool2d,
  conv2d,
  flatten,
  linear,
  maxPool2d,
  relu,
  sigmoid,
  tanh,
} from './functional.js';
import { type InitKind, initParameter } from './init.js';
import { Module, type Parameter } from './module.js';

/** Options shared by `Linear` and `Conv2d`. */
export interface LayerOptions {
  /** Whether the layer has a bias; default true. */
  bias?: boolean;
  /** Weight initialisation; default `kaimingUniform`. Biases start at zero. */
  init?: InitKind;
  /** Default `float32`. */
  dtype?: DType;
  /** Default: the default generator (`manualSeed`). */
  rng?: Rng;
}

function initOptions(o: LayerOptions): { dtype?: DType; rng?: Rng } {
  return { ...(o.dtype ? { dtype: o.dtype } : {}), ...(o.rng ? { rng: o.rng } : {}) };
}

/**
 * `y = x W^T + b`: `weight` `[out, in]`, `bias` `[out]`; `x` `[..., in]` gives `[..., out]`.
 *
 * @example
 * const fc = new Linear(784, 128, { rng: new Rng(0) });
 * fc.forward(randn([32, 784])).shape; // [32, 128]
 */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(inFeatures: number, outFeatures: number, options: LayerOptions = {}) {
    super();
    const init = initOptions(options);
    this.weight = initParameter([outFeatures, inFeatures], options.init ?? 'kaimingUniform', init);
    this.bias = options.bias === false ? null : initParameter([outFeatures], 'zeros', init);
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/**
 * 2-D convolution (cross-correlation, see `conv2d`): `weight` `[C_out, C_in, kH, kW]`, `bias`
 * `[C_out]`.
 *
 * @example
 * const conv = new Conv2d(1, 8, 5, { padding: 2 });
 * conv.forward(randn([2, 1, 28, 28])).shape; // [2, 8, 28, 28]
 */
export class Conv2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  readonly options: Conv2dOptions;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number | readonly [number, number],
    options: LayerOptions & Conv2dOptions = {},
  ) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    const init = initOptions(options);
    const kind = options.init ?? 'kaimingUniform';
    this.weight = initParameter([outChannels, inChannels, kh, kw], kind, init);
    this.bias = options.bias === false ? null : initParameter([outChannels], 'zeros', init);
    const { stride, padding, dilation, groups } = options;
    this.options = {
      ...(stride !== undefined ? { stride } : {}),
      ...(padding !== undefined ? { padding } : {}),
      ...(dilation !== undefined ? { dilation } : {}),
      ...(groups !== undefined ? { groups } : {}),
    };
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }
}

/**
 * Max pooling as a layer (see `maxPool2d`).
 *
 * @example
 * new MaxPool2d({ kernelSize: 2 }).forward(randn([2, 8, 24, 24])).shape; // [2, 8, 12, 12]
 */
export class MaxPool2d extends Module {
  constructor(readonly options: Pool2dOptions) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.options);
  }
}

/**
 * Average pooling as a layer (see `avgPool2d`).
 *
 * @example
 * new AvgPool2d({ kernelSize: 2 }).forward(randn([2, 8, 24, 24])).shape; // [2, 8, 12, 12]
 */
export class AvgPool2d extends Module {
  constructor(readonly options: Pool2dOptions) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.options);
  }
}

/**
 * `flatten` as a layer: joins the axes from `startAxis` (default 1) on.
 *
 * @example
 * new Flatten().forward(randn([2, 8, 12, 12])).shape; // [2, 1152]
 */
export class Flatten extends Module {
  constructor(readonly startAxis = 1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return flatten(x, this.startAxis);
  }
}

/**
 * `relu` as a layer.
 *
 * @example
 * new ReLU().forward(tensor([-1, 2])); // [0, 2]
 */
export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return relu(x);
  }
}

/**
 * `sigmoid` as a layer.
 *
 * @example
 * new Sigmoid().forward(tensor([0])); // [0.5]
 */
export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return sigmoid(x);
  }
}

/**
 * `tanh` as a layer.
 *
 * @example
 * new Tanh().forward(tensor([0])); // [0]
 */
export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return tanh(x);
  }
}
