/**
 * lib/model/winograd.ts against float64 direct convolutions: forward and filter gradient, at
 * conv2's shapes (whole rows and the front-end's window edges) and at odd small shapes.
 */
import assert from "node:assert/strict";
import { type Conv1dShape, WasmGemm } from "../lib/model/wasm_gemm.ts";
import { WinogradConv, winogradMatrices } from "../lib/model/winograd.ts";
import { Random } from "../lib/util/random.ts";
import { direct, outLength, worst } from "./conv_reference.ts";

const gemm = WasmGemm.create();

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
