import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { ShapeError, ValueError } from '@tapegrad/autograd';
import { describe, expect, it } from 'vitest';

import {
  type HistoryRow,
  confusionMatrixPlot,
  confusionMatrixSpec,
  featureMapsPlot,
  featureMapsSpec,
  kernelsPlot,
  kernelsSpec,
  lossAccuracyPlot,
  lossAccuracySpec,
  renderSpec,
  svgToPngAvailable,
} from './plots.js';

// Set TAPEGRAD_PLOTS_DIR=/tmp/plots to keep the rendered examples for a look.
const outDir = process.env['TAPEGRAD_PLOTS_DIR'];
function keep(name: string, svg: string): void {
  if (!outDir) return;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, name), svg);
}

/** Renders a spec and collects its warnings, so every spec here must compile without any. */
async function renderQuietly(spec: Parameters<typeof renderSpec>[0]): Promise<string> {
  const warnings: string[] = [];
  const svg = await renderSpec(spec, { onWarning: (m) => warnings.push(m) });
  expect(warnings).toEqual([]);
  return svg;
}

function expectSvg(svg: string): void {
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
}

/**
 * The item count of every mark of a type, over all panels; legends and axes are not marks. An
 * empty mark group is written `<g .../>`, which the pattern skips.
 */
function markItems(svg: string, type: 'rect' | 'line' | 'symbol'): number {
  const pattern = new RegExp(
    `<g class="mark-${type} role-mark[^"]*"[^>]*[^/]>([\\s\\S]*?)</g>`,
    'g',
  );
  return [...svg.matchAll(pattern)].reduce((n, g) => n + (g[1]!.match(/<path/g)?.length ?? 0), 0);
}

function rectMarks(svg: string): number {
  return markItems(svg, 'rect');
}

/** The strings drawn by text marks (not axis labels or titles). */
function textMarks(svg: string): string[] {
  const groups = svg.matchAll(/<g class="mark-text role-mark[^"]*"[^>]*[^/]>([\s\S]*?)<\/g>/g);
  return [...groups].flatMap((g) =>
    [...g[1]!.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]!),
  );
}

/** Every string in the SVG's text elements: titles, axis and header labels, legends. */
function allText(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((t) => t[1]!);
}

// Three 28×28 "digits" drawn with strokes: a ring (0), a bar (1) and a seven.
function digits(): Float32Array {
  const img = new Float32Array(3 * 28 * 28);
  for (let i = 0; i < 28; i++) {
    for (let j = 0; j < 28; j++) {
      const r = Math.hypot(i - 13.5, (j - 13.5) * 1.3);
      img[i * 28 + j] = Math.max(0, 1 - Math.abs(r - 8) / 2.5);
      img[784 + i * 28 + j] = i > 4 && i < 24 && Math.abs(j - 14) < 2 ? 1 : 0;
      const seven =
        (i > 5 && i < 9 && j > 7 && j < 21) ||
        (i >= 9 && i < 24 && Math.abs(j - (20 - (i - 9) * 0.5)) < 1.6);
      img[2 * 784 + i * 28 + j] = seven ? 1 : 0;
    }
  }
  return img;
}

// Eight 5×5 kernels: horizontal, vertical and diagonal edges, a blob, and smooth waves.
function kernels(F = 8, C = 1): Float32Array {
  const w = new Float32Array(F * C * 25);
  for (let f = 0; f < F; f++) {
    for (let c = 0; c < C; c++) {
      for (let i = 0; i < 5; i++) {
        for (let j = 0; j < 5; j++) {
          const x = j - 2;
          const y = i - 2;
          const v = [
            y / 2,
            x / 2,
            (x + y) / 4,
            (x - y) / 4,
            Math.exp(-(x * x + y * y) / 2) - 0.4,
            Math.sin(x + c),
            Math.cos(y * 1.3 + c),
            -Math.exp(-(x * x + y * y) / 3) + 0.3,
          ][f % 8]!;
          w[((f * C + c) * 5 + i) * 5 + j] = v * 0.4;
        }
      }
    }
  }
  return w;
}

/** relu of a valid cross-correlation of [3,1,28,28] images with [8,1,5,5] kernels: [3,8,24,24]. */
function reluConv(images: Float32Array, weight: Float32Array) {
  const data = new Float32Array(3 * 8 * 24 * 24);
  for (let d = 0; d < 3; d++) {
    for (let f = 0; f < 8; f++) {
      for (let i = 0; i < 24; i++) {
        for (let j = 0; j < 24; j++) {
          let acc = 0;
          for (let a = 0; a < 5; a++) {
            for (let b = 0; b < 5; b++) {
              acc += images[d * 784 + (i + a) * 28 + j + b]! * weight[f * 25 + a * 5 + b]!;
            }
          }
          data[((d * 8 + f) * 24 + i) * 24 + j] = Math.max(0, acc);
        }
      }
    }
  }
  return { data, shape: [3, 8, 24, 24] };
}

const history: HistoryRow[] = Array.from({ length: 10 }, (_, e) => ({
  epoch: e + 1,
  trainLoss: 1.8 * Math.exp(-e / 2.5) + 0.08,
  testLoss: 1.7 * Math.exp(-e / 2.8) + 0.12 + 0.004 * e,
  testAccuracy: 0.98 - 0.6 * Math.exp(-e / 2),
}));

describe('renderSpec', () => {
  it('renders a point spec to SVG', async () => {
    const svg = await renderQuietly({
      data: { values: [{ x: 1, y: 2 }] },
      mark: 'point',
      encoding: {
        x: { field: 'x', type: 'quantitative' },
        y: { field: 'y', type: 'quantitative' },
      },
    });
    expectSvg(svg);
  });

  it('refuses data by URL instead of fetching it', async () => {
    const spec = { data: { url: 'https://example.com/data.csv' }, mark: 'point' } as const;
    await expect(renderSpec(spec)).rejects.toThrow(ValueError);
    await expect(renderSpec(spec)).rejects.toThrow(
      expect.objectContaining({
        op: 'renderSpec',
        arg: 'spec',
        actual: 'https://example.com/data.csv',
      }),
    );
  });

  it('svgToPngAvailable is false', () => {
    expect(svgToPngAvailable()).toBe(false);
  });
});

describe('lossAccuracyPlot', () => {
  it('10 epochs: two panels with titles, axis labels and a point per epoch and series', async () => {
    const svg = await renderQuietly(lossAccuracySpec(history));
    keep('loss-accuracy.svg', svg);
    expectSvg(svg);
    const text = allText(svg);
    for (const s of ['Training history', 'Loss per epoch', 'Test accuracy per epoch', 'epoch']) {
      expect(text).toContain(s);
    }
    expect(text).toContain('cross-entropy loss');
    expect(text).toContain('test accuracy');
    expect(text).toEqual(expect.arrayContaining(['train', 'test', '90.0%']));
    // A line per loss series and one for accuracy; a point per epoch on each.
    expect(markItems(svg, 'line')).toBe(3);
    expect(markItems(svg, 'symbol')).toBe(30);
    expect(await lossAccuracyPlot(history)).toBe(svg);
  });

  it('1 epoch, accuracy as a percentage', async () => {
    const svg = await lossAccuracyPlot([
      { epoch: 1, trainLoss: 0.5, testLoss: 0.6, testAccuracy: 91 },
    ]);
    expectSvg(svg);
    expect(allText(svg)).toContain('test accuracy (%)');
  });

  it('empty history throws ValueError naming the function and the argument', () => {
    expect(() => lossAccuracySpec([])).toThrow(ValueError);
    expect(() => lossAccuracySpec([])).toThrow(/^lossAccuracyPlot: history is an empty array/);
    expect(() => lossAccuracySpec([])).toThrow(
      expect.objectContaining({ op: 'lossAccuracyPlot', arg: 'history', actual: 'an empty array' }),
    );
  });

  it('a NaN field throws ValueError naming the row and field', () => {
    const bad = [...history.slice(0, 3), { ...history[3]!, testLoss: Number.NaN }];
    expect(() => lossAccuracySpec(bad)).toThrow(
      expect.objectContaining({
        op: 'lossAccuracyPlot',
        arg: 'history[3].testLoss',
        actual: 'NaN',
      }),
    );
  });
});

describe('kernelsPlot', () => {
  it('kernels=[8,1,5,5]: a heatmap per filter, one rect per weight', async () => {
    const svg = await renderQuietly(kernelsSpec({ data: kernels(), shape: [8, 1, 5, 5] }));
    keep('kernels.svg', svg);
    expectSvg(svg);
    expect(rectMarks(svg)).toBeGreaterThanOrEqual(8 * 5 * 5);
    const text = allText(svg);
    expect(text).toContain('Convolution kernels');
    expect(text).toContain('filter 0');
    expect(text).toContain('filter 7');
    expect(text).toContain('weight');
  });

  it('kernels=[4,3,5,5] channel=all: a row per channel, a custom title', async () => {
    const k = { data: kernels(4, 3), shape: [4, 3, 5, 5] };
    const svg = await kernelsPlot(k, { channel: 'all', title: 'Layer 1' });
    expectSvg(svg);
    expect(rectMarks(svg)).toBeGreaterThanOrEqual(4 * 3 * 5 * 5);
    expect(allText(svg)).toEqual(expect.arrayContaining(['Layer 1', 'channel 2', 'filter 3']));
    const first = await kernelsPlot(k, { channel: 1 });
    expect(rectMarks(first)).toBe(4 * 5 * 5);
  });

  it('the colour scale is symmetric about 0', () => {
    const spec = kernelsSpec({ data: kernels(), shape: [8, 1, 5, 5] });
    const scale = JSON.stringify(spec)
      .match(/"domain":\[([^\]]*)\]/)![1]!
      .split(',')
      .map(Number);
    expect(scale[0]).toBeCloseTo(-scale[1]!);
  });

  it('kernels of rank 3 throws ShapeError', () => {
    const k = { data: new Float32Array(75), shape: [3, 5, 5] };
    expect(() => kernelsSpec(k)).toThrow(ShapeError);
    expect(() => kernelsSpec(k)).toThrow(
      expect.objectContaining({
        op: 'kernelsPlot',
        arg: 'kernels',
        expected: '[F, C, m, n]',
        actual: '[3,5,5]',
      }),
    );
  });

  it('data shorter than the shape throws ShapeError', () => {
    const k = { data: new Float64Array(10), shape: [1, 1, 5, 5] };
    expect(() => kernelsSpec(k)).toThrow(
      expect.objectContaining({
        op: 'kernelsPlot',
        arg: 'kernels',
        expected: '25 values',
        actual: '10 values',
      }),
    );
  });

  it('channel out of range throws ValueError', () => {
    const k = { data: kernels(), shape: [8, 1, 5, 5] };
    expect(() => kernelsSpec(k, { channel: 1 })).toThrow(
      expect.objectContaining({ op: 'kernelsPlot', arg: 'options.channel' }),
    );
  });
});

describe('featureMapsPlot', () => {
  const images = { data: digits(), shape: [3, 1, 28, 28] };
  const maps = reluConv(images.data, kernels()); // [3, 8, 24, 24]

  it('maps=[3,8,24,24] images=[3,1,28,28] labels: input column then a heatmap per map', async () => {
    const svg = await renderQuietly(featureMapsSpec(maps, images, [0, 1, 7]));
    keep('feature-maps.svg', svg);
    expectSvg(svg);
    expect(rectMarks(svg)).toBe(3 * 8 * 24 * 24 + 3 * 28 * 28);
    expect(allText(svg)).toEqual(
      expect.arrayContaining([
        'Feature maps',
        'input',
        'map 0',
        'map 7',
        '#0: label 0',
        '#2: label 7',
      ]),
    );
  });

  it('maps=[2,3,4,4] without images or labels', async () => {
    const m = {
      data: new Float64Array(2 * 3 * 16).map((_, i) => Math.sin(i)),
      shape: [2, 3, 4, 4],
    };
    const svg = await featureMapsPlot(m);
    expectSvg(svg);
    expect(rectMarks(svg)).toBe(2 * 3 * 16);
    expect(allText(svg)).not.toContain('input');
  });

  it('maps of rank 3 throws ShapeError', () => {
    const m = { data: new Float32Array(16), shape: [1, 4, 4] };
    expect(() => featureMapsSpec(m)).toThrow(
      expect.objectContaining({ op: 'featureMapsPlot', arg: 'maps', expected: '[D, F, H, W]' }),
    );
  });

  it('images for a different number of digits throws ShapeError', () => {
    const two = { data: new Float32Array(2 * 784), shape: [2, 1, 28, 28] };
    expect(() => featureMapsSpec(maps, two)).toThrow(
      expect.objectContaining({ op: 'featureMapsPlot', arg: 'images', actual: '[2,1,28,28]' }),
    );
  });

  it('the wrong number of labels throws ShapeError', () => {
    expect(() => featureMapsSpec(maps, images, [1, 2])).toThrow(
      expect.objectContaining({ op: 'featureMapsPlot', arg: 'labels', actual: '2 labels' }),
    );
  });
});

describe('confusionMatrixPlot', () => {
  // A 10-class matrix with a strong diagonal and a few confusions (4↔9, 3→5, 7→1).
  const matrix = Array.from({ length: 10 }, (_, t) =>
    Array.from({ length: 10 }, (_, p) =>
      t === p ? 90 + t : (t * 7 + p * 3) % 11 === 0 ? t + p : 0,
    ),
  );
  matrix[4]![9] = 23;
  matrix[9]![4] = 17;
  matrix[3]![5] = 12;
  matrix[7]![1] = 8;

  it('10 classes: a cell per entry and every count written in its cell', async () => {
    const svg = await renderQuietly(confusionMatrixSpec(matrix));
    keep('confusion-matrix.svg', svg);
    expectSvg(svg);
    expect(rectMarks(svg)).toBe(100);
    const counts = textMarks(svg);
    expect(counts).toHaveLength(100);
    expect(counts.sort()).toEqual(matrix.flat().map(String).sort());
    expect(allText(svg)).toEqual(expect.arrayContaining(['Confusion matrix', 'true', 'predicted']));
  });

  it('3 classes with names', async () => {
    const svg = await confusionMatrixPlot(
      [
        [5, 1, 0],
        [2, 7, 1],
        [0, 0, 9],
      ],
      ['cat', 'dog', 'bird'],
    );
    expectSvg(svg);
    expect(allText(svg)).toEqual(expect.arrayContaining(['cat', 'dog', 'bird']));
    expect(textMarks(svg).sort()).toEqual(['0', '0', '0', '1', '1', '2', '5', '7', '9']);
  });

  it('a ragged matrix throws ShapeError naming the row', () => {
    const ragged = [
      [1, 2],
      [3, 4, 5],
    ];
    expect(() => confusionMatrixSpec(ragged)).toThrow(ShapeError);
    expect(() => confusionMatrixSpec(ragged)).toThrow(
      expect.objectContaining({
        op: 'confusionMatrixPlot',
        arg: 'matrix[1]',
        expected: '2 entries',
        actual: '3 entries',
      }),
    );
  });

  it('an empty matrix throws ShapeError', () => {
    expect(() => confusionMatrixSpec([])).toThrow(
      expect.objectContaining({ op: 'confusionMatrixPlot', arg: 'matrix' }),
    );
  });

  it('a negative count throws ValueError', () => {
    expect(() =>
      confusionMatrixSpec([
        [1, -1],
        [0, 2],
      ]),
    ).toThrow(
      expect.objectContaining({ op: 'confusionMatrixPlot', arg: 'matrix[0][1]', actual: '-1' }),
    );
  });

  it('classNames of the wrong length throws ValueError', () => {
    expect(() => confusionMatrixSpec([[1]], ['a', 'b'])).toThrow(
      expect.objectContaining({ op: 'confusionMatrixPlot', arg: 'classNames' }),
    );
  });
});
