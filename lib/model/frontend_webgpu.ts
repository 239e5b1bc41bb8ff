/**
 * The CNN front-end (frontend.ts) on the webgpu backend in a constant number of dispatches:
 * WGSL compute programs of our own (webgpu_program.ts) instead of tfjs's conv ops and the many
 * slices, concats, pads and max-pools of `fastFrontEnd` (each at least one dispatch).
 *
 * Why: on webgpu the launch count, not FLOPs, bounds a small-batch step (webgpu_dispatches.ts),
 * and after the GRU and Adam the front-end was most of what remained. Here a forward and
 * backward pass is 11 dispatches at any number of windows:
 *
 * - forward 1 ({@link Conv1Program}): per window, conv1 ('same', the window's own zero
 *   padding) + bias, max over the `pool` positions, ReLU. Output packed `[N, L/pool, 2F]`: the
 *   pooled values h1, then the position (0 … pool−1, as f32) of the first maximum, which the
 *   backward pass routes the gradient to;
 * - forward 2 ({@link Conv2Program}): conv2 ('same') over h1 + bias, max over groups of
 *   `channelPool` channels, ReLU. Output packed `[N, L/pool, 2G]` (G = F/channelPool groups):
 *   the values, then the first maximum's channel within its group; one slice makes the value;
 * - backward: {@link Conv2GradProgram} spreads the output's gradient onto conv2's
 *   pre-activations `[N, L/pool, F]` (only the argmax channel of a group, only where the ReLU
 *   passed); {@link H1GradProgram} is conv2's transpose onto h1, masked by conv1's ReLU
 *   (h1 > 0), which is the gradient of the pooled conv1 pre-activation;
 *   {@link Dw2PartialsProgram} (dW2, db2) and {@link Dw1PartialsProgram} (dW1, db1) reduce the
 *   weight gradients over chunks of whole windows (about {@link CHUNK} window positions each),
 *   and one {@link SumRowsProgram} per weight adds the chunks up into its own shape.
 *
 * Every program but the two element-wise ones (the gradient's spreading, the sums over chunks)
 * is register-tiled through workgroup memory ({@link TP}); conv2 and its two gradients are 92 %
 * of the paper model's arithmetic.
 *
 * conv1 is computed per window, as `naiveFrontEnd` does. conv2 shares the interior of
 * overlapping windows ({@link sharing}): a window computes its edges and one hop's worth of its
 * interior, 139 of 320 positions for the paper's geometry, and the forward program writes
 * each shared output into the neighbours that take it, the backward programs gather their
 * gradients back and skip the tiles and slabs where a window's conv2 gradient is zero. Values
 * agree with `naiveFrontEnd` to float rounding (sums in another order). Ties in a max go to
 * the first maximum, as our wasm kernels do; tfjs's max gradient gives every tied element the
 * gradient. They differ only for exactly equal positive pre-activations (equal zeros after the
 * ReLU get no gradient in either), which real-valued inputs do not produce.
 *
 * The signal gets no gradient (it is data).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { FrontEndGeometry, FrontEndWeights } from "./frontend.ts";
import { bindingLimit, loop, type Program, runProgram as run } from "./webgpu_program.ts";

/** Invocations per workgroup of the programs with one invocation per output value. */
const WG = 64;

/**
 * About this many window positions (windows × pooled positions) per partial sum of the weight
 * gradients: enough partial sums to fill a GPU, few enough that the partials stay small
 * (R·P floats, P = K·F·F + F = 64,040 for dW2 and db2 at the paper's geometry).
 */
export const CHUNK = 4096;

/**
 * Whole windows per partial sum (a chunk never splits a window: no index division inside): about
 * {@link CHUNK} positions, counting a window as the slabs of {@link TT} positions the programs
 * loop over, so a chunk of short windows loops no longer than one of long ones (on Mesa's
 * software adapter, 4,096 windows of 4 positions passed its loop limit).
 */
function windowsPerChunk(g: FrontEndGeometry): number {
  return Math.max(1, Math.floor(CHUNK / (slabsPerWindow(g) * TT)));
}

/** Slabs of {@link TT} positions per window, which the weight-gradient programs loop over. */
function slabsPerWindow(g: FrontEndGeometry): number {
  return Math.ceil(g.windowSamples / g.pool / TT);
}

/** Loop iterations of a weight-gradient program: its chunk's windows × slabs × `slab` each. */
function chunkLoops(g: FrontEndGeometry, slab: number): number {
  return loop(windowsPerChunk(g), loop(slabsPerWindow(g), slab));
}

/** WebGPU's guaranteed `maxComputeWorkgroupsPerDimension`. */
const MAX_DIM = 65535;

/**
 * Workgroups of {@link WG} for `n` invocations, on {@link gridFor}'s grid (tfjs's
 * `getGlobalIndex()` then still numbers the invocations 0, 1, …; the overshoot is guarded in each
 * shader).
 */
function dispatchFor(n: number): [number, number, number] {
  return gridFor(Math.ceil(n / WG));
}

/** Whether {@link frontEndWebGpu} computes this geometry (else the caller falls back). */
export function frontEndWebGpuApplies(g: FrontEndGeometry): boolean {
  return g.windowSamples % g.pool === 0 && g.filters % g.channelPool === 0 &&
    g.kernel >= 1 && g.kernel <= g.windowSamples / g.pool && g.hopSamples >= 1 &&
    // Each program loops over all K·F (conv2) taps: keep the unrolled constants sane.
    g.kernel * g.filters <= 1 << 16 &&
    // The tiled programs' workgroups: NL invocations per channel group, at most 256.
    g.filters / g.channelPool <= 256 / NL;
}

/**
 * The most windows (rows × windows) one {@link frontEndWebGpu} call may take: every buffer
 * its programs bind must fit the device's `maxStorageBufferBindingSize` (`limit`, bytes; by
 * default the active device's). Past it WebGPU does not fail: the dispatch is left undone and
 * the output is zeros (seen on lavapipe, whose limit is 128 MiB: 1,310 windows of the paper's
 * geometry). The largest buffers grow with the windows: the packed conv1 output (2·F values per
 * pooled position), conv2's two gradients (F each) and the weight gradients' partial sums.
 */
export function webgpuWindowsPerCall(g: FrontEndGeometry, limit = bindingLimit()): number {
  const lp = g.windowSamples / g.pool;
  const perWindow = lp * 2 * g.filters * 4; // the largest per-window buffer, in bytes
  const byActivations = Math.floor(limit / perWindow);
  const perChunk = (g.kernel * g.filters * g.filters + g.filters) * 4; // dW2 and db2
  const byPartials = Math.floor(limit / perChunk) * windowsPerChunk(g);
  return Math.max(0, Math.min(byActivations, byPartials));
}

/**
 * Front-end buffers one webgpu call may hold at once (bytes) before `frontEnd` checkpoints:
 * 2 GiB, a fraction of any GPU one trains on (an H100 has 80 GB), so a batch of 16 × 500
 * windows of the paper's geometry runs in one piece.
 */
export const WEBGPU_FRONTEND_BUDGET = 2 ** 31;

/**
 * Windows per call below which `frontEnd` keeps a webgpu batch's activations rather than
 * recomputing them in chunks (gradient checkpointing), a power of two: what
 * {@link WEBGPU_FRONTEND_BUDGET} holds of the buffers a window needs at the backward pass
 * (packed conv1 output 2F, conv2 output 2G and the front-end's output G per pooled position,
 * kept from the forward pass; conv2's and h1's gradients F each). 8,192 for the paper's
 * geometry (220 KB per window).
 */
export function webgpuCheckpointWindows(g: FrontEndGeometry): number {
  const lp = g.windowSamples / g.pool, gr = g.filters / g.channelPool;
  const perWindow = lp * (2 * g.filters + 2 * gr + gr + 2 * g.filters) * 4;
  return 2 ** Math.floor(Math.log2(Math.max(1, WEBGPU_FRONTEND_BUDGET / perWindow)));
}

/**
 * Which conv2 outputs a window shares with its right-hand neighbours (the 75 % overlap that
 * `fastFrontEnd` exploits on the CPU backends), in pooled positions of the window:
 *
 * - h1 at positions [eL, LP − eR) sees only the window's own samples, so it equals the h1 of
 *   the whole row (eL = ⌈pl/pool⌉, eR = ⌈pr/pool⌉ for conv1's 'same' padding pl, pr); conv2
 *   outputs whose inputs all lie there, the interior [cl, ie) (cl = eL + pl, ie = LP − eR −
 *   pr), equal the row's conv2 output. Window i's position j is the row's position hp·i + j
 *   (hp = hop/pool), so it equals window i + m's position j − m·hp while that is interior too;
 * - each window computes its own slice [cl, a) of the interior (a = cl + hp) and its edges;
 *   the interior positions [a, ie) it takes from window i + m, m = ⌊(j − cl)/hp⌋ ≤ `m`
 *   (whose own slice holds position j − m·hp). The last `m` windows of a row have no such
 *   neighbours and compute every position ("full" windows).
 *
 * Every value is computed by the same program from the same h1 values in the same order, so
 * a shared output is the neighbour's bit for bit. Where the hop is not a multiple of the pool
 * or the own slice covers the interior, nothing is shared (`m` = 0, a = ie).
 */
function sharing(g: FrontEndGeometry) {
  const lp = g.windowSamples / g.pool;
  const pl = Math.floor((g.kernel - 1) / 2), pr = g.kernel - 1 - pl;
  const cl = Math.ceil(pl / g.pool) + pl;
  const ie = lp - Math.ceil(pr / g.pool) - pr;
  const hp = g.hopSamples / g.pool;
  if (g.hopSamples % g.pool !== 0 || ie - cl <= hp) {
    return { cl: Math.min(cl, lp), a: lp, ie: lp, hp: 1, m: 0 };
  }
  return { cl, a: cl + hp, ie, hp, m: Math.floor((ie - 1 - cl) / hp) };
}

/** The conv2 outputs window `i` of a row of `windows` computes (see {@link sharing}). */
export function computedPositions(g: FrontEndGeometry, i: number, windows: number): number[] {
  const sh = sharing(g), lp = g.windowSamples / g.pool;
  const full = i + sh.m >= windows;
  return Array.from({ length: lp }, (_, j) => j).filter((j) => full || j < sh.a || j >= sh.ie);
}

/** WGSL constants of the geometry, shared by all programs (and their shader keys). */
function constants(g: FrontEndGeometry): string {
  const pl = Math.floor((g.kernel - 1) / 2);
  const sh = sharing(g);
  return `
    const WIN : i32 = ${g.windowSamples};
    const HOP : i32 = ${g.hopSamples};
    const K : i32 = ${g.kernel};
    const F : i32 = ${g.filters};
    const POOL : i32 = ${g.pool};
    const CP : i32 = ${g.channelPool};
    const PL : i32 = ${pl};
    const LP : i32 = ${g.windowSamples / g.pool};
    const G : i32 = ${g.filters / g.channelPool};
    const CL : i32 = ${sh.cl};
    const A : i32 = ${sh.a};
    const IE : i32 = ${sh.ie};
    const HP : i32 = ${sh.hp};
    const M : i32 = ${sh.m};
    // Window n computes every conv2 output (the last M of its row) or only its own ones.
    fn isFull(n : i32) -> bool { return n % uniforms.windows + M >= uniforms.windows; }
  `;
}

function keyOf(name: string, g: FrontEndGeometry): string {
  return `emoFrontEnd${name}_${g.windowSamples}_${g.hopSamples}_${g.kernel}_${g.filters}_` +
    `${g.pool}_${g.channelPool}`;
}

/** Common fields: flat index, `uniforms.size` invocations (not always the output's size). */
abstract class FlatProgram implements Program {
  abstract variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  uniforms = "count : i32, windows : i32, ";
  loopIterations?: number;

  constructor(name: string, protected g: FrontEndGeometry, outputShape: number[], count: number) {
    this.outputShape = outputShape;
    this.shaderKey = keyOf(name, g);
    this.dispatch = dispatchFor(count);
  }

  abstract getUserCode(): string;
}

/**
 * conv1 + bias → max-pool → ReLU per window, tiled as conv2 ({@link TP}): an invocation owns
 * `ptp` pooled positions (lane, lane + NL, …) × the CP filters of its group, and accumulates
 * all `pool` conv1 outputs of each in registers (ptp · pool · CP of them, 40 for the paper's
 * pool 2), so the max over the pool is taken at the end from registers and nothing else is
 * carried across the loops (a running maximum carried across them made Chromium's SwiftShader
 * WebGPU crash compiling the pipeline). The window's samples of the tile and KC1 taps of the
 * weights pass through workgroup memory. Inputs: `X` the signal `[B, S]`, `W1 [K, 1, F]`,
 * `B1 [F]`; `count` = N windows, `windows` per row. Output `[N, LP, 2F]`: h1, then the first
 * argmax within the pool (as f32). Every window position is computed with the same sums in the
 * same order, so h1 values that two windows share are equal bit for bit (conv2's sharing
 * relies on it).
 */
class Conv1Program extends FlatProgram {
  variableNames = ["X", "W1", "B1"];
  private kc: number;
  private ptp: number;
  constructor(g: FrontEndGeometry, n: number) {
    const lp = g.windowSamples / g.pool;
    super("Conv1Tiled", g, [n, lp, 2 * g.filters], 0);
    this.kc = Math.max(1, Math.min(g.kernel, Math.floor(CHUNK_WEIGHTS / g.filters)));
    this.ptp = Math.max(1, Math.floor(PT / g.pool));
    this.workgroupSize = [NL * (g.filters / g.channelPool), 1, 1];
    this.dispatch = gridFor(n * Math.ceil(lp / (NL * this.ptp)));
    const wgs = this.workgroupSize[0], kc = this.kc, f = g.filters;
    const xs = NL * this.ptp * g.pool + g.kernel - 1;
    const chunk = 2 + loop(Math.ceil((kc * f) / wgs)) + loop(kc);
    this.loopIterations = loop(Math.ceil(xs / wgs)) + loop(Math.ceil(g.kernel / kc), chunk);
  }
  getUserCode(): string {
    const cp = this.g.channelPool, kc = this.kc, ptp = this.ptp, pool = this.g.pool;
    const tp = NL * ptp;
    const xs = tp * pool + this.g.kernel - 1;
    // Accumulator a_m_q_j: pooled position m of the invocation, pool offset q, filter j.
    const acc: string[] = [], step: string[] = [], epilogue: string[] = [];
    for (let m = 0; m < ptp; m++) {
      for (let q = 0; q < pool; q++) {
        step.push(`let x_${m}_${q} = xS[hb + ${m * NL * pool + q}];`);
        for (let j = 0; j < cp; j++) acc.push(`var a_${m}_${q}_${j} = 0.0;`);
      }
    }
    for (let j = 0; j < cp; j++) step.push(`let w_${j} = wS[wb + ${j}];`);
    for (let m = 0; m < ptp; m++) {
      for (let q = 0; q < pool; q++) {
        for (let j = 0; j < cp; j++) {
          step.push(`a_${m}_${q}_${j} = fma(x_${m}_${q}, w_${j}, a_${m}_${q}_${j});`);
        }
      }
    }
    for (let m = 0; m < ptp; m++) {
      const writes: string[] = [];
      for (let j = 0; j < cp; j++) {
        // The bias is the same for every pool position: added to each before the max.
        const lines = [
          `var best = a_${m}_0_${j} + B1[grp * CP + ${j}];`,
          "var arg = 0;",
        ];
        for (let q = 1; q < pool; q++) {
          lines.push(
            `{ let v = a_${m}_${q}_${j} + B1[grp * CP + ${j}]; ` +
              `if (v > best) { best = v; arg = ${q}; } }`,
          );
        }
        writes.push(`{
          ${lines.join("\n")}
          result[o + grp * CP + ${j}] = max(best, 0.0);
          result[o + F + grp * CP + ${j}] = f32(arg);
        }`);
      }
      epilogue.push(`{
        let p = p0 + lane + ${m * NL};
        if (live && p < LP) {
          let o = (n * LP + p) * 2 * F;
          ${writes.join("\n")}
        }
      }`);
    }
    return `
      ${constants(this.g)}
      const NL : i32 = ${NL};
      const TP1 : i32 = ${tp};
      const KC : i32 = ${kc};
      const XS : i32 = ${xs};
      const WGS : i32 = ${this.workgroupSize[0]};
      const TILES : i32 = ${Math.ceil(this.g.windowSamples / this.g.pool / tp)};
      var<workgroup> xS : array<f32, ${xs}>;
      var<workgroup> wS : array<f32, ${kc * this.g.filters}>;
      fn main(index : i32) {
        ${TILE_PROLOGUE}
        let n = wg / TILES;
        let p0 = (wg % TILES) * TP1;
        let live = n < uniforms.count;
        // The window's samples p0·POOL − PL + e, zero outside the window ('same' padding).
        let start = (n / uniforms.windows) * uniforms.xShape.y + (n % uniforms.windows) * HOP;
        for (var e = lid; e < XS; e += WGS) {
          let s = p0 * POOL - PL + e;
          var v = 0.0;
          if (live && s >= 0 && s < WIN) { v = X[start + s]; }
          xS[e] = v;
        }
        ${acc.join(" ")}
        for (var k0 = 0; k0 < K; k0 += KC) {
          workgroupBarrier();
          for (var e = lid; e < KC * F; e += WGS) {
            var v = 0.0;
            if (k0 * F + e < K * F) { v = W1[k0 * F + e]; }
            wS[e] = v;
          }
          workgroupBarrier();
          if (live) {
            for (var k = 0; k < KC; k++) {
              // Sample of conv1 output (p0 + lane + NL·m)·POOL + q, tap k0 + k.
              let hb = lane * POOL + k0 + k;
              let wb = k * F + grp * CP;
              ${step.join("\n")}
            }
          }
        }
        ${epilogue.join("\n")}
      }
    `;
  }
}

/**
 * The register tiling shared by the two conv2 programs ({@link Conv2Program},
 * {@link H1GradProgram}), which are the front-end's arithmetic (K·F·F multiply-adds per
 * position each, 92 % of the paper model's FLOPs with the weight gradient).
 *
 * A workgroup computes {@link TP} positions of one window for all F channels: {@link NL} lanes
 * × G groups of invocations, each invocation {@link PT} positions (lane, lane + NL, …) × the CP
 * channels of its group, in scalar accumulators (the WGSL is generated unrolled, so no private
 * array is indexed at run time, which a GPU compiler may put in slow local memory). Inputs pass
 * through workgroup memory in chunks of KC taps × CC channels: a slab of TP + KC − 1 positions
 * per channel and KC·CC·F weights, so each value loaded from a buffer is used TP or CP·PT times,
 * and each multiply-add of the inner loop reads (PT + CP) / (PT·CP) values (0.35 for the
 * paper's CP = 10) from workgroup memory, where the per-invocation loops this replaced read two
 * values per multiply-add from buffers. Lanes read consecutive slab positions and the lanes of a
 * group the same weight, so neither read has bank conflicts.
 */
const TP = 64;
/** Positions per invocation. */
const PT = 4;
/** Lanes (position columns) per group: TP = NL · PT. */
const NL = TP / PT;
/** Taps per chunk. */
const KC_MAX = 8;
/** Weights per chunk (KC·CC·F floats): with the slab 12.5 KiB of workgroup memory at F = 40. */
const CHUNK_WEIGHTS = 2560;

/**
 * The register block of the conv2 programs: `pt` positions per invocation, `nl` lanes per
 * channel group (a tile is pt·nl positions). {@link TP}, {@link PT} and {@link NL} by default;
 * {@link setConv2Tiling} changes it, for a benchmark comparing blocks on a GPU
 * (scripts/bench-frontend-webgpu.ts `--tilings`).
 */
export interface Conv2Tiling {
  /** Positions per invocation. */
  pt: number;
  /** Lanes per channel group. */
  nl: number;
}

let conv2Tiling: Conv2Tiling = { pt: PT, nl: NL };

/**
 * Sets the register block of the conv2 programs (see {@link Conv2Tiling}) and returns the one
 * it replaces. Every block computes the same values; a workgroup's lanes are capped at 256 ÷
 * the channel groups.
 */
export function setConv2Tiling(t: Conv2Tiling): Conv2Tiling {
  if (!(Number.isInteger(t.pt) && t.pt >= 1 && t.pt <= 16 && Number.isInteger(t.nl) && t.nl >= 1)) {
    throw new Error(`setConv2Tiling: pt must be 1–16 and nl ≥ 1, not ${JSON.stringify(t)}`);
  }
  const before = conv2Tiling;
  conv2Tiling = { pt: t.pt, nl: t.nl };
  return before;
}

/** The chunking of the conv2 programs' tiles for a geometry and the active register block. */
function tiling(g: FrontEndGeometry) {
  const kc = Math.min(g.kernel, KC_MAX);
  const cc = Math.max(1, Math.min(g.filters, Math.floor(CHUNK_WEIGHTS / (kc * g.filters)), 8));
  const groups = g.filters / g.channelPool;
  const nl = Math.max(1, Math.min(conv2Tiling.nl, Math.floor(256 / groups)));
  const pt = conv2Tiling.pt, tp = pt * nl;
  return { kc, cc, pt, nl, tp, sl: tp + kc - 1, groups, threads: nl * groups };
}

/** `var a_m_j = 0.0;` for the pt × CP accumulators. */
function declareAccumulators(cp: number, pt: number): string {
  const lines: string[] = [];
  for (let m = 0; m < pt; m++) {
    for (let j = 0; j < cp; j++) lines.push(`var a_${m}_${j} = 0.0;`);
  }
  return lines.join(" ");
}

/** The inner step: pt slab values at `hb + nl·m`, CP weights at `wb + j`, pt·CP fmas. */
function tileStep(cp: number, pt: number, nl: number): string {
  const lines: string[] = [];
  for (let m = 0; m < pt; m++) lines.push(`let h_${m} = hS[hb + ${m * nl}];`);
  for (let j = 0; j < cp; j++) lines.push(`let w_${j} = wS[wb + ${j}];`);
  for (let m = 0; m < pt; m++) {
    for (let j = 0; j < cp; j++) lines.push(`a_${m}_${j} = fma(h_${m}, w_${j}, a_${m}_${j});`);
  }
  return lines.join("\n");
}

/** Workgroups `[x, y, 1]` for `groups` workgroups (flat index `y · x + x`), within WebGPU's limit. */
function gridFor(groups: number): [number, number, number] {
  if (groups <= MAX_DIM) return [Math.max(1, groups), 1, 1];
  const x = Math.ceil(Math.sqrt(groups));
  return [x, Math.ceil(groups / x), 1];
}

/** WGSL: the flat workgroup index over {@link gridFor}'s grid, and the invocation's index in it. */
const WORKGROUP_INDEX = `
  let wg = i32(workgroupId.y * numWorkgroups.x + workgroupId.x);
  let lid = i32(localIndex);
`;

/** WGSL: {@link WORKGROUP_INDEX} and this invocation's place in a tile. */
const TILE_PROLOGUE = `${WORKGROUP_INDEX}
  let grp = lid / NL;
  let lane = lid % NL;
`;

/** Common fields of the tiled programs: one workgroup per (window, tile of TP positions). */
abstract class TiledProgram extends FlatProgram {
  protected t: ReturnType<typeof tiling>;
  constructor(name: string, g: FrontEndGeometry, outputShape: number[], n: number) {
    const t = tiling(g);
    super(`${name}${t.pt}x${t.nl}`, g, outputShape, 0);
    this.t = t;
    this.workgroupSize = [this.t.threads, 1, 1];
    this.dispatch = gridFor(n * Math.ceil(g.windowSamples / g.pool / t.tp));
    const { kc, cc, sl, threads } = this.t, f = g.filters;
    const chunk = loop(Math.ceil((cc * sl) / threads)) + loop(Math.ceil((kc * cc * f) / threads)) +
      2 + loop(kc, loop(cc));
    // The loops over chunks, and Conv2Program's copies to M neighbours for each of pt positions.
    this.loopIterations = loop(Math.ceil(f / cc), loop(Math.ceil(g.kernel / kc), chunk)) +
      t.pt * loop(sharing(g).m);
  }
  protected tileConstants(): string {
    const { kc, cc, sl, threads, tp, nl } = this.t;
    return `${constants(this.g)}
      const TP : i32 = ${tp};
      const NL : i32 = ${nl};
      const KC : i32 = ${kc};
      const CC : i32 = ${cc};
      const SL : i32 = ${sl};
      const WGS : i32 = ${threads};
      const TILES : i32 = ${Math.ceil(this.g.windowSamples / this.g.pool / tp)};
      var<workgroup> hS : array<f32, ${cc * sl}>;
      var<workgroup> wS : array<f32, ${kc * cc * this.g.filters}>;
    `;
  }
}

/**
 * conv2 + bias → channel max → ReLU, tiled (see {@link TP}). Inputs: `P1` forward 1's packed
 * `[N, LP, 2F]`, `W2 [K, F, F]`, `B2 [F]`; `count` = N windows. Output `[N, LP, 2G]`: values,
 * then the first argmax channel within the group (as f32). An invocation's CP channels are
 * one group, so the channel max is taken in registers.
 */
class Conv2Program extends TiledProgram {
  variableNames = ["P1", "W2", "B2"];
  constructor(g: FrontEndGeometry, n: number) {
    const lp = g.windowSamples / g.pool, gr = g.filters / g.channelPool;
    super("Conv2Tiled", g, [n, lp, 2 * gr], n);
  }
  getUserCode(): string {
    const cp = this.g.channelPool;
    const epilogue: string[] = [];
    for (let m = 0; m < this.t.pt; m++) {
      const best = [`var best = a_${m}_0 + B2[grp * CP];`, "var arg = 0;"];
      for (let j = 1; j < cp; j++) {
        best.push(
          `{ let v = a_${m}_${j} + B2[grp * CP + ${j}]; if (v > best) { best = v; arg = ${j}; } }`,
        );
      }
      epilogue.push(`{
        let t = p0 + lane + ${m * this.t.nl};
        if (need && t < LP) {
          ${best.join("\n")}
          let value = max(best, 0.0);
          // Positions [A, IE) of a window that is not full are written by their owner below.
          if (full || t < A || t >= IE) {
            result[(n * LP + t) * 2 * G + grp] = value;
            result[(n * LP + t) * 2 * G + G + grp] = f32(arg);
          }
          // An own-slice output is also window n − s's output at t + s·HP (s = 1 … M).
          if (t >= CL && t < A) {
            for (var s = 1; s <= M; s++) {
              if (i - s >= 0 && !isFull(n - s) && t + s * HP < IE) {
                let q = ((n - s) * LP + t + s * HP) * 2 * G;
                result[q + grp] = value;
                result[q + G + grp] = f32(arg);
              }
            }
          }
        }
      }`);
    }
    return `
      ${this.tileConstants()}
      fn main(index : i32) {
        ${TILE_PROLOGUE}
        let n = wg / TILES;
        let p0 = (wg % TILES) * TP;
        let i = n % uniforms.windows;
        let full = isFull(n);
        // Tiles holding none of the window's own outputs do no work (their barriers still run:
        // they are in uniform control flow).
        let need = n < uniforms.count && (full || p0 < A || p0 + TP > IE);
        ${declareAccumulators(cp, this.t.pt)}
        for (var c0 = 0; c0 < F; c0 += CC) {
          for (var k0 = 0; k0 < K; k0 += KC) {
            // Slab: h1 at positions p0 + k0 − PL + j of channels c0 … c0 + CC − 1, zero
            // outside the window (conv2's 'same' padding is the window's own).
            for (var e = lid; e < CC * SL; e += WGS) {
              let c = e / SL;
              let s = p0 + k0 - PL + e - c * SL;
              var v = 0.0;
              if (need && c0 + c < F && s >= 0 && s < LP) { v = P1[(n * LP + s) * 2 * F + c0 + c]; }
              hS[e] = v;
            }
            // Weights [k][c][o] of taps k0 … and channels c0 …, zero past K or F.
            for (var e = lid; e < KC * CC * F; e += WGS) {
              let o = e % F;
              let c = (e / F) % CC;
              let k = e / (F * CC);
              var v = 0.0;
              if (k0 + k < K && c0 + c < F) { v = W2[((k0 + k) * F + c0 + c) * F + o]; }
              wS[e] = v;
            }
            workgroupBarrier();
            if (need) {
              for (var k = 0; k < KC; k++) {
                for (var c = 0; c < CC; c++) {
                  let hb = c * SL + lane + k;
                  let wb = (k * CC + c) * F + grp * CP;
                  ${tileStep(cp, this.t.pt, this.t.nl)}
                }
              }
            }
            workgroupBarrier();
          }
        }
        ${epilogue.join("\n")}
      }
    `;
  }
}

/**
 * Gradient of conv2's pre-activations `[N, LP, F]` from the output's `DY` (`[B, W, LP·G]`, read
 * as `[N, LP, G]`) and forward 2's packed `P2`: the group's gradient at its argmax channel where
 * the ReLU passed (value > 0), else 0, gathered at the window that computed the output
 * ({@link sharing}): zero at positions a window took from a neighbour, the sum over the
 * windows it served at an own-slice position. `count` = N·LP·F.
 */
class Conv2GradProgram extends FlatProgram {
  variableNames = ["DY", "P2"];
  constructor(g: FrontEndGeometry, n: number) {
    const lp = g.windowSamples / g.pool;
    super("Conv2Grad", g, [n, lp, g.filters], n * lp * g.filters);
    this.loopIterations = loop(sharing(g).m);
  }
  getUserCode(): string {
    return `
      ${constants(this.g)}
      // The output's gradient at (window n, position t) routed to channel o.
      fn routed(n : i32, t : i32, o : i32) -> f32 {
        let grp = o / CP;
        let q = (n * LP + t) * 2 * G;
        if (P2[q + grp] > 0.0 && i32(P2[q + G + grp]) == o - grp * CP) {
          return DY[(n * LP + t) * G + grp];
        }
        return 0.0;
      }
      fn main(index : i32) {
        if (index >= uniforms.count) { return; }
        let o = index % F;
        let row = index / F;
        let t = row % LP;
        let n = row / LP;
        let i = n % uniforms.windows;
        var d = 0.0;
        // A position taken from a neighbour passes its gradient to the neighbour (below).
        if (isFull(n) || t < A || t >= IE) { d = routed(n, t, o); }
        // An own-slice output also served windows n − s at t + s·HP: their gradients add up.
        if (t >= CL && t < A) {
          for (var s = 1; s <= M; s++) {
            if (i - s >= 0 && !isFull(n - s) && t + s * HP < IE) { d += routed(n - s, t + s * HP, o); }
          }
        }
        result[index] = d;
      }
    `;
  }
}

/**
 * Gradient of the pooled conv1 pre-activation `[N, LP, F]`, tiled as {@link Conv2Program}:
 * conv2's transpose applied to `D2` (Conv2GradProgram's output), dh1[s, i] = Σ_k Σ_o
 * D2[s − k + PL, o]·W2[k, i, o], times ReLU' (h1 > 0, read from `P1`). An invocation's CP
 * channels are conv2 input channels here. `count` = N windows.
 */
class H1GradProgram extends TiledProgram {
  variableNames = ["D2", "W2", "P1"];
  constructor(g: FrontEndGeometry, n: number) {
    const lp = g.windowSamples / g.pool;
    super("H1GradTiled", g, [n, lp, g.filters], n);
  }
  getUserCode(): string {
    const cp = this.g.channelPool;
    const epilogue: string[] = [];
    for (let m = 0; m < this.t.pt; m++) {
      const writes: string[] = [];
      for (let j = 0; j < cp; j++) {
        writes.push(`{
          let q = (n * LP + s) * F + grp * CP + ${j};
          result[q] = select(0.0, a_${m}_${j}, P1[q + (n * LP + s) * F] > 0.0);
        }`);
      }
      epilogue.push(`{
        let s = p0 + lane + ${m * this.t.nl};
        if (live && s < LP) { ${writes.join("\n")} }
      }`);
    }
    return `
      ${this.tileConstants()}
      fn main(index : i32) {
        ${TILE_PROLOGUE}
        let n = wg / TILES;
        let p0 = (wg % TILES) * TP;
        let live = n < uniforms.count;
        // D2 is zero at the outputs a window takes from its neighbours, [A, IE) unless full:
        // a tile whose taps see none of the rest only writes zeros.
        let need = live && (isFull(n) || p0 < A + K - 1 - PL || p0 + TP > IE - PL);
        ${declareAccumulators(cp, this.t.pt)}
        for (var o0 = 0; o0 < F; o0 += CC) {
          for (var k0 = 0; k0 < K; k0 += KC) {
            // Slab: D2 at positions p0 + PL − k0 − (KC − 1) + j of channels o0 …; tap k0 + kk
            // of output position s reads slab entry s − p0 + KC − 1 − kk.
            // A slab inside [A, IE) of a window that is not full is zeros: skipped.
            let t0 = p0 + PL - k0 - (KC - 1);
            let busy = need && (isFull(n) || t0 < A || t0 + SL > IE);
            for (var e = lid; e < CC * SL; e += WGS) {
              let c = e / SL;
              let t = t0 + e - c * SL;
              var v = 0.0;
              if (busy && o0 + c < F && t >= 0 && t < LP) { v = D2[(n * LP + t) * F + o0 + c]; }
              hS[e] = v;
            }
            // Weights [kk][o][i] = W2[k0 + kk, i, o0 + o].
            for (var e = lid; e < KC * CC * F; e += WGS) {
              let i = e % F;
              let o = (e / F) % CC;
              let k = e / (F * CC);
              var v = 0.0;
              if (k0 + k < K && o0 + o < F) { v = W2[((k0 + k) * F + i) * F + o0 + o]; }
              wS[e] = v;
            }
            workgroupBarrier();
            if (busy) {
              for (var k = 0; k < KC; k++) {
                for (var c = 0; c < CC; c++) {
                  let hb = c * SL + lane + KC - 1 - k;
                  let wb = (k * CC + c) * F + grp * CP;
                  ${tileStep(cp, this.t.pt, this.t.nl)}
                }
              }
            }
            workgroupBarrier();
          }
        }
        ${epilogue.join("\n")}
      }
    `;
  }
}

/**
 * WGSL of the loop the weight-gradient programs share, inside `main` once the chunk `r` is known:
 * over the CW windows n of chunk r (`live` while n < N; `window` adds per-window values) and
 * each window's slabs of TT positions from `t0`, `stage` fills workgroup memory between two
 * barriers and `step` runs for the slab's rows j (where `guard` holds), accumulating into the
 * registers `acc` declares; a chunk that has windows writes its partial sums with `out`. The trip
 * counts are constants so that the barriers stay in uniform control flow (WGSL's uniformity
 * analysis counts n0, from the workgroup id in a private variable, as varying); past N nothing is
 * loaded. {@link chunkLoops} counts these loops.
 */
function chunkSlabLoop(
  o: { acc: string; window: string; stage: string; guard?: string; step: string; out: string },
): string {
  const rows = `for (var j = 0; j < TT; j++) {
              ${o.step}
            }`;
  return `
        let n0 = r * CW;
        let n1 = min(n0 + CW, uniforms.count);
        ${o.acc}
        for (var w = 0; w < CW; w++) {
          let n = n0 + w;
          let live = n < n1;
          ${o.window}
          for (var t0 = 0; t0 < LP; t0 += TT) {
            ${o.stage}
            workgroupBarrier();
            ${o.guard ? `if (${o.guard}) { ${rows} }` : rows}
            workgroupBarrier();
          }
        }
        if (r * CW < uniforms.count) {
          ${o.out}
        }`;
}

/** Positions per slab of {@link Dw2PartialsProgram}. */
const TT = 32;
/** Taps per workgroup of {@link Dw2PartialsProgram}. */
const KB = 2;

/** dW2's blocking: an invocation owns a BI × BI block of (input, output) channels × KB taps. */
function dw2Blocking(g: FrontEndGeometry) {
  const bi = Math.max(5, Math.ceil(g.filters / 16)); // at most 16 × 16 invocations
  const nb = Math.ceil(g.filters / bi);
  return { bi, nb, threads: nb * nb };
}

/**
 * Partial sums of dW2 over chunks of whole windows ({@link windowsPerChunk}):
 * dW2[k, i, o] = Σ_t h1[t + k − PL, i]·D2[t, o] (h1 zero outside the window), a product of
 * two position-major matrices per tap. A workgroup owns one chunk and KB taps; per slab of TT
 * positions of a window it stages D2 (TT × F) and the h1 rows the taps see ((TT + KB − 1) × F)
 * in workgroup memory, and each invocation accumulates a BI × BI channel block for each tap in
 * scalar registers (BI + KB·BI reads per KB·BI² multiply-adds). db2 = Σ_t D2[t, o] is summed
 * on the way (written by the workgroups of taps 0–1). Inputs `P1`, `D2`; `count` = N windows.
 * Output `[R, K·F·F + F]`: dW2, then db2.
 */
class Dw2PartialsProgram extends FlatProgram {
  variableNames = ["P1", "D2"];
  private b: ReturnType<typeof dw2Blocking>;
  constructor(g: FrontEndGeometry, chunks: number) {
    super("Dw2Partials", g, [chunks, g.kernel * g.filters * g.filters + g.filters], 0);
    this.b = dw2Blocking(g);
    this.workgroupSize = [this.b.threads, 1, 1];
    this.dispatch = gridFor(chunks * Math.ceil(g.kernel / KB));
    const f = g.filters, wgs = this.b.threads;
    this.loopIterations = chunkLoops(
      g,
      loop(Math.ceil((TT * f) / wgs)) + loop(Math.ceil(((TT + KB - 1) * f) / wgs)) + 2 + loop(TT),
    );
  }
  getUserCode(): string {
    const { bi, nb, threads } = this.b;
    const f = this.g.filters;
    const acc: string[] = [], step: string[] = [], out: string[] = [];
    for (let q = 0; q < bi; q++) {
      // db2 = Σ D2 rides along: every invocation sums its BI columns, one row of them writes.
      acc.push(`var s_${q} = 0.0;`);
      step.push(`let d_${q} = dS[j * F + ob + ${q}]; s_${q} += d_${q};`);
      out.push(`if (k0 == 0 && ib == 0 && ob + ${q} < F) {
        result[r * PW + K * F * F + ob + ${q}] = s_${q};
      }`);
    }
    for (let kk = 0; kk < KB; kk++) {
      for (let p = 0; p < bi; p++) {
        step.push(`let h_${kk}_${p} = hS[(j + ${kk}) * F + ib + ${p}];`);
        for (let q = 0; q < bi; q++) {
          acc.push(`var a_${kk}_${p}_${q} = 0.0;`);
          step.push(`a_${kk}_${p}_${q} = fma(h_${kk}_${p}, d_${q}, a_${kk}_${p}_${q});`);
          out.push(`if (k0 + ${kk} < K && ib + ${p} < F && ob + ${q} < F) {
            result[r * PW + ((k0 + ${kk}) * F + ib + ${p}) * F + ob + ${q}] = a_${kk}_${p}_${q};
          }`);
        }
      }
    }
    return `
      ${constants(this.g)}
      const TT : i32 = ${TT};
      const KB : i32 = ${KB};
      const NB : i32 = ${nb};
      const BI : i32 = ${bi};
      const WGS : i32 = ${threads};
      const CW : i32 = ${windowsPerChunk(this.g)};
      const KBLOCKS : i32 = ${Math.ceil(this.g.kernel / KB)};
      const PW : i32 = K * F * F + F;
      // Padded by BI: blocks past F read (and discard) a few extra values.
      var<workgroup> dS : array<f32, ${TT * f + bi}>;
      var<workgroup> hS : array<f32, ${(TT + KB - 1) * f + bi}>;
      fn main(index : i32) {
        ${WORKGROUP_INDEX}
        let r = wg / KBLOCKS;
        let k0 = (wg % KBLOCKS) * KB;
        let ib = (lid / NB) * BI;
        let ob = (lid % NB) * BI;
        ${
      chunkSlabLoop({
        acc: acc.join(" "),
        window: "let full = isFull(n);",
        stage: `
          // D2 is zero on [A, IE) unless the window is full: such slabs add nothing.
          let need = live && (full || t0 < A || t0 + TT > IE);
          for (var e = lid; e < TT * F; e += WGS) {
            let t = t0 + e / F;
            var v = 0.0;
            if (need && t < LP) { v = D2[(n * LP + t0) * F + e]; }
            dS[e] = v;
          }
          // h1 at positions t0 + k0 − PL + j: what taps k0 … k0 + KB − 1 of slab row j see.
          for (var e = lid; e < (TT + KB - 1) * F; e += WGS) {
            let i = e % F;
            let s = t0 + k0 - PL + e / F;
            var v = 0.0;
            if (need && s >= 0 && s < LP) { v = P1[(n * LP + s) * 2 * F + i]; }
            hS[e] = v;
          }`,
        guard: "need",
        step: step.join("\n"),
        out: out.join("\n"),
      })
    }
      }
    `;
  }
}

/** dW1's blocking: an invocation owns BK taps × BF filters. */
function dw1Blocking(g: FrontEndGeometry) {
  const bk = Math.max(5, Math.ceil(g.kernel / 16)), bf = Math.max(5, Math.ceil(g.filters / 16));
  const nk = Math.ceil(g.kernel / bk), nf = Math.ceil(g.filters / bf);
  // Samples a slab's positions see: TT pooled positions, their pool, and the taps.
  const xs = TT * g.pool + g.pool + g.kernel - 2;
  return { bk, bf, nk, nf, xs, threads: nk * nf };
}

/**
 * Partial sums of dW1 and db1 over chunks of whole windows ({@link windowsPerChunk}):
 * dW1[k, f] = Σ_p Z1[p, f]·x[p·POOL + a + k − PL] with a the pool's argmax for (p, f) (the
 * window's own samples, zero outside it), db1[f] = Σ_p Z1[p, f]. A workgroup owns one chunk; per
 * slab of TT pooled positions of a window it stages Z1, the argmaxes and the slab's samples in
 * workgroup memory, and each invocation accumulates a BK × BF block in scalar registers. Inputs
 * `X` the signal, `P1`, `Z1` (pooled conv1 pre-activation gradient); `count` = N windows,
 * `windows` per row. Output `[R, K·F + F]`: dW1, then db1.
 */
class Dw1PartialsProgram extends FlatProgram {
  variableNames = ["X", "P1", "Z1"];
  private b: ReturnType<typeof dw1Blocking>;
  constructor(g: FrontEndGeometry, chunks: number) {
    super("Dw1Partials", g, [chunks, g.kernel * g.filters + g.filters], 0);
    this.b = dw1Blocking(g);
    this.workgroupSize = [this.b.threads, 1, 1];
    this.dispatch = gridFor(chunks);
    const f = g.filters, { threads: wgs, xs } = this.b;
    this.loopIterations = chunkLoops(
      g,
      loop(Math.ceil((TT * f) / wgs)) + loop(Math.ceil(xs / wgs)) + 2 + loop(TT),
    );
  }
  getUserCode(): string {
    const { bk, bf, nf, threads, xs } = this.b;
    const f = this.g.filters;
    const acc: string[] = [], step: string[] = [], out: string[] = [];
    for (let q = 0; q < bf; q++) {
      acc.push(`var s_${q} = 0.0;`);
      step.push(`let z_${q} = zS[j * F + fb + ${q}]; s_${q} += z_${q};`);
      step.push(`let x_${q} = j * POOL + i32(aS[j * F + fb + ${q}]) + kb;`);
      out.push(`if (kb == 0 && fb + ${q} < F) { result[r * PW + K * F + fb + ${q}] = s_${q}; }`);
      for (let p = 0; p < bk; p++) {
        acc.push(`var a_${p}_${q} = 0.0;`);
        step.push(`a_${p}_${q} = fma(z_${q}, xS[x_${q} + ${p}], a_${p}_${q});`);
        out.push(`if (kb + ${p} < K && fb + ${q} < F) {
          result[r * PW + (kb + ${p}) * F + fb + ${q}] = a_${p}_${q};
        }`);
      }
    }
    return `
      ${constants(this.g)}
      const TT : i32 = ${TT};
      const NF : i32 = ${nf};
      const BK : i32 = ${bk};
      const BF : i32 = ${bf};
      const XS : i32 = ${xs};
      const WGS : i32 = ${threads};
      const CW : i32 = ${windowsPerChunk(this.g)};
      const PW : i32 = K * F + F;
      // Padded: blocks past K or F read (and discard) a few extra values.
      var<workgroup> zS : array<f32, ${TT * f + bf}>;
      var<workgroup> aS : array<f32, ${TT * f + bf}>;
      var<workgroup> xS : array<f32, ${xs + bk}>;
      fn main(index : i32) {
        ${WORKGROUP_INDEX}
        let r = wg;
        let kb = (lid / NF) * BK;
        let fb = (lid % NF) * BF;
        ${
      chunkSlabLoop({
        acc: acc.join(" "),
        window:
          "let start = (n / uniforms.windows) * uniforms.xShape.y + (n % uniforms.windows) * HOP;",
        stage: `
          for (var e = lid; e < TT * F; e += WGS) {
            let t = t0 + e / F;
            var z = 0.0;
            var a = 0.0;
            if (live && t < LP) {
              z = Z1[(n * LP + t0) * F + e];
              a = P1[(n * LP + t) * 2 * F + F + e % F];
            }
            zS[e] = z;
            aS[e] = a;
          }
          // Samples t0·POOL − PL + e of the window: what positions t0 … t0 + TT − 1 see.
          for (var e = lid; e < XS; e += WGS) {
            let sample = t0 * POOL - PL + e;
            var v = 0.0;
            if (live && sample >= 0 && sample < WIN) { v = X[start + sample]; }
            xS[e] = v;
          }`,
        step: step.join("\n"),
        out: out.join("\n"),
      })
    }
      }
    `;
  }
}

/**
 * Columns [offset, offset + count) of `Q [R, P]` summed over R, written as `outputShape`
 * (a weight's shape, count elements). Shader key per offset/size (four fixed variants).
 */
class SumRowsProgram implements Program {
  variableNames = ["Q"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];

  loopIterations: number;

  constructor(shape: number[], private offset: number, rows: number) {
    this.loopIterations = loop(rows);
    this.outputShape = shape;
    const n = shape.reduce((a, d) => a * d, 1);
    this.dispatch = dispatchFor(n);
    this.shaderKey = `emoFrontEndSumRows_${offset}_${n}`;
  }

  getUserCode(): string {
    const n = this.outputShape.reduce((a, d) => a * d, 1);
    return `
      fn main(index : i32) {
        if (index >= ${n}) { return; }
        let r = uniforms.qShape.x;
        let p = uniforms.qShape.y;
        var acc = 0.0;
        for (var j = 0; j < r; j++) { acc += Q[j * p + ${this.offset} + index]; }
        result[index] = acc;
      }
    `;
  }
}

/**
 * `naiveFrontEnd`'s values and weight gradients on the webgpu backend (call only while it is
 * active; see {@link frontEndWebGpuApplies}): `signal [B, S]`, S = (windows − 1)·hop + window,
 * → `[B, windows, (window/pool)·(filters/channelPool)]`, position-major then group.
 */
export function frontEndWebGpu(
  signal: tf.Tensor2D,
  windows: number,
  g: FrontEndGeometry,
  w: FrontEndWeights,
): tf.Tensor3D {
  const b = signal.shape[0];
  const n = b * windows;
  const most = webgpuWindowsPerCall(g);
  if (n > most) {
    // frontEnd splits batches to fit; a direct call this large would return zeros.
    throw new Error(
      `frontEndWebGpu: ${b} × ${windows} windows exceed the ${most} that fit this device's ` +
        "storage buffer binding limit (call frontEnd, which splits the batch)",
    );
  }
  const lp = g.windowSamples / g.pool, f = g.filters, k = g.kernel, gr = f / g.channelPool;
  const need = (windows - 1) * g.hopSamples + g.windowSamples;
  if (signal.shape[1] < need) {
    throw new Error(`frontEndWebGpu: ${signal.shape[1]} samples per row, ${need} needed`);
  }
  const x = signal.dtype === "float32" ? signal : tf.cast(signal, "float32");
  const uni = (count: number) => [
    { type: "int32" as const, data: [count] },
    { type: "int32" as const, data: [windows] },
  ];
  const fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [w1, b1, w2, b2] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const p1 = run(new Conv1Program(g, n), [x, w1, b1], uni(n));
    const p2 = run(new Conv2Program(g, n), [p1, w2, b2], uni(n));
    save([x, w2, p1, p2]);
    const value = tf.reshape(tf.slice(p2, [0, 0, 0], [n, lp, gr]), [b, windows, lp * gr]);
    tf.dispose([p1, p2]); // the saved copies live on
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sw2, sp1, sp2] = saved;
          const d2 = run(new Conv2GradProgram(g, n), [dy, sp2], uni(n * lp * f));
          const z1 = run(new H1GradProgram(g, n), [d2, sw2, sp1], uni(n));
          const chunks = Math.ceil(n / windowsPerChunk(g));
          const q2 = run(new Dw2PartialsProgram(g, chunks), [sp1, d2], uni(n));
          const q1 = run(new Dw1PartialsProgram(g, chunks), [sx, sp1, z1], uni(n));
          return [
            run(new SumRowsProgram([k, 1, f], 0, chunks), [q1]),
            run(new SumRowsProgram([f], k * f, chunks), [q1]),
            run(new SumRowsProgram([k, f, f], 0, chunks), [q2]),
            run(new SumRowsProgram([f], k * f * f, chunks), [q2]),
          ];
        }),
    };
  });
  const out = fn(w.w1, w.b1, w.w2, w.b2) as tf.Tensor3D;
  if (x !== signal) x.dispose();
  return out;
}
