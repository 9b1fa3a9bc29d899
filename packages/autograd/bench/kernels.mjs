// Micro-benchmark of the kernel backends: GFLOP/s of matmul, and throughput of unfold/fold at
// conv-layer sizes, for the plain TypeScript kernels and the WebAssembly SIMD ones.
// Run: node packages/autograd/bench/kernels.mjs [--quick]
// It transpiles the backend sources on the fly (TypeScript's transpileModule), so it needs no
// build and no other package's sources.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

const quick = process.argv.includes('--quick');
const src = new URL('../src/backend/', import.meta.url);
const dir = await mkdtemp(join(tmpdir(), 'tapegrad-bench-'));
for (const name of ['types', 'js', 'wasm-binary', 'wasm']) {
  const text = await readFile(new URL(`${name}.ts`, src), 'utf8');
  const { outputText } = ts.transpileModule(text, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  });
  await writeFile(join(dir, `${name}.js`), outputText);
}
const { jsBackend } = await import(pathToFileURL(join(dir, 'js.js')).href);
const { createWasmBackend } = await import(pathToFileURL(join(dir, 'wasm.js')).href);
const wasm = await createWasmBackend();

function random(len, seed) {
  const x = new Float32Array(len);
  let s = seed >>> 0;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    x[i] = s / 2 ** 32 - 0.5;
  }
  return x;
}

// Seconds per call, the best over runs of at least `minTime` seconds each, after a warm-up that
// lets the engine tier the code up.
function time(fn, minTime = quick ? 0.05 : 0.2) {
  const t0 = performance.now();
  let warm = 0;
  while (performance.now() - t0 < minTime * 1000 || warm < 2) {
    fn();
    warm++;
  }
  const samples = [];
  for (let r = 0; r < 5; r++) {
    let reps = 0;
    const s = performance.now();
    while (performance.now() - s < minTime * 1000 || reps < 1) {
      fn();
      reps++;
    }
    samples.push((performance.now() - s) / 1000 / reps);
  }
  // The fastest run: the machine is shared, and interference only ever slows a run down.
  return Math.min(...samples);
}

const rows = [];
function row(kernel, shape, unit, js, wasmv) {
  rows.push({ kernel, shape, unit, js, wasm: wasmv, speedup: wasmv / js });
  const f = (v) => v.toFixed(2).padStart(8);
  process.stdout.write(
    `${kernel.padEnd(8)} ${shape.padEnd(40)} ${unit.padEnd(7)} js ${f(js)}  wasm ${f(wasmv)}  x${(wasmv / js).toFixed(1)}\n`,
  );
}

function benchMatmul(batch, m, k, n, transA, transB, skipJs = false) {
  const args = (be) => ({
    a: random(batch * m * k, 1),
    b: random(batch * k * n, 2),
    out: new Float32Array(batch * m * n),
    batch,
    m,
    k,
    n,
    transA,
    transB,
  });
  const flops = 2 * batch * m * k * n;
  const aj = args(jsBackend);
  const aw = args(wasm);
  const tw = time(() => wasm.matmul(aw));
  const tj = skipJs ? NaN : time(() => jsBackend.matmul(aj), quick ? 0.05 : 0.5);
  const shape = `${batch > 1 ? `${batch}x` : ''}[${m},${k}]${transA ? 'T' : ''} @ [${k},${n}]${transB ? 'T' : ''}`;
  row('matmul', shape, 'GFLOP/s', flops / tj / 1e9, flops / tw / 1e9);
}

for (const [ta, tb] of [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
]) {
  benchMatmul(1, 256, 256, 256, ta, tb);
}
benchMatmul(1, 1024, 1024, 1024, false, false);
benchMatmul(1, 1024, 1024, 1024, true, true);
// The shapes a LeNet-style conv layer hands to matmul (weights @ columns, per image and
// batched), and a dense layer.
benchMatmul(64, 6, 25, 576, false, false);
benchMatmul(1, 16, 150, 64 * 64, false, false);
benchMatmul(1, 64, 400, 120, false, true);

function geometry(n, c, h, w, kh, kw, s, p) {
  const oh = Math.floor((h + 2 * p - (kh - 1) - 1) / s) + 1;
  const ow = Math.floor((w + 2 * p - (kw - 1) - 1) / s) + 1;
  return { n, c, h, w, kh, kw, sh: s, sw: s, ph: p, pw: p, dh: 1, dw: 1, oh, ow };
}

function benchWindow(g) {
  const lenX = g.n * g.c * g.h * g.w;
  const lenC = g.n * g.c * g.kh * g.kw * g.oh * g.ow;
  const x = random(lenX, 3);
  const cols = random(lenC, 4);
  const outC = new Float32Array(lenC);
  const outX = new Float32Array(lenX);
  const shape = `[${g.n},${g.c},${g.h},${g.w}] k${g.kh} s${g.sh} p${g.ph}`;
  // Throughput in G elements of the column matrix per second.
  const ju = time(() => jsBackend.unfold(x, outC, g));
  const wu = time(() => wasm.unfold(x, outC, g));
  row('unfold', shape, 'Gelem/s', lenC / ju / 1e9, lenC / wu / 1e9);
  const jf = time(() => jsBackend.fold(cols, outX, g));
  const wf = time(() => wasm.fold(cols, outX, g));
  row('fold', shape, 'Gelem/s', lenC / jf / 1e9, lenC / wf / 1e9);
}

benchWindow(geometry(64, 1, 28, 28, 5, 5, 1, 0));
benchWindow(geometry(64, 1, 28, 28, 5, 5, 1, 2));
benchWindow(geometry(32, 6, 14, 14, 5, 5, 1, 0));
benchWindow(geometry(64, 8, 28, 28, 3, 3, 1, 1));
benchWindow(geometry(64, 16, 14, 14, 3, 3, 2, 1));
