import type { Backend, FloatArray, MatmulArgs, WindowGeometry } from './types.js';

/**
 * The plain TypeScript kernels: the reference every other backend must match to float32
 * tolerance, and the one that runs anywhere.
 */
export const jsBackend: Backend = {
  name: 'js',
  matmul: matmulJs,
  unfold: unfoldJs,
  fold: foldJs,
};

function matmulJs({ a, b, out, batch, m, k, n, transA, transB }: MatmulArgs): void {
  const sa = m * k;
  const sb = k * n;
  const so = m * n;
  // Note [matmul loop order]: the i-p-j order streams rows of B and of the output, which keeps
  // the inner loop contiguous; a transposed B is handled by a dot product over rows instead.
  for (let t = 0; t < batch; t++) {
    const ao = t * sa;
    const bo = t * sb;
    const oo = t * so;
    if (!transB) {
      out.fill(0, oo, oo + so);
      for (let i = 0; i < m; i++) {
        const orow = oo + i * n;
        for (let p = 0; p < k; p++) {
          const av = transA ? a[ao + p * m + i] : a[ao + i * k + p];
          if (av === 0) continue;
          const brow = bo + p * n;
          for (let j = 0; j < n; j++) out[orow + j] += av * b[brow + j];
        }
      }
    } else {
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          const brow = bo + j * k;
          let s = 0;
          if (transA) for (let p = 0; p < k; p++) s += a[ao + p * m + i] * b[brow + p];
          else {
            const arow = ao + i * k;
            for (let p = 0; p < k; p++) s += a[arow + p] * b[brow + p];
          }
          out[oo + i * n + j] = s;
        }
      }
    }
  }
}

function unfoldJs(x: FloatArray, out: FloatArray, g: WindowGeometry): void {
  const { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow } = g;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (b * c + ch) * h * w;
      for (let u = 0; u < kh; u++) {
        for (let v = 0; v < kw; v++) {
          for (let i = 0; i < oh; i++) {
            const y = i * sh - ph + u * dh;
            if (y < 0 || y >= h) {
              out.fill(0, o, o + ow);
              o += ow;
              continue;
            }
            const row = base + y * w;
            for (let j = 0; j < ow; j++) {
              const xx = j * sw - pw + v * dw;
              out[o++] = xx >= 0 && xx < w ? x[row + xx] : 0;
            }
          }
        }
      }
    }
  }
}

function foldJs(cols: FloatArray, out: FloatArray, g: WindowGeometry): void {
  const { n, c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow } = g;
  out.fill(0);
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (b * c + ch) * h * w;
      for (let u = 0; u < kh; u++) {
        for (let v = 0; v < kw; v++) {
          for (let i = 0; i < oh; i++) {
            const y = i * sh - ph + u * dh;
            if (y < 0 || y >= h) {
              o += ow;
              continue;
            }
            const row = base + y * w;
            for (let j = 0; j < ow; j++) {
              const xx = j * sw - pw + v * dw;
              if (xx >= 0 && xx < w) out[row + xx] += cols[o];
              o++;
            }
          }
        }
      }
    }
  }
}
