/**
 * The kernel interface. The tape and the ops call kernels only through a `Backend`, so a faster
 * one (WebAssembly SIMD, worker threads) replaces the plain TypeScript kernels without touching
 * the tape or `nn`. Every array is dense and row-major; a kernel writes into `out`, which the
 * caller allocated with the right length and which never aliases an input.
 */
export type FloatArray = Float32Array | Float64Array;

/** The arguments of `Backend.matmul`: dense row-major matrices, `out` written in full. */
export interface MatmulArgs {
  /** `batch` matrices of `[m, k]`, or `[k, m]` when `transA`. */
  a: FloatArray;
  /** `batch` matrices of `[k, n]`, or `[n, k]` when `transB`. */
  b: FloatArray;
  /** `batch` matrices of `[m, n]`, overwritten. */
  out: FloatArray;
  batch: number;
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
}

/** im2col geometry for `[N, C, H, W]` images: kernel, stride, padding and dilation per axis. */
export interface WindowGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  dh: number;
  dw: number;
  /** Output height: `floor((h + 2 ph - dh (kh - 1) - 1) / sh) + 1`. */
  oh: number;
  /** Output width, as `oh`. */
  ow: number;
}

/** The kernels an op runs on; see `setBackend`. */
export interface Backend {
  /** A short name for messages and benchmarks, e.g. `js` or `wasm`. */
  readonly name: string;
  /** `out[b] = op(a[b]) @ op(b[b])` for each of `batch` matrices, `op` a transpose or not. */
  matmul(args: MatmulArgs): void;
  /**
   * im2col: `x` `[N, C, H, W]` to `out` `[N, C, kh, kw, oh, ow]`; taps that fall in the padding
   * read zero.
   */
  unfold(x: FloatArray, out: FloatArray, g: WindowGeometry): void;
  /**
   * col2im, the adjoint of `unfold`: `cols` `[N, C, kh, kw, oh, ow]` summed into `out`
   * `[N, C, H, W]` (overwritten); taps in the padding are dropped.
   */
  fold(cols: FloatArray, out: FloatArray, g: WindowGeometry): void;
}
