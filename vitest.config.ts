import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string, entry = 'index.ts') =>
  fileURLToPath(new URL(`./packages/${pkg}/src/${entry}`, import.meta.url));

export default defineConfig({
  resolve: {
    // Tests run against the sources, so a test never sees a stale dist/.
    // Exact matches, so the subpath '@tapegrad/nn/node' maps to its own entry instead of being
    // appended to the main entry's path.
    alias: [
      { find: /^@tapegrad\/autograd$/, replacement: src('autograd') },
      { find: /^@tapegrad\/nn$/, replacement: src('nn') },
      { find: /^@tapegrad\/nn\/node$/, replacement: src('nn', 'node/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
