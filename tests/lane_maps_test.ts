/**
 * lib/model/lane_maps.ts and the WasmGemm ops built on it, against plain JS references: the
 * SIMD lane maps of the Winograd transforms and the convolution layer's bias/ReLU ops.
 */
import assert from "node:assert/strict";
import { compileLaneMaps } from "../lib/model/lane_maps.ts";
import { WasmGemm } from "../lib/model/wasm_gemm.ts";
import { winogradMatrices } from "../lib/model/winograd.ts";
import { Random } from "../lib/util/random.ts";

const gemm = WasmGemm.create();

Deno.test("lane maps: each Winograd matrix applied over strided channel vectors", () => {
  const { bt, at, alpha, m } = winogradMatrices(4, 4);
  const mats = [
    { rows: alpha, cols: alpha, values: bt },
    { rows: m, cols: alpha, values: at },
  ];
  const maps = compileLaneMaps(gemm.memory, mats);
  const rng = new Random(5);
  // Inputs of consecutive repetitions overlap (as the transforms' do); outputs must not.
  const count = 12, reps = 3, ss = 16, ds = 16, srcStep = 40, dstStep = 16 * 7 + 4;
  mats.forEach((mat, i) => {
    const src = gemm.alloc(srcStep * reps + ss * mat.cols),
      dst = gemm.alloc(dstStep * reps + ds * mat.rows);
    const sd = src.data, dd = dst.data;
    for (let j = 0; j < sd.length; j++) sd[j] = rng.uniform(-1, 1);
    dd.fill(7); // untouched positions must keep their value
    maps[i](src.byteOffset / 4, srcStep, ss, dst.byteOffset / 4, dstStep, ds, reps, count);
    const got = dst.data, x = src.data;
    let worst = 0;
    const written = new Set<number>();
    for (let rep = 0; rep < reps; rep++) {
      for (let b = 0; b < mat.rows; b++) {
        for (let e = 0; e < count; e++) {
          let want = 0, mag = 0;
          for (let a = 0; a < mat.cols; a++) {
            const t = mat.values[b * mat.cols + a] * x[rep * srcStep + a * ss + e];
            want += t;
            mag += Math.abs(t);
          }
          const at = rep * dstStep + b * ds + e;
          written.add(at);
          worst = Math.max(worst, Math.abs(got[at] - want) / Math.max(mag, 1e-30));
        }
      }
    }
    assert.ok(worst < 1e-6, `matrix ${i}: relative error ${worst}`);
    for (let j = 0; j < got.length; j++) if (!written.has(j)) assert.equal(got[j], 7, `wrote ${j}`);
    src.free();
    dst.free();
  });
  assert.throws(() => maps[0](0, 0, 0, 0, 0, 0, 1, 6), /multiple of 4/);
});

for (const channels of [40, 6]) {
  Deno.test(`biasRelu and reluGrad (${channels} channels) equal the JS definitions`, () => {
    const rng = new Random(9), rows = 700;
    const pre = Float32Array.from({ length: rows * channels }, () => rng.uniform(-1, 1));
    const bias = Float32Array.from({ length: channels }, () => rng.uniform(-0.3, 0.3));
    const buf = gemm.upload(pre);
    gemm.biasRelu(buf, rows, bias);
    const y = buf.data.slice();
    buf.free();
    for (let i = 0; i < y.length; i++) {
      assert.equal(y[i], Math.max(Math.fround(pre[i] + bias[i % channels]), 0));
    }
    const dy = Float32Array.from({ length: rows * channels }, () => rng.uniform(-1, 1));
    const { dpre, db } = gemm.reluGrad(dy, y, channels);
    const want = new Float64Array(channels);
    for (let i = 0; i < dy.length; i++) {
      assert.equal(dpre[i], y[i] > 0 ? dy[i] : 0);
      want[i % channels] += dpre[i];
    }
    for (let o = 0; o < channels; o++) assert.ok(Math.abs(db[o] - want[o]) < 1e-4, `db[${o}]`);
    assert.ok(db.some((v) => v !== 0));
  });
}

Deno.test("poolPairs and unpoolPairs equal the JS definitions, ties to the first position", () => {
  const rng = new Random(13), pairs = 600, c = 8;
  const y = Float32Array.from({ length: 2 * pairs * c }, () => Math.max(0, rng.uniform(-1, 1)));
  y.fill(0.5, 0, 2 * c); // the first pair ties in every channel
  const { pooled, mask } = gemm.poolPairs(y, pairs, c);
  const dy = Float32Array.from({ length: pairs * c }, () => rng.uniform(-1, 1));
  const { dpre, db } = gemm.unpoolPairs(dy, pooled, mask, c);
  const want = new Float64Array(c);
  for (let p = 0; p < pairs; p++) {
    for (let o = 0; o < c; o++) {
      const a = y[2 * p * c + o], b = y[(2 * p + 1) * c + o], i = p * c + o;
      assert.equal(pooled[i], Math.max(a, b));
      assert.equal(mask[i], b > a ? -1 : 0);
      const g = pooled[i] > 0 ? dy[i] : 0;
      assert.equal(dpre[2 * p * c + o], b > a ? 0 : g);
      assert.equal(dpre[(2 * p + 1) * c + o], b > a ? g : 0);
      want[o] += g;
    }
  }
  for (let o = 0; o < c; o++) assert.ok(Math.abs(db[o] - want[o]) < 1e-4, `db[${o}]`);
  assert.throws(() => gemm.poolPairs(y, pairs, 6), /multiple of 4/);
});
