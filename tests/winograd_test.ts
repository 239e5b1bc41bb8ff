/**
 * lib/model/winograd.ts against float64 direct convolutions: forward and filter gradient, at
 * conv2's shapes (whole rows and the front-end's window edges) and at odd small shapes.
 */
import assert from "node:assert/strict";
import { type Conv1dShape, WasmGemm } from "../lib/model/wasm_gemm.ts";
import { WinogradConv, winogradMatrices } from "../lib/model/winograd.ts";
import { Random } from "../lib/util/random.ts";

const gemm = WasmGemm.create();

/** Output length of a shape. */
function outLength(s: Conv1dShape): number {
  return s.len + s.padBefore + s.padAfter - s.kw + 1;
}

/**
 * Float64 direct convolution `y` and filter gradient `dw` (for upstream `dy`) with, per output,
 * the sum of the absolute values of its terms (the error bound's scale).
 */
function direct(x: Float32Array, w: Float32Array, dy: Float32Array, s: Conv1dShape) {
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

/**
 * Worst error relative to the bound's scale, the largest Σ|terms| of any output: ≤ 2e-5 passes.
 * (Toom-Cook's transforms multiply the plain dot product's ~K·u by the transforms' norms.)
 */
function worst(got: Float32Array, want: Float64Array, mag: Float64Array): number {
  let scale = 0, e = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, mag[i]);
    e = Math.max(e, Math.abs(got[i] - want[i]));
  }
  return e / scale;
}

const SHAPES: Conv1dShape[] = [
  { n: 2, len: 300, cin: 40, kw: 40, cout: 40, padBefore: 0, padAfter: 0 }, // conv2 over a row
  { n: 3, len: 49, cin: 40, kw: 40, cout: 40, padBefore: 19, padAfter: 0 }, // left window edge
  { n: 3, len: 50, cin: 40, kw: 40, cout: 40, padBefore: 0, padAfter: 20 }, // right window edge
  { n: 2, len: 60, cin: 40, kw: 40, cout: 40, padBefore: 20, padAfter: 19 }, // dX of 'same'
  { n: 3, len: 23, cin: 3, kw: 7, cout: 5, padBefore: 3, padAfter: 3 }, // width not a multiple
  { n: 1, len: 5, cin: 2, kw: 5, cout: 9, padBefore: 0, padAfter: 0 }, // one output
  { n: 2, len: 9, cin: 8, kw: 8, cout: 3, padBefore: 4, padAfter: 3 }, // the smoke geometry
];

for (const [m, r, points] of [[4, 4, undefined], [6, 3, [0, 1, -1, 2, -2, 0.5, -0.5]]] as const) {
  Deno.test(`winograd F(${m}, ${r}): forward and filter gradient equal direct convolutions`, () => {
    const conv = new WinogradConv(gemm, m, r, points);
    const rng = new Random(11);
    for (const s of SHAPES) {
      const x = Float32Array.from({ length: s.n * s.len * s.cin }, () => rng.uniform(-1, 1));
      const w = Float32Array.from({ length: s.kw * s.cin * s.cout }, () => rng.uniform(-0.2, 0.2));
      const dy = Float32Array.from(
        { length: s.n * outLength(s) * s.cout },
        () => rng.uniform(-1, 1),
      );
      const ref = direct(x, w, dy, s);
      const got = conv.conv1d(x, w, s);
      assert.equal(got.length, ref.y.length);
      const ef = worst(got, ref.y, ref.mag);
      assert.ok(ef < 2e-5, `forward ${JSON.stringify(s)}: ${ef}`);
      const gw = conv.conv1dFilterGrad(x, dy, s);
      const eg = worst(gw, ref.dw, ref.magW);
      assert.ok(eg < 2e-5, `filter gradient ${JSON.stringify(s)}: ${eg}`);
      // The check has teeth: one tap of the filter left out is far outside the bound.
      const w2 = w.slice();
      w2.fill(0, 0, s.cin * s.cout);
      assert.ok(worst(conv.conv1d(x, w2, s), ref.y, ref.mag) > 1e-3);
    }
  });
}

Deno.test("winograd matrices: F(2, 3) reproduces the textbook correlation exactly", () => {
  const { at, g, bt, alpha } = winogradMatrices(2, 3, [0, 1, -1]);
  const d = [3, -1, 4, 2], taps = [0.5, -2, 1];
  const u = Array.from(
    { length: alpha },
    (_, i) => taps.reduce((a, t, j) => a + g[i * 3 + j] * t, 0),
  );
  const v = Array.from(
    { length: alpha },
    (_, i) => d.reduce((a, x, j) => a + bt[i * 4 + j] * x, 0),
  );
  const y = [0, 1].map((j) => u.reduce((a, ui, i) => a + at[j * alpha + i] * ui * v[i], 0));
  const want = [0, 1].map((t) => taps.reduce((a, w, q) => a + w * d[t + q], 0));
  for (let j = 0; j < 2; j++) assert.ok(Math.abs(y[j] - want[j]) < 1e-12, `${y[j]} vs ${want[j]}`);
  assert.throws(() => winogradMatrices(2, 3, [0, 1, 1]), /not distinct/);
  assert.throws(() => winogradMatrices(2, 3, [0, 1]), /needs 3 finite points/);
});
