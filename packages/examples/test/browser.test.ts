// The built packages (dist/, ES modules) in headless Chromium, through packages/examples/browser.
// The root `pnpm test` builds them first. Missing Chromium or dist/ is a failure, never a skip.
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

  // TRAINING STEPS: a few steps of a small CNN in the page, reporting the loss. To be filled in
  // once @tapegrad/nn exports the model, loss and optimizer, e.g.
  //   const losses = await runInBrowser(`
  //     import { ... } from '@tapegrad/nn';
  //     export default () => { /* build, run N steps */ return losses; };
  //   `) as number[];
  //   expect(losses.at(-1)).toBeLessThan(losses[0]);
  it.todo('trains a small CNN for a few steps in the page and the loss goes down');
});
