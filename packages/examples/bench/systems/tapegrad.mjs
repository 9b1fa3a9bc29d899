// tapegrad through its public API: the wasm SIMD backend ("tapegrad") or the plain TypeScript
// kernels ("tapegrad-js"); "tapegrad-2t" trains data-parallel over 2 threads (the main thread and
// one worker thread, parameters in a SharedArrayBuffer: src/parallel.ts), training figures only.
import {
  Rng,
  Tensor,
  createWasmBackendSync,
  jsBackend,
  matmul,
  noGrad,
  setBackend,
} from '@tapegrad/autograd';
import {
  Conv2d,
  Flatten,
  Linear,
  MaxPool2d,
  ReLU,
  SGD,
  Sequential,
  Sigmoid,
  conv2d,
  crossEntropy,
} from '@tapegrad/nn';
import { CONV, LR, MODELS, gather, paramShapes } from '../common.mjs';
import { createParallelTrainer } from '../../dist/parallel.js';

function layer(l) {
  switch (l.kind) {
    case 'conv':
      return new Conv2d(l.cin, l.cout, l.k, { padding: l.pad });
    case 'relu':
      return new ReLU();
    case 'sigmoid':
      return new Sigmoid();
    case 'pool':
      return new MaxPool2d({ kernelSize: 2 });
    case 'flatten':
      return new Flatten();
    case 'dense':
      return new Linear(l.in, l.out);
  }
  throw new Error(`unknown layer ${l.kind}`);
}

function images(data, n) {
  return new Tensor(data, [n, 1, 28, 28]);
}

function random(shape, rng) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform() - 0.5;
  return new Tensor(data, shape);
}

/** The network of `model` with fresh weights; also the factory the worker threads call. */
export function buildNet(model) {
  return new Sequential(...MODELS[model].map(layer));
}

function initialised(model, plan) {
  const net = buildNet(model);
  const init = plan.init(model);
  const params = net.parameters();
  paramShapes(model).forEach(([name], i) => params[i].data.set(init[name]));
  return net;
}

/** tapegrad-2t: the same network, data-parallel over `threads` threads. */
export function createParallel(threads) {
  setBackend(createWasmBackendSync());
  const trainers = [];
  return {
    notes: [
      `data-parallel over ${threads} threads: each thread computes forward and backward on its ` +
        'share of the batch, the main thread sums the gradients weighted by share and runs SGD ' +
        'in place on parameters in a SharedArrayBuffer (src/parallel.ts); training only',
    ],
    async: true,
    async build(model, plan) {
      const trainer = await createParallelTrainer({
        threads,
        model: { kind: 'factory', url: import.meta.url, name: 'buildNet', args: [model] },
        instance: initialised(model, plan),
        optimizer: (net) => new SGD(net, { lr: LR }),
      });
      trainers.push(trainer);
      return {
        trainStep(indices) {
          const x = images(gather(plan.trainImages, indices), indices.length);
          return trainer.step(
            x,
            indices.map((j) => plan.trainLabels[j]),
          );
        },
        predict(indices) {
          const x = images(gather(plan.testImages, indices), indices.length);
          return noGrad(() => trainer.model.forward(x)).data;
        },
      };
    },
    async close() {
      await Promise.all(trainers.map((t) => t.close()));
    },
    conv: null,
    matmul: null,
  };
}

export function create(variant) {
  setBackend(variant === 'js' ? jsBackend : createWasmBackendSync());
  return {
    notes: [],
    build(model, plan) {
      const net = initialised(model, plan);
      const opt = new SGD(net, { lr: LR });
      return {
        trainStep(indices) {
          const x = images(gather(plan.trainImages, indices), indices.length);
          const loss = crossEntropy(
            net.forward(x),
            indices.map((j) => plan.trainLabels[j]),
          );
          opt.zeroGrad();
          loss.backward();
          opt.step();
          return loss.item();
        },
        predict(indices) {
          const x = images(gather(plan.testImages, indices), indices.length);
          return noGrad(() => net.forward(x)).data;
        },
      };
    },
    conv() {
      const rng = new Rng(7);
      const x = random([CONV.n, CONV.cin, CONV.size, CONV.size], rng).requireGrad();
      const w = random([CONV.cout, CONV.cin, CONV.k, CONV.k], rng).requireGrad();
      const gy = random([CONV.n, CONV.cout, CONV.size, CONV.size], rng);
      return () => {
        x.grad = null;
        w.grad = null;
        conv2d(x, w, null, { padding: CONV.pad }).backward(gy);
      };
    },
    matmul(n) {
      const rng = new Rng(8);
      const a = random([n, n], rng);
      const b = random([n, n], rng);
      return () => noGrad(() => matmul(a, b));
    },
  };
}
