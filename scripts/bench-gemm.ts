/**
 * GEMM study for issue #14: does our own WebAssembly kernel (lib/model/wasm_gemm.ts) beat
 * XNNPACK inside tfjs-backend-wasm at the shapes of the paper model's conv2 (40 → 40 channels,
 * width 40, 'same')?
 *
 *   deno run --allow-read [--allow-sys=loadavg] scripts/bench-gemm.ts [--windows 230]
 *            [--positions 139] [--reps 5] [--conv-only]
 *
 * Shapes: `windows` rows of `positions` conv2 outputs each (the fast front-end computes 80 + 59
 * positions per window), so M = windows · positions (230 · 139 = 31,970 by default; 2,400
 * windows are one training step's 333,600), K = 40 · 40 = 1600, N = 40.
 *
 * - GEMM level, forward: `C[M×40] = A[M×1600] · W[1600×40]` with A a materialised im2col
 *   matrix: ours (relaxed, plain) against `tf.matMul` and `tf.conv2d` (NHWC `[windows, 1,
 *   positions, 40]` ∗ `[1, 40, 40, 40]`, 'same': the call conv.ts makes).
 * - GEMM level, filter gradient: `dW[1600×40] = A[1600×M] · dY[M×40]`: ours with A row-major
 *   and transposed (how the im2col-free gradient reads it), against `tf.matMul` and the
 *   conv2d that conv2dFilterGradNHWC runs (`[40, 1, positions + 39, windows]` ∗
 *   `[1, positions, windows, 40]`, 'valid'). Our B (dY) is repacked in every call, and tf gets
 *   a fresh filter tensor every call (XNNPACK caches packed filters per tensor), because dY
 *   changes every training step.
 * - End to end, forward conv: `tf.conv2d` against our im2col (heap-to-heap copies) + GEMM, our
 *   im2col-free conv (padded input resident), `WasmGemm.conv1d` from and to Float32Arrays, and
 *   the same wrapped for tfjs tensors (`dataSync` in, `tf.tensor` out), which is what wiring it
 *   into the model would cost. Filter gradient: conv.ts's conv2dFilterGradNHWC against
 *   `WasmGemm.conv1dFilterGrad`, with and without the tensor round trip.
 *
 * Every case runs once to warm up. Then, `reps` times over all cases (the order rotating), each
 * case is timed right after a run of its reference, because the speed of this shared machine
 * changes by up to 2× within seconds: the ratio column is the median over those back-to-back
 * pairs (by wall time and by process CPU time, with the range of the latter); GFLOP/s are given
 * as the median by wall and CPU time and the best run (the machine's uncontended rate). FLOPs are 2·M·K·N for every case (the 'same'
 * padding's zeros count, as the kernels multiply them). One tfjs engine and our kernel both use
 * one thread. The load average is printed before and after, and all of it again as JSON.
 * @module
 */
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-wasm";
import { conv2dFilterGradNHWC } from "../lib/model/conv.ts";
import {
  type Conv1dShape,
  type GemmVariant,
  measureSimdPeak,
  relaxedSimdSupported,
  WasmGemm,
} from "../lib/model/wasm_gemm.ts";
import { parseCommandLine } from "../lib/util/cli.ts";
import { Random } from "../lib/util/random.ts";
import { loadavg, median } from "./bench_util.ts";

const USAGE = "Usage: deno run --allow-read scripts/bench-gemm.ts [--windows 230] " +
  "[--positions 139] [--reps 5] [--conv-only]";

const { values: args } = parseCommandLine({
  options: {
    windows: { type: "string", default: "230" },
    positions: { type: "string", default: "139" },
    reps: { type: "string", default: "5" },
    "conv-only": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
}, USAGE);
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench-gemm: --${name} must be a positive integer\n\n${USAGE}`);
    Deno.exit(2);
  }
  return n;
};
const WINDOWS = int("windows", args.windows);
const POS = int("positions", args.positions);
const REPS = int("reps", args.reps);
const CONV_ONLY = args["conv-only"];

const CH = 40, KW = 40, PAD_BEFORE = 19, PAD_AFTER = 20; // conv2: 'same', odd sample after
const M = WINDOWS * POS, K = KW * CH, N = CH, LP = POS + PAD_BEFORE + PAD_AFTER;
const FLOPS = 2 * M * K * N;
const SHAPE: Conv1dShape = {
  n: WINDOWS,
  len: POS,
  cin: CH,
  kw: KW,
  cout: CH,
  padBefore: PAD_BEFORE,
  padAfter: PAD_AFTER,
};

/** Deterministic uniform noise in [−1, 1), from the toolkit's one PRNG. */
function noise(n: number, seed: number): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
}

interface Case {
  group: string;
  name: string;
  /** The case whose time this one is divided by (same repetition). */
  ref?: string;
  run: () => void;
}

const startLoad = loadavg();
const startTime = new Date().toISOString();
if (!(await tf.setBackend("wasm"))) throw new Error("tfjs wasm backend failed to initialise");
await tf.ready();

const variants: GemmVariant[] = relaxedSimdSupported() ? ["relaxed", "plain"] : ["plain"];
const peak = Object.fromEntries(variants.map((v) => [v, measureSimdPeak(v)]));

const x = noise(WINDOWS * POS * CH, 1); // conv2 input [windows, positions, 40]
const w = noise(K * N, 2).map((v) => v * 0.05); // [40, 40, 40] = [1600, 40]
const dy = noise(M * N, 3); // upstream gradient [windows, positions, 40]

// tfjs tensors, created once (as the model's activations live in tfjs's heap).
const x4 = tf.tensor4d(x, [WINDOWS, 1, POS, CH]);
const w4 = tf.tensor4d(w, [1, KW, CH, CH]);
const dy4 = tf.tensor4d(dy, [WINDOWS, 1, POS, CH]);
/** tf gets a fresh filter tensor per filter-gradient call: see the module description. */
const freshDyFilter = () =>
  tf.tidy(() => tf.add(tf.transpose(dy4, [1, 2, 0, 3]), 0)) as tf.Tensor4D;
// The conv2d that conv2dFilterGradNHWC runs, its operands prepared as it prepares them.
const xinFg = tf.tidy(() =>
  tf.transpose(tf.pad(x4, [[0, 0], [0, 0], [PAD_BEFORE, PAD_AFTER], [0, 0]]), [3, 1, 2, 0])
) as tf.Tensor4D;

const cases: Case[] = [];
const gemms = Object.fromEntries(variants.map((v) => [v, WasmGemm.create({ variant: v })]));

// --- GEMM level -------------------------------------------------------------------------------
if (!CONV_ONLY) {
  const aFwd = noise(M * K, 4); // a materialised im2col matrix [M, 1600]
  const aFg = noise(K * M, 5); // [1600, M]
  const tA = tf.tensor2d(aFwd, [M, K]), tW = tf.tensor2d(w, [K, N]);
  const tAfg = tf.tensor2d(aFg, [K, M]);
  const fwd = "forward GEMM", fg = "filter-grad GEMM";
  cases.push({
    group: fwd,
    name: "tf.conv2d (XNNPACK)",
    run: () => tf.conv2d(x4, w4, 1, "same").dispose(),
  });
  cases.push({
    group: fwd,
    name: "tf.matMul (XNNPACK)",
    ref: `${fwd}/tf.conv2d (XNNPACK)`,
    run: () => tf.matMul(tA, tW).dispose(),
  });
  const fgConv = "tf.conv2d, conv2dFilterGradNHWC's call";
  cases.push({
    group: fg,
    name: fgConv,
    run: () => {
      const f = freshDyFilter();
      tf.conv2d(xinFg, f, 1, "valid").dispose();
      f.dispose();
    },
  });
  cases.push({
    group: fg,
    name: "tf.matMul (XNNPACK)",
    ref: `${fg}/${fgConv}`,
    run: () => {
      const f = tf.tensor2d(dy, [M, N]); // fresh, like the conv2d case
      tf.matMul(tAfg, f).dispose();
      f.dispose();
    },
  });
  for (const v of variants) {
    const g = gemms[v];
    const a = g.upload(aFwd), afg = g.upload(aFg);
    const b = g.packB(w, K, N), c = g.alloc(M * N), dw = g.alloc(K * N);
    let pdy = g.packB(dy, M, N);
    cases.push({
      group: fwd,
      name: `ours ${v}, A row-major`,
      ref: `${fwd}/tf.conv2d (XNNPACK)`,
      run: () => g.multiply({ a: { buffer: a, rowStride: K }, b, c: { buffer: c }, m: M }),
    });
    cases.push({
      group: fg,
      name: `ours ${v}, A row-major`,
      ref: `${fg}/${fgConv}`,
      run: () => {
        pdy = g.packB(dy, M, N, pdy);
        g.multiply({ a: { buffer: afg, rowStride: M }, b: pdy, c: { buffer: dw }, m: K });
      },
    });
    cases.push({
      group: fg,
      name: `ours ${v}, A transposed`,
      ref: `${fg}/${fgConv}`,
      run: () => {
        pdy = g.packB(dy, M, N, pdy);
        g.multiply({
          a: { buffer: a, rowStride: 1, colStride: K }, // aFwd read as [1600, M]
          b: pdy,
          c: { buffer: dw },
          m: K,
        });
      },
    });
  }
}

// --- End to end: the convolution itself -------------------------------------------------------
const e2e = "conv forward", e2eFg = "conv filter grad";
const tfConv = `${e2e}/tf.conv2d (XNNPACK)`;
cases.push({
  group: e2e,
  name: "tf.conv2d (XNNPACK)",
  run: () => tf.conv2d(x4, w4, 1, "same").dispose(),
});
const tfFg = `${e2eFg}/tf conv2dFilterGradNHWC`;
cases.push({
  group: e2eFg,
  name: "tf conv2dFilterGradNHWC",
  run: () => {
    // conv.ts's registered Conv2D gradient: pad, transposes, conv2d, transposes. dy4 is one
    // tensor, but the function transposes it into a new filter tensor on every call.
    conv2dFilterGradNHWC(x4, w4, dy4, { strides: 1, dilations: 1, dataFormat: "NHWC" })
      .dispose();
  },
});
for (const v of variants) {
  const g = gemms[v];
  const xp = g.alloc(WINDOWS * LP * CH);
  {
    // The padded input, resident: zeros around each row.
    const d = xp.data;
    d.fill(0);
    for (let r = 0; r < WINDOWS; r++) {
      d.set(x.subarray(r * POS * CH, (r + 1) * POS * CH), (r * LP + PAD_BEFORE) * CH);
    }
  }
  const b = g.packB(w, K, N), y = g.alloc(M * N);
  const implicit = () => {
    for (let r = 0; r < WINDOWS; r++) {
      g.multiply({
        a: { buffer: xp, offset: r * LP * CH, rowStride: CH },
        b,
        c: { buffer: y, offset: r * POS * N },
        m: POS,
      });
    }
  };
  cases.push({
    group: e2e,
    name: `ours ${v}, im2col-free GEMM (resident)`,
    ref: tfConv,
    run: implicit,
  });
  if (!CONV_ONLY) {
    const cols = g.alloc(M * K);
    cases.push({
      group: e2e,
      name: `ours ${v}, im2col + GEMM (resident)`,
      ref: tfConv,
      run: () => {
        // im2col as heap-to-heap copies: row t of window r is xpad[r][t … t + 40) (1600 floats).
        const heap = new Float32Array(g.memory.buffer);
        const src = xp.byteOffset / 4, dst = cols.byteOffset / 4;
        for (let r = 0; r < WINDOWS; r++) {
          for (let t = 0; t < POS; t++) {
            const s = src + (r * LP + t) * CH;
            heap.copyWithin(dst + (r * POS + t) * K, s, s + K);
          }
        }
        g.multiply({ a: { buffer: cols, rowStride: K }, b, c: { buffer: y }, m: M });
      },
    });
  }
  cases.push({
    group: e2e,
    name: `ours ${v}, conv1d(Float32Array)`,
    ref: tfConv,
    run: () => void g.conv1d(x, w, SHAPE),
  });
  cases.push({
    group: e2e,
    name: `ours ${v}, conv1d via tf tensors`,
    ref: tfConv,
    run: () => tf.tensor4d(g.conv1d(x4.dataSync() as Float32Array, w, SHAPE), x4.shape).dispose(),
  });
  cases.push({
    group: e2eFg,
    name: `ours ${v}, conv1dFilterGrad(Float32Array)`,
    ref: tfFg,
    run: () => void g.conv1dFilterGrad(x, dy, SHAPE),
  });
  cases.push({
    group: e2eFg,
    name: `ours ${v}, conv1dFilterGrad via tf tensors`,
    ref: tfFg,
    run: () => {
      const dw = g.conv1dFilterGrad(
        x4.dataSync() as Float32Array,
        dy4.dataSync() as Float32Array,
        SHAPE,
      );
      tf.tensor4d(dw, [1, KW, CH, CH]).dispose();
    },
  });
}

// --- Measurement ------------------------------------------------------------------------------
// The machine's speed changes by up to 2× within seconds (other jobs on the second core), so a
// ratio is only meaningful between runs made back to back: every case with a reference is
// timed right after a run of its reference, and its ratio is the median over those pairs.
const key = (c: Case) => `${c.group}/${c.name}`;
const byKey = new Map(cases.map((c) => [key(c), c]));
const wall: Record<string, number[]> = {}, cpu: Record<string, number[]> = {};
const ratios: Record<string, { wall: number[]; cpu: number[] }> = {};
function time(c: Case): [number, number] {
  const c0 = process.cpuUsage(), t0 = performance.now();
  c.run();
  const t = (performance.now() - t0) / 1000, d = process.cpuUsage(c0);
  (wall[key(c)] ??= []).push(t);
  (cpu[key(c)] ??= []).push((d.user + d.system) / 1e6);
  return [t, (d.user + d.system) / 1e6];
}
for (const c of cases) c.run(); // warm-up: kernel tier-up, XNNPACK operator creation
const paired = cases.filter((c) => c.ref);
for (let rep = 0; rep < REPS; rep++) {
  for (let i = 0; i < paired.length; i++) {
    const c = paired[(i + rep) % paired.length];
    const [rw, rc] = time(byKey.get(c.ref!)!);
    const [cw, cc] = time(c);
    const r = (ratios[key(c)] ??= { wall: [], cpu: [] });
    r.wall.push(rw / cw);
    r.cpu.push(rc / cc);
  }
}
const endLoad = loadavg();

const rows = cases.map((c) => {
  const k = key(c);
  return {
    group: c.group,
    name: c.name,
    runs: wall[k].length,
    ms: median(wall[k]) * 1000,
    gflops: FLOPS / median(wall[k]) / 1e9,
    gflopsCpu: FLOPS / median(cpu[k]) / 1e9,
    gflopsCpuBest: FLOPS / Math.min(...cpu[k]) / 1e9,
    speedup: c.ref ? median(ratios[k].wall) : undefined,
    speedupCpu: c.ref ? median(ratios[k].cpu) : undefined,
    speedupRange: c.ref ? [Math.min(...ratios[k].cpu), Math.max(...ratios[k].cpu)] : undefined,
  };
});

const fmt = (v: number, d = 1) => v.toFixed(d);
console.log(
  `bench-gemm: ${startTime}, load ${startLoad} → ${endLoad}; M = ${WINDOWS} × ${POS} = ${M}, ` +
    `K = ${K}, N = ${N}, ${fmt(FLOPS / 1e9, 2)} GFLOP per case, ${REPS} reps`,
);
console.log(
  `register-only f32x4 multiply-add peak: ${
    variants.map((v) => `${v} ${fmt(peak[v])}`).join(", ")
  } GFLOP/s`,
);
const header = [
  "case",
  "ms",
  "GFLOP/s wall",
  "GFLOP/s CPU median / best",
  "× ref, paired (wall / CPU; CPU range)",
];
const table = rows.map((r) => [
  `${r.group}: ${r.name}`,
  fmt(r.ms, 0),
  fmt(r.gflops),
  `${fmt(r.gflopsCpu)} / ${fmt(r.gflopsCpuBest)}`,
  r.speedup === undefined
    ? "ref"
    : `${fmt(r.speedup, 2)} / ${fmt(r.speedupCpu!, 2)}; ${
      r.speedupRange!.map((v) => fmt(v, 2)).join("–")
    }`,
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i].length)));
const line = (r: string[]) =>
  `| ${r.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join(" | ")} |`;
console.log(line(header));
console.log(`|${widths.map((w, i) => "-".repeat(w + 1) + (i === 0 ? "-" : ":")).join("|")}|`);
for (const r of table) console.log(line(r));
console.log(JSON.stringify({
  start: startTime,
  loadavg: { start: startLoad, end: endLoad },
  shape: { windows: WINDOWS, positions: POS, m: M, k: K, n: N, flops: FLOPS },
  reps: REPS,
  peakGflops: peak,
  activeVariant: gemms[variants[0]].variant,
  rows,
}));
