/**
 * Modules hold parameters and sub-modules. Parameters and children are found by walking a
 * module's own fields (a `Parameter`, a `Module`, or an array of either), so a user's layer
 * needs no registration code: assign fields in the constructor and write `forward`.
 */
import { type DType, type FloatArray, type Shape, Tensor } from '@tapegrad/autograd';

/** A trainable tensor: a leaf that requires a gradient. Optimizers update its data in place. */
export class Parameter extends Tensor {
  constructor(data: FloatArray, shape: Shape) {
    super(data, shape, true);
  }

  /** A parameter holding a copy of `t`'s values. */
  static from(t: Tensor): Parameter {
    return new Parameter(t.data.slice(), t.shape);
  }
}

/**
 * The own fields of `owner` holding an instance of `cls`, by field name, and the instances in
 * array fields, named `field.index`; in field order.
 */
function fieldsOf<T>(owner: object, cls: abstract new (...args: never[]) => T): [string, T][] {
  const out: [string, T][] = [];
  for (const [key, value] of Object.entries(owner)) {
    if (value instanceof cls) out.push([key, value]);
    else if (Array.isArray(value)) {
      value.forEach((v, i) => {
        if (v instanceof cls) out.push([`${key}.${i}`, v]);
      });
    }
  }
  return out;
}

/**
 * The base of every layer and model: holds parameters and sub-modules as fields and maps an
 * input to an output in `forward`.
 *
 * @example
 * class Affine extends Module {
 *   readonly scale = Parameter.from(ones([3]));
 *   readonly shift = Parameter.from(zeros([3]));
 *   forward(x: Tensor): Tensor {
 *     return x.mul(this.scale).add(this.shift);
 *   }
 * }
 * new Affine().namedParameters().map(([name]) => name); // ['scale', 'shift']
 */
export abstract class Module {
  /** Whether the module is in training mode (`train()`) or evaluation mode (`eval()`). */
  training = true;

  /** The module's computation, written with differentiable ops. */
  abstract forward(x: Tensor): Tensor;

  /** Sub-modules by field name; arrays of modules are named by index (`dense.0`). */
  children(): [string, Module][] {
    return fieldsOf(this, Module);
  }

  /**
   * Parameters held directly by this module (not its children), by field name; an array of
   * parameters is named by index (`scales.0`), like an array of modules, rather than being
   * skipped without a word.
   */
  ownParameters(): [string, Parameter][] {
    return fieldsOf(this, Parameter);
  }

  /** Every parameter with its dotted path, depth first in field order: `conv.weight`, ... */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = this.ownParameters().map(([k, p]) => [prefix + k, p]);
    for (const [name, child] of this.children())
      out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  /** Every parameter, in the order of `namedParameters`. */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Sets training mode here and in every sub-module. */
  train(mode = true): this {
    this.training = mode;
    for (const [, child] of this.children()) child.train(mode);
    return this;
  }

  /** Evaluation mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /** Clears the gradient of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** The dtype of the parameters (float32 for a module without any). */
  get dtype(): DType {
    return this.parameters()[0]?.dtype ?? 'float32';
  }
}

/**
 * Runs modules one after another; children are named `0`, `1`, ...
 *
 * @example
 * const mlp = new Sequential(new Linear(4, 8), new ReLU(), new Linear(8, 2));
 * mlp.forward(randn([5, 4])).shape; // [5, 2]
 */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
  }

  override children(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }

  forward(x: Tensor): Tensor {
    return this.layers.reduce((h, m) => m.forward(h), x);
  }
}
