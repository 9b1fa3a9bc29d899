// `pnpm bench`: tapegrad beside TensorFlow.js (cpu and wasm backends), ConvNetJS and PyTorch
// (when /usr/bin/python3 imports torch) on the same MNIST digits, batch order and initial
// weights. Every measurement runs in a child process of its own, and the rounds interleave the
// systems (A B C A B C), so a noisy stretch of the machine spreads over all of them.
//
//   node bench/run.mjs [--rounds N] [--quick] [--out DIR] [--systems a,b,...]
//
// Writes bench-results.json and bench-results.md to --out (default bench/results/) and prints
// the Markdown to stdout.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '@tapegrad/autograd';
import { initParameter } from '@tapegrad/nn';
import { loadMnist } from '../dist/data.js';
import { CONV_FLOPS, LR, paramShapes } from './common.mjs';

const here = fileURLToPath(new URL('.', import.meta.url));

function parseArgs(argv) {
  const o = { rounds: 3, quick: false, all: false, out: join(here, 'results'), systems: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--all') o.all = true;
    else if (a === '--rounds') o.rounds = Number(argv[++i]);
    else if (a === '--out') o.out = resolve(argv[++i]);
    else if (a === '--systems') o.systems = argv[++i].split(',');
    else if (a === '--help') {
      process.stdout.write(
        'node bench/run.mjs [--rounds N] [--quick] [--all] [--out DIR] [--systems a,b]\n',
      );
      process.exit(0);
    } else throw new Error(`bench: unknown argument ${a}`);
  }
  if (!Number.isInteger(o.rounds) || o.rounds < 1)
    throw new Error(`bench: --rounds must be an integer >= 1, got ${o.rounds}`);
  if (o.quick && !argv.includes('--rounds')) o.rounds = 1;
  return o;
}

const args = parseArgs(process.argv.slice(2));
const quick = args.quick;
const config = {
  seed: 1,
  trainSize: quick ? 500 : 2000,
  testSize: quick ? 250 : 500,
  accuracyBatch: 32,
  memorySteps: quick ? 300 : 1000,
  timing: quick
    ? { warm: 0.1, warmSteps: 1, seconds: 0.25, minSteps: 2 }
    : { warm: 0.3, warmSteps: 1, seconds: 0.8, minSteps: 2 },
};

// Measurements too slow to repeat: tfjs-cpu's Conv2DBackpropFilter and Conv2DBackpropInput
// kernels read every element through TensorBuffer.get, so LENET trains at about 2 images/s
// (16 s a step at batch 32) and the conv2d figure takes 30 s a call. 'once': one timed call in
// round 1, no warm-up; 'skip': not run, with a line saying so. --all runs everything every round.
const SLOW = {
  'tfjs-cpu': {
    'train:lenet:32': 'once',
    'train:lenet:64': 'skip',
    'infer:lenet:256': 'once',
    conv: 'once',
    'accuracy:lenet': 'skip',
  },
  // The same arithmetic as tapegrad (the plain kernels instead of the wasm ones); its PAPER
  // accuracy is checked, LENET would add 40 s for no new information.
  'tapegrad-js': { 'accuracy:lenet': 'skip' },
};
// --quick is a smoke run: it also leaves out what takes more than a few seconds.
const QUICK_SKIP = {
  'tfjs-cpu': ['train:lenet:32', 'conv', 'matmul:1024', 'accuracy:paper'],
  'tapegrad-js': ['train:lenet:32', 'conv', 'matmul:1024'],
  convnetjs: ['conv', 'accuracy:lenet'],
};
const ONCE_TIMING = { warm: 0, warmSteps: 0, seconds: 0, minSteps: 1 };
// Figures a system does not have: tapegrad-2t is data-parallel training, so its inference, conv2d
// and matmul figures would be tapegrad's on one thread again.
const NOT_APPLICABLE = {
  'tapegrad-2t': ['infer:paper:256', 'infer:lenet:256', 'conv', 'matmul:256', 'matmul:1024'],
};

function policy(system, task) {
  if (NOT_APPLICABLE[system]?.includes(task)) return 'na';
  if (args.all) return 'run';
  if (quick && QUICK_SKIP[system]?.includes(task)) return 'skip';
  return SLOW[system]?.[task] ?? 'run';
}

// PyTorch: Debian's python3-torch, with the OpenMP OpenBLAS (the default alternative may be the
// reference BLAS, several times slower).
const PYTHON = '/usr/bin/python3';
const OPENBLAS = '/usr/lib/x86_64-linux-gnu/openblas-openmp';
const torchEnv = { ...process.env, LD_LIBRARY_PATH: OPENBLAS, OMP_NUM_THREADS: '2' };

function torchVersion() {
  const r = spawnSync(PYTHON, ['-c', 'import torch, numpy; print(torch.__version__)'], {
    env: torchEnv,
    encoding: 'utf8',
  });
  return r.status === 0 ? r.stdout.trim() : null;
}

// ---- the work folder: digits, batch order and initial weights, read by every worker ----------

function prepare(work) {
  mkdirSync(work, { recursive: true });
  const { train, test } = loadMnist({
    trainSize: config.trainSize,
    testSize: config.testSize,
    seed: config.seed,
  });
  const write = (name, array) =>
    writeFileSync(
      join(work, name),
      new Uint8Array(array.buffer, array.byteOffset, array.byteLength),
    );
  write('train-images.f32', Float32Array.from(train.images.data));
  write('train-labels.i32', train.labels);
  write('test-images.f32', Float32Array.from(test.images.data));
  write('test-labels.i32', test.labels);
  write('order.i32', Int32Array.from(new Rng(config.seed + 1).permutation(train.size)));
  // One set of initial weights per network (tapegrad's Kaiming-uniform, zero biases), loaded by
  // every system, so their accuracies differ only by arithmetic, not by luck of the draw.
  for (const model of ['paper', 'lenet']) {
    const rng = new Rng(config.seed + 2);
    const parts = paramShapes(model).map(
      ([name, shape]) =>
        initParameter(shape, name.endsWith('bias') ? 'zeros' : 'kaimingUniform', { rng }).data,
    );
    const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      all.set(p, offset);
      offset += p.length;
    }
    write(`init-${model}.f32`, all);
  }
  writeFileSync(
    join(work, 'plan.json'),
    JSON.stringify({ ...config, lr: LR, trainCount: train.size, testCount: test.size }),
  );
}

// ---- child processes ---------------------------------------------------------------------------

let childCount = 0;
/** once[task] = systems measured once (SLOW). */
const once = {};
const log = [];

function runChild(system, task, work, timingOverride = null) {
  const result = join(work, `result-${childCount++}.json`);
  const timing = JSON.stringify(timingOverride ?? config.timing);
  const isTorch = system.startsWith('torch');
  const [cmd, argv, env] = isTorch
    ? [PYTHON, [join(here, 'torch_worker.py'), system, task, work, result, timing], torchEnv]
    : system === 'wasm-simd-peak'
      ? [process.execPath, [join(here, 'peak.mjs'), result, timing], process.env]
      : [
          process.execPath,
          [
            ...(task.startsWith('memory') ? ['--expose-gc'] : []),
            join(here, 'worker.mjs'),
            system,
            task,
            work,
            result,
            timing,
          ],
          process.env,
        ];
  const t0 = performance.now();
  const r = spawnSync(cmd, argv, { env, encoding: 'utf8', timeout: 600_000 });
  const wall = (performance.now() - t0) / 1000;
  log.push(`## ${system} ${task} (${wall.toFixed(1)} s, exit ${r.status})\n${r.stdout}${r.stderr}`);
  process.stderr.write(
    `  ${system.padEnd(14)} ${task.padEnd(16)} ${wall.toFixed(1).padStart(5)} s`,
  );
  if (r.status !== 0) {
    process.stderr.write(`  FAILED\n${r.stderr.split('\n').slice(-8).join('\n')}\n`);
    return { system, task, error: (r.stderr || String(r.error)).trim().split('\n').slice(-3) };
  }
  const out = JSON.parse(readFileSync(result, 'utf8'));
  const shown = out.value ?? out.accuracy;
  process.stderr.write(shown == null ? '\n' : `  ${Number(shown).toFixed(3)} ${out.unit ?? ''}\n`);
  return out;
}

// ---- the plan of a run -------------------------------------------------------------------------

const FIGURES = [
  { task: 'train:paper:32', label: 'PAPER train, batch 32', unit: 'images/s' },
  { task: 'train:paper:64', label: 'PAPER train, batch 64', unit: 'images/s' },
  { task: 'train:lenet:32', label: 'LENET train, batch 32', unit: 'images/s' },
  { task: 'train:lenet:64', label: 'LENET train, batch 64', unit: 'images/s' },
  { task: 'infer:paper:256', label: 'PAPER inference, batch 256', unit: 'images/s' },
  { task: 'infer:lenet:256', label: 'LENET inference, batch 256', unit: 'images/s' },
  { task: 'conv', label: 'conv2d fwd+bwd 64x16->32 3x3 p1 28x28', unit: 'GFLOP/s' },
  { task: 'matmul:256', label: 'matmul 256', unit: 'GFLOP/s' },
  { task: 'matmul:1024', label: 'matmul 1024', unit: 'GFLOP/s' },
];

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'n/a';
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function main() {
  const version = torchVersion();
  const all = ['tapegrad', 'tapegrad-2t', 'tapegrad-js', 'tfjs-cpu', 'tfjs-wasm', 'convnetjs'];
  if (version) all.push('torch-2t', 'torch-1t');
  const systems = args.systems ? all.filter((s) => args.systems.includes(s)) : all;
  if (!systems.includes('tapegrad')) systems.unshift('tapegrad');
  const notes = [];
  if (!version)
    notes.push(`PyTorch skipped: ${PYTHON} cannot import torch (install python3-torch).`);
  const work = join(args.out, 'work');
  rmSync(work, { recursive: true, force: true });
  prepare(work);
  const started = Date.now();
  const figures = quick
    ? FIGURES.filter(
        (f) =>
          !['train:paper:64', 'train:lenet:64', 'infer:lenet:256', 'matmul:256'].includes(f.task),
      )
    : FIGURES;

  // samples[task][system] = values, one per round; rss[task][system] = peak RSS per round.
  const samples = {};
  const rss = {};
  const failures = [];
  const peaks = { 'wasm-simd-peak': [], 'torch-peak-1t': [] };
  const childNotes = new Set();
  const skipped = [];
  const loads = [];
  for (let round = 1; round <= args.rounds; round++) {
    process.stderr.write(`round ${round}/${args.rounds}\n`);
    loads.push(loadavg()[0]);
    for (const f of figures) {
      for (const system of systems) {
        const p = policy(system, f.task);
        if (p === 'na') continue;
        if (p === 'skip' || (p === 'once' && round > 1)) {
          if (round === 1) skipped.push(`${system} ${f.task}`);
          continue;
        }
        const r = runChild(system, f.task, work, p === 'once' ? ONCE_TIMING : null);
        if (p === 'once') (once[f.task] ??= new Set()).add(system);
        if (r.error) failures.push(r);
        ((samples[f.task] ??= {})[system] ??= []).push(r.value ?? null);
        ((rss[f.task] ??= {})[system] ??= []).push(r.peakRssMb ?? null);
        for (const n of r.notes ?? []) childNotes.add(`${system}: ${n}`);
      }
      if (f.task === 'matmul:1024') {
        peaks['wasm-simd-peak'].push(runChild('wasm-simd-peak', 'peak', work).value ?? null);
        if (version) peaks['torch-peak-1t'].push(runChild('torch-1t', 'peak', work).value ?? null);
      }
    }
  }

  process.stderr.write('accuracy after one epoch\n');
  const accuracy = {};
  for (const model of ['paper', 'lenet'])
    for (const system of systems) {
      if (policy(system, `accuracy:${model}`) === 'skip') {
        skipped.push(`${system} accuracy:${model}`);
        continue;
      }
      const r = runChild(system, `accuracy:${model}`, work);
      if (r.error) failures.push(r);
      (accuracy[model] ??= {})[system] = r;
    }

  process.stderr.write('memory over training steps\n');
  const memory = runChild('tapegrad', `memory:${config.memorySteps}`, work);
  loads.push(loadavg()[0]);
  if (skipped.length)
    notes.push(
      `Not run (too slow to fit the run; --all runs them): ${skipped.join(', ')}. Marked * : ` +
        'one timed call in round 1 only, without warm-up.',
    );

  const results = summarise(figures, systems, samples, rss);
  const peak = Object.fromEntries(
    Object.entries(peaks)
      .filter(([, v]) => v.length > 0 && v.some((x) => x !== null))
      .map(([k, v]) => [k, stats(v)]),
  );
  const targets = checkTargets(results, peak, memory);
  const report = {
    meta: {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      torch: version,
      rounds: args.rounds,
      quick,
      seconds: (Date.now() - started) / 1000,
      loadAverage: loads,
      config,
      conv2dFlops: CONV_FLOPS,
    },
    systems,
    results,
    peak,
    accuracy,
    memory,
    targets,
    once: Object.fromEntries(Object.entries(once).map(([k, v]) => [k, [...v]])),
    notes: [...notes, ...childNotes, ...staticNotes()],
    failures,
  };
  mkdirSync(args.out, { recursive: true });
  const md = markdown(report, figures);
  writeFileSync(join(args.out, 'bench-results.json'), JSON.stringify(report, null, 2));
  writeFileSync(join(args.out, 'bench-results.md'), md);
  writeFileSync(join(args.out, 'bench-log.txt'), log.join('\n'));
  process.stdout.write(md);
}

function stats(values) {
  const v = values.filter((x) => x !== null && x !== undefined);
  if (v.length === 0) return { median: null, min: null, max: null, samples: values };
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), samples: values };
}

function summarise(figures, systems, samples, rss) {
  const out = {};
  for (const f of figures) {
    const base = stats(samples[f.task]?.tapegrad ?? []).median;
    out[f.task] = {};
    for (const s of systems) {
      const st = stats(samples[f.task]?.[s] ?? []);
      out[f.task][s] = {
        ...st,
        unit: f.unit,
        ratioToTapegrad: st.median !== null && base ? st.median / base : null,
        peakRssMb: stats(rss[f.task]?.[s] ?? []).max,
      };
    }
  }
  return out;
}

function checkTargets(results, peak, memory) {
  const get = (task, s) => results[task]?.[s]?.median ?? null;
  const ratio = (task, other) => {
    const a = get(task, 'tapegrad');
    const b = get(task, other);
    return a !== null && b ? a / b : null;
  };
  const t = [];
  const add = (name, value, goal, detail) =>
    t.push({ name, value, goal, met: value === null ? null : value >= goal, detail });
  add('PAPER train b32: tapegrad / tfjs-wasm', ratio('train:paper:32', 'tfjs-wasm'), 2, '>= 2x');
  add('PAPER train b32: tapegrad / torch-2t', ratio('train:paper:32', 'torch-2t'), 0.5, '>= 0.5x');
  for (const b of [32, 64])
    if (results[`train:lenet:${b}`])
      add(
        `LENET train b${b}: tapegrad / tfjs-wasm`,
        ratio(`train:lenet:${b}`, 'tfjs-wasm'),
        2,
        '>= 2x',
      );
  // The same goals for tapegrad-2t, data-parallel over the machine's 2 cores.
  const ratio2t = (task, other) => {
    const a = get(task, 'tapegrad-2t');
    const b = get(task, other);
    return a !== null && b ? a / b : null;
  };
  if (results['train:paper:32']?.['tapegrad-2t']) {
    add(
      'PAPER train b32: tapegrad-2t / tfjs-wasm',
      ratio2t('train:paper:32', 'tfjs-wasm'),
      2,
      '>= 2x',
    );
    add(
      'PAPER train b32: tapegrad-2t / torch-2t',
      ratio2t('train:paper:32', 'torch-2t'),
      0.5,
      '>= 0.5x',
    );
    for (const b of [32, 64])
      if (results[`train:lenet:${b}`])
        add(
          `LENET train b${b}: tapegrad-2t / tfjs-wasm`,
          ratio2t(`train:lenet:${b}`, 'tfjs-wasm'),
          2,
          '>= 2x',
        );
  }
  const mm = get('matmul:1024', 'tapegrad');
  for (const [k, label] of [
    ['wasm-simd-peak', 'WebAssembly SIMD mul+add peak, 1 core'],
    ['torch-peak-1t', 'native sgemm 2048 (PyTorch/OpenBLAS), 1 core'],
  ])
    if (peak[k]?.median)
      add(
        `matmul 1024: tapegrad / ${label}`,
        mm === null ? null : mm / peak[k].median,
        0.25,
        '>= 25%',
      );
  const g = memoryGrowth(memory);
  if (g)
    t.push({
      name: `memory: RSS growth from step ${g.from} to ${g.to} (after gc)`,
      value: g.rssMb,
      goal: 'steady',
      // Steady: no growth beyond 2 MB or 2% of the RSS, which is allocator noise, not a leak.
      // A shrinking RSS (the allocator handing pages back) is steady too.
      met: g.rssMb < Math.max(2, 0.02 * g.rssEnd) && g.heapMb < 2,
      detail: `RSS ${fmt(g.rssMb)} MB, heapUsed ${fmt(g.heapMb)} MB`,
    });
  return t;
}

function memoryGrowth(memory) {
  const s = memory?.samples;
  if (!s || s.length < 2) return null;
  const from = s.find((x) => x.step === 200) ?? s[0];
  const to = s[s.length - 1];
  return {
    from: from.step,
    to: to.step,
    rssMb: to.rssMb - from.rssMb,
    heapMb: to.heapUsedMb - from.heapUsedMb,
    rssEnd: to.rssMb,
  };
}

function staticNotes() {
  return [
    'Every system starts from the same initial weights (tapegrad Kaiming-uniform, zero biases), ' +
      'converted to its layout, and trains on the same digits in the same batch order.',
    'tapegrad, tfjs-cpu, tfjs-wasm and convnetjs run on one thread (tfjs-wasm has no threads ' +
      'under Node); torch-2t uses 2 threads, torch-1t one.',
    'tapegrad-2t is tapegrad data-parallel over 2 threads (the main thread and one worker ' +
      'thread, each computing half of every batch; src/parallel.ts). It has training figures ' +
      'only ("not run" elsewhere); its peak RSS includes the worker thread.',
    `conv2d fwd+bwd counts 3 x 2 N C_out H W C_in kH kW = ${(CONV_FLOPS / 1e9).toFixed(3)} GFLOP ` +
      'per call (forward, input gradient, filter gradient); matmul n counts 2 n^3.',
    'Peak RSS is the child process maximum, runtime included (Node about 40-60 MB, Python with ' +
      'torch about 150-250 MB).',
  ];
}

function cell(r, mark = '') {
  if (!r || r.samples?.length === 0) return 'not run';
  if (r.median === null) return 'n/a';
  const range = r.samples.length > 1 ? ` (${fmt(r.min)}-${fmt(r.max)})` : mark;
  const ratio = r.ratioToTapegrad === null ? '' : ` ${r.ratioToTapegrad.toFixed(2)}x`;
  return `${fmt(r.median)}${range}${ratio}`;
}

const pct = (v) => (100 * v).toFixed(1);

function lossSpread(accuracy) {
  let worst = 0;
  for (const runs of Object.values(accuracy)) {
    const base = runs.tapegrad?.trainLoss;
    if (base === undefined) continue;
    for (const r of Object.values(runs))
      if (r.trainLoss !== undefined) worst = Math.max(worst, Math.abs(r.trainLoss - base) / base);
  }
  return worst.toExponential(1);
}

function markdown(report, figures) {
  const { systems, results, accuracy, memory, peak, targets, meta } = report;
  const lines = [];
  lines.push(`# tapegrad benchmark`, '');
  lines.push(
    `${meta.date}, Node ${meta.node}, ${meta.cpu} (${meta.cores} cores), PyTorch ` +
      `${meta.torch ?? 'not available'}; ${meta.rounds} round(s)${meta.quick ? ', --quick' : ''}, ` +
      `${meta.seconds.toFixed(0)} s; 1-minute load average at the start of each round and at ` +
      `the end: ${meta.loadAverage.map((l) => l.toFixed(2)).join(', ')}. Cells: median ` +
      '(min-max over rounds) and the ratio to tapegrad (higher is faster).',
    '',
  );
  const heading = { 'tapegrad-2t': 'tapegrad-2t (data-parallel, 2 threads)' };
  lines.push(`| figure | unit | ${systems.map((s) => heading[s] ?? s).join(' | ')} |`);
  lines.push(`| --- | --- | ${systems.map(() => '---').join(' | ')} |`);
  for (const f of figures)
    lines.push(
      `| ${f.label} | ${f.unit} | ${systems
        .map((s) => cell(results[f.task][s], report.once[f.task]?.includes(s) ? '*' : ''))
        .join(' | ')} |`,
    );
  for (const [task, label] of [
    ['train:paper:32', 'peak RSS, PAPER train b32'],
    ['train:lenet:32', 'peak RSS, LENET train b32'],
  ])
    lines.push(
      `| ${label} | MB | ${systems.map((s) => fmt(results[task][s].peakRssMb)).join(' | ')} |`,
    );
  for (const model of ['paper', 'lenet']) {
    const a = accuracy[model];
    lines.push(
      `| ${model.toUpperCase()} test accuracy, 1 epoch | % | ${systems
        .map((s) => (a[s] === undefined ? 'not run' : a[s].error ? 'failed' : pct(a[s].accuracy)))
        .join(' | ')} |`,
    );
    lines.push(
      `| ${model.toUpperCase()} mean train loss, 1 epoch | | ${systems
        .map((s) =>
          a[s] === undefined ? 'not run' : a[s].error ? 'failed' : a[s].trainLoss.toFixed(5),
        )
        .join(' | ')} |`,
    );
  }
  const first = accuracy.paper.tapegrad;
  lines.push(
    '',
    `Accuracy: one epoch of ${first?.images ?? '?'} training digits (batch ` +
      `${meta.config.accuracyBatch}, SGD lr ${LR}), scored on ${first?.tests ?? '?'} test digits. ` +
      'Same weights, digits and batch order everywhere, so the mean training losses should agree ' +
      `to rounding: the largest relative difference from tapegrad is ${lossSpread(accuracy)}.`,
  );
  lines.push('', '## Machine peak beside matmul', '');
  for (const [k, label] of [
    [
      'wasm-simd-peak',
      'WebAssembly SIMD f32x4 mul+add chains in registers, 1 core (bench/peak.mjs)',
    ],
    ['torch-peak-1t', 'native sgemm 2048x2048, PyTorch + OpenBLAS, 1 thread'],
  ])
    if (peak[k]) lines.push(`- ${label}: ${cell({ ...peak[k], ratioToTapegrad: null })} GFLOP/s`);
  lines.push('', '## Targets', '');
  lines.push('| target | goal | measured | met |', '| --- | --- | --- | --- |');
  for (const t of targets)
    lines.push(
      `| ${t.name} | ${t.detail} | ${t.value === null ? 'n/a' : t.value.toFixed(2)} | ` +
        `${t.met === null ? 'n/a' : t.met ? 'yes' : 'no'} |`,
    );
  if (memory?.samples) {
    lines.push('', `## tapegrad memory, PAPER training at batch 32 (after gc)`, '');
    lines.push('| step | RSS MB | heapUsed MB | external MB |', '| --- | --- | --- | --- |');
    for (const s of memory.samples)
      lines.push(`| ${s.step} | ${fmt(s.rssMb)} | ${fmt(s.heapUsedMb)} | ${fmt(s.externalMb)} |`);
  }
  lines.push('', '## Notes', '');
  for (const n of report.notes) lines.push(`- ${n}`);
  for (const f of report.failures)
    lines.push(`- FAILED ${f.system} ${f.task}: ${(f.error ?? []).join(' / ')}`);
  return `${lines.join('\n')}\n`;
}

main();
