/**
 * PAPER.md's claims, as properties over random network configurations: the manual backward run
 * and autograd agree on the loss and every gradient (1e-10 in float64, 1e-4 in float32), both
 * agree with central finite differences in float64, and max pooling's tie rule holds on both
 * sides. The largest float64 difference seen is recorded and checked in the last test.
 */
import { type DType, Rng, type Tensor, noGrad, tensor } from '@tapegrad/autograd';
import {
  type Activation,
  PaperCNN,
  type PoolKind,
  compareGradients,
  manual,
  paperCNNShapes,
} from '@tapegrad/nn';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { diff } from './reference.js';

interface NetCase {
  h: number;
  w: number;
  c: number;
  m: number;
  n: number;
  stride: number;
  q: number;
  filters: number;
  hidden: number[];
  classes: number;
  batch: number;
  activation: Activation;
  denseActivation: Activation;
  pooling: PoolKind;
  softTargets: boolean;
  seed: number;
}

const describeCase = (k: NetCase): string =>
  `x=[${k.batch},${k.c},${k.h},${k.w}] k=${k.m}x${k.n} s=${k.stride} F=${k.filters} ` +
  `${k.pooling}${k.q} hidden=[${k.hidden}] K=${k.classes} g=${k.activation}/${k.denseActivation}` +
  `${k.softTargets ? ' soft' : ''} seed=${k.seed}`;

/** Random valid configurations: the kernel fits the image, the pool window fits the maps. */
const netCase: fc.Arbitrary<NetCase> = fc
  .record({
    h: fc.integer({ min: 3, max: 9 }),
    w: fc.integer({ min: 3, max: 9 }),
    c: fc.integer({ min: 1, max: 2 }),
    mr: fc.integer({ min: 1, max: 4 }),
    nr: fc.integer({ min: 1, max: 4 }),
    stride: fc.integer({ min: 1, max: 3 }),
    qr: fc.integer({ min: 1, max: 3 }),
    filters: fc.integer({ min: 1, max: 3 }),
    hidden: fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 2 }),
    classes: fc.integer({ min: 2, max: 4 }),
    batch: fc.integer({ min: 1, max: 3 }),
    activation: fc.constantFrom<Activation>('relu', 'sigmoid'),
    denseActivation: fc.constantFrom<Activation>('relu', 'sigmoid'),
    pooling: fc.constantFrom<PoolKind>('max', 'avg'),
    softTargets: fc.boolean(),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .map(({ mr, nr, qr, ...k }) => {
    const m = Math.min(mr, k.h);
    const n = Math.min(nr, k.w);
    const oh = Math.floor((k.h - m) / k.stride) + 1;
    const ow = Math.floor((k.w - n) / k.stride) + 1;
    return { ...k, m, n, q: Math.min(qr, oh, ow) };
  });

function buildNet(k: NetCase, dtype: DType): { model: PaperCNN; x: Tensor; targets: Targets } {
  const model = new PaperCNN({
    inChannels: k.c,
    inputSize: [k.h, k.w],
    kernelSize: [k.m, k.n],
    stride: k.stride,
    poolSize: k.q,
    filters: k.filters,
    hidden: k.hidden,
    classes: k.classes,
    activation: k.activation,
    denseActivation: k.denseActivation,
    pooling: k.pooling,
    seed: k.seed,
    dtype,
  });
  // Random biases too (they start at zero) so that every term of every gradient is exercised.
  const rng = new Rng(k.seed + 1);
  for (const p of model.parameters())
    for (let i = 0; i < p.size; i++) p.data[i] = 0.7 * rng.normal();
  const xd = Array.from({ length: k.batch * k.c * k.h * k.w }, () => rng.normal());
  const x = tensor(xd, { shape: [k.batch, k.c, k.h, k.w], dtype });
  let targets: Targets;
  if (k.softTargets) {
    const rows = Array.from({ length: k.batch * k.classes }, () => rng.uniform() + 0.05);
    for (let b = 0; b < k.batch; b++) {
      const row = rows.slice(b * k.classes, (b + 1) * k.classes);
      const s = row.reduce((a, v) => a + v, 0);
      for (let j = 0; j < k.classes; j++) rows[b * k.classes + j] = row[j]! / s;
    }
    targets = tensor(rows, { shape: [k.batch, k.classes], dtype });
  } else {
    targets = Array.from({ length: k.batch }, () => rng.int(k.classes));
  }
  return { model, x, targets };
}

type Targets = Tensor | number[];

const manualTargets = (t: Targets): manual.ManualTargets =>
  Array.isArray(t) ? t : { data: t.data, shape: t.shape };

interface Run {
  autoLoss: number;
  autoGrads: Map<string, Float64Array>;
  autoDx: Float64Array;
  manual: manual.ManualBackward;
}

/** The autograd run (loss.backward through PaperCNN) and the manual run on the same batch. */
function runBoth(model: PaperCNN, x: Tensor, targets: Targets): Run {
  const xg = tensor(x.data, { shape: x.shape, dtype: x.dtype, requiresGrad: true });
  model.zeroGrad();
  const loss = model.loss(xg, targets);
  loss.backward();
  const autoGrads = new Map(
    model.namedParameters().map(([n, p]) => [n, Float64Array.from(p.grad!.data)]),
  );
  const params = Object.fromEntries(
    model.namedParameters().map(([n, p]) => [n, { data: p.data, shape: p.shape }]),
  );
  const fwd = manual.manualForward(model.config, params, { data: x.data, shape: x.shape });
  const back = manual.manualBackward(model.config, params, fwd, manualTargets(targets));
  return {
    autoLoss: loss.item(),
    autoGrads,
    autoDx: Float64Array.from(xg.grad!.data),
    manual: back,
  };
}

/** The largest float64 manual-vs-autograd differences seen by the property test. */
const worst64 = { loss: 0, scaled: 0, elementwise: 0, runs: 0, at: '' };

/** Elementwise relative difference over entries above 1e-8 of the array's scale. */
function elementwiseRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  for (let i = 0; i < a.length; i++) scale = Math.max(scale, Math.abs(a[i]!), Math.abs(b[i]!));
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const mag = Math.max(Math.abs(a[i]!), Math.abs(b[i]!));
    if (mag > 1e-8 * scale) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / mag);
  }
  return worst;
}

/** Checks manual vs autograd to `tol` relative to each gradient's scale; returns the worst. */
function expectAgree(r: Run, tol: number, what: string): { scaled: number; elementwise: number } {
  let scaled = 0;
  let elementwise = 0;
  const pairs: [string, ArrayLike<number>, ArrayLike<number>][] = [
    ...[...r.autoGrads].map(
      ([n, g]) => [n, r.manual.grads[n]!.data, g] as [string, ArrayLike<number>, Float64Array],
    ),
    ['x', r.manual.intermediates.dX.data, r.autoDx],
  ];
  for (const [name, m, a] of pairs) {
    const d = diff(m, a);
    expect(d.rel, `${what}: ${name} max abs ${d.abs}`).toBeLessThanOrEqual(tol);
    scaled = Math.max(scaled, d.rel);
    elementwise = Math.max(elementwise, elementwiseRel(m, a));
  }
  const lossRel = Math.abs(r.manual.loss - r.autoLoss) / Math.max(1, Math.abs(r.autoLoss));
  expect(lossRel, `${what}: loss ${r.manual.loss} vs ${r.autoLoss}`).toBeLessThanOrEqual(tol);
  return { scaled, elementwise };
}

describe('PaperCNN: manual vs autograd over random configurations', () => {
  it('float64: loss, every parameter gradient and dE/dX agree to 1e-10 (relative)', () => {
    fc.assert(
      fc.property(netCase, (k) => {
        const { model, x, targets } = buildNet(k, 'float64');
        expect(model.namedParameters().map(([n]) => n)).toEqual(Object.keys(paramNames(k)));
        const r = runBoth(model, x, targets);
        const w = expectAgree(r, 1e-10, describeCase(k));
        const lossRel = Math.abs(r.manual.loss - r.autoLoss) / Math.max(1, Math.abs(r.autoLoss));
        worst64.runs++;
        worst64.loss = Math.max(worst64.loss, lossRel);
        worst64.elementwise = Math.max(worst64.elementwise, w.elementwise);
        if (w.scaled > worst64.scaled) {
          worst64.scaled = w.scaled;
          worst64.at = describeCase(k);
        }
      }),
      { numRuns: 30, seed: 101 },
    );
  });

  it('float32: loss, every parameter gradient and dE/dX agree to 1e-4 (relative)', () => {
    fc.assert(
      fc.property(netCase, (k) => {
        const { model, x, targets } = buildNet(k, 'float32');
        expect(model.dtype).toBe('float32');
        const r = runBoth(model, x, targets);
        expect(r.manual.grads['conv.weight']!.data).toBeInstanceOf(Float32Array);
        expectAgree(r, 1e-4, describeCase(k));
      }),
      { numRuns: 25, seed: 102 },
    );
  });

  it('float64: both runs agree with central finite differences (parameters and input)', () => {
    fc.assert(
      fc.property(netCase, (k) => {
        const { model, x, targets } = buildNet(k, 'float64');
        const r = runBoth(model, x, targets);
        const params = Object.fromEntries(
          model.namedParameters().map(([n, p]) => [n, { data: p.data, shape: p.shape }]),
        );
        const mt = manualTargets(targets);
        const input = { data: x.data, shape: x.shape };
        // Two independent loss functions: autograd's forward and the manual forward.
        const autoLoss = (): number => noGrad(() => model.loss(x, targets).item());
        const manualLoss = (): number =>
          manual.manualLoss(manual.manualForward(model.config, params, input), mt);
        const eps = 1e-6;
        const central = (data: { [i: number]: number }, i: number, f: () => number): number => {
          const v = data[i]!;
          data[i] = v + eps;
          const up = f();
          data[i] = v - eps;
          const down = f();
          data[i] = v;
          return (up - down) / (2 * eps);
        };
        const rng = new Rng(k.seed + 3);
        const targetsOf: [
          string,
          { [i: number]: number; length: number },
          Float64Array,
          ArrayLike<number>,
        ][] = [
          ...model
            .namedParameters()
            .map(
              ([n, p]) =>
                [n, p.data, r.autoGrads.get(n)!, r.manual.grads[n]!.data] as [
                  string,
                  { [i: number]: number; length: number },
                  Float64Array,
                  ArrayLike<number>,
                ],
            ),
          ['x', x.data, r.autoDx, r.manual.intermediates.dX.data],
        ];
        for (const [name, data, auto, man] of targetsOf) {
          const picks =
            data.length <= 8
              ? Array.from({ length: data.length }, (_, i) => i)
              : Array.from({ length: 8 }, () => rng.int(data.length));
          for (const i of picks) {
            const fdAuto = central(data, i, autoLoss);
            const fdManual = central(data, i, manualLoss);
            const tolA = 1e-7 + 1e-5 * Math.abs(fdAuto);
            const tolM = 1e-7 + 1e-5 * Math.abs(fdManual);
            const at = `${describeCase(k)} ${name}[${i}]`;
            expect(
              Math.abs(auto[i]! - fdAuto),
              `${at} autograd ${auto[i]} fd ${fdAuto}`,
            ).toBeLessThanOrEqual(tolA);
            expect(
              Math.abs(man[i]! - fdManual),
              `${at} manual ${man[i]} fd ${fdManual}`,
            ).toBeLessThanOrEqual(tolM);
          }
        }
      }),
      { numRuns: 20, seed: 103 },
    );
  });

  it(`reports the largest float64 difference seen (must stay below 1e-10)`, () => {
    expect(worst64.runs).toBeGreaterThan(0);
    console.info(
      `[paper.test] float64 manual vs autograd over ${worst64.runs} configurations: ` +
        `max |diff|/scale = ${worst64.scaled.toExponential(3)} (${worst64.at}); ` +
        `max elementwise rel = ${worst64.elementwise.toExponential(3)}; ` +
        `max loss rel = ${worst64.loss.toExponential(3)}`,
    );
    expect(worst64.scaled).toBeLessThan(1e-10);
    expect(worst64.loss).toBeLessThan(1e-10);
  });
});

function paramNames(k: NetCase): Record<string, true> {
  const out: Record<string, true> = { 'conv.weight': true, 'conv.bias': true };
  for (let l = 0; l <= k.hidden.length; l++) {
    out[`dense.${l}.weight`] = true;
    out[`dense.${l}.bias`] = true;
  }
  return out;
}

interface TieCase {
  h: number;
  w: number;
  q: number;
  stride: number;
  filters: number;
  batch: number;
  levels: number;
  seed: number;
}

/**
 * A network whose pooled maps are exact copies (times 1, 2, ...) of a positive integer image:
 * a 1x1 kernel with weights 1..F and zero bias, then ReLU, so the ties of the input survive to
 * the pooling layer. `dE/dX` then shows exactly where each window's gradient went.
 */
function tieNet(k: TieCase): { model: PaperCNN; x: Tensor; targets: number[] } {
  const model = new PaperCNN({
    inputSize: [k.h, k.w],
    kernelSize: 1,
    stride: k.stride,
    poolSize: k.q,
    filters: k.filters,
    hidden: [3],
    classes: 3,
    activation: 'relu',
    seed: k.seed,
    dtype: 'float64',
  });
  for (let f = 0; f < k.filters; f++) model.conv.weight.data[f] = f + 1;
  model.conv.bias!.data.fill(0);
  const rng = new Rng(k.seed);
  for (const layer of model.dense) {
    for (let i = 0; i < layer.weight.size; i++) layer.weight.data[i] = rng.normal();
  }
  const xd = Array.from({ length: k.batch * k.h * k.w }, () => 1 + rng.int(k.levels));
  const x = tensor(xd, { shape: [k.batch, 1, k.h, k.w], dtype: 'float64' });
  return { model, x, targets: Array.from({ length: k.batch }, () => rng.int(3)) };
}

const tieCase: fc.Arbitrary<TieCase> = fc
  .record({
    h: fc.integer({ min: 2, max: 9 }),
    w: fc.integer({ min: 2, max: 9 }),
    q: fc.integer({ min: 2, max: 3 }),
    stride: fc.integer({ min: 1, max: 2 }),
    filters: fc.integer({ min: 1, max: 2 }),
    batch: fc.integer({ min: 1, max: 2 }),
    levels: fc.integer({ min: 1, max: 2 }),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .filter(
    (k) =>
      Math.floor((k.h - 1) / k.stride) + 1 >= k.q && Math.floor((k.w - 1) / k.stride) + 1 >= k.q,
  );

/** For the conv maps of a tie net, the flat indices into X of each window's first maximum. */
function firstMaxima(k: TieCase, x: Tensor): Set<number> {
  const oh = Math.floor((k.h - 1) / k.stride) + 1;
  const ow = Math.floor((k.w - 1) / k.stride) + 1;
  const winners = new Set<number>();
  for (let b = 0; b < k.batch; b++) {
    for (let i = 0; i + k.q <= oh; i += k.q) {
      for (let j = 0; j + k.q <= ow; j += k.q) {
        let best = -Infinity;
        let at = -1;
        for (let u = 0; u < k.q; u++) {
          for (let v = 0; v < k.q; v++) {
            const idx = (b * k.h + (i + u) * k.stride) * k.w + (j + v) * k.stride;
            if (x.data[idx]! > best) {
              best = x.data[idx]!;
              at = idx;
            }
          }
        }
        winners.add(at);
      }
    }
  }
  return winners;
}

describe('max pooling ties in the whole network', () => {
  it('property: manual and autograd both send each window to its first maximum only', () => {
    fc.assert(
      fc.property(tieCase, (k) => {
        const { model, x, targets } = tieNet(k);
        const r = runBoth(model, x, targets);
        const winners = firstMaxima(k, x);
        const what = `tie net x=[${k.batch},1,${k.h},${k.w}] s=${k.stride} q=${k.q} F=${k.filters}`;
        for (const [side, dx] of [
          ['manual', r.manual.intermediates.dX.data],
          ['autograd', r.autoDx],
        ] as const) {
          const nonzero = Array.from(dx.keys()).filter((i) => dx[i] !== 0);
          // Every winner gets a gradient (random dense weights make a zero share improbable),
          // and nothing else does: not a later tie, not a share.
          expect(new Set(nonzero), `${what} ${side}`).toEqual(winners);
        }
        expect(diff(r.manual.intermediates.dX.data, r.autoDx).rel).toBeLessThan(1e-12);
        const report = compareGradients(model, x, targets);
        expect(report.worst.scaledMax).toBeLessThan(1e-12);
      }),
      { numRuns: 25, seed: 104 },
    );
  });

  it('manual.maxPoolBackward on x=[[2,2],[2,1]] routes all of the gradient to (0,0)', () => {
    const a = { data: Float64Array.of(2, 2, 2, 1), shape: [1, 1, 2, 2] };
    const f = manual.maxPoolForward(a, 2);
    expect(Array.from(f.argmax)).toEqual([0]);
    const g = manual.maxPoolBackward(
      { data: Float64Array.of(3), shape: [1, 1, 1, 1] },
      f.argmax,
      a.shape,
    );
    expect(Array.from(g.data)).toEqual([3, 0, 0, 0]);
  });

  it('tie net shapes: kernel 1, pool q leaves floor(H/q) windows per axis', () => {
    const { model } = tieNet({
      h: 5,
      w: 4,
      q: 2,
      stride: 1,
      filters: 2,
      batch: 1,
      levels: 1,
      seed: 0,
    });
    expect(paperCNNShapes(model.config).pooled).toEqual([2, 2]);
  });
});
