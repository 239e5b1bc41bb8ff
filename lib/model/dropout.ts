/**
 * The model's dropout multiplier, drawn as `tf.dropout` draws it, on every backend; on webgpu
 * generated on the GPU.
 *
 * `tf.dropout(x, rate, _, seed)` multiplies x by ⌊u + p⌋ / p, p = 1 − rate, where u are float32
 * uniforms that `tf.randomUniform` draws **in JavaScript** (seedrandom's Alea seeded with the
 * string of `seed`) and uploads. On a GPU that draw is the step's bottleneck: the paper's model
 * drops the front-end's 1,280 values per window, so 16 × 500 windows need 10 million draws,
 * about 270 ms of one CPU core and 41 MB of upload per training step (measured here: 51 ms for
 * 1,200 windows), which alone would hold training under 30,000 windows/s whatever the GPU.
 *
 * The GPU program below draws the very same numbers, so a model trains to the same weights on
 * webgpu as on wasm and cpu, and results published before it stay reproducible. Alea is a
 * lag-3 multiply-with-carry generator in disguise: its state (s0, s1, s2, c) with s = x / 2³²
 * steps as t = a·x₀ + c, x₀ ← x₁, x₁ ← x₂, x₂ ← t mod 2³², c ← ⌊t / 2³²⌋ (a = 2,091,639;
 * every quantity an integer, exact in float64), and draw n is x₂ / 2³². Such a generator is a
 * linear congruential one in z = c + a·(x₀ + x₁·2³² + x₂·2⁶⁴), modulo the prime
 * m = a·2⁹⁶ − 1: one step multiplies z by 2⁻³² mod m (= a·2⁶⁴), and the next draw is z mod 2³².
 * So the host jumps, with BigInt, to the start of every block of {@link BLOCK} draws (one
 * multiplication per block), and one GPU invocation per block runs the integer recurrence.
 *
 * A draw keeps its value exactly when ⌊fl(fl(x / 2³²) + p)⌋ = 1 in float32, which is monotone
 * in x: x ≥ {@link keepThreshold}. The program compares integers and writes 0 or fl(1 / p),
 * the value `tf.dropout` computes, so the multiplier is equal bit for bit (tests/dropout_test.ts
 * compares it with the cpu backend's on lavapipe).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { ownWebGpuKernels } from "./own_kernels.ts";
import { loop, type Program, runProgram } from "./webgpu_program.ts";

/**
 * One draw of the multiplier: rows `[r0, r1)` of the batch take `windows` windows of one Alea
 * stream seeded with `seed` (row by row, window by window, unit by unit, as
 * `tf.randomUniform([r1 − r0, windows, dim])` fills them); their later windows get 0.
 */
export interface DropoutDraw {
  rows: [number, number];
  windows: number;
  seed: number;
}

/**
 * The dropout multiplier `[batch, windows, dim]` for the model's `draws` (one per row group,
 * covering every row once) with keep probability `keep`: what `tf.dropout` multiplies by, each
 * draw padded with 0 to `windows`. On webgpu one dispatch of {@link DropoutMaskProgram} (unless
 * own kernels are switched off: own_kernels.ts); elsewhere tfjs's ops (tf.dropout's own).
 */
export function dropoutMultiplier(
  draws: DropoutDraw[],
  batch: number,
  windows: number,
  dim: number,
  keep: number,
): tf.Tensor3D {
  checkDraws(draws, batch, windows);
  // tf.dropout's keep probability, from its rate, exactly as it computes it.
  const keepProb = 1 - (1 - keep);
  if (ownWebGpuKernels()) return gpuMultiplier(draws, batch, windows, dim, keepProb);
  return tf.tidy(() => {
    const parts = draws.map(({ rows: [r0, r1], windows: w, seed }) => {
      const u = tf.randomUniform([r1 - r0, w, dim], 0, 1, "float32", seed);
      return w === windows ? u : tf.pad(u, [[0, 0], [0, windows - w], [0, 0]]);
    });
    const uniform = parts.length === 1 ? parts[0] : tf.concat(parts, 0);
    return tf.div(tf.floor(tf.add(uniform, keepProb)), keepProb) as tf.Tensor3D;
  });
}

function checkDraws(draws: DropoutDraw[], batch: number, windows: number): void {
  let next = 0;
  for (const { rows: [r0, r1], windows: w } of draws) {
    if (r0 !== next || r1 <= r0 || !(Number.isInteger(w) && w >= 1 && w <= windows)) {
      throw new Error(
        `dropoutMultiplier: draws must cover rows 0…${batch - 1} in order with 1…${windows} ` +
          `windows each; got rows [${r0}, ${r1}) with ${w}`,
      );
    }
    next = r1;
  }
  if (next !== batch) {
    throw new Error(`dropoutMultiplier: draws cover ${next} of ${batch} rows`);
  }
}

// ---------------------------------------------------------------------------------------------
// Alea as integers

/** Alea's multiplier. */
const A = 2091639n;
const B32 = 1n << 32n;
const MASK32 = B32 - 1n;
/** The modulus of Alea's equivalent linear congruential generator, a·2⁹⁶ − 1 (a prime). */
const M = A * B32 ** 3n - 1n;
/** 2⁻³² mod M: 2³² · a·2⁶⁴ = M + 1. */
const STEP = A * B32 ** 2n;

/** Draws one GPU invocation makes (a power of two; below lavapipe's loop limit). */
export const BLOCK = 4096;

/** STEP^k mod M, the jump of k draws. */
function jump(k: number): bigint {
  let r = 1n, x = STEP, e = BigInt(k);
  while (e > 0n) {
    if (e & 1n) r = (r * x) % M;
    x = (x * x) % M;
    e >>= 1n;
  }
  return r;
}
const JUMP_BLOCK = jump(BLOCK);

/**
 * Alea's state after seeding with `String(seed)`, as integers: x0, x1, x2 (its s0, s1, s2
 * times 2³²) and the carry c. Baagøe's seeding: each s is Mash(' ') − Mash(seed) wrapped into
 * [0, 1), from one running Mash state hashing ' ' three times, then the seed three times.
 */
export function aleaState(seed: number): [number, number, number, number] {
  const hash = mash(), text = String(seed);
  const s = [hash(" "), hash(" "), hash(" ")];
  const x = s.map((v) => {
    v -= hash(text);
    return (v < 0 ? v + 1 : v) * 2 ** 32;
  });
  return [x[0], x[1], x[2], 1];
}

/** Baagøe's Mash hash: each call folds `data` into the running state and returns it / 2³². */
function mash(): (data: string) => number {
  let n = 0xefc8249d;
  return (data) => {
    for (let i = 0; i < data.length; i++) {
      n += data.charCodeAt(i);
      let h = 0.02519603282416938 * n;
      n = h >>> 0;
      h -= n;
      h *= n;
      n = h >>> 0;
      h -= n;
      n += h * 0x100000000;
    }
    return (n >>> 0) * 2 ** -32;
  };
}

/** The state [x0, x1, x2, c] of z = c + a·(x0 + x1·2³² + x2·2⁶⁴). */
function stateOf(z: bigint): [number, number, number, number] {
  const c = z % A, x = z / A;
  return [Number(x & MASK32), Number((x >> 32n) & MASK32), Number(x >> 64n), Number(c)];
}

function zOf([x0, x1, x2, c]: [number, number, number, number]): bigint {
  return BigInt(c) + A * (BigInt(x0) + (BigInt(x1) << 32n) + (BigInt(x2) << 64n));
}

/**
 * Alea's state, as [x0, x1, x2, c], after `skip` draws of the stream seeded with `seed`
 * (skip a multiple of {@link BLOCK} is one multiplication per block from the previous one).
 */
export function aleaStateAfter(seed: number, skip: number): [number, number, number, number] {
  return stateOf((zOf(aleaState(seed)) * jump(skip)) % M);
}

/**
 * Draws `n` numbers of Alea from `state` ([x0, x1, x2, c], left advanced) as the integers x
 * (the draw is x / 2³²): the recurrence the GPU program runs, for tests and the CPU reference.
 */
export function aleaIntegers(state: [number, number, number, number], n: number): Uint32Array {
  const out = new Uint32Array(n);
  let [x0, x1, x2, c] = state;
  for (let i = 0; i < n; i++) {
    // a·x0 + c < 2⁵³: exact in float64, as in Alea itself.
    const t = 2091639 * x0 + c;
    c = Math.floor(t / 2 ** 32);
    x0 = x1;
    x1 = x2;
    x2 = t - c * 2 ** 32;
    out[i] = x2;
  }
  state[0] = x0, state[1] = x1, state[2] = x2, state[3] = c;
  return out;
}

/**
 * The smallest x with ⌊fl(fl(x / 2³²) + p)⌋ = 1 in float32 arithmetic (`p` = keepProb as a
 * float32): draw x keeps its value exactly when x ≥ this. fl is round-to-nearest-even, which is
 * what storing the float64 draw into a Float32Array and float32 addition both do.
 */
export function keepThreshold(keepProb: number): number {
  const p = Math.fround(keepProb);
  const keeps = (x: number) => Math.fround(Math.fround(x * 2 ** -32) + p) >= 1;
  let lo = 0, hi = 2 ** 32 - 1; // keeps(0) is false (p < 1), keeps(2³² − 1) true (p > 0)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (keeps(mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

// ---------------------------------------------------------------------------------------------
// The GPU program

/** Fields per task in the task table. */
const FIELDS = 8;
const WORKGROUP = 64;

/**
 * Writes the dropout multiplier `[B, W, D]`. Input `T` (int32, read as u32): {@link FIELDS}
 * per invocation. A generating task `[x0, x1, x2, c, out, rem, count, rowLen]` draws `count`
 * numbers from Alea state (x0, x1, x2, c) into the output from flat index `out`, which is
 * `rem` values into a row's `rowLen` drawn values; past a row's drawn values it skips the row's
 * padding (`uniforms.rowStride − rowLen`). A zeroing task `[_, _, _, _, out, _, count, 0]`
 * writes `count` zeros from `out` (a row's padded windows; tfjs's buffers are reused, not
 * cleared).
 */
class DropoutMaskProgram implements Program {
  variableNames = ["T"];
  outputShape: number[];
  shaderKey = `emoDropoutMask_${BLOCK}`;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  uniforms = "tasks : i32, threshold : u32, scale : f32, rowStride : u32, ";
  loopIterations = loop(BLOCK);

  constructor(shape: [number, number, number], tasks: number) {
    this.outputShape = shape;
    this.dispatch = [Math.ceil(tasks / WORKGROUP), 1, 1];
  }

  getUserCode(): string {
    const a = 2091639, ah = Math.floor(a / 65536), al = a % 65536;
    return `
      fn field(task : i32, k : i32) -> u32 { return bitcast<u32>(T[task * ${FIELDS} + k]); }
      fn main(index : i32) {
        if (index >= uniforms.tasks) { return; }
        var out = field(index, 4);
        let count = field(index, 6);
        let rowLen = field(index, 7);
        if (rowLen == 0u) {
          for (var i = 0u; i < count; i++) { result[out + i] = 0.0; }
          return;
        }
        var x0 = field(index, 0);
        var x1 = field(index, 1);
        var x2 = field(index, 2);
        var c = field(index, 3);
        var rem = field(index, 5);
        let skip = uniforms.rowStride - rowLen;
        for (var i = 0u; i < count; i++) {
          // t = a·x0 + c < 2⁵³ from 16-bit halves: a = ${ah}·2¹⁶ + ${al}.
          let xl = x0 & 0xffffu;
          let xh = x0 >> 16u;
          let mid = ${al}u * xh + ${ah}u * xl;
          let low = ${al}u * xl;
          let lo1 = low + (mid << 16u);
          let lo = lo1 + c;
          let carries = select(0u, 1u, lo1 < low) + select(0u, 1u, lo < lo1);
          c = ${ah}u * xh + (mid >> 16u) + carries;
          x0 = x1;
          x1 = x2;
          x2 = lo;
          result[out] = select(0.0, uniforms.scale, lo >= uniforms.threshold);
          out = out + 1u;
          rem = rem + 1u;
          if (rem == rowLen) {
            rem = 0u;
            out = out + skip;
          }
        }
      }
    `;
  }
}

/**
 * The task table of {@link DropoutMaskProgram} for `draws` in an output `[·, windows, dim]`:
 * {@link FIELDS} int32 per task, a generating task per {@link BLOCK} draws of each draw's
 * stream, then a zeroing task per {@link BLOCK} padded values of each row the draw trims.
 */
export function maskTasks(draws: DropoutDraw[], windows: number, dim: number): Int32Array {
  const rowStride = windows * dim;
  let tasks = 0;
  for (const { rows: [r0, r1], windows: w } of draws) {
    tasks += Math.ceil(((r1 - r0) * w * dim) / BLOCK);
    if (w < windows) tasks += (r1 - r0) * Math.ceil(((windows - w) * dim) / BLOCK);
  }
  const table = new Int32Array(tasks * FIELDS);
  let at = 0;
  const put = (
    state: readonly number[],
    out: number,
    rem: number,
    count: number,
    rowLen: number,
  ) => {
    table.set(state, at);
    table[at + 4] = out, table[at + 5] = rem, table[at + 6] = count, table[at + 7] = rowLen;
    at += FIELDS;
  };
  const none = [0, 0, 0, 0];
  for (const { rows: [r0, r1], windows: w, seed } of draws) {
    const rowLen = w * dim, n = (r1 - r0) * rowLen;
    let z = zOf(aleaState(seed));
    for (let first = 0; first < n; first += BLOCK) {
      const row = Math.floor(first / rowLen), rem = first - row * rowLen;
      // Int32Array stores the u32 words' bit patterns (the program reads them as u32).
      put(stateOf(z), (r0 + row) * rowStride + rem, rem, Math.min(BLOCK, n - first), rowLen);
      z = (z * JUMP_BLOCK) % M;
    }
    if (w < windows) {
      for (let r = r0; r < r1; r++) {
        const end = (r + 1) * rowStride;
        for (let out = r * rowStride + rowLen; out < end; out += BLOCK) {
          put(none, out, 0, Math.min(BLOCK, end - out), 0);
        }
      }
    }
  }
  return table;
}

function gpuMultiplier(
  draws: DropoutDraw[],
  batch: number,
  windows: number,
  dim: number,
  keepProb: number,
): tf.Tensor3D {
  const table = maskTasks(draws, windows, dim), tasks = table.length / FIELDS;
  const scale = Math.fround(1 / Math.fround(keepProb));
  return tf.tidy(() => {
    const t = tf.tensor1d(table, "int32");
    return runProgram(new DropoutMaskProgram([batch, windows, dim], tasks), [t], [
      { type: "int32", data: [tasks] },
      { type: "uint32", data: [keepThreshold(keepProb)] },
      { type: "float32", data: [scale] },
      { type: "uint32", data: [windows * dim] },
    ]) as tf.Tensor3D;
  });
}
