/**
 * Float64 references for the fast convolution tests (winograd_test.ts, fft_conv_test.ts): the
 * direct convolution and filter gradient with the error bound's scale, one copy for both.
 */
import type { Conv1dShape } from "../lib/model/wasm_gemm.ts";

/** Output length of a shape. */
export function outLength(s: Conv1dShape): number {
  return s.len + s.padBefore + s.padAfter - s.kw + 1;
}

/**
 * Float64 direct convolution `y` and filter gradient `dw` (for upstream `dy`) with, per output,
 * the sum of the absolute values of its terms (the error bound's scale).
 */
export function direct(x: Float32Array, w: Float32Array, dy: Float32Array, s: Conv1dShape) {
  const lout = outLength(s);
  const y = new Float64Array(s.n * lout * s.cout), mag = new Float64Array(y.length);
  const dw = new Float64Array(s.kw * s.cin * s.cout), magW = new Float64Array(dw.length);
  for (let r = 0; r < s.n; r++) {
    for (let t = 0; t < lout; t++) {
      for (let q = 0; q < s.kw; q++) {
        const p = t + q - s.padBefore;
        if (p < 0 || p >= s.len) continue;
        for (let i = 0; i < s.cin; i++) {
          const xv = x[(r * s.len + p) * s.cin + i];
          for (let o = 0; o < s.cout; o++) {
            const yi = (r * lout + t) * s.cout + o, wi = (q * s.cin + i) * s.cout + o;
            y[yi] += xv * w[wi];
            mag[yi] += Math.abs(xv * w[wi]);
            dw[wi] += xv * dy[yi];
            magW[wi] += Math.abs(xv * dy[yi]);
          }
        }
      }
    }
  }
  return { y, mag, dw, magW };
}

/** Worst error relative to the largest Σ|terms| of any output: ≤ 2e-5 passes. */
export function worst(got: Float32Array, want: Float64Array, mag: Float64Array): number {
  let scale = 0, e = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, mag[i]);
    e = Math.max(e, Math.abs(got[i] - want[i]));
  }
  return e / scale;
}
