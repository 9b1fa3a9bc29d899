// Executes every notebook in packages/examples/notebooks headless with the tslab kernel and fails
// naming the notebook and the cell on any error. Notebooks import the built dist/ of the
// workspace packages (tslab resolves them from packages/examples/node_modules), which the root
// `pnpm test` builds first. Missing Jupyter or kernel is a failure, never a skip.
import { spawn, spawnSync } from 'node:child_process';
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const EXAMPLES = fileURLToPath(new URL('..', import.meta.url));
const NOTEBOOKS = join(EXAMPLES, 'notebooks');
const RUNNER = join(EXAMPLES, 'scripts', 'run-notebooks.py');
const JUPYTER = '/usr/bin/jupyter';
const PYTHON = '/usr/bin/python3';
const KERNEL = 'tslab';
const SETUP_HINT = 'run `bash scripts/setup.sh` at the repository root';
// Per notebook; the runner also stops any single cell after 600 s.
const NOTEBOOK_TIMEOUT_MS = 20 * 60_000;

interface RunResult {
  name: string;
  ok: boolean;
  seconds: number;
  cell_index?: number | null;
  cell_id?: string | null;
  cell_source?: string;
  error?: string;
}

const notebooks = existsSync(NOTEBOOKS)
  ? readdirSync(NOTEBOOKS)
      .filter((f) => f.endsWith('.ipynb'))
      .sort()
  : [];

/** Why the notebooks cannot run on this machine, or null when Jupyter and tslab are ready. */
function setupProblem(): string | null {
  if (!existsSync(JUPYTER)) return `${JUPYTER} is missing`;
  const imports = spawnSync(PYTHON, ['-c', 'import nbclient, nbformat, jupyter_client'], {
    encoding: 'utf8',
  });
  if (imports.status !== 0) return `${PYTHON} cannot import nbclient: ${imports.stderr.trim()}`;
  const list = spawnSync(JUPYTER, ['kernelspec', 'list', '--json'], { encoding: 'utf8' });
  if (list.status !== 0) return `jupyter kernelspec list failed: ${list.stderr.trim()}`;
  const specs = JSON.parse(list.stdout) as {
    kernelspecs: Record<string, { spec: { argv: string[] } }>;
  };
  const spec = specs.kernelspecs[KERNEL];
  if (spec === undefined) return `the Jupyter kernel '${KERNEL}' is not registered`;
  const bin = spec.spec.argv[0] ?? '';
  try {
    accessSync(bin, constants.X_OK);
  } catch {
    return `the '${KERNEL}' kernel points at ${bin}, which is not executable`;
  }
  return null;
}

let problem: string | null | undefined;
function requireSetup(): void {
  problem ??= setupProblem();
  if (problem !== null) throw new Error(`notebooks cannot run: ${problem}; ${SETUP_HINT}`);
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: EXAMPLES,
      env: { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

const outDir = mkdtempSync(join(tmpdir(), 'tapegrad-notebooks-'));
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

describe('notebooks', () => {
  it('the notebooks folder has the smoke notebook', () => {
    expect(notebooks).toContain('00-smoke.ipynb');
  });

  it(`jupyter and the ${KERNEL} kernel are installed`, () => {
    requireSetup();
  });

  for (const name of notebooks) {
    it(
      `executes ${name} without errors`,
      async () => {
        requireSetup();
        const report = join(outDir, `${name}.json`);
        const { code, output } = await run(PYTHON, [
          RUNNER,
          '--kernel',
          KERNEL,
          '--timeout',
          '600',
          '--output-dir',
          outDir,
          '--json',
          report,
          join(NOTEBOOKS, name),
        ]);
        if (!existsSync(report)) {
          throw new Error(`${name}: the notebook runner exited ${code} with no report:\n${output}`);
        }
        const [result] = JSON.parse(readFileSync(report, 'utf8')) as RunResult[];
        if (result === undefined || !result.ok) {
          const cell = result?.cell_index == null ? '?' : String(result.cell_index + 1);
          throw new Error(
            `${name}: cell ${cell} (id ${result?.cell_id ?? '?'}) failed\n` +
              `--- source\n${result?.cell_source ?? ''}\n--- error\n${result?.error ?? output}`,
          );
        }
        expect(code).toBe(0);
      },
      NOTEBOOK_TIMEOUT_MS,
    );
  }
});
