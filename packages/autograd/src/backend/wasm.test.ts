import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { jsBackend } from './js.js';
import type { Backend, FloatArray, MatmulArgs, WindowGeometry } from './types.js';
import { createWasmBackend, createWasmBackendSync } from './wasm.js';

let wasm: Backend;

beforeAll(async () => {
  wasm = await createWasmBackend();
});

function filled(make: new (len: number) => FloatArray, len: number, seed: number): FloatArray {
  const x = new make(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    // Mostly in [-1, 1), with some exact zeros (the JS kernel skips them) and larger values.
    const u = s / 2 ** 32;
    x[i] = i % 11 === 3 ? 0 : (u - 0.5) * (i % 7 === 0 ? 64 : 2);
  }
  return x;
}

function matmulArgs(
  make: new (len: number) => FloatArray,
  batch: number,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
  seed: number,
): MatmulArgs {
  return {
    a: filled(make, batch * m * k, seed),
    b: filled(make, batch * k * n, seed + 7),
    out: new make(batch * m * n),
    batch,
    m,
    k,
    n,
    transA,
    transB,
  };
}

// Checks `got` against `want` entry by entry, each to a tolerance scaled by the sum of the
// absolute values of the products that make it up: float32 rounding error grows with that sum.
function expectMatmulClose(args: MatmulArgs, got: FloatArray, want: FloatArray, rel: number) {
  const { a, b, batch, m, k, n, transA, transB } = args;
  for (let t = 0; t < batch; t++) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let scale = 0;
        for (let p = 0; p < k; p++) {
          const av = transA ? a[t * m * k + p * m + i] : a[t * m * k + i * k + p];
          const bv = transB ? b[t * k * n + j * k + p] : b[t * k * n + p * n + j];
          scale += Math.abs(av * bv);
        }
        const o = t * m * n + i * n + j;
        const err = Math.abs(got[o] - want[o]);
        if (!(err <= rel * scale)) {
          expect.fail(
            `matmul b=${batch} m=${m} k=${k} n=${n} tA=${transA} tB=${transB}: out[${t},${i},${j}]` +
              ` = ${got[o]}, reference ${want[o]}, error ${err} > ${rel} * ${scale}`,
          );
        }
      }
    }
  }
}

function checkMatmul(
  batch: number,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
  seed: number,
) {
  const args = matmulArgs(Float32Array, batch, m, k, n, transA, transB, seed);
  const want = new Float32Array(batch * m * n);
  jsBackend.matmul({ ...args, out: want });
  args.out.fill(Number.NaN);
  wasm.matmul(args);
  expectMatmulClose(args, args.out, want, 2e-5);
}

// Sizes around the kernel's tiles (4x8 register tile, packed panels of 256 deep, 128 rows).
const dim = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.constantFrom(1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33),
);
const transpose = fc.boolean();

describe('wasm matmul (float32)', () => {
  it('matches the JS reference over random shapes and all transposes', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        dim,
        dim,
        dim,
        transpose,
        transpose,
        fc.integer(),
        (batch, m, k, n, tA, tB, seed) => checkMatmul(batch, m, k, n, tA, tB, seed),
      ),
      { numRuns: 300 },
    );
  });

  it('matches over deep and wide shapes that cross the panel blocks', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 140 }),
        fc.integer({ min: 250, max: 530 }),
        fc.integer({ min: 1, max: 40 }),
        transpose,
        transpose,
        fc.integer(),
        (m, k, n, tA, tB, seed) => checkMatmul(1, m, k, n, tA, tB, seed),
      ),
      { numRuns: 12 },
    );
  });

  for (const [tA, tB] of [
    [false, false],
    [true, true],
  ] as const) {
    it(`matches at m=131 k=520 n=2061 (past every block) tA=${tA} tB=${tB}`, () => {
      checkMatmul(1, 131, 520, 2061, tA, tB, 5);
    });
  }

  it('writes zeros when k = 0 and nothing when m or n is 0', () => {
    const args = matmulArgs(Float32Array, 2, 3, 0, 5, false, false, 1);
    args.out.fill(7);
    wasm.matmul(args);
    expect(Array.from(args.out)).toEqual(new Array(30).fill(0));
    wasm.matmul(matmulArgs(Float32Array, 2, 0, 4, 5, true, false, 1));
    wasm.matmul(matmulArgs(Float32Array, 2, 3, 4, 0, false, true, 1));
  });

  it('reads inputs that are views into a larger buffer', () => {
    const a = filled(Float32Array, 40, 3).subarray(5, 5 + 12) as Float32Array;
    const b = filled(Float32Array, 40, 4).subarray(9, 9 + 20) as Float32Array;
    const args: MatmulArgs = {
      a,
      b,
      out: new Float32Array(15),
      batch: 1,
      m: 3,
      k: 4,
      n: 5,
      transA: false,
      transB: false,
    };
    const want = new Float32Array(15);
    jsBackend.matmul({ ...args, out: want });
    wasm.matmul(args);
    expectMatmulClose(args, args.out, want, 2e-5);
  });
});

// A window geometry that fits: the dilated kernel spans at most the padded image, sometimes
// exactly (the window barely fits), and zero-size batches and channels occur.
const geometry: fc.Arbitrary<WindowGeometry> = fc
  .record({
    n: fc.integer({ min: 0, max: 2 }),
    c: fc.integer({ min: 0, max: 3 }),
    kh: fc.integer({ min: 1, max: 5 }),
    kw: fc.integer({ min: 1, max: 5 }),
    sh: fc.integer({ min: 1, max: 3 }),
    sw: fc.integer({ min: 1, max: 3 }),
    ph: fc.integer({ min: 0, max: 3 }),
    pw: fc.integer({ min: 0, max: 3 }),
    dh: fc.integer({ min: 1, max: 3 }),
    dw: fc.integer({ min: 1, max: 3 }),
    extraH: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 12 })),
    extraW: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 12 })),
  })
  .map(({ extraH, extraW, ...g }) => {
    const h = Math.max(1, g.dh * (g.kh - 1) + 1 - 2 * g.ph) + extraH;
    const w = Math.max(1, g.dw * (g.kw - 1) + 1 - 2 * g.pw) + extraW;
    const oh = Math.floor((h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh) + 1;
    const ow = Math.floor((w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw) + 1;
    return { ...g, h, w, oh, ow };
  });

// Exact equality with the first differing index in the message; faster than a deep equal on
// arrays of a million entries.
function expectSame(got: FloatArray, want: FloatArray, what: string) {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}: [${i}] = ${got[i]}, want ${want[i]}`);
  }
}

function sizes(g: WindowGeometry): { lenX: number; lenC: number } {
  return { lenX: g.n * g.c * g.h * g.w, lenC: g.n * g.c * g.kh * g.kw * g.oh * g.ow };
}

function label(g: WindowGeometry): string {
  return (
    `[${g.n},${g.c},${g.h},${g.w}] k=${g.kh}x${g.kw} s=${g.sh},${g.sw} p=${g.ph},${g.pw}` +
    ` d=${g.dh},${g.dw} -> ${g.oh}x${g.ow}`
  );
}

describe('wasm unfold and fold (float32)', () => {
  it('unfold equals the JS reference exactly', () => {
    fc.assert(
      fc.property(geometry, fc.integer(), (g, seed) => {
        const { lenX, lenC } = sizes(g);
        const x = filled(Float32Array, lenX, seed);
        const want = new Float32Array(lenC);
        const got = new Float32Array(lenC).fill(Number.NaN);
        jsBackend.unfold(x, want, g);
        wasm.unfold(x, got, g);
        expectSame(got, want, label(g));
      }),
      { numRuns: 400 },
    );
  });

  it('fold matches the JS reference', () => {
    fc.assert(
      fc.property(geometry, fc.integer(), (g, seed) => {
        const { lenX, lenC } = sizes(g);
        const cols = filled(Float32Array, lenC, seed);
        const want = new Float32Array(lenX);
        const got = new Float32Array(lenX).fill(Number.NaN);
        jsBackend.fold(cols, want, g);
        wasm.fold(cols, got, g);
        // Each pixel sums the same taps in the same order as the reference does.
        expectSame(got, want, label(g));
      }),
      { numRuns: 400 },
    );
  });

  it('fold is the adjoint of unfold: <unfold(x), c> = <x, fold(c)>', () => {
    fc.assert(
      fc.property(geometry, fc.integer(), (g, seed) => {
        const { lenX, lenC } = sizes(g);
        const x = filled(Float32Array, lenX, seed);
        const c = filled(Float32Array, lenC, seed + 1);
        const ux = new Float32Array(lenC);
        const fcol = new Float32Array(lenX);
        wasm.unfold(x, ux, g);
        wasm.fold(c, fcol, g);
        let lhs = 0;
        let rhs = 0;
        let scale = 0;
        for (let i = 0; i < lenC; i++) lhs += ux[i] * c[i];
        for (let i = 0; i < lenX; i++) {
          rhs += x[i] * fcol[i];
          scale += Math.abs(x[i]) * Math.abs(fcol[i]);
        }
        expect(Math.abs(lhs - rhs), label(g)).toBeLessThanOrEqual(1e-5 * scale + 1e-30);
      }),
      { numRuns: 300 },
    );
  });

  it('handles a LeNet-sized batch: [64,1,28,28] k=5 and [32,6,14,14] k=3 s=2 p=1', () => {
    for (const g of [
      { n: 64, c: 1, h: 28, w: 28, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0, dh: 1, dw: 1 },
      { n: 32, c: 6, h: 14, w: 14, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1, dh: 1, dw: 1 },
    ]) {
      const oh = Math.floor((g.h + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh) + 1;
      const ow = Math.floor((g.w + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw) + 1;
      const geo = { ...g, oh, ow };
      const { lenX, lenC } = sizes(geo);
      const x = filled(Float32Array, lenX, 9);
      const want = new Float32Array(lenC);
      const got = new Float32Array(lenC);
      jsBackend.unfold(x, want, geo);
      wasm.unfold(x, got, geo);
      expectSame(got, want, `unfold ${label(geo)}`);
      const wantX = new Float32Array(lenX);
      const gotX = new Float32Array(lenX);
      jsBackend.fold(want, wantX, geo);
      wasm.fold(want, gotX, geo);
      expectSame(gotX, wantX, `fold ${label(geo)}`);
    }
  });
});

describe('wasm backend, float64 and construction', () => {
  it('delegates float64 matmul to the JS kernels, exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        dim,
        dim,
        dim,
        transpose,
        transpose,
        fc.integer(),
        (batch, m, k, n, tA, tB, seed) => {
          const args = matmulArgs(Float64Array, batch, m, k, n, tA, tB, seed);
          const want = new Float64Array(batch * m * n);
          jsBackend.matmul({ ...args, out: want });
          wasm.matmul(args);
          expectSame(args.out, want, `matmul m=${m} k=${k} n=${n}`);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('delegates float64 unfold and fold to the JS kernels, exactly', () => {
    fc.assert(
      fc.property(geometry, fc.integer(), (g, seed) => {
        const { lenX, lenC } = sizes(g);
        const x = filled(Float64Array, lenX, seed);
        const want = new Float64Array(lenC);
        const got = new Float64Array(lenC);
        jsBackend.unfold(x, want, g);
        wasm.unfold(x, got, g);
        expectSame(got, want, `unfold ${label(g)}`);
        const wantX = new Float64Array(lenX);
        const gotX = new Float64Array(lenX);
        jsBackend.fold(want, wantX, g);
        wasm.fold(want, gotX, g);
        expectSame(gotX, wantX, `fold ${label(g)}`);
      }),
      { numRuns: 50 },
    );
  });

  it('createWasmBackendSync gives a working backend named wasm', () => {
    const sync = createWasmBackendSync();
    expect(sync.name).toBe('wasm');
    const args = matmulArgs(Float32Array, 1, 5, 6, 7, true, false, 2);
    const want = new Float32Array(35);
    jsBackend.matmul({ ...args, out: want });
    sync.matmul(args);
    expectMatmulClose(args, args.out, want, 2e-5);
  });
});
