// The float32 kernels of the WebAssembly SIMD backend, in AssemblyScript. Compiled by
// `scripts/build-wasm.mjs` into `src/backend/wasm-binary.ts`. Every pointer is a byte offset in
// the module's one memory, which the host (`src/backend/wasm.ts`) lays out and grows; this code
// allocates nothing itself.
//
// Note [matmul blocking]: the matmul follows the BLIS loop nest. For each column block of NC
// columns and each depth block of KC, B is packed into micro-panels of NR = 8 columns
// ([KC][8], contiguous); for each row block of MC rows, A is packed into micro-panels of
// MR = 4 rows ([KC][4]). The micro-kernel then keeps a 4x8 tile of C in eight f32x4
// accumulators and streams one packed A and one packed B micro-panel, so each step of the
// depth loop does six loads for sixteen f32x4 multiply-adds' worth of work (eight mul, eight
// add). Packing also turns every transpose combination into the same inner loop, and pads the
// edge panels with zeros so the micro-kernel never branches on sizes; only the write-back of
// an edge tile is clipped.

const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 2048;
// At most this many rows of A read an untransposed B in place; see Note [unpacked B].
const DIRECT_M: i32 = 32;

/** Bytes of scratch the host must provide for `matmul`'s packed A and packed B panels. */
export function packABytes(): i32 {
  return MC * KC * 4;
}

export function packBBytes(): i32 {
  return NC * KC * 4;
}

/** The first byte the host may use. */
export function heapBase(): usize {
  return __heap_base;
}

// A 4x8 tile of C += (packed A micro-panel) x (packed B micro-panel), over `kc` steps. With
// `accumulate` 0 the tile is overwritten. `ldb` and `ldc` are the row strides of B's panel and
// of C in bytes: B is read packed (ldb 32) or, see Note [unpacked B], in place.
function kernel4x8(
  kc: i32,
  pa: usize,
  pb: usize,
  ldb: usize,
  c: usize,
  ldc: usize,
  accumulate: i32,
): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    pa += 16;
    pb += ldb;
  }
  if (accumulate) {
    c00 = f32x4.add(c00, v128.load(c));
    c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(c + ldc));
    c11 = f32x4.add(c11, v128.load(c + ldc, 16));
    c20 = f32x4.add(c20, v128.load(c + 2 * ldc));
    c21 = f32x4.add(c21, v128.load(c + 2 * ldc, 16));
    c30 = f32x4.add(c30, v128.load(c + 3 * ldc));
    c31 = f32x4.add(c31, v128.load(c + 3 * ldc, 16));
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldc, c10);
  v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20);
  v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30);
  v128.store(c + 3 * ldc, c31, 16);
}

// Packs rows [i0, i0 + mc) and depths [p0, p0 + kc) of A into micro-panels of MR rows, zero
// padded to a multiple of MR. A(i, p) sits at a + 4 (i rsa + p csa).
function packA(a: usize, rsa: i32, csa: i32, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  for (let ir = 0; ir < mc; ir += MR) {
    const rows = min(MR, mc - ir);
    const base = a + ((<usize>((i0 + ir) * rsa + p0 * csa)) << 2);
    if (rows == MR && rsa == 1) {
      // Transposed A: the MR rows of one depth are contiguous.
      const step = (<usize>csa) << 2;
      let src = base;
      for (let p = 0; p < kc; p++) {
        v128.store(dst, v128.load(src));
        src += step;
        dst += 16;
      }
    } else if (rows == MR) {
      const r1 = (<usize>rsa) << 2;
      const step = (<usize>csa) << 2;
      let src = base;
      for (let p = 0; p < kc; p++) {
        store<f32>(dst, load<f32>(src));
        store<f32>(dst, load<f32>(src + r1), 4);
        store<f32>(dst, load<f32>(src + 2 * r1), 8);
        store<f32>(dst, load<f32>(src + 3 * r1), 12);
        src += step;
        dst += 16;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let r = 0; r < MR; r++) {
          const v: f32 = r < rows ? load<f32>(base + ((<usize>(r * rsa + p * csa)) << 2)) : <f32>0;
          store<f32>(dst + ((<usize>r) << 2), v);
        }
        dst += 16;
      }
    }
  }
}

// Packs depths [p0, p0 + kc) and columns [j0, j0 + nc) of B into micro-panels of NR columns,
// zero padded to a multiple of NR. B(p, j) sits at b + 4 (p rsb + j csb).
function packB(b: usize, rsb: i32, csb: i32, p0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let jr = 0; jr < nc; jr += NR) {
    const cols = min(NR, nc - jr);
    const base = b + ((<usize>(p0 * rsb + (j0 + jr) * csb)) << 2);
    if (cols == NR && csb == 1) {
      const step = (<usize>rsb) << 2;
      let src = base;
      for (let p = 0; p < kc; p++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += step;
        dst += 32;
      }
    } else if (cols == NR) {
      // Transposed B: each column is contiguous in depth; gather 8 of them per depth.
      const c1 = (<usize>csb) << 2;
      const step = (<usize>rsb) << 2;
      let src = base;
      for (let p = 0; p < kc; p++) {
        store<f32>(dst, load<f32>(src));
        store<f32>(dst, load<f32>(src + c1), 4);
        store<f32>(dst, load<f32>(src + 2 * c1), 8);
        store<f32>(dst, load<f32>(src + 3 * c1), 12);
        store<f32>(dst, load<f32>(src + 4 * c1), 16);
        store<f32>(dst, load<f32>(src + 5 * c1), 20);
        store<f32>(dst, load<f32>(src + 6 * c1), 24);
        store<f32>(dst, load<f32>(src + 7 * c1), 28);
        src += step;
        dst += 32;
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let q = 0; q < NR; q++) {
          const v: f32 = q < cols ? load<f32>(base + ((<usize>(p * rsb + q * csb)) << 2)) : <f32>0;
          store<f32>(dst + ((<usize>q) << 2), v);
        }
        dst += 32;
      }
    }
  }
}

/**
 * `c[t] = op(a[t]) @ op(b[t])` for `batch` float32 matrices, `op` a transpose when the flag is
 * set. `packa` and `packb` are scratch of `packABytes()` and `packBBytes()`; `tile` is 128 bytes
 * of scratch for the clipped edge tiles.
 */
export function matmul(
  a: usize,
  b: usize,
  c: usize,
  batch: i32,
  m: i32,
  k: i32,
  n: i32,
  transA: i32,
  transB: i32,
  packa: usize,
  packb: usize,
  tile: usize,
): void {
  const rsa = transA ? 1 : k;
  const csa = transA ? m : 1;
  const rsb = transB ? 1 : n;
  const csb = transB ? k : 1;
  const ldc = (<usize>n) << 2;
  if (k == 0) {
    memory.fill(c, 0, (<usize>batch * <usize>m * <usize>n) << 2);
    return;
  }
  for (let t = 0; t < batch; t++) {
    const at = a + ((<usize>t * <usize>m * <usize>k) << 2);
    const bt = b + ((<usize>t * <usize>k * <usize>n) << 2);
    const ct = c + ((<usize>t * <usize>m * <usize>n) << 2);
    for (let jc = 0; jc < n; jc += NC) {
      const nc = min(NC, n - jc);
      for (let pc = 0; pc < k; pc += KC) {
        const kc = min(KC, k - pc);
        const acc = pc > 0 ? 1 : 0;
        // Note [unpacked B]: when few rows of A reuse each panel of B, packing B costs more
        // than it saves, and an untransposed B is read in place, except for an edge panel.
        const direct = !transB && m <= DIRECT_M;
        const full = direct ? nc & ~(NR - 1) : 0;
        if (direct) {
          if (full < nc) packB(bt, rsb, csb, pc, kc, jc + full, nc - full, packb);
        } else {
          packB(bt, rsb, csb, pc, kc, jc, nc, packb);
        }
        for (let ic = 0; ic < m; ic += MC) {
          const mc = min(MC, m - ic);
          packA(at, rsa, csa, ic, mc, pc, kc, packa);
          for (let jr = 0; jr < nc; jr += NR) {
            const cols = min(NR, nc - jr);
            let pb = packb + ((<usize>(jr * kc)) << 2);
            let ldb: usize = NR << 2;
            if (direct) {
              pb = jr < full ? bt + ((<usize>(pc * n + jc + jr)) << 2) : packb;
              ldb = jr < full ? ldc : NR << 2;
            }
            for (let ir = 0; ir < mc; ir += MR) {
              const rows = min(MR, mc - ir);
              const pa = packa + ((<usize>(ir * kc)) << 2);
              const cp = ct + <usize>(ic + ir) * ldc + ((<usize>(jc + jr)) << 2);
              if (rows == MR && cols == NR) {
                kernel4x8(kc, pa, pb, ldb, cp, ldc, acc);
              } else {
                kernel4x8(kc, pa, pb, ldb, tile, <usize>(NR << 2), 0);
                for (let r = 0; r < rows; r++) {
                  const crow = cp + <usize>r * ldc;
                  const trow = tile + ((<usize>(r * NR)) << 2);
                  for (let q = 0; q < cols; q++) {
                    const off = (<usize>q) << 2;
                    let v = load<f32>(trow + off);
                    if (acc) v += load<f32>(crow + off);
                    store<f32>(crow + off, v);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

// The first output column j whose tap j s + off lands inside [0, w), and one past the last.
function firstInside(off: i32, s: i32): i32 {
  return off >= 0 ? 0 : (s - 1 - off) / s;
}

function endInside(off: i32, s: i32, w: i32, ow: i32): i32 {
  const last = w - 1 - off;
  return last < 0 ? 0 : min(ow, last / s + 1);
}

// Copies `len` floats from `src` to `dst`, four at a time.
function copyRow(dst: usize, src: usize, len: i32): void {
  let j = 0;
  for (; j + 4 <= len; j += 4) {
    v128.store(dst, v128.load(src));
    dst += 16;
    src += 16;
  }
  for (; j < len; j++) {
    store<f32>(dst, load<f32>(src));
    dst += 4;
    src += 4;
  }
}

// Adds `len` floats from `src` into `dst`, four at a time.
function addRow(dst: usize, src: usize, len: i32): void {
  let j = 0;
  for (; j + 4 <= len; j += 4) {
    v128.store(dst, f32x4.add(v128.load(dst), v128.load(src)));
    dst += 16;
    src += 16;
  }
  for (; j < len; j++) {
    store<f32>(dst, load<f32>(dst) + load<f32>(src));
    dst += 4;
    src += 4;
  }
}

/** im2col, float32: `x` `[N, C, H, W]` to `out` `[N, C, kh, kw, oh, ow]`, padding reads 0. */
export function unfold(
  x: usize,
  out: usize,
  n: i32,
  c: i32,
  h: i32,
  w: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  dh: i32,
  dw: i32,
  oh: i32,
  ow: i32,
): void {
  const plane = (<usize>(h * w)) << 2;
  const orow = (<usize>ow) << 2;
  let o = out;
  let src = x;
  for (let bc = 0; bc < n * c; bc++) {
    for (let u = 0; u < kh; u++) {
      const offy = u * dh - ph;
      const i0 = min(oh, firstInside(offy, sh));
      const i1 = max(i0, endInside(offy, sh, h, oh));
      for (let v = 0; v < kw; v++) {
        const offx = v * dw - pw;
        const j0 = min(ow, firstInside(offx, sw));
        const j1 = max(j0, endInside(offx, sw, w, ow));
        if (i0 > 0) {
          memory.fill(o, 0, <usize>i0 * orow);
          o += <usize>i0 * orow;
        }
        for (let i = i0; i < i1; i++) {
          const row = src + ((<usize>((i * sh + offy) * w)) << 2);
          for (let j = 0; j < j0; j++) store<f32>(o + ((<usize>j) << 2), 0);
          if (sw == 1) {
            copyRow(o + ((<usize>j0) << 2), row + ((<usize>(j0 + offx)) << 2), j1 - j0);
          } else if (sw == 2) {
            // Every other float: two loads and one shuffle give four taps. The last load may
            // read one float past the row, which the host's layout keeps inside the memory.
            let j = j0;
            for (; j + 4 <= j1; j += 4) {
              const p = row + ((<usize>(j * 2 + offx)) << 2);
              const lo = v128.load(p);
              const hi = v128.load(p, 16);
              v128.store(o + ((<usize>j) << 2), v128.shuffle<f32>(lo, hi, 0, 2, 4, 6));
            }
            for (; j < j1; j++) {
              store<f32>(o + ((<usize>j) << 2), load<f32>(row + ((<usize>(j * 2 + offx)) << 2)));
            }
          } else {
            for (let j = j0; j < j1; j++) {
              store<f32>(o + ((<usize>j) << 2), load<f32>(row + ((<usize>(j * sw + offx)) << 2)));
            }
          }
          for (let j = j1; j < ow; j++) store<f32>(o + ((<usize>j) << 2), 0);
          o += orow;
        }
        if (i1 < oh) {
          memory.fill(o, 0, <usize>(oh - i1) * orow);
          o += <usize>(oh - i1) * orow;
        }
      }
    }
    src += plane;
  }
}

/** col2im, float32: `cols` `[N, C, kh, kw, oh, ow]` summed into `out` `[N, C, H, W]`. */
export function fold(
  cols: usize,
  out: usize,
  n: i32,
  c: i32,
  h: i32,
  w: i32,
  kh: i32,
  kw: i32,
  sh: i32,
  sw: i32,
  ph: i32,
  pw: i32,
  dh: i32,
  dw: i32,
  oh: i32,
  ow: i32,
): void {
  const plane = (<usize>(h * w)) << 2;
  const orow = (<usize>ow) << 2;
  memory.fill(out, 0, <usize>(n * c) * plane);
  let o = cols;
  let dst = out;
  for (let bc = 0; bc < n * c; bc++) {
    for (let u = 0; u < kh; u++) {
      const offy = u * dh - ph;
      const i0 = min(oh, firstInside(offy, sh));
      const i1 = max(i0, endInside(offy, sh, h, oh));
      for (let v = 0; v < kw; v++) {
        const offx = v * dw - pw;
        const j0 = min(ow, firstInside(offx, sw));
        const j1 = max(j0, endInside(offx, sw, w, ow));
        o += <usize>i0 * orow;
        for (let i = i0; i < i1; i++) {
          const row = dst + ((<usize>((i * sh + offy) * w)) << 2);
          if (sw == 1) {
            addRow(row + ((<usize>(j0 + offx)) << 2), o + ((<usize>j0) << 2), j1 - j0);
          } else {
            for (let j = j0; j < j1; j++) {
              const p = row + ((<usize>(j * sw + offx)) << 2);
              store<f32>(p, load<f32>(p) + load<f32>(o + ((<usize>j) << 2)));
            }
          }
          o += orow;
        }
        o += <usize>(oh - i1) * orow;
      }
    }
    dst += plane;
  }
}
