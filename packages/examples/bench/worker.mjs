// One measurement of one JavaScript system, in a process of its own:
//   node worker.mjs <system> <task> <work folder> <result file> <timing JSON>
// Tasks: train:<model>:<batch>, infer:<model>:<batch>, conv, matmul:<n>, accuracy:<model>,
// memory:<steps>. The result is a JSON file; anything a library prints goes to the runner's log.
import {
  CONV_FLOPS,
  argmaxRow,
  readPlan,
  testIndices,
  timeSteps,
  timeStepsAsync,
  trainIndices,
  writeResult,
} from './common.mjs';

const [system, task, work, resultPath, timingJson] = process.argv.slice(2);
const timing = JSON.parse(timingJson);

async function load(name) {
  if (name === 'tapegrad') return (await import('./systems/tapegrad.mjs')).create('wasm');
  if (name === 'tapegrad-js') return (await import('./systems/tapegrad.mjs')).create('js');
  if (name === 'tapegrad-2t') return (await import('./systems/tapegrad.mjs')).createParallel(2);
  if (name === 'tfjs-cpu') return (await import('./systems/tfjs.mjs')).create('cpu');
  if (name === 'tfjs-wasm') return (await import('./systems/tfjs.mjs')).create('wasm');
  if (name === 'convnetjs') return (await import('./systems/convnetjs.mjs')).create();
  throw new Error(`unknown system ${name}`);
}

/** Trains one epoch over the seeded order (whole batches only), then scores the test digits. */
async function accuracy(sys, plan, model) {
  const net = await sys.build(model, plan);
  const batch = plan.accuracyBatch;
  const steps = Math.floor(plan.order.length / batch);
  const t0 = performance.now();
  let lossSum = 0;
  // A data-parallel system's step returns a promise; awaiting a plain number changes nothing.
  for (let s = 0; s < steps; s++) lossSum += await net.trainStep(trainIndices(plan, batch, s));
  const seconds = (performance.now() - t0) / 1000;
  const n = plan.testLabels.length;
  let correct = 0;
  for (let start = 0; start < n; start += 250) {
    const indices = Array.from({ length: Math.min(250, n - start) }, (_, k) => start + k);
    const logits = net.predict(indices);
    indices.forEach((j, k) => {
      if (argmaxRow(logits, k) === plan.testLabels[j]) correct++;
    });
  }
  return {
    accuracy: correct / n,
    trainLoss: lossSum / steps,
    epochSeconds: seconds,
    images: steps * batch,
    tests: n,
  };
}

// Resident memory and live heap every `every` steps of PAPER training at batch 32, each sample
// taken after a full garbage collection (the process runs with --expose-gc), so a steady figure
// means nothing is retained from step to step.
function memory(sys, plan, steps, every = 100) {
  const net = sys.build('paper', plan);
  const samples = [];
  for (let s = 1; s <= steps; s++) {
    net.trainStep(trainIndices(plan, 32, s - 1));
    if (s % every === 0) {
      globalThis.gc?.();
      const m = process.memoryUsage();
      samples.push({
        step: s,
        rssMb: m.rss / 2 ** 20,
        heapUsedMb: m.heapUsed / 2 ** 20,
        externalMb: m.external / 2 ** 20,
      });
    }
  }
  return { samples, gc: typeof globalThis.gc === 'function' };
}

const sys = await load(system);
const plan = readPlan(work);
const [kind, a, b] = task.split(':');
let result;
if (kind === 'train' || kind === 'infer') {
  const batch = Number(b);
  const net = await sys.build(a, plan);
  const step =
    kind === 'train'
      ? (i) => net.trainStep(trainIndices(plan, batch, i))
      : (i) => net.predict(testIndices(plan, batch, i));
  const { steps, seconds } = sys.async
    ? await timeStepsAsync(step, timing)
    : timeSteps(step, timing);
  result = { value: (steps * batch) / seconds, unit: 'images/s', steps, seconds };
} else if (kind === 'conv') {
  const { steps, seconds } = timeSteps(sys.conv(), timing);
  result = { value: (CONV_FLOPS * steps) / seconds / 1e9, unit: 'GFLOP/s', steps, seconds };
} else if (kind === 'matmul') {
  const n = Number(a);
  if (sys.matmul === null) result = { value: null, unit: 'GFLOP/s', skipped: 'no matmul op' };
  else {
    const { steps, seconds } = timeSteps(sys.matmul(n), timing);
    result = { value: (2 * n ** 3 * steps) / seconds / 1e9, unit: 'GFLOP/s', steps, seconds };
  }
} else if (kind === 'accuracy') {
  result = await accuracy(sys, plan, a);
} else if (kind === 'memory') {
  result = memory(sys, plan, Number(a));
} else throw new Error(`unknown task ${task}`);
writeResult(resultPath, { system, task, notes: sys.notes, ...result });
// The data-parallel system's worker threads would keep this process alive.
await sys.close?.();
