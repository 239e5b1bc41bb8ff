/**
 * lib/model/fft_conv.ts against float64 direct convolutions: forward (with and without padding,
 * bias + ReLU), filter gradient and the input gradient's padded shape, at conv2's shapes and at
 * odd small ones (rows shorter than a block, lengths that are not multiples of the block step,
 * channel counts that are not multiples of 4), for several block sizes.
 */
import assert from "node:assert/strict";
import { type Conv1dShape, WasmGemm } from "../lib/model/wasm_gemm.ts";
import { FftConv } from "../lib/model/fft_conv.ts";
import { direct, outLength, worst } from "./conv_reference.ts";
import { Random } from "../lib/util/random.ts";

const gemm = WasmGemm.create();

const SHAPES: Conv1dShape[] = [
  { n: 2, len: 300, cin: 40, kw: 40, cout: 40, padBefore: 0, padAfter: 0 }, // conv2 over a row
  { n: 2, len: 262, cin: 40, kw: 40, cout: 40, padBefore: 39, padAfter: 39 }, // its dX
  { n: 3, len: 49, cin: 40, kw: 40, cout: 40, padBefore: 19, padAfter: 0 }, // left window edge
  { n: 3, len: 50, cin: 40, kw: 40, cout: 40, padBefore: 0, padAfter: 20 }, // right window edge
  { n: 2, len: 60, cin: 40, kw: 40, cout: 40, padBefore: 20, padAfter: 19 }, // dX of 'same'
  { n: 3, len: 123, cin: 3, kw: 7, cout: 5, padBefore: 3, padAfter: 3 }, // channels not ×4
  { n: 1, len: 5, cin: 2, kw: 5, cout: 9, padBefore: 0, padAfter: 0 }, // one output
  { n: 2, len: 9, cin: 8, kw: 8, cout: 3, padBefore: 4, padAfter: 3 }, // the smoke geometry
  { n: 2, len: 200, cin: 4, kw: 1, cout: 4, padBefore: 0, padAfter: 0 }, // 1-tap: L = N
];

function check(conv: FftConv, s: Conv1dShape, rng: Random, teeth: boolean) {
  const x = Float32Array.from({ length: s.n * s.len * s.cin }, () => rng.uniform(-1, 1));
  const w = Float32Array.from({ length: s.kw * s.cin * s.cout }, () => rng.uniform(-0.2, 0.2));
  const dy = Float32Array.from({ length: s.n * outLength(s) * s.cout }, () => rng.uniform(-1, 1));
  const ref = direct(x, w, dy, s);
  const got = conv.conv1d(x, w, s);
  assert.equal(got.length, ref.y.length);
  const tag = `N ${conv.blockSize} ${JSON.stringify(s)}`;
  const ef = worst(got, ref.y, ref.mag);
  assert.ok(ef < 2e-5, `forward ${tag}: ${ef}`);
  const gw = conv.conv1dFilterGrad(x, dy, s);
  assert.equal(gw.length, ref.dw.length);
  const eg = worst(gw, ref.dw, ref.magW);
  assert.ok(eg < 2e-5, `filter gradient ${tag}: ${eg}`);
  // With bias: max(y + b, 0) exactly as the layer's epilogue.
  const bias = Float32Array.from({ length: s.cout }, () => rng.uniform(-0.5, 0.5));
  const yb = conv.conv1d(x, w, s, bias);
  const want = ref.y.map((v, i) => Math.max(v + bias[i % s.cout], 0));
  const eb = worst(yb, want, ref.mag.map((m, i) => m + Math.abs(bias[i % s.cout])));
  assert.ok(eb < 2e-5, `bias + ReLU ${tag}: ${eb}`);
  if (teeth) {
    // The check has teeth: one tap of the filter left out is far outside the bound.
    const w2 = w.slice();
    w2.fill(0, 0, s.cin * s.cout);
    assert.ok(worst(conv.conv1d(x, w2, s), ref.y, ref.mag) > 1e-3);
  }
  return { ef, eg };
}

for (const block of [128, 64, 256]) {
  Deno.test(`fft conv N = ${block}: forward and filter gradient equal direct convolutions`, () => {
    const conv = new FftConv(gemm, block);
    const rng = new Random(7);
    for (const s of SHAPES) {
      if (s.kw > block) continue;
      check(conv, s, rng, block === 128);
    }
  });
}

Deno.test("fft conv: small blocks, many per row (an off-by-one overlap fails here)", () => {
  const rng = new Random(3);
  for (
    const [block, s] of [
      [8, { n: 2, len: 37, cin: 4, kw: 3, cout: 4, padBefore: 1, padAfter: 2 }],
      [16, { n: 1, len: 71, cin: 5, kw: 7, cout: 6, padBefore: 0, padAfter: 0 }],
      [4, { n: 2, len: 13, cin: 1, kw: 2, cout: 1, padBefore: 0, padAfter: 1 }],
      [16, { n: 1, len: 40, cin: 4, kw: 16, cout: 4, padBefore: 0, padAfter: 0 }], // L = 1
    ] as [number, Conv1dShape][]
  ) {
    check(new FftConv(gemm, block), s, rng, true);
  }
});

Deno.test("fft conv: short rows end to end on one line equal direct convolutions", () => {
  const rng = new Random(11);
  const conv = new FftConv(gemm, 256);
  for (
    const s of [
      { n: 37, len: 49, cin: 40, kw: 40, cout: 40, padBefore: 19, padAfter: 0 }, // left edges
      { n: 29, len: 49, cin: 40, kw: 40, cout: 40, padBefore: 0, padAfter: 20 }, // right edges
      { n: 23, len: 29, cin: 40, kw: 40, cout: 40, padBefore: 20, padAfter: 39 }, // their dX
      { n: 13, len: 30, cin: 40, kw: 40, cout: 40, padBefore: 39, padAfter: 19 },
      { n: 9, len: 17, cin: 6, kw: 9, cout: 5, padBefore: 8, padAfter: 8 }, // full padding
      { n: 40, len: 5, cin: 4, kw: 5, cout: 4, padBefore: 0, padAfter: 0 }, // no padding
      { n: 6, len: 100, cin: 4, kw: 40, cout: 4, padBefore: 2, padAfter: 30 },
    ] as Conv1dShape[]
  ) {
    const { lines, blocks } = conv.layout(s);
    assert.equal(lines, 1, `rows of ${JSON.stringify(s)} share one line`);
    assert.ok(blocks < s.n, "and fewer blocks than one per row");
    check(conv, s, rng, s.n === 37);
  }
  // Rows of whole blocks of outputs (2 × 217) keep a line each: end to end would take more.
  const long = { n: 3, len: 473, cin: 40, kw: 40, cout: 40, padBefore: 0, padAfter: 0 };
  assert.deepEqual(conv.layout(long), { lines: 3, blocks: 6 });
  check(conv, long, rng, false);
});

Deno.test("fft conv: refuses what it cannot do", () => {
  assert.throws(() => new FftConv(gemm, 96), /power of two/);
  const conv = new FftConv(gemm, 32);
  const s = { n: 1, len: 50, cin: 4, kw: 33, cout: 4, padBefore: 0, padAfter: 0 };
  assert.throws(
    () => conv.conv1d(new Float32Array(200), new Float32Array(33 * 16), s),
    /exceeds the block/,
  );
  const s2 = { ...s, kw: 3 };
  assert.throws(() => conv.conv1d(new Float32Array(199), new Float32Array(3 * 16), s2), /x is not/);
});
