/**
 * Plots for the training example and the notebooks: each function builds a Vega-Lite spec from
 * plain data and renders it headless to an SVG string (vega's `View#toSVG` with
 * `renderer: 'none'`; no canvas, no browser, no network, no file I/O). The caller writes files.
 *
 * Every `*Plot` function has a `*Spec` twin that returns the spec without rendering, so a notebook
 * can adjust it and pass it to {@link renderSpec}.
 */

import { ShapeError, ValueError } from '@tapegrad/autograd';
import { View, Warn, parse, type Loader, type LoggerInterface } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

// Pieces of the Vega-Lite spec types that its index does not export by name.
type FacetSpec = Extract<TopLevelSpec, { facet: unknown }>;
type UnitEncoding = NonNullable<Extract<FacetSpec['spec'], { mark: unknown }>['encoding']>;

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v5.json';

/** A dense array with its shape, row-major, e.g. a tensor's `data` and `shape`. */
export interface PlotArray {
  readonly data: Float32Array | Float64Array;
  readonly shape: readonly number[];
}

/** One epoch of training history. `testAccuracy` is a fraction in [0, 1] or a percentage. */
export interface HistoryRow {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly testLoss: number;
  readonly testAccuracy: number;
}

/** Options for {@link renderSpec}. */
export interface RenderOptions {
  /** Called with each warning from vega-lite or vega; warnings are dropped when absent. */
  readonly onWarning?: (message: string) => void;
}

/** Options for {@link kernelsPlot}. */
export interface KernelsPlotOptions {
  /** The chart title; defaults to `Convolution kernels`. */
  readonly title?: string;
  /** Which input channel to show (default 0), or `'all'` for a row per channel. */
  readonly channel?: number | 'all';
}

/** Options for {@link featureMapsPlot}. */
export interface FeatureMapsPlotOptions {
  /** The chart title; defaults to `Feature maps`. */
  readonly title?: string;
}

/** Options for {@link confusionMatrixPlot}. */
export interface ConfusionMatrixPlotOptions {
  /** The chart title; defaults to `Confusion matrix`. */
  readonly title?: string;
}

/** PNG output is not offered: no maintained pure-JS or wasm rasteriser is installed. */
export function svgToPngAvailable(): boolean {
  return false;
}

// ---------------------------------------------------------------------------------------------
// Rendering

/**
 * Compiles a Vega-Lite spec and renders it to an SVG string, headless. Data must be inline
 * (`data: { values }`): the loader refuses every URL and file, so rendering never touches the
 * network or the disk. Warnings go to `options.onWarning`, never to the console.
 *
 * @example
 * const svg = await renderSpec({ data: { values: [{ x: 1 }] }, mark: 'point' });
 */
export async function renderSpec(spec: TopLevelSpec, options: RenderOptions = {}): Promise<string> {
  const { log, errors } = renderLog(options.onWarning);
  const refused: string[] = [];
  const { spec: vgSpec } = compile(spec, { logger: log });
  const view = new View(parse(vgSpec), {
    renderer: 'none',
    loader: offlineLoader(refused),
    logger: log,
    logLevel: Warn,
  });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }

  // vega reports a failed load as a warning and draws the chart without the data.
  if (refused.length > 0) {
    throw new ValueError(
      'renderSpec',
      'spec',
      'inline data values',
      refused[0]!,
      `data must be inline (data: { values }); refused to load '${refused[0]}'`,
    );
  }

  // vega reports a failure inside the dataflow (a bad expression, a transform error) to its logger
  // and still renders what it can; a half-drawn plot should not pass for a good one.
  const failure = errors[0];
  if (failure !== undefined) {
    throw new ValueError(
      'renderSpec',
      'spec',
      'a spec vega can evaluate',
      failure,
      `vega failed while rendering: ${failure}`,
    );
  }
  return svg;
}

/**
 * A logger that sends warnings to a callback (or nowhere) and keeps errors, instead of using the
 * console. Closures, not a class: vega calls these methods detached from the object.
 */
function renderLog(onWarning: ((message: string) => void) | undefined) {
  const errors: string[] = [];
  let current = Warn;
  const level = (_?: number) => {
    if (_ === undefined) return current;
    current = _;
    return log;
  };
  const log: LoggerInterface = {
    level: level as LoggerInterface['level'],
    error: (...args: readonly unknown[]) => {
      errors.push(args.map(describe).join(' '));
      return log;
    },
    warn: (...args: readonly unknown[]) => {
      if (current >= Warn) onWarning?.(args.map(describe).join(' '));
      return log;
    },
    info: () => log,
    debug: () => log,
  };
  return { log, errors };
}

function describe(x: unknown): string {
  return x instanceof Error ? x.message : String(x);
}

/** A loader that loads nothing and notes each URL or file it was asked for. */
function offlineLoader(refused: string[]): Loader {
  const refuse = (uri: string): Promise<never> => {
    refused.push(uri);
    return Promise.reject(new Error(`renderSpec refuses to load '${uri}'`));
  };
  return { load: refuse, sanitize: refuse, http: refuse, file: refuse };
}

// ---------------------------------------------------------------------------------------------
// Loss and accuracy

/** The spec behind {@link lossAccuracyPlot}. */
export function lossAccuracySpec(history: readonly HistoryRow[]): TopLevelSpec {
  const op = 'lossAccuracyPlot';
  if (!Array.isArray(history) || history.length === 0) {
    const actual = Array.isArray(history) ? 'an empty array' : typeof history;
    throw new ValueError(op, 'history', 'at least one epoch', actual, `history is ${actual}`);
  }
  history.forEach((row, i) => {
    for (const key of ['epoch', 'trainLoss', 'testLoss', 'testAccuracy'] as const) {
      const v: unknown = row?.[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) {
        throw new ValueError(
          op,
          `history[${i}].${key}`,
          'a finite number',
          String(v),
          `history[${i}].${key} is ${String(v)}, expected a finite number`,
        );
      }
    }
  });

  // A fraction is shown as a percentage axis; values above 1 are taken to be percentages already.
  const fraction = history.every((r) => r.testAccuracy <= 1);
  const losses = history.flatMap((r) => [
    { epoch: r.epoch, series: 'train', loss: r.trainLoss },
    { epoch: r.epoch, series: 'test', loss: r.testLoss },
  ]);
  const epochAxis = { title: 'epoch', tickMinStep: 1, format: 'd' };
  const epochX = { field: 'epoch', type: 'quantitative', axis: epochAxis } as const;
  const panel = { width: 320, height: 220 };

  return {
    $schema: SCHEMA,
    title: { text: 'Training history', fontSize: 16 },
    config: { view: { stroke: '#ddd' } },
    hconcat: [
      {
        ...panel,
        title: 'Loss per epoch',
        data: { values: losses },
        mark: { type: 'line', point: true },
        encoding: {
          x: epochX,
          y: { field: 'loss', type: 'quantitative', title: 'cross-entropy loss' },
          color: {
            field: 'series',
            type: 'nominal',
            title: 'loss on',
            legend: { orient: 'top', direction: 'horizontal' },
            scale: { domain: ['train', 'test'], range: ['#1f77b4', '#ff7f0e'] },
          },
        },
      },
      {
        ...panel,
        title: 'Test accuracy per epoch',
        data: { values: history.map((r) => ({ epoch: r.epoch, accuracy: r.testAccuracy })) },
        mark: { type: 'line', color: '#2ca02c', point: { filled: true, color: '#2ca02c' } },
        encoding: {
          x: epochX,
          y: {
            field: 'accuracy',
            type: 'quantitative',
            title: fraction ? 'test accuracy' : 'test accuracy (%)',
            scale: { zero: false },
            axis: fraction ? { format: '.1%' } : {},
          },
        },
      },
    ],
    resolve: { scale: { y: 'independent' } },
  };
}

/**
 * Loss curves (train and test) and test accuracy per epoch, as two panels side by side.
 *
 * @param history one row per epoch; at least one row, every field a finite number.
 * @returns an SVG document as a string.
 * @throws ValueError when `history` is empty or a field is not a finite number.
 */
export function lossAccuracyPlot(history: readonly HistoryRow[]): Promise<string> {
  return renderSpec(lossAccuracySpec(history));
}

// ---------------------------------------------------------------------------------------------
// Convolution kernels

/** The spec behind {@link kernelsPlot}. */
export function kernelsSpec(kernels: PlotArray, options: KernelsPlotOptions = {}): TopLevelSpec {
  const op = 'kernelsPlot';
  checkArray(op, 'kernels', kernels, '[F, C, m, n]');
  const [F, C, m, n] = kernels.shape as [number, number, number, number];
  const channel = options.channel ?? 0;
  if (channel !== 'all' && !(Number.isInteger(channel) && channel >= 0 && channel < C)) {
    throw new ValueError(
      op,
      'options.channel',
      `an integer in [0, ${C}) or 'all'`,
      String(channel),
      `channel ${String(channel)} is out of range for kernels with ${C} channels`,
    );
  }

  const channels = channel === 'all' ? range(C) : [channel];
  const values: { filter: number; channel: number; row: number; col: number; weight: number }[] =
    [];
  for (let f = 0; f < F; f++) {
    for (const c of channels) {
      const base = (f * C + c) * m * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          values.push({
            filter: f,
            channel: c,
            row: i,
            col: j,
            weight: kernels.data[base + i * n + j]!,
          });
        }
      }
    }
  }

  // Note [diverging scale]: a symmetric domain puts 0 at the white midpoint, so the sign of a
  // weight reads from its hue and its size from the saturation, the same way in every panel.
  const bound = maxAbs(values.map((v) => v.weight));
  const cell = Math.max(6, Math.min(16, Math.floor(96 / Math.max(m, n))));
  const subtitle =
    C === 1
      ? `${F} filters, ${m}×${n}`
      : channel === 'all'
        ? `${F} filters × ${C} channels, ${m}×${n}`
        : `${F} filters, ${m}×${n}, input channel ${channel}`;

  return {
    $schema: SCHEMA,
    title: { text: options.title ?? 'Convolution kernels', subtitle, fontSize: 16 },
    data: { values },
    ...(channel === 'all'
      ? {
          facet: {
            row: { field: 'channel', type: 'ordinal', header: header('channel', 0) },
            column: { field: 'filter', type: 'ordinal', header: header('filter') },
          },
        }
      : {
          facet: { field: 'filter', type: 'ordinal', header: header('filter') },
          columns: Math.min(F, 8),
        }),
    spacing: 8,
    spec: {
      width: n * cell,
      height: m * cell,
      mark: { type: 'rect' },
      encoding: {
        x: { field: 'col', type: 'ordinal', axis: null },
        y: { field: 'row', type: 'ordinal', axis: null },
        color: {
          field: 'weight',
          type: 'quantitative',
          title: 'weight',
          scale: { scheme: 'redblue', reverse: true, domain: [-bound, bound], domainMid: 0 },
        },
        tooltip: [
          { field: 'filter' },
          { field: 'channel' },
          { field: 'row' },
          { field: 'col' },
          { field: 'weight', format: '.4f' },
        ],
      },
    },
  };
}

/**
 * One small heatmap per filter of a convolution weight `[F, C, m, n]`, on a diverging colour
 * scale centred at 0 (blue negative, red positive), faceted by filter.
 *
 * @param kernels the weight, `[F, C, m, n]`.
 * @param options `title`; `channel`, the input channel to show (default 0) or `'all'` for a row
 *   per channel.
 * @throws ShapeError when `kernels` is not rank 4 or its data does not match its shape.
 * @throws ValueError when `channel` is out of range.
 */
export function kernelsPlot(kernels: PlotArray, options: KernelsPlotOptions = {}): Promise<string> {
  return renderSpec(kernelsSpec(kernels, options));
}

// ---------------------------------------------------------------------------------------------
// Feature maps

/** The spec behind {@link featureMapsPlot}. */
export function featureMapsSpec(
  maps: PlotArray,
  images?: PlotArray,
  labels?: readonly number[],
  options: FeatureMapsPlotOptions = {},
): TopLevelSpec {
  const op = 'featureMapsPlot';
  checkArray(op, 'maps', maps, '[D, F, H, W]');
  const [D, F, H, W] = maps.shape as [number, number, number, number];
  if (images !== undefined) {
    checkArray(op, 'images', images, '[D, 1, h, w]');
    if (images.shape[0] !== D || images.shape[1] !== 1) {
      const actual = `[${images.shape.join(',')}]`;
      throw new ShapeError(
        op,
        'images',
        `[${D},1,h,w]`,
        actual,
        `images has shape ${actual}, expected ${D} single-channel images to match maps ` +
          `[${maps.shape.join(',')}]`,
      );
    }
  }
  if (labels !== undefined && (!Array.isArray(labels) || labels.length !== D)) {
    const actual = Array.isArray(labels) ? `${labels.length} labels` : String(labels);
    throw new ShapeError(
      op,
      'labels',
      `${D} labels`,
      actual,
      `labels has ${actual}, expected one per digit in maps [${maps.shape.join(',')}]`,
    );
  }

  // Rows and columns are named in data and ordered by explicit sort arrays, so `map 10` comes
  // after `map 9` and two digits with the same label still get rows of their own.
  const rowNames = range(D).map((d) => (labels ? `#${d}: label ${labels[d]}` : `#${d}`));
  const mapNames = range(F).map((f) => `map ${f}`);
  const mapValues: { digit: string; panel: string; row: number; col: number; v: number }[] = [];
  for (let d = 0; d < D; d++) {
    for (let f = 0; f < F; f++) {
      const base = (d * F + f) * H * W;
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          mapValues.push({
            digit: rowNames[d]!,
            panel: `map ${f}`,
            row: i,
            col: j,
            v: maps.data[base + i * W + j]!,
          });
        }
      }
    }
  }
  const imageValues: typeof mapValues = [];
  if (images) {
    const [, , h, w] = images.shape as [number, number, number, number];
    for (let d = 0; d < D; d++) {
      for (let i = 0; i < h; i++) {
        for (let j = 0; j < w; j++) {
          const v = images.data[d * h * w + i * w + j]!;
          imageValues.push({ digit: rowNames[d]!, panel: 'input', row: i, col: j, v });
        }
      }
    }
  }

  // Note [feature map grid]: the inputs and the maps are two facets side by side, each with its
  // own colour scale, rather than one facet with a layer per kind: a layer resolved
  // independently inside a facet gets a scale and a legend in every cell. Both facets use the same
  // panel height, spacing and headers, so their rows line up.
  const height = 64;
  const spacing = 6;
  const cells: Pick<UnitEncoding, 'x' | 'y'> = {
    x: { field: 'col', type: 'ordinal', axis: null },
    y: { field: 'row', type: 'ordinal', axis: null },
  };
  const bound = maxAbs(mapValues.map((r) => r.v));
  const mapsFacet: FacetSpec = {
    data: { values: mapValues },
    facet: {
      row: {
        field: 'digit',
        type: 'nominal',
        sort: rowNames,
        header: images
          ? { title: null, labels: false }
          : { title: null, labelAngle: 0, labelAlign: 'left', labelFontSize: 11 },
      },
      column: {
        field: 'panel',
        type: 'nominal',
        sort: mapNames,
        header: { title: null, labelFontSize: 11 },
      },
    },
    spacing,
    spec: {
      width: Math.round((height * W) / H),
      height,
      mark: { type: 'rect' },
      encoding: {
        ...cells,
        color: {
          field: 'v',
          type: 'quantitative',
          title: 'activation',
          // See Note [diverging scale].
          scale: { scheme: 'redblue', reverse: true, domain: [-bound, bound], domainMid: 0 },
        },
      },
    },
  };
  const title = {
    text: options.title ?? 'Feature maps',
    subtitle: `${D} digit${D === 1 ? '' : 's'}, ${F} maps of ${H}×${W}`,
    fontSize: 16,
  };
  if (!images) return { $schema: SCHEMA, title, ...mapsFacet };

  const [, , h, w] = images.shape as [number, number, number, number];
  const imagesFacet: FacetSpec = {
    data: { values: imageValues },
    facet: {
      row: {
        field: 'digit',
        type: 'nominal',
        sort: rowNames,
        header: { title: null, labelAngle: 0, labelAlign: 'left', labelFontSize: 11 },
      },
      column: { field: 'panel', type: 'nominal', header: { title: null, labelFontSize: 11 } },
    },
    spacing,
    spec: {
      width: Math.round((height * w) / h),
      height,
      mark: { type: 'rect' },
      encoding: {
        ...cells,
        color: {
          field: 'v',
          type: 'quantitative',
          scale: { domain: extent(imageValues.map((r) => r.v)), range: ['white', 'black'] },
          legend: null,
        },
      },
    },
  };
  return {
    $schema: SCHEMA,
    title,
    hconcat: [imagesFacet, mapsFacet],
    spacing: 12,
    resolve: { scale: { color: 'independent' } },
  };
}

/**
 * A grid of feature maps: a row per digit, the input image first (grey, dark ink) when given,
 * then one heatmap per map on a diverging scale centred at 0 shared by every map.
 *
 * @param maps activations `[D, F, H, W]` for `D` digits.
 * @param images the inputs `[D, 1, h, w]`, e.g. `[D, 1, 28, 28]`.
 * @param labels one label per digit, shown in the row header.
 * @throws ShapeError when a shape has the wrong rank, does not match its data, or `images` or
 *   `labels` disagree with `maps` on `D`.
 */
export function featureMapsPlot(
  maps: PlotArray,
  images?: PlotArray,
  labels?: readonly number[],
  options: FeatureMapsPlotOptions = {},
): Promise<string> {
  return renderSpec(featureMapsSpec(maps, images, labels, options));
}

// ---------------------------------------------------------------------------------------------
// Confusion matrix

/** The spec behind {@link confusionMatrixPlot}. */
export function confusionMatrixSpec(
  matrix: readonly (readonly number[])[],
  classNames?: readonly string[],
  options: ConfusionMatrixPlotOptions = {},
): TopLevelSpec {
  const op = 'confusionMatrixPlot';
  if (!Array.isArray(matrix) || matrix.length === 0) {
    const actual = Array.isArray(matrix) ? 'an empty array' : String(matrix);
    throw new ShapeError(op, 'matrix', '[K, K] counts', actual, `matrix is ${actual}`);
  }
  const K = matrix.length;
  matrix.forEach((row, t) => {
    if (!Array.isArray(row) || row.length !== K) {
      const actual = Array.isArray(row) ? `${row.length} entries` : String(row);
      throw new ShapeError(
        op,
        `matrix[${t}]`,
        `${K} entries`,
        actual,
        `matrix must be square [${K},${K}], but matrix[${t}] has ${actual}`,
      );
    }
    row.forEach((v, p) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
        throw new ValueError(
          op,
          `matrix[${t}][${p}]`,
          'a finite count >= 0',
          String(v),
          `matrix[${t}][${p}] is ${String(v)}, expected a finite count >= 0`,
        );
      }
    });
  });
  const names = classNames ?? range(K).map(String);
  if (!Array.isArray(names) || names.length !== K || new Set(names).size !== K) {
    const actual = Array.isArray(names)
      ? `${names.length} names (${new Set(names).size} distinct)`
      : String(names);
    throw new ValueError(
      op,
      'classNames',
      `${K} distinct names`,
      actual,
      `classNames has ${actual}, expected ${K} distinct names, one per row of matrix`,
    );
  }

  const values = matrix.flatMap((row: readonly number[], t) =>
    row.map((count, p) => ({ true: names[t]!, predicted: names[p]!, count })),
  );
  const max = Math.max(...values.map((v) => v.count));
  const side = Math.max(160, Math.min(480, K * 36));
  const axis = {
    labelAngle: 0,
    labelFontSize: 11,
    titleFontSize: 13,
    ticks: false,
    domain: false,
  };

  return {
    $schema: SCHEMA,
    title: { text: options.title ?? 'Confusion matrix', fontSize: 16 },
    data: { values },
    width: side,
    height: side,
    encoding: {
      x: {
        field: 'predicted',
        type: 'ordinal',
        sort: names,
        title: 'predicted',
        axis,
      },
      y: { field: 'true', type: 'ordinal', sort: names, title: 'true', axis },
    },
    layer: [
      {
        mark: { type: 'rect' },
        encoding: {
          color: {
            field: 'count',
            type: 'quantitative',
            title: 'count',
            // A square-root scale, so the few confusions off the diagonal still show.
            scale: {
              type: 'sqrt',
              domain: [0, Math.max(max, 1)],
              range: ['#ffffff', '#08519c'],
              interpolate: 'rgb',
            },
          },
        },
      },
      {
        mark: { type: 'text', fontSize: K > 12 ? 8 : 11 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          // Light text on the dark cells, dark text elsewhere.
          color: {
            condition: [
              { test: 'datum.count === 0', value: '#aaa' },
              { test: `datum.count > ${0.3 * max}`, value: 'white' },
            ],
            value: 'black',
          },
        },
      },
    ],
  };
}

/**
 * A confusion matrix heatmap with each count written in its cell; rows are the true class (axis
 * `true`), columns the predicted class (axis `predicted`).
 *
 * @param matrix counts `[true][predicted]`, square `[K, K]`, every entry a finite count >= 0.
 * @param classNames `K` distinct names; defaults to `0`..`K-1`.
 * @throws ShapeError when `matrix` is empty, not square or ragged.
 * @throws ValueError when an entry is not a finite count >= 0 or `classNames` does not fit.
 */
export function confusionMatrixPlot(
  matrix: readonly (readonly number[])[],
  classNames?: readonly string[],
  options: ConfusionMatrixPlotOptions = {},
): Promise<string> {
  return renderSpec(confusionMatrixSpec(matrix, classNames, options));
}

// ---------------------------------------------------------------------------------------------
// Validation and small helpers

function checkArray(op: string, arg: string, a: PlotArray, layout: string): void {
  const rank = layout.split(',').length;
  const shape: unknown = a?.shape;
  if (!Array.isArray(shape) || shape.length !== rank) {
    const actual = Array.isArray(shape) ? `[${shape.join(',')}]` : String(shape);
    throw new ShapeError(
      op,
      arg,
      layout,
      actual,
      `${arg} must have rank ${rank} ${layout}, got shape ${actual}`,
    );
  }
  if (!shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new ShapeError(
      op,
      arg,
      'positive integer dimensions',
      `[${shape.join(',')}]`,
      `${arg} has shape [${shape.join(',')}]; every dimension must be a positive integer`,
    );
  }
  const size = (shape as number[]).reduce((p, d) => p * d, 1);
  if (
    !(a.data instanceof Float32Array || a.data instanceof Float64Array) ||
    a.data.length !== size
  ) {
    const actual =
      a.data instanceof Float32Array || a.data instanceof Float64Array
        ? `${a.data.length} values`
        : String(a.data);
    throw new ShapeError(
      op,
      arg,
      `${size} values`,
      actual,
      `${arg} has shape [${shape.join(',')}] (${size} values) but its data has ${actual}`,
    );
  }
}

/** A facet header that labels each panel `name k` and has no title of its own. */
function header(name: string, labelAngle?: number) {
  return {
    labelExpr: `'${name} ' + datum.value`,
    title: null,
    labelFontSize: 11,
    ...(labelAngle === undefined ? {} : { labelAngle }),
  };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

function extent(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (!(lo < hi)) return Number.isFinite(lo) ? [lo - 1, lo + 1] : [0, 1];
  return [lo, hi];
}

function maxAbs(values: Iterable<number>): number {
  let bound = 0;
  for (const v of values) if (Number.isFinite(v)) bound = Math.max(bound, Math.abs(v));
  return bound > 0 ? bound : 1;
}
