/**
 * PaperCNN's configuration checks (each validation throws with its fields) and the report of
 * `compareGradients` and `difference`.
 */
import { Rng, ShapeError, ValueError, tensor } from '@tapegrad/autograd';
import {
  PaperCNN,
  type PaperCNNModuleOptions,
  compareGradients,
  difference,
  paperCNNShapes,
  resolvePaperCNNConfig,
} from '@tapegrad/nn';
import { describe, expect, it } from 'vitest';

import { expectThrows, randT } from './reference.js';

describe('PaperCNN config validation', () => {
  const bad: [string, PaperCNNModuleOptions, typeof ValueError, Record<string, string>][] = [
    [
      'filters=0',
      { filters: 0 },
      ValueError,
      { arg: 'filters', expected: 'a positive integer', actual: '0' },
    ],
    ['stride=1.5', { stride: 1.5 }, ValueError, { arg: 'stride', actual: '1.5' }],
    ['classes=-2', { classes: -2 }, ValueError, { arg: 'classes', actual: '-2' }],
    ['inChannels=0', { inChannels: 0 }, ValueError, { arg: 'inChannels', actual: '0' }],
    ['poolSize=0', { poolSize: 0 }, ValueError, { arg: 'poolSize', actual: '0' }],
    [
      'hidden=[3,0]',
      { hidden: [3, 0] },
      ValueError,
      {
        arg: 'hidden',
        actual: '0',
        message: 'PaperCNN: hidden[1] must be a positive integer, got 0',
      },
    ],
    [
      'inputSize=[1,2,3]',
      { inputSize: [1, 2, 3] as unknown as [number, number] },
      ValueError,
      { arg: 'inputSize', actual: '[1,2,3]' },
    ],
    ['kernelSize=[0,3]', { kernelSize: [0, 3] }, ValueError, { arg: 'kernelSize', actual: '0' }],
    [
      "activation='tanh'",
      { activation: 'tanh' as 'relu' },
      ValueError,
      { arg: 'activation', expected: "'relu' or 'sigmoid'", actual: "'tanh'" },
    ],
    [
      "denseActivation='gelu'",
      { denseActivation: 'gelu' as 'relu' },
      ValueError,
      { arg: 'denseActivation', actual: "'gelu'" },
    ],
    [
      "pooling='min'",
      { pooling: 'min' as 'max' },
      ValueError,
      { arg: 'pooling', expected: "'max' or 'avg'", actual: "'min'" },
    ],
    [
      'kernelSize=30 on 28x28',
      { kernelSize: 30 },
      ShapeError,
      { arg: 'kernelSize', expected: 'at most the input size [28,28]', actual: '[30,30]' },
    ],
    [
      'poolSize=5 on a 4x4 conv output',
      { inputSize: 6, kernelSize: 3, poolSize: 5 },
      ShapeError,
      { arg: 'poolSize', expected: 'at most the convolution output [4,4]', actual: '5' },
    ],
  ];
  for (const [name, options, cls, fields] of bad) {
    it(`throws for ${name}`, () => {
      expectThrows(() => new PaperCNN(options), cls, { op: 'PaperCNN', ...fields });
    });
  }

  it('defaults are the paper MNIST network; sizes follow floor((H - m)/s) + 1 and floor(/q)', () => {
    const c = resolvePaperCNNConfig();
    expect(paperCNNShapes(c)).toEqual({
      conv: [24, 24],
      pooled: [12, 12],
      flat: 1152,
      dense: [1152, 128, 10],
    });
    const s = paperCNNShapes(
      resolvePaperCNNConfig({
        inputSize: [9, 7],
        kernelSize: [3, 2],
        stride: 2,
        poolSize: 2,
        filters: 3,
        hidden: [],
        classes: 4,
      }),
    );
    expect(s).toEqual({ conv: [4, 3], pooled: [2, 1], flat: 6, dense: [6, 4] });
  });

  it('forward throws for images of another size than the config: x=[1,1,9,9] for inputSize 8', () => {
    // floor((9 - 3) / 1) + 1 = 7 pools to 3 like 6 does, so without a check the wrong size would
    // be accepted silently.
    const model = new PaperCNN({ inputSize: 8, kernelSize: 3, filters: 2, hidden: [], classes: 2 });
    expectThrows(() => model.forward(randT([1, 1, 9, 9], 0).astype('float32')), ShapeError, {
      op: 'PaperCNN',
      arg: 'x',
      expected: '[N, 1, 8, 8]',
      actual: '[1,1,9,9]',
    });
    expectThrows(() => model.forward(randT([1, 2, 8, 8], 0).astype('float32')), ShapeError, {
      op: 'PaperCNN',
      arg: 'x',
      actual: '[1,2,8,8]',
    });
  });
});

describe('compareGradients report', () => {
  const make = (dtype: 'float32' | 'float64') => {
    const model = new PaperCNN({
      inputSize: 7,
      kernelSize: 3,
      filters: 2,
      hidden: [3],
      classes: 3,
      seed: 2,
      dtype,
    });
    const rng = new Rng(3);
    for (const p of model.parameters())
      for (let i = 0; i < p.size; i++) p.data[i] = 0.5 * rng.normal();
    const x = tensor(
      Array.from({ length: 2 * 49 }, () => rng.normal()),
      { shape: [2, 1, 7, 7], dtype },
    );
    return { model, x, targets: [1, 2] };
  };

  it('float64: one row per parameter, in order, with name, shape and tiny differences', () => {
    const { model, x, targets } = make('float64');
    const before = model.parameters().map((p) => Array.from(p.data));
    model.parameters()[0]!.grad = tensor(new Float64Array(18).fill(7), { shape: [2, 1, 3, 3] });
    const r = compareGradients(model, x, targets);
    expect(r.parameters.map((p) => p.name)).toEqual(model.namedParameters().map(([n]) => n));
    r.parameters.forEach((row, i) => {
      expect(row.shape).toEqual(model.parameters()[i]!.shape);
      const d = row.manualVsAutograd;
      expect(d.maxAbs).toBeLessThan(1e-14);
      expect(d.maxRel).toBeLessThan(1e-10);
      expect(Number.isInteger(d.worstIndex)).toBe(true);
      expect(d.worstIndex).toBeGreaterThanOrEqual(0);
      expect(d.worstIndex).toBeLessThan(model.parameters()[i]!.size);
      expect(d.worstPosition).toHaveLength(row.shape.length);
      expect(row.autogradVsFiniteDifferences).toBeUndefined();
    });
    expect(Math.abs(r.loss.manual - r.loss.autograd)).toBeLessThan(1e-14);
    expect(r.worst.maxRel).toBe(Math.max(...r.parameters.map((p) => p.manualVsAutograd.maxRel)));
    // Parameters and gradients are left as they were.
    expect(model.parameters().map((p) => Array.from(p.data))).toEqual(before);
    expect(model.parameters()[0]!.grad!.data[0]).toBe(7);
    expect(model.parameters()[1]!.grad).toBeNull();
  });

  it('finiteDifferences: true samples each parameter and both runs agree with the differences', () => {
    const { model, x, targets } = make('float64');
    const r = compareGradients(model, x, targets, { finiteDifferences: true });
    for (const row of r.parameters) {
      const size = row.shape.reduce((a, b) => a * b, 1);
      expect(row.sampled!.length).toBe(Math.min(16, size));
      expect(new Set(row.sampled).size).toBe(row.sampled!.length);
      expect(row.autogradVsFiniteDifferences!.maxAbs, row.name).toBeLessThan(1e-8);
      expect(row.manualVsFiniteDifferences!.maxAbs, row.name).toBeLessThan(1e-8);
      expect(row.sampled).toContain(row.autogradVsFiniteDifferences!.worstIndex);
    }
  });

  it('finiteDifferences with samplesPerParameter=3 and a seed picks 3 reproducible entries', () => {
    const { model, x, targets } = make('float64');
    const o = { finiteDifferences: { samplesPerParameter: 3, seed: 5 } };
    const a = compareGradients(model, x, targets, o);
    const b = compareGradients(model, x, targets, o);
    expect(a.parameters.map((p) => p.sampled)).toEqual(b.parameters.map((p) => p.sampled));
    for (const p of a.parameters) {
      expect(p.sampled!.length, p.name).toBe(
        Math.min(
          3,
          p.shape.reduce((s, d) => s * d, 1),
        ),
      );
    }
  });

  it('throws for samplesPerParameter=0', () => {
    const { model, x, targets } = make('float64');
    expectThrows(
      () => compareGradients(model, x, targets, { finiteDifferences: { samplesPerParameter: 0 } }),
      ValueError,
      {
        op: 'compareGradients',
        arg: 'samplesPerParameter',
        expected: 'a positive integer',
        actual: '0',
      },
    );
  });

  it('float32 with probability-row targets: the two runs agree to 1e-4', () => {
    const { model, x } = make('float32');
    const rows = tensor([0.2, 0.5, 0.3, 1, 0, 0], { shape: [2, 3] });
    const r = compareGradients(model, x, rows);
    expect(r.worst.scaledMax).toBeLessThan(1e-4);
    expect(Math.abs(r.loss.manual - r.loss.autograd)).toBeLessThan(1e-5);
  });

  it('difference([1,2,3], [1,2.5,3]) has maxAbs 0.5 at index 1, maxRel 0.2, scaledMax 1/6', () => {
    const d = difference(Float64Array.of(1, 2, 3), Float64Array.of(1, 2.5, 3), [3]);
    expect(d.maxAbs).toBe(0.5);
    expect(d.worstIndex).toBe(1);
    expect(d.worstPosition).toEqual([1]);
    expect(d.worst).toEqual([2, 2.5]);
    expect(d.maxRel).toBeCloseTo(0.2, 15);
    expect(d.scaledMax).toBeCloseTo(0.5 / 3, 15);
  });

  it('difference on shape [2,3] reports the multi-index of the worst entry; indices restrict it', () => {
    const a = Float64Array.of(0, 0, 0, 0, 0, 1);
    const b = Float64Array.of(0, 0, 0, 0.1, 0, 0);
    const d = difference(a, b, [2, 3]);
    expect(d.worstIndex).toBe(5);
    expect(d.worstPosition).toEqual([1, 2]);
    const only = difference(a, b, [2, 3], [0, 3]);
    expect(only.worstIndex).toBe(3);
    expect(only.maxAbs).toBeCloseTo(0.1, 15);
  });
});
