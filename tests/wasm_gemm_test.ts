/**
 * lib/model/wasm_gemm.ts against plain JS loops, for both multiply-add variants.
 *
 * Tolerance: every output is compared with a float64 reference under the standard forward
 * error bound of a float32 dot product evaluated in any order, fused or not,
 * `|ĉ − c| ≤ γ_n · (|c0| + Σ_k |a_ik|·|b_kj|)` with `γ_n = n·u / (1 − n·u)`, `u = 2⁻²⁴` and
 * n = K + 1 terms (the +1 for an accumulated C). It is rigorous, so a failure is a bug, not
 * bad luck, and it scales with the sizes instead of being one loose constant; the inputs are
 * float32 already, so the reference sees exactly the kernel's operands.
 * @module
 */
import assert from "node:assert/strict";
import {
  buildGemmModule,
  type GemmVariant,
  relaxedSimdSupported,
  WasmGemm,
} from "../lib/model/wasm_gemm.ts";

const VARIANTS: GemmVariant[] = relaxedSimdSupported() ? ["relaxed", "plain"] : ["plain"];

/** Deterministic uniform noise in [−1, 1). */
function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

/**
 * Checks `got [m×n]` against `c0 + Σ_q A(i,q)·B(q,j)` with the bound above; A and B are read
 * through accessors so that transposed and strided layouts share one reference.
 */
function checkProduct(
  got: Float32Array,
  m: number,
  k: number,
  n: number,
  a: (i: number, q: number) => number,
  b: (q: number, j: number) => number,
  c0?: Float32Array,
  what = "",
): void {
  const u = 2 ** -24, terms = k + 1;
  const gamma = (terms * u) / (1 - terms * u);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let exact = c0 ? c0[i * n + j] : 0, mag = Math.abs(exact);
      for (let q = 0; q < k; q++) {
        const p = a(i, q) * b(q, j);
        exact += p;
        mag += Math.abs(p);
      }
      const err = Math.abs(got[i * n + j] - exact);
      if (!(err <= gamma * mag)) {
        assert.fail(
          `${what} C[${i},${j}] = ${got[i * n + j]}, expected ${exact} (error ${err} > ` +
            `bound ${gamma * mag}; m=${m} k=${k} n=${n})`,
        );
      }
    }
  }
}

// M = 1, K = 1, and sizes that are not multiples of the tile (rows × 8), the unroll (4) or the
// K block (256), next to the conv2 shapes themselves (K = 1600, N = 40).
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 1, 40],
  [1, 1600, 40],
  [7, 1, 9],
  [5, 3, 3],
  [6, 8, 8],
  [13, 17, 19],
  [37, 53, 41],
  [100, 257, 40],
  [64, 1600, 40],
  [3, 513, 7],
  [49, 6, 16],
];

for (const variant of VARIANTS) {
  Deno.test(`wasm_gemm ${variant}: C = A·B matches a JS triple loop`, () => {
    const g = WasmGemm.create({ variant });
    assert.equal(g.variant, variant);
    for (const [m, k, n] of SHAPES) {
      const a = noise(m * k, m * 31 + k), b = noise(k * n, n * 17 + k);
      const c = g.gemm(a, b, m, k, n);
      checkProduct(c, m, k, n, (i, q) => a[i * k + q], (q, j) => b[q * n + j], undefined, variant);
    }
  });

  Deno.test(`wasm_gemm ${variant}: accumulate and transposed A`, () => {
    const g = WasmGemm.create({ variant });
    for (const [m, k, n] of SHAPES) {
      const at = noise(k * m, m + 7 * k), b = noise(k * n, 3 + n), c0 = noise(m * n, 11 + m);
      const c = g.gemm(at, b, m, k, n, { transA: true, accumulate: true, c: c0.slice() });
      checkProduct(c, m, k, n, (i, q) => at[q * m + i], (q, j) => b[q * n + j], c0, variant);
    }
  });

  Deno.test(`wasm_gemm ${variant}: every tile height and unroll, small K blocks`, () => {
    const [m, k, n] = [23, 37, 21];
    const a = noise(m * k, 5), b = noise(k * n, 6), c0 = noise(m * n, 7);
    for (const rows of [1, 2, 3, 5, 6, 7, 8]) {
      for (const unroll of [1, 3, 4]) {
        const g = WasmGemm.create({ variant, rows, unroll, kBlock: 5 });
        const c = g.gemm(a, b, m, k, n, { accumulate: true, c: c0.slice() });
        checkProduct(c, m, k, n, (i, q) => a[i * k + q], (q, j) => b[q * n + j], c0, `r${rows}`);
      }
    }
  });

  Deno.test(`wasm_gemm ${variant}: resident strided operands (generic kernel), no overrun`, () => {
    const g = WasmGemm.create({ variant });
    const [m, k, n] = [11, 29, 13];
    const rs = 2 * k + 3, cs = 2, ld = n + 5;
    const src = noise(m * rs + k * cs, 9), bsrc = noise(k * (n + 4), 10);
    const a = g.upload(src);
    const b = g.packB({ buffer: g.upload(bsrc), offset: 2, ld: n + 2 }, k, n);
    const guard = 12345;
    const cbuf = g.alloc(3 + m * ld);
    cbuf.data.fill(guard);
    const c = { buffer: cbuf, offset: 3, ld };
    g.multiply({ a: { buffer: a, offset: 1, rowStride: rs, colStride: cs }, b, c, m });
    assert.throws(() =>
      g.multiply({ a: { buffer: a, rowStride: rs + 10, colStride: cs }, b, c, m })
    );
    // Gaps between C's rows keep the guard value: the edge panel (13 = 8 + 5) went through
    // scratch.
    const cd = cbuf.data;
    assert.deepEqual([...cd.subarray(0, 3)], [guard, guard, guard]);
    const out = new Float32Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < ld; j++) {
        if (j < n) out[i * n + j] = cd[3 + i * ld + j];
        else if (i + 1 < m) assert.equal(cd[3 + i * ld + j], guard, `C[${i}, ${j}] overwritten`);
      }
    }
    checkProduct(
      out,
      m,
      k,
      n,
      (i, q) => src[1 + i * rs + q * cs],
      (q, j) => bsrc[2 + q * (n + 2) + j],
    );
  });

  Deno.test(`wasm_gemm ${variant}: strided batch of products sharing B`, () => {
    const g = WasmGemm.create({ variant, kBlock: 16 });
    const [m, k, n, count] = [9, 35, 12, 4];
    const sa = 2 * k + 1, sc = m * n + 3; // gaps between the items
    const src = noise(count * sa + m * k, 31), bsrc = noise(k * n, 32);
    const c0 = noise(count * sc, 33);
    const a = g.upload(src), b = g.packB(bsrc, k, n), c = g.upload(c0);
    // Rows of A overlap (row stride 2 < k), as in the im2col-free convolution.
    g.multiply({
      a: { buffer: a, rowStride: 2 },
      b,
      c: { buffer: c },
      m,
      accumulate: true,
      batch: { count, strideA: sa, strideC: sc },
    });
    const cd = c.data;
    for (let t = 0; t < count; t++) {
      checkProduct(
        cd.slice(t * sc, t * sc + m * n),
        m,
        k,
        n,
        (i, q) => src[t * sa + 2 * i + q],
        (q, j) => bsrc[q * n + j],
        c0.slice(t * sc, t * sc + m * n),
        `item ${t}`,
      );
      for (let j = t * sc + m * n; j < (t + 1) * sc; j++) assert.equal(cd[j], c0[j]);
    }
  });

  Deno.test(`wasm_gemm ${variant}: conv1d and its filter gradient (im2col-free)`, () => {
    const g = WasmGemm.create({ variant });
    for (
      const s of [
        { n: 3, len: 50, cin: 40, kw: 40, cout: 40, padBefore: 19, padAfter: 20 },
        { n: 2, len: 9, cin: 3, kw: 4, cout: 11, padBefore: 0, padAfter: 0 },
        { n: 1, len: 5, cin: 1, kw: 5, cout: 2, padBefore: 4, padAfter: 4 },
      ]
    ) {
      const lp = s.padBefore + s.len + s.padAfter, lout = lp - s.kw + 1;
      const x = noise(s.n * s.len * s.cin, 21), w = noise(s.kw * s.cin * s.cout, 22);
      const dy = noise(s.n * lout * s.cout, 23);
      const xpad = (r: number, t: number, i: number) => {
        const p = t - s.padBefore;
        return p < 0 || p >= s.len ? 0 : x[(r * s.len + p) * s.cin + i];
      };
      const y = g.conv1d(x, w, s);
      assert.equal(y.length, s.n * lout * s.cout);
      // As one product: rows (r, t), K = (q, i), N = o.
      const K = s.kw * s.cin;
      checkProduct(
        y,
        s.n * lout,
        K,
        s.cout,
        (row, j) => xpad(Math.floor(row / lout), (row % lout) + Math.floor(j / s.cin), j % s.cin),
        (j, o) => w[j * s.cout + o],
      );
      const dw = g.conv1dFilterGrad(x, dy, s);
      checkProduct(
        dw,
        K,
        s.n * lout,
        s.cout,
        (j, rt) => xpad(Math.floor(rt / lout), (rt % lout) + Math.floor(j / s.cin), j % s.cin),
        (rt, o) => dy[rt * s.cout + o],
      );
    }
  });
}

// The bound is a worst case (about √K wider than typical rounding), yet far below what any
// indexing bug produces: a missed or doubled term changes an output by ~|a||b| ≈ 0.3 here.
Deno.test("the tolerance check itself rejects a result off by a tenth of one term", () => {
  const a = noise(6 * 50, 41), b = noise(50 * 3, 42);
  const g = WasmGemm.create();
  const c = g.gemm(a, b, 6, 50, 3);
  const bad = c.slice();
  bad[4] += 0.1 * Math.abs(a[4 * 50 + 7] * b[7 * 3 + 1]) + 1e-3;
  const args = [
    6,
    50,
    3,
    (i: number, q: number) => a[i * 50 + q],
    (q: number, j: number) => b[q * 3 + j],
  ] as const;
  checkProduct(c, ...args);
  assert.throws(() => checkProduct(bad, ...args), /expected/);
});

Deno.test("wasm_gemm: both generated modules validate; auto picks relaxed where supported", () => {
  for (const v of ["relaxed", "plain"] as const) {
    const ok = WebAssembly.validate(buildGemmModule(v, 6, 4));
    assert.equal(ok, v === "plain" ? true : relaxedSimdSupported());
  }
  assert.equal(WasmGemm.create().variant, relaxedSimdSupported() ? "relaxed" : "plain");
  assert.throws(() => WasmGemm.create({ rows: 9 }));
});

Deno.test("wasm_gemm: memory grows under resident buffers and freed blocks are reused", () => {
  const g = WasmGemm.create({ variant: "plain" });
  const keep = g.upload(noise(1000, 1));
  const before = g.memory.buffer.byteLength;
  const big = g.alloc(20 * 65536); // 5 MB: forces growth
  assert.ok(g.memory.buffer.byteLength > before);
  assert.deepEqual(keep.data, noise(1000, 1));
  const at = big.byteOffset;
  big.free();
  const again = g.alloc(1000);
  assert.equal(again.byteOffset, at);
  // Degenerate sizes: no rows, no columns, an empty sum.
  assert.equal(g.gemm(new Float32Array(0), new Float32Array(0), 0, 0, 5).length, 0);
  assert.deepEqual(g.gemm(new Float32Array(0), new Float32Array(0), 2, 0, 2), new Float32Array(4));
});

Deno.test("wasm_gemm: packB's SIMD panels (large B) give the layout [⌈n/8⌉][k][8], zeros past n", () => {
  const g = WasmGemm.create();
  // Large enough for the SIMD path, n with a partial last panel, and n a multiple of 8.
  for (const [k, n] of [[130, 45], [77, 64], [4096, 1], [600, 9]]) {
    const ld = n + 3, src = noise(2 + k * ld, k + n);
    const want = new Float32Array(Math.ceil(n / 8) * k * 8);
    for (let p = 0, o = 0; p < Math.ceil(n / 8); p++) {
      for (let r = 0; r < k; r++, o += 8) {
        for (let j = 0; j < 8; j++) want[o + j] = p * 8 + j < n ? src[2 + r * ld + p * 8 + j] : 0;
      }
    }
    const resident = g.packB({ buffer: g.upload(src), offset: 2, ld }, k, n);
    assert.deepEqual(resident.buffer.data.subarray(0, want.length), want, `resident ${k}×${n}`);
    const dense = new Float32Array(k * n);
    for (let r = 0; r < k; r++) dense.set(src.subarray(2 + r * ld, 2 + r * ld + n), r * n);
    // A stale buffer to reuse: every value must be overwritten, the padding zeroed.
    const into = g.packB(noise(k * n, 99), k, n);
    into.buffer.data.fill(7);
    const js = g.packB(dense, k, n, into);
    assert.deepEqual(js.buffer.data.subarray(0, want.length), want, `JS array ${k}×${n}`);
    assert.throws(() => g.packB(dense.subarray(1), k, n), /exceeds/);
  }
});
