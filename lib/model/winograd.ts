/**
 * Winograd (Toom-Cook) 1-D convolution: the same products as {@link WasmGemm.conv1d} and
 * {@link WasmGemm.conv1dFilterGrad} with about 2.3× fewer multiply-adds, exactly in exact
 * arithmetic (float32 rounding differs).
 *
 * ## Why it is exact, and where the savings come from
 * The 40-tap filter is cut into chunks of `r` taps (chunk c = taps c·r … c·r + r − 1, zero
 * taps added when `r` does not divide the width) and the outputs into tiles of `m` positions.
 * One chunk over one tile is the correlation F(m, r), which Toom-Cook computes from α = m + r − 1
 * point-wise products instead of m·r:
 *
 *     y_tile = Aᵀ · [(G · g) ⊙ (Bᵀ · d)],  d = the α inputs the tile and chunk see,
 *
 * with G and Aᵀ the evaluation matrices of polynomials of degree r − 1 and m − 1 at α points
 * (one of them ∞) and Bᵀ the transposed inverse of the α × α evaluation matrix — the transposed
 * form of Toom-Cook's linear convolution (see {@link winogradMatrices}). With channels, every
 * point-wise product becomes a `cin × cout` matrix product, and the sum over chunks and input
 * channels is, for each of the α points, one GEMM with K = chunks · cin: the expensive part
 * shrinks by m·r/α (F(4, 4): 16/7 ≈ 2.3). Because m is a multiple of r, the inputs of tile t and
 * chunk c start at position r·((m/r)·t + c): transformed once at every r-th position, the GEMM
 * reads its rows in place (row stride (m/r)·cin, unit column stride), as {@link WasmGemm.conv1d}
 * does with the raw input. The transforms are O(α²·cin) per r positions, generated straight-line
 * JS: at conv2's row shape (8 × 24,000) they took about a fifth to a third of a call (0.41–0.52 s
 * a call, of which the GEMMs ≈ 0.33 s).
 *
 * The filter gradient follows by back-propagating through the same formula: the upstream
 * gradient of every tile goes through A (α values), the transformed filters' gradient is a
 * GEMM of the transformed inputs (transposed, read in place) with it, and Gᵀ maps it back to
 * the taps. The input gradient is a convolution of the same shape (flipped filter), so callers
 * use {@link WinogradConv.conv1d} for it too.
 *
 * Points {0, ±1, ±2, ½, ∞} (F(4, 4)) keep float32 errors within a few 1e-6 of the largest
 * Σ|terms| at conv2's shapes (measured ≤ 3.3e-6; tests/winograd_test.ts bounds them at 2e-5
 * against a float64 direct convolution).
 * @module
 */
import {
  biasReluInPlace,
  type Conv1dShape,
  type PackedB,
  type WasmBuffer,
  type WasmGemm,
} from "./wasm_gemm.ts";
import { compileLaneMaps, type LaneMapFn } from "./lane_maps.ts";

/** Evaluation points of the default F(4, 4): six finite points and ∞. */
export const WINOGRAD_POINTS: readonly number[] = [0, 1, -1, 2, -2, 0.5];

/** The Toom-Cook matrices of F(m, r), row-major, in float64. */
export interface WinogradMatrices {
  /** Outputs per tile. */
  m: number;
  /** Taps per chunk. */
  r: number;
  /** Points (transform size) α = m + r − 1. */
  alpha: number;
  /** Aᵀ `[m × α]`: point values → tile outputs. */
  at: Float64Array;
  /** G `[α × r]`: chunk taps → point values. */
  g: Float64Array;
  /** Bᵀ `[α × α]`: tile inputs → point values. */
  bt: Float64Array;
}

/** Inverse of a square matrix (Gauss-Jordan with partial pivoting, float64). */
function invert(a: Float64Array, n: number): Float64Array {
  const w = Float64Array.from(a), inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) inv[i * n + i] = 1;
  for (let col = 0; col < n; col++) {
    let piv = col;
    for (let r = col + 1; r < n; r++) {
      if (Math.abs(w[r * n + col]) > Math.abs(w[piv * n + col])) piv = r;
    }
    if (Math.abs(w[piv * n + col]) < 1e-12) throw new Error("winograd: points are not distinct");
    for (const m of [w, inv]) {
      for (let j = 0; j < n; j++) {
        const t = m[col * n + j];
        m[col * n + j] = m[piv * n + j];
        m[piv * n + j] = t;
      }
    }
    const d = w[col * n + col];
    for (let j = 0; j < n; j++) {
      w[col * n + j] /= d;
      inv[col * n + j] /= d;
    }
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = w[r * n + col];
      if (f === 0) continue;
      for (let j = 0; j < n; j++) {
        w[r * n + j] -= f * w[col * n + j];
        inv[r * n + j] -= f * inv[col * n + j];
      }
    }
  }
  return inv;
}

/**
 * Evaluation matrix `[α × cols]` of polynomials with `cols` coefficients at the finite points
 * and ∞ (whose "value" is the leading coefficient).
 */
function evaluation(points: readonly number[], cols: number): Float64Array {
  const alpha = points.length + 1, v = new Float64Array(alpha * cols);
  points.forEach((p, i) => {
    for (let j = 0; j < cols; j++) v[i * cols + j] = p ** j;
  });
  v[(alpha - 1) * cols + cols - 1] = 1;
  return v;
}

/**
 * Toom-Cook matrices of the correlation F(m, r) at `points` (m + r − 2 distinct finite points;
 * ∞ is added). Linear convolution of taps g and inputs h is s = C·[(A_g g) ⊙ (A_h h)] with A_g,
 * A_h the evaluation matrices and C the inverse of the α × α one; correlation is its transpose
 * in h, y = A_hᵀ·[(A_g g) ⊙ (Cᵀ d)]: Aᵀ = A_hᵀ, G = A_g, Bᵀ = Cᵀ.
 */
export function winogradMatrices(
  m: number,
  r: number,
  points: readonly number[] = WINOGRAD_POINTS,
): WinogradMatrices {
  const alpha = m + r - 1;
  if (points.length !== alpha - 1) {
    throw new Error(`winograd: F(${m}, ${r}) needs ${alpha - 1} finite points`);
  }
  const ah = evaluation(points, m);
  const at = new Float64Array(m * alpha);
  for (let i = 0; i < alpha; i++) for (let j = 0; j < m; j++) at[j * alpha + i] = ah[i * m + j];
  const c = invert(evaluation(points, alpha), alpha);
  const bt = new Float64Array(alpha * alpha);
  for (let i = 0; i < alpha; i++) {
    for (let j = 0; j < alpha; j++) bt[i * alpha + j] = c[j * alpha + i];
  }
  return { m, r, alpha, at, g: evaluation(points, r), bt };
}

/**
 * `dst[dOff + b·ds + e] = Σ_a M[b][a] · src[sOff + a·ss + e]` for e < count: a small constant
 * matrix applied to `count` contiguous lanes (channels). Generated as straight-line code with
 * the coefficients inlined (zeros skipped, ±1 without a multiply): a generic loop over the
 * matrix runs ~10× slower in V8 and would cost as much as the GEMM it saves.
 */
type LaneMap = (
  src: Float32Array,
  sOff: number,
  ss: number,
  dst: Float32Array,
  dOff: number,
  ds: number,
  count: number,
) => void;

function laneMap(mat: Float64Array, rows: number, cols: number): LaneMap {
  const loads = Array.from({ length: cols }, (_, a) => `const x${a} = src[sOff + ${a} * ss + e];`);
  const stores = Array.from({ length: rows }, (_, b) => {
    const terms: string[] = [];
    for (let a = 0; a < cols; a++) {
      const c = mat[b * cols + a];
      if (c === 0) continue;
      terms.push(c === 1 ? `+ x${a}` : c === -1 ? `- x${a}` : `+ ${c.toPrecision(17)} * x${a}`);
    }
    return `dst[dOff + ${b} * ds + e] = 0 ${terms.join(" ")};`;
  });
  return new Function(
    "src",
    "sOff",
    "ss",
    "dst",
    "dOff",
    "ds",
    "count",
    `for (let e = 0; e < count; e++) { ${loads.join(" ")} ${stores.join(" ")} }`,
  ) as LaneMap;
}

/** Tile geometry of one convolution shape. */
interface Plan {
  /** Outputs per row. */
  lout: number;
  /** Tiles per row. */
  tiles: number;
  /** Filter chunks. */
  chunks: number;
  /** Transformed input positions per row (every r-th input position). */
  slots: number;
}

/**
 * Winograd F(m, r) convolutions on a {@link WasmGemm}'s kernels. Same shapes and filter layout
 * (`w [kw, cin, cout]`) as {@link WasmGemm.conv1d}.
 */
export class WinogradConv {
  /** The matrices in use. */
  readonly matrices: WinogradMatrices;
  readonly #gemm: WasmGemm;
  readonly #input: LaneMap;
  readonly #output: LaneMap;
  readonly #upstream: LaneMap;
  /** The same three maps in SIMD on the GEMM's memory, for channel counts divisible by 4. */
  readonly #simd: { input: LaneMapFn; output: LaneMapFn; upstream: LaneMapFn };

  /** F(m, r) with `m` a multiple of `r` (default F(4, 4) at {@link WINOGRAD_POINTS}). */
  constructor(gemm: WasmGemm, m = 4, r = 4, points: readonly number[] = WINOGRAD_POINTS) {
    if (!Number.isInteger(m / r)) throw new Error("winograd: m must be a multiple of r");
    this.#gemm = gemm;
    this.matrices = winogradMatrices(m, r, points);
    const { alpha, at, bt } = this.matrices;
    this.#input = laneMap(bt, alpha, alpha);
    this.#output = laneMap(at, m, alpha);
    // A (= Aᵀ transposed): upstream gradient of a tile → point values.
    const a = new Float64Array(alpha * m);
    for (let j = 0; j < m; j++) for (let i = 0; i < alpha; i++) a[i * m + j] = at[j * alpha + i];
    this.#upstream = laneMap(a, alpha, m);
    const [input, output, upstream] = compileLaneMaps(gemm.memory, [
      { rows: alpha, cols: alpha, values: bt },
      { rows: m, cols: alpha, values: at },
      { rows: alpha, cols: m, values: a },
    ]);
    this.#simd = { input, output, upstream };
  }

  #plan(s: Conv1dShape): Plan {
    const { m, r } = this.matrices;
    const lp = s.padBefore + s.len + s.padAfter, lout = lp - s.kw + 1;
    if (lout < 1 || s.kw < 1 || s.cin < 1 || s.cout < 1) throw new Error("winograd: empty shape");
    const tiles = Math.ceil(lout / m), chunks = Math.ceil(s.kw / r);
    return { lout, tiles, chunks, slots: (m / r) * (tiles - 1) + chunks };
  }

  /**
   * Transformed inputs `V [n][α][slots][cin]`: V[ξ][s] = Σ_a Bᵀ[ξ][a] · xpad[r·s + a], with
   * xpad the zero-padded row (zeros also past its end, for the last tile).
   */
  #transformInput(x: Float32Array, s: Conv1dShape, p: Plan): WasmBuffer {
    const { r, alpha } = this.matrices;
    const cin = s.cin, per = alpha * p.slots * cin;
    const v = this.#gemm.alloc(s.n * per);
    // Zero-padded rows, long enough for the last slot: no bounds checks inside the maps.
    const rowLen = (r * (p.slots - 1) + alpha) * cin;
    const from = Math.min(s.len, Math.max(0, rowLen / cin - s.padBefore));
    if (cin % 4 === 0) {
      const xp = this.#gemm.alloc(s.n * rowLen);
      try {
        const d = xp.data;
        d.fill(0);
        for (let n = 0; n < s.n; n++) {
          d.set(
            x.subarray(n * s.len * cin, (n * s.len + from) * cin),
            n * rowLen + s.padBefore * cin,
          );
        }
        const xo = xp.byteOffset / 4, vo = v.byteOffset / 4;
        for (let n = 0; n < s.n; n++) {
          this.#simd.input(
            xo + n * rowLen,
            r * cin,
            cin,
            vo + n * per,
            cin,
            p.slots * cin,
            p.slots,
            cin,
          );
        }
      } finally {
        xp.free();
      }
      return v;
    }
    const d = v.data;
    const row = new Float32Array(rowLen);
    for (let n = 0; n < s.n; n++) {
      row.fill(0);
      row.set(x.subarray(n * s.len * cin, (n * s.len + from) * cin), s.padBefore * cin);
      const vo = n * per;
      for (let slot = 0; slot < p.slots; slot++) {
        this.#input(row, slot * r * cin, cin, d, vo + slot * cin, p.slots * cin, cin);
      }
    }
    return v;
  }

  /**
   * `y [n, lout, cout]` = the stride-1 correlation of the zero-padded `x [n, len, cin]` with
   * `w [kw, cin, cout]`, or `max(y + bias, 0)` with `bias`: {@link WasmGemm.conv1d}'s result.
   */
  conv1d(x: Float32Array, w: Float32Array, s: Conv1dShape, bias?: Float32Array): Float32Array {
    const g = this.#gemm, { m, r, alpha } = this.matrices;
    const p = this.#plan(s);
    if (x.length !== s.n * s.len * s.cin) throw new Error("winograd: x is not [n, len, cin]");
    if (w.length !== s.kw * s.cin * s.cout) throw new Error("winograd: w is not [kw, cin, cout]");
    const { cin, cout } = s, k = p.chunks * cin;
    // Transformed filters U[ξ] [chunks·cin × cout]: U[ξ][c] = Σ_j G[ξ][j] · w[c·r + j].
    const u = new Float32Array(k * cout);
    const packed: PackedB[] = [];
    const v = this.#transformInput(x, s, p);
    const yb = g.alloc(s.n * alpha * p.tiles * cout);
    try {
      for (let xi = 0; xi < alpha; xi++) {
        u.fill(0);
        for (let c = 0; c < p.chunks; c++) {
          for (let j = 0; j < r; j++) {
            const q = c * r + j, f = this.matrices.g[xi * r + j];
            if (q >= s.kw || f === 0) continue;
            const src = q * cin * cout, dst = c * cin * cout;
            for (let e = 0; e < cin * cout; e++) u[dst + e] += f * w[src + e];
          }
        }
        packed.push(g.packB(u, k, cout));
      }
      const perV = alpha * p.slots * cin, perY = alpha * p.tiles * cout;
      for (let xi = 0; xi < alpha; xi++) {
        g.multiply({
          a: { buffer: v, offset: xi * p.slots * cin, rowStride: (m / r) * cin },
          b: packed[xi],
          c: { buffer: yb, offset: xi * p.tiles * cout },
          m: p.tiles,
          batch: { count: s.n, strideA: perV, strideC: perY },
        });
      }
      // Output transform: y[m·t + j] = Σ_ξ Aᵀ[j][ξ] · Y[ξ][t].
      const out = new Float32Array(s.n * p.lout * cout);
      if (cout % 4 === 0) {
        const rowOut = p.tiles * m * cout, ob = g.alloc(s.n * rowOut);
        try {
          const yo = yb.byteOffset / 4, oo = ob.byteOffset / 4;
          for (let n = 0; n < s.n; n++) {
            this.#simd.output(
              yo + n * perY,
              cout,
              p.tiles * cout,
              oo + n * rowOut,
              m * cout,
              cout,
              p.tiles,
              cout,
            );
          }
          if (bias) g.biasRelu(ob, s.n * p.tiles * m, bias);
          const od = ob.data;
          if (rowOut === p.lout * cout) out.set(od);
          else {
            for (let n = 0; n < s.n; n++) {
              out.set(od.subarray(n * rowOut, n * rowOut + p.lout * cout), n * p.lout * cout);
            }
          }
        } finally {
          ob.free();
        }
        return out;
      }
      const yd = yb.data;
      const tile = new Float32Array(p.tiles * m * cout);
      for (let n = 0; n < s.n; n++) {
        const yo = n * perY;
        for (let t = 0; t < p.tiles; t++) {
          this.#output(yd, yo + t * cout, p.tiles * cout, tile, t * m * cout, cout, cout);
        }
        out.set(tile.subarray(0, p.lout * cout), n * p.lout * cout);
      }
      if (bias) biasReluInPlace(out, bias);
      return out;
    } finally {
      v.free();
      yb.free();
      for (const b of packed) b.buffer.free();
    }
  }

  /**
   * Filter gradient `dw [kw, cin, cout]` of {@link conv1d} for `dy [n, lout, cout]`:
   * {@link WasmGemm.conv1dFilterGrad}'s result.
   */
  conv1dFilterGrad(x: Float32Array, dy: Float32Array, s: Conv1dShape): Float32Array {
    const g = this.#gemm, { m, r, alpha } = this.matrices;
    const p = this.#plan(s);
    if (x.length !== s.n * s.len * s.cin) throw new Error("winograd: x is not [n, len, cin]");
    if (dy.length !== s.n * p.lout * s.cout) throw new Error("winograd: dy's size");
    const { cin, cout } = s, k = p.chunks * cin;
    const v = this.#transformInput(x, s, p);
    const du = g.alloc(alpha * k * cout);
    const perV = alpha * p.slots * cin;
    let pb: PackedB | undefined;
    let zb: WasmBuffer | undefined, dyp: WasmBuffer | undefined;
    // dU[ξ] [(c, i) × o] += Vᵀ[ξ] · dZ[ξ]: V's rows read transposed, in place.
    const accumulateRow = (row: number, xi: number) =>
      g.multiply({
        a: {
          buffer: v,
          offset: row * perV + xi * p.slots * cin,
          rowStride: 1,
          colStride: (m / r) * cin,
        },
        b: pb!,
        c: { buffer: du, offset: xi * k * cout },
        m: k,
        accumulate: row > 0,
      });
    try {
      // dZ[ξ][t] = Σ_j A[ξ][j] · dy[m·t + j] for all points at once (zero past lout).
      if (cout % 4 === 0) {
        const rowDy = p.tiles * m * cout;
        dyp = g.alloc(s.n * rowDy);
        zb = g.alloc(alpha * p.tiles * cout);
        const dd = dyp.data;
        for (let row = 0; row < s.n; row++) {
          dd.set(dy.subarray(row * p.lout * cout, (row + 1) * p.lout * cout), row * rowDy);
          dd.fill(0, row * rowDy + p.lout * cout, (row + 1) * rowDy);
        }
        const zo = zb.byteOffset / 4;
        for (let row = 0; row < s.n; row++) {
          this.#simd.upstream(
            dyp.byteOffset / 4 + row * rowDy,
            m * cout,
            cout,
            zo,
            cout,
            p.tiles * cout,
            p.tiles,
            cout,
          );
          for (let xi = 0; xi < alpha; xi++) {
            pb = g.packB({ buffer: zb, offset: xi * p.tiles * cout }, p.tiles, cout, pb);
            accumulateRow(row, xi);
          }
        }
      } else {
        const z = new Float32Array(alpha * p.tiles * cout);
        const dyRow = new Float32Array(p.tiles * m * cout);
        for (let row = 0; row < s.n; row++) {
          dyRow.set(dy.subarray(row * p.lout * cout, (row + 1) * p.lout * cout));
          for (let t = 0; t < p.tiles; t++) {
            this.#upstream(dyRow, t * m * cout, cout, z, t * cout, p.tiles * cout, cout);
          }
          for (let xi = 0; xi < alpha; xi++) {
            pb = g.packB(
              z.subarray(xi * p.tiles * cout, (xi + 1) * p.tiles * cout),
              p.tiles,
              cout,
              pb,
            );
            accumulateRow(row, xi);
          }
        }
      }
      // dw[c·r + j] = Σ_ξ G[ξ][j] · dU[ξ][c].
      const dd = du.data, dw = new Float32Array(s.kw * cin * cout);
      const acc = new Float64Array(cin * cout);
      for (let q = 0; q < s.kw; q++) {
        const c = Math.floor(q / r), j = q % r;
        acc.fill(0);
        for (let xi = 0; xi < alpha; xi++) {
          const f = this.matrices.g[xi * r + j];
          if (f === 0) continue;
          const src = xi * k * cout + c * cin * cout;
          for (let e = 0; e < cin * cout; e++) acc[e] += f * dd[src + e];
        }
        dw.set(acc, q * cin * cout);
      }
      return dw;
    } finally {
      v.free();
      du.free();
      zb?.free();
      dyp?.free();
      pb?.buffer.free();
    }
  }
}
