// The built packages (dist/, ES modules) in headless Chromium, through packages/examples/browser.
// The root `pnpm test` builds them first. Missing Chromium or dist/ is a failure, never a skip.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowserHarness, type BrowserHarness } from '../browser/harness.js';

let harness: BrowserHarness | undefined;

beforeAll(async () => {
  harness = await openBrowserHarness();
});

afterAll(async () => {
  await harness?.close();
});

function runInBrowser(moduleSource: string): Promise<unknown> {
  if (harness === undefined) throw new Error('the browser harness did not start');
  return harness.runInBrowser(moduleSource);
}

interface TrainOptions {
  backend: 'js' | 'wasm';
  seed: number;
  steps: number;
}

interface TrainResult {
  backend: string;
  losses: number[];
  /** The sum of every parameter after each step: a cheap fingerprint of the weights. */
  checksums: number[];
}

// Float32 agreement: the same code on the same V8 arithmetic should agree to the last bit, but
// the test only asks for float32 rounding.
const FLOAT32_RTOL = 1e-5;

/**
 * The training run, as plain JavaScript source: it must run unchanged in the page and in Node.js,
 * so it is a string (vitest transforms functions in this file), with `ag` and `nn` the two
 * packages. A fixed batch of 12 grey 12x12 images in 3 classes (a horizontal bar, a vertical bar,
 * the diagonal) with a little noise, all from seeded generators; PaperCNN with a 3x3 convolution
 * of 4 filters, max pooling, one hidden layer of 16; SGD with momentum on the same batch.
 */
const TRAIN_SOURCE = `
import * as ag from '@tapegrad/autograd';
import * as nn from '@tapegrad/nn';

async function train(options) {
  const previous = ag.getBackend();
  ag.setBackend(options.backend === 'wasm' ? await ag.createWasmBackend() : ag.jsBackend);
  try {
    const rng = new ag.Rng(options.seed);
    const n = 12;
    const size = 12;
    const data = new Float32Array(n * size * size);
    const labels = [];
    for (let i = 0; i < n; i++) {
      const label = i % 3;
      labels.push(label);
      const at = 2 + rng.int(8);
      for (let r = 0; r < size; r++) {
        for (let c = 0; c < size; c++) {
          const on = label === 0 ? r === at : label === 1 ? c === at : r === c;
          data[(i * size + r) * size + c] = (on ? 1 : 0) + 0.1 * rng.uniform();
        }
      }
    }
    const x = new ag.Tensor(data, [n, 1, size, size]);
    const model = new nn.PaperCNN({
      inputSize: size, kernelSize: 3, filters: 4, hidden: [16], classes: 3, seed: options.seed,
    });
    const optimizer = new nn.SGD(model, { lr: 0.1, momentum: 0.9 });
    const losses = [];
    const checksums = [];
    for (let step = 0; step < options.steps; step++) {
      const loss = model.loss(x, labels);
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
      losses.push(loss.item());
      let sum = 0;
      for (const p of model.parameters()) for (const v of p.data) sum += v;
      checksums.push(sum);
    }
    return { backend: ag.getBackend().name, losses, checksums };
  } finally {
    ag.setBackend(previous);
  }
}
`;

const EXAMPLES = fileURLToPath(new URL('..', import.meta.url));

function trainInBrowser(options: TrainOptions): Promise<TrainResult> {
  return runInBrowser(
    `${TRAIN_SOURCE}\nexport default () => train(${JSON.stringify(options)});`,
  ) as Promise<TrainResult>;
}

/**
 * The same source in a plain `node` process (not vitest's module runner, which maps the package
 * names to the TypeScript sources), run from packages/examples so the bare package names resolve
 * to the built dist/ through node_modules, as the page's import map does.
 */
function trainInNode(options: TrainOptions): Promise<TrainResult> {
  const source = `${TRAIN_SOURCE}\nprocess.stdout.write(JSON.stringify(await train(${JSON.stringify(options)})));`;
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '--eval', source],
      { cwd: EXAMPLES, encoding: 'utf8', timeout: 60_000 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`training in Node.js failed: ${error.message}\n${stderr}`));
        else resolve(JSON.parse(stdout) as TrainResult);
      },
    );
  });
}

function expectClose(actual: number[], expected: number[], rtol: number): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => {
    const tol = rtol * Math.max(1, Math.abs(expected[i]!));
    if (!(Math.abs(a - expected[i]!) <= tol)) {
      throw new Error(`entry ${i}: ${a} vs ${expected[i]} differ by more than ${tol}`);
    }
  });
}

describe('browser', () => {
  it('runs a plain ES module in the page', async () => {
    const result = await runInBrowser(
      `export default () => ({ sum: 1 + 2, ua: navigator.userAgent });`,
    );
    expect(result).toMatchObject({ sum: 3 });
    expect((result as { ua: string }).ua).toContain('Chrome');
  });

  it('reports an error thrown in the page', async () => {
    await expect(runInBrowser(`throw new Error('boom in the page');`)).rejects.toThrow(
      /boom in the page/,
    );
  });

  it('imports @tapegrad/autograd from its built dist', async () => {
    const result = (await runInBrowser(`
      import * as autograd from '@tapegrad/autograd';
      export default () => ({ type: typeof autograd, exports: Object.keys(autograd).sort() });
    `)) as { type: string; exports: string[] };
    expect(result.type).toBe('object');
    // The same names as the Node.js build of the same dist/.
    const node = await import('../../autograd/dist/index.js');
    expect(result.exports).toEqual(Object.keys(node).sort());
  });

  it('imports @tapegrad/nn from its built dist', async () => {
    const result = await runInBrowser(`
      import * as nn from '@tapegrad/nn';
      export default () => typeof nn;
    `);
    expect(result).toBe('object');
  });

  // TRAINING STEPS: a small PaperCNN trained for a few SGD steps on a fixed synthetic batch, in
  // the page and in a plain Node.js process, from the same source and the same built dist/.
  describe('training a small CNN', () => {
    const STEPS = 10;
    let nodeJs: TrainResult;
    let pageJs: TrainResult;

    beforeAll(async () => {
      [nodeJs, pageJs] = await Promise.all([
        trainInNode({ backend: 'js', seed: 3, steps: STEPS }),
        trainInBrowser({ backend: 'js', seed: 3, steps: STEPS }),
      ]);
    });

    it('trains in the page: finite losses, and the last is lower than the first', () => {
      expect(pageJs.backend).toBe('js');
      expect(pageJs.losses).toHaveLength(STEPS);
      for (const loss of pageJs.losses) expect(Number.isFinite(loss)).toBe(true);
      expect(pageJs.losses.at(-1)!).toBeLessThan(pageJs.losses[0]! * 0.8);
    });

    it('the page and Node.js give the same losses and weights (same seeds, same dist/)', () => {
      expect(nodeJs.backend).toBe('js');
      expectClose(pageJs.losses, nodeJs.losses, FLOAT32_RTOL);
      expectClose(pageJs.checksums, nodeJs.checksums, FLOAT32_RTOL);
    });

    it('trains in the page with the WebAssembly backend (async createWasmBackend)', async () => {
      // createWasmBackend compiles asynchronously, which a browser's main thread requires of
      // larger modules. A failure here (no WebAssembly SIMD, a refused compile) is reported as
      // the page's error, not skipped.
      const [page, node] = await Promise.all([
        trainInBrowser({ backend: 'wasm', seed: 3, steps: STEPS }),
        trainInNode({ backend: 'wasm', seed: 3, steps: STEPS }),
      ]);
      expect(page.backend).toBe('wasm');
      for (const loss of page.losses) expect(Number.isFinite(loss)).toBe(true);
      expect(page.losses.at(-1)!).toBeLessThan(page.losses[0]! * 0.8);
      // The same kernels in both engines; against the js backend only to float32 rounding of a
      // different summation order, which ten steps of SGD amplify a little.
      expect(node.backend).toBe('wasm');
      expectClose(page.losses, node.losses, FLOAT32_RTOL);
      expectClose(page.losses, pageJs.losses, 1e-3);
    });
  });
});
