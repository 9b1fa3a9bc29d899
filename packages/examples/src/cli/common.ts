/** What the command-line scripts share: option parsing with one-line errors, and the backend. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { TapegradError, createWasmBackendSync, jsBackend, setBackend } from '@tapegrad/autograd';

/** An error the user caused: printed as one line, exit code 2, no stack trace. */
export class UsageError extends Error {}

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` strictly; unknown options and missing values become a UsageError. */
export function parseOptions<T extends OptionSpec>(
  argv: string[],
  options: T,
): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>['values'] {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    // parseArgs puts its hint (how to pass a value starting with '-') on later lines; keep it,
    // on the one line an error gets.
    throw new UsageError((err as Error).message.split('\n').join(' '));
  }
}

/**
 * A script's options from its command line (pnpm passes a literal `--` through, which is
 * dropped), or `null` after printing `help` for `--help`.
 */
export function parseCommandLine<T extends OptionSpec>(
  options: T,
  help: string,
): ReturnType<typeof parseOptions<T>> | null {
  const values = parseOptions(
    process.argv.slice(2).filter((a) => a !== '--'),
    options,
  );
  if ((values as { help?: unknown }).help === true) {
    process.stdout.write(help);
    return null;
  }
  return values;
}

/** The values a number option accepts: `min <= v <= max`, and `v > above` when given. */
export interface Range {
  min?: number;
  above?: number;
  max?: number;
}

/** A number option: integer or float, within a range (a bare number is the minimum). */
export function numberOption(
  name: string,
  raw: string | undefined,
  fallback: number,
  kind: 'int' | 'float',
  range: number | Range,
): number {
  if (raw === undefined) return fallback;
  const {
    min = -Infinity,
    above = -Infinity,
    max = Infinity,
  } = typeof range === 'number' ? { min: range } : range;
  const v = Number(raw);
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(v) &&
    (kind === 'float' || Number.isInteger(v)) &&
    v >= min &&
    v > above &&
    v <= max;
  if (!ok) {
    const what = kind === 'int' ? 'an integer' : 'a number';
    const bounds =
      min > -Infinity && max < Infinity
        ? ` in [${min}, ${max}]`
        : [
            min > -Infinity ? ` >= ${min}` : '',
            above > -Infinity ? ` > ${above}` : '',
            max < Infinity ? ` <= ${max}` : '',
          ].join('');
    throw new UsageError(`--${name} must be ${what}${bounds}, got '${raw}'`);
  }
  return v;
}

/** One of a fixed set of words. */
export function choiceOption<C extends string>(
  name: string,
  raw: string | undefined,
  fallback: C,
  choices: readonly C[],
): C {
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw))
    throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${raw}'`);
  return raw as C;
}

export type BackendName = 'wasm' | 'js';

/** Reads `--backend` (wasm by default), installs it and returns its name. */
export function backendOption(raw: string | undefined): BackendName {
  const name = choiceOption('backend', raw, 'wasm', ['wasm', 'js'] as const);
  useBackend(name);
  return name;
}

/** Installs the kernel backend: WebAssembly SIMD (default) or the plain TypeScript one. */
export function useBackend(name: BackendName): void {
  setBackend(name === 'wasm' ? createWasmBackendSync() : jsBackend);
}

/**
 * Runs a script's main function: a UsageError or a library error with bad input prints one line
 * and exits 2; anything else is a bug and keeps its stack trace.
 */
export function runMain(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    if (err instanceof UsageError || err instanceof TapegradError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  });
}
