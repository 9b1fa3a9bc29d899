/**
 * The config helpers and every validation of the manual run: each throws a typed error whose
 * fields (op, arg, expected, actual) the tests read.
 */
import { DTypeError, ShapeError, TapegradError, ValueError } from '@tapegrad/autograd';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  type PaperCNNConfig,
  paperCNNParameterShapes,
  paperCNNShapes,
  resolvePaperCNNConfig,
} from '../config.js';
import {
  type ManualArray,
  type ManualParams,
  activationForward,
  avgPoolBackward,
  convInputGradient,
  convKernelGradient,
  convolutionForward,
  crossEntropyLoss,
  denseForward,
  denseInputGradient,
  manualBackward,
  manualForward,
  manualLoss,
  maxPoolBackward,
  maxPoolForward,
  sgdStep,
  softmaxCrossEntropyDelta,
} from './index.js';

/** Runs `fn`, expects it to throw an instance of `kind`, and returns the error for field checks. */
function caught<E extends TapegradError>(kind: new (...args: never[]) => E, fn: () => unknown): E {
  expect(fn).toThrow(kind);
  try {
    fn();
  } catch (error) {
    return error as E;
  }
  throw new Error('unreachable');
}

function filled(shape: readonly number[], value = 0.1): ManualArray {
  const size = shape.reduce((p, d) => p * d, 1);
  return { data: new Float64Array(size).fill(value), shape: [...shape] };
}

function paramsFor(config: PaperCNNConfig): ManualParams {
  const params: ManualParams = {};
  for (const [name, shape] of Object.entries(paperCNNParameterShapes(config))) {
    params[name] = filled(shape);
  }
  return params;
}

describe('resolvePaperCNNConfig, paperCNNShapes, paperCNNParameterShapes', () => {
  it('defaults: 28x28, 8 filters 5x5, max pool 2, hidden [128], 10 classes', () => {
    const config = resolvePaperCNNConfig();
    expect(config).toEqual({
      inChannels: 1,
      inputSize: [28, 28],
      filters: 8,
      kernelSize: [5, 5],
      stride: 1,
      pooling: 'max',
      poolSize: 2,
      hidden: [128],
      activation: 'relu',
      denseActivation: 'sigmoid',
      classes: 10,
    });
    expect(paperCNNShapes(config)).toEqual({
      conv: [24, 24],
      pooled: [12, 12],
      flat: 1152,
      dense: [1152, 128, 10],
    });
    const shapes = paperCNNParameterShapes(config);
    expect(Object.keys(shapes)).toEqual([
      'conv.weight',
      'conv.bias',
      'dense.0.weight',
      'dense.0.bias',
      'dense.1.weight',
      'dense.1.bias',
    ]);
    expect(shapes).toEqual({
      'conv.weight': [8, 1, 5, 5],
      'conv.bias': [8],
      'dense.0.weight': [128, 1152],
      'dense.0.bias': [128],
      'dense.1.weight': [10, 128],
      'dense.1.bias': [10],
    });
  });

  it('accepts a number for inputSize and kernelSize; floors both the stride and the pool', () => {
    const config = resolvePaperCNNConfig({
      inChannels: 3,
      inputSize: 12,
      kernelSize: [3, 2],
      stride: 2,
      poolSize: 2,
      hidden: [],
      classes: 4,
    });
    expect(config.inputSize).toEqual([12, 12]);
    // H' = floor((12 - 3) / 2) + 1 = 5, W' = floor((12 - 2) / 2) + 1 = 6; pooled floor(5/2) = 2.
    expect(paperCNNShapes(config)).toEqual({
      conv: [5, 6],
      pooled: [2, 3],
      flat: 48,
      dense: [48, 4],
    });
    expect(paperCNNParameterShapes(config)).toEqual({
      'conv.weight': [8, 3, 3, 2],
      'conv.bias': [8],
      'dense.0.weight': [4, 48],
      'dense.0.bias': [4],
    });
  });

  it('does not share the hidden array with the caller', () => {
    const hidden = [4, 3];
    const config = resolvePaperCNNConfig({ hidden });
    hidden.push(9);
    expect(config.hidden).toEqual([4, 3]);
  });

  it.each([
    ['filters', { filters: 0 }, 'a positive integer', '0'],
    ['inChannels', { inChannels: 1.5 }, 'a positive integer', '1.5'],
    ['stride', { stride: -1 }, 'a positive integer', '-1'],
    ['poolSize', { poolSize: Number.NaN }, 'a positive integer', 'NaN'],
    ['classes', { classes: 0 }, 'a positive integer', '0'],
    ['hidden', { hidden: [3, 0] }, 'a positive integer', '0'],
    ['hidden', { hidden: 3 as unknown as number[] }, 'an array of widths', '3'],
    ['inputSize', { inputSize: [28, 0] as const }, 'a positive integer', '0'],
    [
      'kernelSize',
      { kernelSize: [1, 2, 3] as unknown as [number, number] },
      'a number or a pair [rows, cols]',
      '[1,2,3]',
    ],
    ['pooling', { pooling: 'min' as 'max' }, "'max' or 'avg'", "'min'"],
    ['activation', { activation: 'tanh' as 'relu' }, "'relu' or 'sigmoid'", "'tanh'"],
    ['denseActivation', { denseActivation: 'gelu' as 'relu' }, "'relu' or 'sigmoid'", "'gelu'"],
  ])('PaperCNN rejects a bad %s with a ValueError', (field, options, expected, actual) => {
    const error = caught(ValueError, () => resolvePaperCNNConfig(options));
    expect(error.op).toBe('PaperCNN');
    expect(error.arg).toBe(field);
    expect(error.expected).toBe(expected);
    expect(error.actual).toBe(actual);
    expect(error.message).toMatch(/^PaperCNN: /);
  });

  it('PaperCNN: a kernel larger than the input, a pool larger than the maps (ShapeError)', () => {
    const kernel = caught(ShapeError, () =>
      resolvePaperCNNConfig({ inputSize: [6, 8], kernelSize: 7 }),
    );
    expect([kernel.op, kernel.arg, kernel.actual]).toEqual(['PaperCNN', 'kernelSize', '[7,7]']);
    expect(kernel.expected).toContain('[6,8]');
    const pool = caught(ShapeError, () =>
      resolvePaperCNNConfig({ inputSize: 6, kernelSize: 3, poolSize: 5 }),
    );
    expect([pool.op, pool.arg, pool.actual]).toEqual(['PaperCNN', 'poolSize', '5']);
    expect(pool.expected).toContain('[4,4]');
  });

  it('every valid option set resolves and its shapes follow the floor formulas', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        (h, m, s, q, filters) => {
          fc.pre(m <= h && q <= Math.floor((h - m) / s) + 1);
          const config = resolvePaperCNNConfig({
            inputSize: h,
            kernelSize: m,
            stride: s,
            poolSize: q,
            filters,
          });
          const conv = Math.floor((h - m) / s) + 1;
          const shapes = paperCNNShapes(config);
          expect(shapes.conv).toEqual([conv, conv]);
          expect(shapes.pooled).toEqual([Math.floor(conv / q), Math.floor(conv / q)]);
          expect(shapes.flat).toBe(filters * Math.floor(conv / q) ** 2);
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('manualForward / manualLoss / manualBackward validation', () => {
  const config = resolvePaperCNNConfig({
    inputSize: 6,
    kernelSize: 3,
    filters: 2,
    hidden: [3],
    classes: 3,
  });
  const params = paramsFor(config);
  const x = filled([2, 1, 6, 6]);

  it('manualForward x=[2,3,6,6], 1-channel config: ShapeError naming x and both shapes', () => {
    const error = caught(ShapeError, () => manualForward(config, params, filled([2, 3, 6, 6])));
    expect(error.op).toBe('manualForward');
    expect(error.arg).toBe('x');
    expect(error.expected).toBe('[2,1,6,6]');
    expect(error.actual).toBe('[2,3,6,6]');
    expect(error.message).toBe('manualForward: x has shape [2,3,6,6], expected [2,1,6,6]');
  });

  it('manualForward rejects x of rank 3, a short buffer, and an empty batch', () => {
    const rank = caught(ShapeError, () => manualForward(config, params, filled([1, 6, 6])));
    expect([rank.arg, rank.expected, rank.actual]).toEqual(['x', 'rank 4', '[1,6,6]']);
    const short = caught(ShapeError, () =>
      manualForward(config, params, { data: new Float64Array(10), shape: [1, 1, 6, 6] }),
    );
    expect([short.arg, short.actual]).toEqual(['x', '10 elements']);
    const empty = caught(ShapeError, () => manualForward(config, params, filled([0, 1, 6, 6])));
    expect([empty.arg, empty.expected]).toEqual(['x', 'at least one image']);
  });

  it("manualForward params['dense.0.weight'] [3,7] for [3,8]: ShapeError", () => {
    const bad = { ...params, 'dense.0.weight': filled([3, 7]) };
    const error = caught(ShapeError, () => manualForward(config, bad, x));
    expect(error.op).toBe('manualForward');
    expect(error.arg).toBe("params['dense.0.weight']");
    expect(error.expected).toBe('[3,8]');
    expect(error.actual).toBe('[3,7]');
  });

  it('manualForward: a missing or an unknown parameter is a ValueError naming it', () => {
    const { 'conv.bias': _dropped, ...missing } = params;
    const gone = caught(ValueError, () => manualForward(config, missing, x));
    expect([gone.op, gone.arg, gone.actual]).toEqual(['manualForward', 'params', 'missing']);
    expect(gone.expected).toContain("'conv.bias' [2]");
    const extra = caught(ValueError, () =>
      manualForward(config, { ...params, 'dense.9.bias': filled([3]) }, x),
    );
    expect([extra.arg, extra.actual]).toEqual(['params', 'dense.9.bias']);
  });

  it('manualForward: float32 params with float64 x is a DTypeError; a plain array is too', () => {
    const mixed = { ...params, 'conv.weight': { data: new Float32Array(18), shape: [2, 1, 3, 3] } };
    const error = caught(DTypeError, () => manualForward(config, mixed, x));
    expect([error.op, error.arg, error.expected, error.actual]).toEqual([
      'manualForward',
      "params['conv.weight']",
      'Float64Array',
      'Float32Array',
    ]);
    const plain = { data: [1, 2] as unknown as Float64Array, shape: [2] };
    const notTyped = caught(DTypeError, () =>
      manualForward(config, { ...params, 'conv.bias': plain }, x),
    );
    expect([notTyped.arg, notTyped.actual]).toEqual(["params['conv.bias']", 'Array']);
  });

  it('manualForward: a hand-built bad config fails with op PaperCNN', () => {
    const error = caught(ValueError, () => manualForward({ ...config, stride: 0 }, params, x));
    expect([error.op, error.arg]).toEqual(['PaperCNN', 'stride']);
  });

  it.each([
    ['out of range', [0, 3], 'integer class indices in [0, 3)', '3'],
    ['negative', [-1, 0], 'integer class indices in [0, 3)', '-1'],
    ['not an integer', [0, 1.5], 'integer class indices in [0, 3)', '1.5'],
  ])('manualLoss: a target index %s is a ValueError', (_case, targets, expected, actual) => {
    const forward = manualForward(config, params, x);
    const error = caught(ValueError, () => manualLoss(forward, targets));
    expect([error.op, error.arg, error.expected, error.actual]).toEqual([
      'manualLoss',
      'targets',
      expected,
      actual,
    ]);
  });

  it('manualLoss: 3 indices for a batch of 2 and [2,4] rows for 3 classes are ShapeErrors', () => {
    const forward = manualForward(config, params, x);
    const count = caught(ShapeError, () => manualLoss(forward, [0, 1, 2]));
    expect([count.op, count.arg, count.expected, count.actual]).toEqual([
      'manualLoss',
      'targets',
      '[2]',
      '[3]',
    ]);
    const rows = caught(ShapeError, () => manualLoss(forward, filled([2, 4], 0.25)));
    expect([rows.arg, rows.expected, rows.actual]).toEqual(['targets', '[2,3]', '[2,4]']);
  });

  it('manualLoss: probability rows must be non-negative and sum to 1', () => {
    const forward = manualForward(config, params, x);
    const sum = caught(ValueError, () => manualLoss(forward, filled([2, 3], 0.5)));
    expect([sum.op, sum.arg, sum.expected, sum.actual]).toEqual([
      'manualLoss',
      'targets',
      'rows summing to 1',
      '1.5',
    ]);
    const negative = { data: Float64Array.from([1.5, -0.5, 0, 1, 0, 0]), shape: [2, 3] };
    const neg = caught(ValueError, () => manualLoss(forward, negative));
    expect([neg.arg, neg.actual]).toEqual(['targets', '-0.5']);
  });

  it('manualBackward names itself for bad targets and for a forward run of another config', () => {
    const forward = manualForward(config, params, x);
    const targets = caught(ValueError, () => manualBackward(config, params, forward, [0, 7]));
    expect([targets.op, targets.arg]).toEqual(['manualBackward', 'targets']);

    const avg = { ...config, pooling: 'avg' as const };
    const fromAvg = manualForward(avg, params, x);
    const argmax = caught(ValueError, () => manualBackward(config, params, fromAvg, [0, 1]));
    expect([argmax.op, argmax.arg]).toEqual(['manualBackward', 'forward.argmax']);

    const other = resolvePaperCNNConfig({ ...config, kernelSize: 2, poolSize: 5 });
    const otherForward = manualForward(other, paramsFor(other), x);
    const shape = caught(ShapeError, () => manualBackward(config, params, otherForward, [0, 1]));
    expect([shape.op, shape.arg, shape.expected, shape.actual]).toEqual([
      'manualBackward',
      'forward.C',
      '[2,2,4,4]',
      '[2,2,5,5]',
    ]);
  });
});

describe('equation-level validation', () => {
  it('convolutionForward x=[1,2,5,5] w=[3,1,3,3]: channel mismatch names weight', () => {
    const error = caught(ShapeError, () =>
      convolutionForward(filled([1, 2, 5, 5]), filled([3, 1, 3, 3]), filled([3]), 1),
    );
    expect([error.op, error.arg, error.expected, error.actual]).toEqual([
      'convolutionForward',
      'weight',
      '[3,2,3,3]',
      '[3,1,3,3]',
    ]);
  });

  it('convolutionForward: stride 0, kernel 6x6 on 5x5, bias [2] for 3 filters', () => {
    const stride = caught(ValueError, () =>
      convolutionForward(filled([1, 1, 5, 5]), filled([1, 1, 3, 3]), filled([1]), 0),
    );
    expect([stride.op, stride.arg, stride.actual]).toEqual(['convolutionForward', 'stride', '0']);
    const big = caught(ShapeError, () =>
      convolutionForward(filled([1, 1, 5, 5]), filled([1, 1, 6, 6]), filled([1]), 1),
    );
    expect([big.arg, big.actual]).toEqual(['kernelSize', '[6,6]']);
    const bias = caught(ShapeError, () =>
      convolutionForward(filled([1, 1, 5, 5]), filled([3, 1, 3, 3]), filled([2]), 1),
    );
    expect([bias.arg, bias.expected, bias.actual]).toEqual(['bias', '[3]', '[2]']);
  });

  it('conv gradients check gradOutput against the geometry', () => {
    const x = filled([1, 1, 5, 5]);
    const g = caught(ShapeError, () => convKernelGradient(x, filled([1, 2, 4, 4]), [3, 3], 1));
    expect([g.op, g.arg, g.expected, g.actual]).toEqual([
      'convKernelGradient',
      'gradOutput',
      '[1,2,3,3]',
      '[1,2,4,4]',
    ]);
    const dx = caught(ShapeError, () =>
      convInputGradient(filled([1, 2, 3, 3]), filled([3, 1, 3, 3]), [5, 5], 1),
    );
    expect([dx.op, dx.arg, dx.expected]).toEqual(['convInputGradient', 'gradOutput', '[1,3,3,3]']);
  });

  it('maxPoolForward: q=4 on 3x5 maps is a ShapeError; q=0 a ValueError', () => {
    const big = caught(ShapeError, () => maxPoolForward(filled([1, 1, 3, 5]), 4));
    expect([big.op, big.arg, big.expected, big.actual]).toEqual([
      'maxPoolForward',
      'poolSize',
      'at most the map size [3,5]',
      '4',
    ]);
    const zero = caught(ValueError, () => maxPoolForward(filled([1, 1, 3, 5]), 0));
    expect([zero.arg, zero.actual]).toEqual(['poolSize', '0']);
  });

  it('pool backward: short argmax, index outside the maps, wrong gradOutput', () => {
    const short = caught(ShapeError, () =>
      maxPoolBackward(filled([1, 1, 2, 2]), new Int32Array(3), [1, 1, 4, 4]),
    );
    expect([short.op, short.arg, short.actual]).toEqual(['maxPoolBackward', 'argmax', '3 indices']);
    const outside = caught(ValueError, () =>
      maxPoolBackward(filled([1, 1, 1, 1]), Int32Array.from([16]), [1, 1, 4, 4]),
    );
    expect([outside.arg, outside.actual]).toEqual(['argmax', '16']);
    const avg = caught(ShapeError, () => avgPoolBackward(filled([1, 1, 3, 3]), [1, 1, 4, 4], 2));
    expect([avg.op, avg.arg, avg.expected, avg.actual]).toEqual([
      'avgPoolBackward',
      'gradOutput',
      '[1,1,2,2]',
      '[1,1,3,3]',
    ]);
  });

  it('denseForward a=[2,4] W=[3,5] and denseInputGradient delta=[2,2] W=[3,4] name weight', () => {
    const fwd = caught(ShapeError, () => denseForward(filled([2, 4]), filled([3, 5]), filled([3])));
    expect([fwd.op, fwd.arg, fwd.expected, fwd.actual]).toEqual([
      'denseForward',
      'weight',
      '[3,4]',
      '[3,5]',
    ]);
    const back = caught(ShapeError, () => denseInputGradient(filled([2, 2]), filled([3, 4])));
    expect([back.op, back.arg, back.expected, back.actual]).toEqual([
      'denseInputGradient',
      'weight',
      '[2,4]',
      '[3,4]',
    ]);
  });

  it('activationForward and the loss functions check their enums and targets', () => {
    const act = caught(ValueError, () => activationForward(filled([2]), 'tanh' as 'relu'));
    expect([act.op, act.arg, act.actual]).toEqual(['activationForward', 'activation', 'tanh']);
    const ce = caught(ValueError, () => crossEntropyLoss(filled([1, 2]), [2]));
    expect([ce.op, ce.arg]).toEqual(['crossEntropyLoss', 'targets']);
    const delta = caught(ShapeError, () => softmaxCrossEntropyDelta(filled([2, 2]), [0]));
    expect([delta.op, delta.arg]).toEqual(['softmaxCrossEntropyDelta', 'targets']);
  });

  it('sgdStep: a non-finite rate, a missing gradient, a gradient of the wrong shape', () => {
    const params = { w: filled([2]), b: filled([1]) };
    const rate = caught(ValueError, () => sgdStep(params, params, Number.NaN));
    expect([rate.op, rate.arg, rate.actual]).toEqual(['sgdStep', 'learningRate', 'NaN']);
    const missing = caught(ValueError, () => sgdStep(params, { w: filled([2]) }, 0.1));
    expect([missing.arg, missing.expected, missing.actual]).toEqual(['grads', 'b', 'missing']);
    const shape = caught(ShapeError, () =>
      sgdStep(params, { w: filled([3]), b: filled([1]) }, 0.1),
    );
    expect([shape.arg, shape.expected, shape.actual]).toEqual(["grads['w']", '[2]', '[3]']);
    const extra = caught(ValueError, () => sgdStep(params, { ...params, v: filled([1]) }, 0.1));
    expect([extra.arg, extra.actual]).toEqual(['grads', 'v']);
  });
});
