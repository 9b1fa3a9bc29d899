// Runs ES modules that import the built tapegrad packages in headless Chromium.
//
// A node:http static server on 127.0.0.1 (a free port) serves this folder's index.html, whose
// import map points `@tapegrad/autograd` at packages/autograd/dist and `@tapegrad/nn` at
// packages/nn/dist, and each module handed to `runInBrowser`. The page can reach nothing but
// that server. Debian's /usr/bin/chromium is driven by playwright-core, which downloads no
// browser of its own; `chromium.launch` starts it with a fresh, empty profile.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
const SETUP_HINT = 'run `bash scripts/setup.sh` at the repository root';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const PACKAGES = join(HERE, '..', '..');
/** URL prefix → folder served under it. */
const MOUNTS: Record<string, string> = {
  '/autograd/': join(PACKAGES, 'autograd', 'dist'),
  '/nn/': join(PACKAGES, 'nn', 'dist'),
};
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
};

export interface BrowserHarness {
  /** Where the page is served, `http://127.0.0.1:PORT/`. */
  readonly url: string;
  /**
   * Evaluates `moduleSource` as an ES module in the page and returns its result: the module's
   * `default` export, or, when that is a function, what it returns (awaited). The module may
   * `import` `@tapegrad/autograd` and `@tapegrad/nn`. The result crosses to Node.js as
   * structured data (numbers, strings, arrays, plain objects), so return plain values.
   * Rejects with the page's error and any failed requests or console errors.
   */
  runInBrowser(moduleSource: string): Promise<unknown>;
  /** Stops the browser and the server. */
  close(): Promise<void>;
}

/** Throws a message saying what to do when Chromium or the built packages are missing. */
export function checkPrerequisites(): void {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`browser tests need Debian's Chromium at ${CHROMIUM}; ${SETUP_HINT}`);
  }
  for (const [prefix, dir] of Object.entries(MOUNTS)) {
    if (!existsSync(join(dir, 'index.js'))) {
      throw new Error(
        `${join(dir, 'index.js')} (served at ${prefix}) is missing: run \`pnpm run build\``,
      );
    }
  }
}

function startServer(modules: Map<string, string>): Promise<Server> {
  const server = createServer((req, res) => {
    void (async () => {
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
      const send = (status: number, type: string, body: string | Buffer) => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (path === '/' || path === '/index.html') {
        return send(200, MIME['.html']!, await readFile(join(HERE, 'index.html')));
      }
      const run = /^\/run\/([\w-]+)\.js$/.exec(path);
      if (run !== null) {
        const source = modules.get(run[1]!);
        if (source !== undefined) return send(200, MIME['.js']!, source);
        return send(404, 'text/plain', `no module ${path}`);
      }
      for (const [prefix, dir] of Object.entries(MOUNTS)) {
        if (!path.startsWith(prefix)) continue;
        const file = normalize(join(dir, path.slice(prefix.length)));
        if (!file.startsWith(dir + sep)) return send(403, 'text/plain', 'outside the mount');
        const info = await stat(file).catch(() => null);
        if (info === null || !info.isFile()) return send(404, 'text/plain', `not found: ${path}`);
        const type = MIME[extname(file)] ?? 'application/octet-stream';
        return send(200, type, await readFile(file));
      }
      send(404, 'text/plain', `not found: ${path}`);
    })().catch((e: unknown) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String(e));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Starts the server and headless Chromium, and opens the page. */
export async function openBrowserHarness(): Promise<BrowserHarness> {
  checkPrerequisites();
  const modules = new Map<string, string>();
  const server = await startServer(modules);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    const context = await browser.newContext();
    // Only the harness's own server: nothing else is fetched, whatever a module asks for.
    await context.route('**/*', (route) =>
      route.request().url().startsWith(url) ? route.continue() : route.abort(),
    );
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    await page.goto(url);
    await page.waitForFunction('window.tapegradReady === true');
    const opened = browser;
    return {
      url,
      runInBrowser: (source) => run(page, modules, problems, url, source),
      async close() {
        await opened.close();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  } catch (e) {
    await browser?.close();
    server.close();
    throw e;
  }
}

async function run(
  page: Page,
  modules: Map<string, string>,
  problems: string[],
  base: string,
  source: string,
): Promise<unknown> {
  const id = randomUUID();
  modules.set(id, source);
  problems.length = 0;
  try {
    // A string, not a function: a bundler or test runner that rewrites `import()` in this file
    // (vitest does) must not touch the code that runs in the page.
    const moduleUrl = JSON.stringify(`${base}run/${id}.js`);
    return await page.evaluate(`(async () => {
      const value = (await import(${moduleUrl})).default;
      return typeof value === 'function' ? await value() : value;
    })()`);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const extra = problems.length > 0 ? `\n${problems.join('\n')}` : '';
    throw new Error(`runInBrowser: the module failed in Chromium: ${message}${extra}`);
  } finally {
    modules.delete(id);
  }
}
