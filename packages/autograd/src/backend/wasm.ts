import { ValueError } from '../errors.js';
import { jsBackend } from './js.js';
import type { Backend, FloatArray, MatmulArgs, WindowGeometry } from './types.js';
import { wasmBase64 } from './wasm-binary.js';

/**
 * The WebAssembly SIMD backend: float32 matmul, unfold and fold compiled from AssemblyScript
 * (`asm/kernels.ts`, built by `scripts/build-wasm.mjs`). Float64 arrays go to the plain
 * TypeScript kernels, so gradient checks in float64 see the reference results exactly.
 *
 * Note [wasm memory]: the module owns one growable memory. Each call lays its operands out at
 * the start of the heap, copies the inputs in, runs the kernel and copies the output out; the
 * memory only grows, to the largest call seen. The copies are linear in the data, the matmul is
 * not, so they cost little beside a large matmul and about as much as the kernel for unfold and
 * fold, which are themselves copies. A backend instance is not re-entrant, and JavaScript never
 * calls it re-entrantly.
 */

// The slice of the WebAssembly API this file uses. The core package compiles without the DOM
// or Node type libraries, so the global is typed here rather than assumed.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface KernelExports {
  readonly memory: WasmMemory;
  heapBase(): number;
  packABytes(): number;
  packBBytes(): number;
  matmul(...args: number[]): void;
  unfold(...args: number[]): void;
  fold(...args: number[]): void;
}

interface WasmInstance {
  readonly exports: unknown;
}

interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => WasmInstance;
  instantiate(bytes: Uint8Array, imports: object): Promise<{ instance: WasmInstance }>;
  validate(bytes: Uint8Array): boolean;
}

const PAGE = 65536;
const ALIGN = 64;

function wasmApi(): WasmApi {
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined)
    throw new ValueError(
      'createWasmBackend',
      '',
      'an engine with WebAssembly',
      'none',
      'WebAssembly is not available here',
    );
  return api;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Decodes base64 without `atob` or `Buffer`, so it runs in any JavaScript engine. */
function decodeBase64(text: string): Uint8Array {
  const table = new Uint8Array(128);
  for (let i = 0; i < BASE64.length; i++) table[BASE64.charCodeAt(i)] = i;
  let len = text.length;
  while (len > 0 && text[len - 1] === '=') len--;
  const bytes = new Uint8Array((len * 3) >> 2);
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < len; i++) {
    acc = (acc << 6) | table[text.charCodeAt(i)];
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[o++] = (acc >> bits) & 0xff;
    }
  }
  return bytes;
}

let bytesCache: Uint8Array | undefined;

function moduleBytes(): Uint8Array {
  bytesCache ??= decodeBase64(wasmBase64);
  return bytesCache;
}

function alignUp(x: number): number {
  return Math.ceil(x / ALIGN) * ALIGN;
}

function isF32(x: FloatArray): x is Float32Array {
  return x instanceof Float32Array;
}

function windowArgs(g: WindowGeometry): number[] {
  return [g.n, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.oh, g.ow];
}

function makeBackend(instance: WasmInstance): Backend {
  const ex = instance.exports as KernelExports;
  const memory = ex.memory;
  const heap = alignUp(ex.heapBase());
  const packABytes = ex.packABytes();
  const packBBytes = ex.packBBytes();

  // Grows the memory to hold `bytes` past the heap base; returns a fresh view of it.
  function reserve(bytes: number): Float32Array {
    const need = heap + bytes;
    const have = memory.buffer.byteLength;
    // Memory.grow throws a RangeError past the engine's limit (4 GiB, less on some engines).
    if (need > have) memory.grow(Math.ceil((need - have) / PAGE));
    return new Float32Array(memory.buffer);
  }

  function matmul(args: MatmulArgs): void {
    const { a, b, out, batch, m, k, n, transA, transB } = args;
    if (!isF32(a) || !isF32(b) || !isF32(out)) {
      jsBackend.matmul(args);
      return;
    }
    if (batch * m * n === 0) return;
    const lenA = batch * m * k;
    const lenB = batch * k * n;
    const lenC = batch * m * n;
    const pa = heap;
    const pb = alignUp(pa + 4 * lenA);
    const pc = alignUp(pb + 4 * lenB);
    const ppa = alignUp(pc + 4 * lenC);
    const ppb = alignUp(ppa + packABytes);
    const tile = alignUp(ppb + packBBytes);
    const f32 = reserve(tile + 128 - heap);
    f32.set(a.subarray(0, lenA), pa >> 2);
    f32.set(b.subarray(0, lenB), pb >> 2);
    ex.matmul(pa, pb, pc, batch, m, k, n, transA ? 1 : 0, transB ? 1 : 0, ppa, ppb, tile);
    out.set(f32.subarray(pc >> 2, (pc >> 2) + lenC));
  }

  function unfold(x: FloatArray, out: FloatArray, g: WindowGeometry): void {
    if (!isF32(x) || !isF32(out)) {
      jsBackend.unfold(x, out, g);
      return;
    }
    const lenX = g.n * g.c * g.h * g.w;
    const lenO = g.n * g.c * g.kh * g.kw * Math.max(0, g.oh) * Math.max(0, g.ow);
    if (lenO === 0) return;
    const px = heap;
    const po = alignUp(px + 4 * lenX);
    const f32 = reserve(po + 4 * lenO - heap);
    f32.set(x.subarray(0, lenX), px >> 2);
    ex.unfold(px, po, ...windowArgs(g));
    out.set(f32.subarray(po >> 2, (po >> 2) + lenO));
  }

  function fold(cols: FloatArray, out: FloatArray, g: WindowGeometry): void {
    if (!isF32(cols) || !isF32(out)) {
      jsBackend.fold(cols, out, g);
      return;
    }
    const lenX = g.n * g.c * g.h * g.w;
    const lenC = g.n * g.c * g.kh * g.kw * Math.max(0, g.oh) * Math.max(0, g.ow);
    if (lenC === 0) {
      out.fill(0, 0, lenX);
      return;
    }
    const pc = heap;
    const px = alignUp(pc + 4 * lenC);
    const f32 = reserve(px + 4 * lenX - heap);
    f32.set(cols.subarray(0, lenC), pc >> 2);
    ex.fold(pc, px, ...windowArgs(g));
    out.set(f32.subarray(px >> 2, (px >> 2) + lenX));
  }

  return { name: 'wasm', matmul, unfold, fold };
}

/**
 * Compiles and instantiates the kernels asynchronously; works everywhere WebAssembly SIMD does
 * (Node.js 16.4+, current browsers). Rejects when the engine lacks SIMD.
 */
export async function createWasmBackend(): Promise<Backend> {
  const api = wasmApi();
  const bytes = moduleBytes();
  if (!api.validate(bytes))
    throw new ValueError(
      'createWasmBackend',
      '',
      'WebAssembly SIMD',
      'no SIMD',
      'this engine lacks WebAssembly SIMD',
    );
  const { instance } = await api.instantiate(bytes, {});
  return makeBackend(instance);
}

/**
 * Compiles and instantiates the kernels synchronously. Fine in Node.js and in workers; a
 * browser's main thread refuses synchronous compilation of modules above a size limit (Chrome:
 * 8 MB, formerly 4 KB; this module is about 3 KB), so prefer `createWasmBackend` there.
 */
export function createWasmBackendSync(): Backend {
  const api = wasmApi();
  const bytes = moduleBytes();
  if (!api.validate(bytes))
    throw new ValueError(
      'createWasmBackend',
      '',
      'WebAssembly SIMD',
      'no SIMD',
      'this engine lacks WebAssembly SIMD',
    );
  return makeBackend(new api.Instance(new api.Module(bytes), {}));
}
