/**
 * Small constant matrices applied to channel vectors in WebAssembly SIMD: the Winograd
 * transforms (winograd.ts) on the GEMM module's memory.
 *
 * A lane map computes `dst[b·ds + e] = Σ_a M[b][a] · src[a·ss + e]` for the `count` channels e
 * of one position, repeated over `reps` positions (src and dst advanced by their steps). The
 * same maps written as generated straight-line JS took as long as the GEMMs they feed (a fifth
 * to a third of a Winograd convolution at conv2's shapes): V8 runs them scalar and in float64.
 * Here each map is straight-line f32x4 code with the coefficients inlined (zeros skipped, ±1
 * without a multiply), four channels per instruction, the loops inside the module so that one
 * call from JS maps a whole row. Arithmetic is float32 (the JS maps rounded once, at the store);
 * tests/winograd_test.ts bounds the convolutions' error either way.
 * @module
 */
import { Fn, I32, instantiateOnMemory, memarg, OP, SIMD, V128 } from "../util/wasm_encode.ts";

/** A matrix `[rows × cols]`, row-major, in float64 (rounded to float32 in the code). */
export interface LaneMatrix {
  rows: number;
  cols: number;
  values: Float64Array;
}

/**
 * `map(src, srcStep, ss, dst, dstStep, ds, reps, count)`: offsets and strides in floats of
 * the shared memory; `count` a positive multiple of 4; `reps` ≥ 1.
 */
export type LaneMapFn = (
  src: number,
  srcStep: number,
  ss: number,
  dst: number,
  dstStep: number,
  ds: number,
  reps: number,
  count: number,
) => void;

function splat(v: number): number[] {
  return [...new Uint8Array(new Float32Array(4).fill(v).buffer)];
}

/** The function body of one map (all parameters in bytes except reps and count). */
function mapBody(m: LaneMatrix): Fn {
  const f = new Fn(8);
  const [SRC, SSTEP, SS, DST, DSTEP, DS, REPS, COUNT] = [0, 1, 2, 3, 4, 5, 6, 7];
  const sp = Array.from({ length: m.cols }, () => f.local(I32));
  const dp = Array.from({ length: m.rows }, () => f.local(I32));
  const x = Array.from({ length: m.cols }, () => f.local(V128));
  const e = f.local(I32), end = f.local(I32);
  f.get(COUNT).i32(2).op(OP.i32Shl).set(end);
  f.loop(() => {
    for (let a = 0; a < m.cols; a++) {
      f.get(SRC).get(SS).i32(a).op(OP.i32Mul, OP.i32Add).set(sp[a]);
    }
    for (let b = 0; b < m.rows; b++) {
      f.get(DST).get(DS).i32(b).op(OP.i32Mul, OP.i32Add).set(dp[b]);
    }
    f.i32(0).set(e);
    f.loop(() => {
      for (let a = 0; a < m.cols; a++) {
        f.get(sp[a]).get(e).op(OP.i32Add).simd(SIMD.load, ...memarg(2, 0)).set(x[a]);
      }
      for (let b = 0; b < m.rows; b++) {
        f.get(dp[b]).get(e).op(OP.i32Add); // address, below the value
        let first = true;
        for (let a = 0; a < m.cols; a++) {
          const c = Math.fround(m.values[b * m.cols + a]);
          if (c === 0) continue;
          if (c === 1 || c === -1) {
            f.get(x[a]);
            if (first) { if (c === -1) f.simd(SIMD.f32x4Neg); }
            else f.simd(c === 1 ? SIMD.f32x4Add : SIMD.f32x4Sub);
          } else {
            f.simd(SIMD.const, ...splat(c)).get(x[a]).simd(SIMD.f32x4Mul);
            if (!first) f.simd(SIMD.f32x4Add);
          }
          first = false;
        }
        if (first) f.simd(SIMD.const, ...splat(0));
        f.simd(SIMD.store, ...memarg(2, 0));
      }
      f.stepBelow(e, { const: 16 }, end);
    });
    f.addTo(SRC, { local: SSTEP }).addTo(DST, { local: DSTEP });
    f.countDown(REPS);
  });
  return f;
}

/**
 * Compiles one module with a map per matrix on `memory` (imported as `env.memory`) and
 * returns them, taking offsets and strides in floats.
 */
export function compileLaneMaps(memory: WebAssembly.Memory, mats: LaneMatrix[]): LaneMapFn[] {
  const fns = instantiateOnMemory(
    memory,
    mats.map((m) => ({ params: 8, body: mapBody(m) })),
    "lane_maps",
  );
  return fns.map((fn) => {
    return (src, srcStep, ss, dst, dstStep, ds, reps, count) => {
      if (count <= 0 || count % 4 !== 0 || reps < 1) {
        throw new Error(`lane map: count ${count} must be a positive multiple of 4, reps ≥ 1`);
      }
      fn(4 * src, 4 * srcStep, 4 * ss, 4 * dst, 4 * dstStep, 4 * ds, reps, count);
    };
  });
}

/**
 * Per-channel element-wise ops of a convolution layer, on channels-last rows `[rows × count]`
 * in the shared memory (offsets in floats, `count` a positive multiple of 4):
 * - `biasRelu(y, rows, bias, count)`: `y = max(y + bias, 0)` in place (the layer's epilogue);
 * - `reluGrad(dy, y, out, rows, db, count)`: `out = y > 0 ? dy : 0` (ReLU' from the output:
 *   y > 0 exactly where the pre-activation is) and `db += Σ_rows out` in float32 (callers
 *   keep `rows` small and sum blocks in float64).
 */
export interface ChannelOps {
  biasRelu(y: number, rows: number, bias: number, count: number): void;
  reluGrad(dy: number, y: number, out: number, rows: number, db: number, count: number): void;
  /**
   * Max-pool of 2 over positions: for each of `pairs` position pairs of `y [2·pairs × count]`,
   * `out = max(y[2p], y[2p+1])` and `mask = y[2p+1] > y[2p]` as an all-ones/zero 32-bit lane
   * (ties go to the first position).
   */
  poolPairs(y: number, pairs: number, out: number, mask: number, count: number): void;
  /**
   * Its gradient after ReLU: `g = pooled > 0 ? dy : 0` goes to the pair's first position where
   * the mask is zero and to its second where it is set; `db += Σ g` in float32 (as reluGrad).
   */
  unpoolPairs(
    dy: number,
    pooled: number,
    mask: number,
    dpre: number,
    pairs: number,
    db: number,
    count: number,
  ): void;
  /**
   * The GEMM's B packing for whole 8-column panels: for panel p < `panels` and row r < `k`,
   * the 8 floats at `src + r·ld + 8p` go to `dst + (p·k + r)·8` (float offsets and stride).
   */
  packPanels(src: number, ld: number, dst: number, k: number, panels: number): void;
}

/**
 * A per-row channel kernel: `params` i32 parameters, for each of the rows in parameter `rows`,
 * `body` runs for every 4-channel lane offset `e` (bytes) below `end` = 4 · parameter `count`,
 * with `vectors` v128 locals `v`; after a row each pointer parameter in `advance` moves on by
 * that many rows of `end` bytes.
 */
function channelKernel(
  params: number,
  rows: number,
  count: number,
  vectors: number,
  advance: [pointer: number, rowsPerRow: number][],
  body: (f: Fn, e: number, end: number, v: number[]) => void,
): Fn {
  const f = new Fn(params);
  const e = f.local(I32), end = f.local(I32);
  const v = Array.from({ length: vectors }, () => f.local(V128));
  f.get(count).i32(2).op(OP.i32Shl).set(end);
  f.loop(() => {
    f.i32(0).set(e);
    f.loop(() => {
      body(f, e, end, v);
      f.stepBelow(e, { const: 16 }, end);
    });
    for (const [ptr, times] of advance) {
      for (let t = 0; t < times; t++) f.addTo(ptr, { local: end });
    }
    f.countDown(rows);
  });
  return f;
}

/** Pushes the address `ptr + e` (+ `end`: the same lane of the next row). */
function at(f: Fn, ptr: number, e: number, end?: number): Fn {
  f.get(ptr).get(e).op(OP.i32Add);
  if (end !== undefined) f.get(end).op(OP.i32Add);
  return f;
}

/** Pushes the v128 at `ptr + e` (+ `end`). */
function load(f: Fn, ptr: number, e: number, end?: number): Fn {
  return at(f, ptr, e, end).simd(SIMD.load, ...memarg(2, 0));
}

/** `db[e] += v`: the bias gradient's float32 accumulation. */
function accumulate(f: Fn, db: number, e: number, v: number): void {
  at(f, db, e);
  load(f, db, e).get(v).simd(SIMD.f32x4Add).simd(SIMD.store, ...memarg(2, 0));
}

const store = (f: Fn) => f.simd(SIMD.store, ...memarg(2, 0));

function biasReluBody(): Fn {
  const [Y, ROWS, BIAS, COUNT] = [0, 1, 2, 3];
  return channelKernel(4, ROWS, COUNT, 0, [[Y, 1]], (f, e) => {
    at(f, Y, e);
    load(f, Y, e);
    load(f, BIAS, e).simd(SIMD.f32x4Add).simd(SIMD.const, ...splat(0)).simd(SIMD.f32x4Max);
    store(f);
  });
}

function reluGradBody(): Fn {
  const [DY, Y, OUT, ROWS, DB, COUNT] = [0, 1, 2, 3, 4, 5];
  return channelKernel(6, ROWS, COUNT, 1, [[DY, 1], [Y, 1], [OUT, 1]], (f, e, _end, [v]) => {
    load(f, DY, e);
    load(f, Y, e).simd(SIMD.const, ...splat(0)).simd(SIMD.f32x4Gt).simd(SIMD.v128And).set(v);
    store(at(f, OUT, e).get(v));
    accumulate(f, DB, e, v);
  });
}

function poolPairsBody(): Fn {
  const [Y, PAIRS, OUT, MASK, COUNT] = [0, 1, 2, 3, 4];
  return channelKernel(5, PAIRS, COUNT, 2, [[Y, 2], [OUT, 1], [MASK, 1]], (f, e, end, [a, b]) => {
    load(f, Y, e).set(a);
    load(f, Y, e, end).set(b);
    store(at(f, OUT, e).get(a).get(b).simd(SIMD.f32x4Max));
    store(at(f, MASK, e).get(b).get(a).simd(SIMD.f32x4Gt));
  });
}

function unpoolPairsBody(): Fn {
  const [DY, POOLED, MASK, DPRE, PAIRS, DB, COUNT] = [0, 1, 2, 3, 4, 5, 6];
  const advance: [number, number][] = [[DY, 1], [POOLED, 1], [MASK, 1], [DPRE, 2]];
  return channelKernel(7, PAIRS, COUNT, 2, advance, (f, e, end, [g, m]) => {
    load(f, DY, e);
    load(f, POOLED, e).simd(SIMD.const, ...splat(0)).simd(SIMD.f32x4Gt).simd(SIMD.v128And).set(g);
    load(f, MASK, e).set(m);
    store(at(f, DPRE, e).get(g).get(m).simd(SIMD.v128AndNot));
    store(at(f, DPRE, e, end).get(g).get(m).simd(SIMD.v128And));
    accumulate(f, DB, e, g);
  });
}

function packPanelsBody(): Fn {
  const [SRC, LD, DST, K, PANELS] = [0, 1, 2, 3, 4];
  const f = new Fn(5);
  const s = f.local(I32), r = f.local(I32);
  f.loop(() => {
    f.get(SRC).set(s);
    f.get(K).set(r);
    f.loop(() => {
      f.get(DST).get(s).simd(SIMD.load, ...memarg(2, 0)).simd(SIMD.store, ...memarg(2, 0));
      f.get(DST).get(s).simd(SIMD.load, ...memarg(2, 16)).simd(SIMD.store, ...memarg(2, 16));
      f.addTo(s, { local: LD }).addTo(DST, { const: 32 });
      f.countDown(r);
    });
    f.addTo(SRC, { const: 32 });
    f.countDown(PANELS);
  });
  return f;
}

/** Compiles {@link ChannelOps} on `memory` (imported as `env.memory`). */
export function compileChannelOps(memory: WebAssembly.Memory): ChannelOps {
  const [br, rg, pp, up, pk] = instantiateOnMemory(memory, [
    { params: 4, body: biasReluBody() },
    { params: 6, body: reluGradBody() },
    { params: 5, body: poolPairsBody() },
    { params: 7, body: unpoolPairsBody() },
    { params: 5, body: packPanelsBody() },
  ], "channel ops");
  const check = (rows: number, count: number) => {
    if (count <= 0 || count % 4 !== 0 || rows < 1) {
      throw new Error(`channel ops: count ${count} must be a positive multiple of 4, rows ≥ 1`);
    }
  };
  return {
    biasRelu(y, rows, bias, count) {
      check(rows, count);
      br(4 * y, rows, 4 * bias, count);
    },
    reluGrad(dy, y, out, rows, db, count) {
      check(rows, count);
      rg(4 * dy, 4 * y, 4 * out, rows, 4 * db, count);
    },
    poolPairs(y, pairs, out, mask, count) {
      check(pairs, count);
      pp(4 * y, pairs, 4 * out, 4 * mask, count);
    },
    unpoolPairs(dy, pooled, mask, dpre, pairs, db, count) {
      check(pairs, count);
      up(4 * dy, 4 * pooled, 4 * mask, 4 * dpre, pairs, 4 * db, count);
    },
    packPanels(src, ld, dst, k, panels) {
      if (k < 1 || panels < 1) throw new Error(`packPanels: k ${k} and panels ${panels} ≥ 1`);
      pk(4 * src, 4 * ld, 4 * dst, k, panels);
    },
  };
}
