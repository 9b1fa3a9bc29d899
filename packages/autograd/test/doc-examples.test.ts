/**
 * Every `@example` in the TSDoc of packages/autograd/src and packages/nn/src type-checks against
 * the sources (STYLE lesson 14). Each example becomes a module of its own that imports every
 * public name of both packages (and, for examples under nn's `manual/`, the manual run's names),
 * and the whole set is checked in one TypeScript program with the repository's test settings.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const sources = [join(root, 'packages/autograd/src'), join(root, 'packages/nn/src')];
const manualIndex = join(root, 'packages/nn/src/manual/index.ts');

interface Example {
  /** `path:line` of the `@example` tag. */
  where: string;
  file: string;
  code: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** The `@example` blocks of a file: from the tag to the next tag or the end of the comment. */
function examplesIn(file: string): Example[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s*@example\b/.test(lines[i]!)) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!;
      if (/^\s*\*\//.test(line) || /^\s*\*\s*@\w+/.test(line)) break;
      body.push(line.replace(/^\s*\* ?/, ''));
    }
    const code = body.filter((l) => !/^\s*```/.test(l)).join('\n');
    out.push({ where: `${relative(root, file)}:${i + 1}`, file, code });
    i = j - 1;
  }
  return out;
}

const examples = sources.flatMap(sourceFiles).flatMap(examplesIn);

const configPath = join(root, 'tsconfig.test.json');
const parsed = ts.parseJsonConfigFileContent(
  ts.readConfigFile(configPath, ts.sys.readFile).config,
  ts.sys,
  root,
);
const options: ts.CompilerOptions = { ...parsed.options, noEmit: true };

/** Value and type exports of a module, split because of `verbatimModuleSyntax`. */
function exportsOf(
  checker: ts.TypeChecker,
  program: ts.Program,
  file: string,
): { values: string[]; types: string[] } {
  const sf = program.getSourceFile(file)!;
  const symbol = checker.getSymbolAtLocation(sf)!;
  const values: string[] = [];
  const types: string[] = [];
  for (const s of checker.getExportsOfModule(symbol)) {
    const target = s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s;
    (target.flags & ts.SymbolFlags.Value ? values : types).push(s.name);
  }
  return { values, types };
}

function importLine(names: { values: string[]; types: string[] }, from: string, skip: Set<string>) {
  const list = [
    ...names.values.filter((n) => !skip.has(n)),
    ...names.types.filter((n) => !skip.has(n)).map((n) => `type ${n}`),
  ];
  [...names.values, ...names.types].forEach((n) => skip.add(n));
  return list.length > 0 ? `import { ${list.join(', ')} } from '${from}';\n` : '';
}

/** Type-checks every example; returns the diagnostics by example. */
function checkExamples(): Map<string, string[]> {
  // A first program over the package entries, to learn their public names.
  const entries = [
    join(root, 'packages/autograd/src/index.ts'),
    join(root, 'packages/nn/src/index.ts'),
    manualIndex,
  ];
  const base = ts.createProgram(entries, options);
  const checker = base.getTypeChecker();
  const [autograd, nn, manual] = entries.map((e) => exportsOf(checker, base, e)) as [
    ReturnType<typeof exportsOf>,
    ReturnType<typeof exportsOf>,
    ReturnType<typeof exportsOf>,
  ];

  const virtual = new Map<string, Example>();
  const texts = new Map<string, string>();
  examples.forEach((ex, k) => {
    const path = join(here, `__doc_example_${k}.ts`);
    const seen = new Set<string>();
    let header = importLine(autograd, '@tapegrad/autograd', seen);
    header += importLine(nn, '@tapegrad/nn', seen);
    if (ex.file.startsWith(dirname(manualIndex))) {
      header += importLine(manual, '../../nn/src/manual/index.js', seen);
    }
    texts.set(path, `${header}export {};\n{\n${ex.code}\n}\n`);
    virtual.set(path, ex);
  });

  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => {
    const text = texts.get(resolve(name));
    return text === undefined
      ? getSourceFile(name, lang, ...rest)
      : ts.createSourceFile(name, text, lang, true);
  };
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => texts.has(resolve(name)) || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => texts.get(resolve(name)) ?? readFile(name);

  const program = ts.createProgram([...texts.keys()], options, host, base);
  const byExample = new Map<string, string[]>();
  for (const [path, ex] of virtual) {
    const sf = program.getSourceFile(path)!;
    const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
    byExample.set(
      ex.where,
      diags.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    );
  }
  return byExample;
}

describe('TSDoc examples', () => {
  test('there are examples to check', () => {
    expect(examples.length).toBeGreaterThan(10);
  });

  test('every @example type-checks against the sources', () => {
    const results = checkExamples();
    const failures = [...results].filter(([, d]) => d.length > 0);
    expect(failures, failures.map(([w, d]) => `${w}: ${d.join('; ')}`).join('\n')).toEqual([]);
    expect(results.size).toBe(examples.length);
  });
});
