// This engine's WebAssembly SIMD ceiling, measured beside the matmul figures: a loop of
// independent f32x4 chains held in registers, with no memory traffic, half multiplies
// (`m = m * x`) and half adds (`a = a + y`), so the core's vector multipliers and adders all stay
// busy whatever its latencies and port layout. Each call starts the chains afresh, so they drift
// by about 2% and never reach a denormal. WebAssembly SIMD has 128-bit vectors and no fused
// multiply-add (that is the relaxed-SIMD proposal), so this is a fraction of the native rate.
//   node peak.mjs <result file> <timing JSON>
import { timeSteps, writeResult } from './common.mjs';

const [resultPath, timingJson] = process.argv.slice(2);
const timing = JSON.parse(timingJson);

// Six of each, with x and y: 14 of the 16 xmm registers, leaving V8 its scratch register.
const CHAINS = 6;

const f32 = (v) => [...new Uint8Array(new Float32Array([v]).buffer)];
const leb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
};
const section = (id, bytes) => [id, ...leb(bytes.length), ...bytes];
const SIMD = 0xfd;
const op = {
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  f32Const: 0x43,
  i32Const: 0x41,
  i32Sub: 0x6b,
  loop: 0x03,
  brIf: 0x0d,
  end: 0x0b,
  splat: [SIMD, 0x13],
  extractLane: [SIMD, 0x1f],
  add: [SIMD, ...leb(228)],
  mul: [SIMD, ...leb(230)],
};

// `peak(n: i32): f32`, locals: 0 = n, 1 = x, 2 = y, 3.. = the multiply chains, then the adds.
function moduleBytes() {
  const m = (c) => 3 + c;
  const a = (c) => 3 + CHAINS + c;
  const body = [1, 2 * CHAINS + 2, 0x7b];
  body.push(op.f32Const, ...f32(1.0000001), ...op.splat, op.localSet, 1);
  body.push(op.f32Const, ...f32(1e-6), ...op.splat, op.localSet, 2);
  body.push(op.f32Const, ...f32(1), ...op.splat);
  for (let c = 0; c < CHAINS; c++) body.push(op.localTee, m(c));
  body.push(op.localSet, a(0));
  body.push(op.loop, 0x40);
  for (let c = 0; c < CHAINS; c++) {
    body.push(op.localGet, m(c), op.localGet, 1, ...op.mul, op.localSet, m(c));
    body.push(op.localGet, a(c), op.localGet, 2, ...op.add, op.localSet, a(c));
  }
  body.push(op.localGet, 0, op.i32Const, 1, op.i32Sub, op.localTee, 0, op.brIf, 0, op.end);
  body.push(op.localGet, m(0));
  for (let c = 1; c < CHAINS; c++) body.push(op.localGet, m(c), ...op.add);
  for (let c = 0; c < CHAINS; c++) body.push(op.localGet, a(c), ...op.add);
  body.push(...op.extractLane, 0, op.end);
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7d]),
    ...section(3, [1, 0]),
    ...section(7, [1, 4, ...Buffer.from('peak'), 0x00, 0]),
    ...section(10, [1, ...leb(body.length), ...body]),
  ]);
}

let result;
try {
  const { instance } = await WebAssembly.instantiate(moduleBytes(), {});
  const iters = 200_000;
  // Per iteration: CHAINS multiplies and CHAINS adds of four lanes.
  const flops = iters * CHAINS * 2 * 4;
  const { steps, seconds } = timeSteps(() => instance.exports.peak(iters), timing);
  result = { value: (flops * steps) / seconds / 1e9, unit: 'GFLOP/s', steps, seconds };
} catch (e) {
  result = { value: null, unit: 'GFLOP/s', skipped: String(e.message ?? e) };
}
writeResult(resultPath, { system: 'wasm-simd-peak', task: 'peak', notes: [], ...result });
