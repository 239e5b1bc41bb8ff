/**
 * Does overlap-save FFT convolution (lib/model/fft_conv.ts) beat Winograd F(4, 4)
 * (lib/model/winograd.ts) at conv2's long rows?
 *
 *   deno run --allow-read [--allow-sys=loadavg] scripts/bench-fft-conv.ts [--pairs 7]
 *            [--blocks 128,256] [--rows 8] [--len 24240] [--pad-before 0] [--pad-after 0]
 *            [--profile]
 *
 * Shape: `rows` rows of `len` positions, 40 → 40 channels, width 40, no padding by default
 * (the fast front-end's whole-utterance conv2; its window edges are `--rows 2400 --len 49
 * --pad-before 19` and `--len 50 --pad-after 20`). Three passes, as one training step runs
 * them: forward (with bias + ReLU), the filter gradient, and the input gradient (a convolution
 * of the upstream gradient with the flipped filter, padding 39 − pad on each side).
 *
 * This 2-core machine's speed drifts by ±20 % from one minute to the next, so only paired
 * ratios in one process mean anything: every pair runs Winograd and each FFT block size back
 * to back (the order alternating between pairs), and the table gives medians and per-pair
 * ratios (Winograd time / FFT time, > 1 where FFT is faster) with their ranges, the load
 * average before, during and after. `--profile` also prints where FFT's time goes (its own
 * per-phase timers; they add a few `performance.now` calls, nothing else). Accuracy: a sample
 * of outputs and filter-gradient taps against float64 direct sums at this shape.
 * @module
 */
import process from "node:process";
import { type Conv1dShape, WasmGemm } from "../lib/model/wasm_gemm.ts";
import { WinogradConv } from "../lib/model/winograd.ts";
import { flipFilter } from "../lib/model/conv.ts";
import { FftConv } from "../lib/model/fft_conv.ts";
import { parseCommandLine } from "../lib/util/cli.ts";
import { Random } from "../lib/util/random.ts";
import { loadavg, median } from "./bench_util.ts";

const USAGE = "Usage: deno run --allow-read [--allow-sys=loadavg] scripts/bench-fft-conv.ts " +
  "[--pairs 7] [--blocks 128,256] [--rows 8] [--len 24240] [--pad-before 0] [--pad-after 0] " +
  "[--profile]";
const { values: args } = parseCommandLine({
  options: {
    pairs: { type: "string", default: "7" },
    blocks: { type: "string", default: "128,256" },
    rows: { type: "string", default: "8" },
    len: { type: "string", default: "24240" },
    "pad-before": { type: "string", default: "0" },
    "pad-after": { type: "string", default: "0" },
    profile: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
}, USAGE);
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const PAIRS = Number(args.pairs), ROWS = Number(args.rows), LEN = Number(args.len);
const BLOCKS = String(args.blocks).split(",").map(Number);

const C = 40, K = 40;
const PB = Number(args["pad-before"]), PA = Number(args["pad-after"]);
const shape: Conv1dShape = {
  n: ROWS,
  len: LEN,
  cin: C,
  kw: K,
  cout: C,
  padBefore: PB,
  padAfter: PA,
};
const lout = LEN + PB + PA - K + 1;
const dxShape: Conv1dShape = { ...shape, len: lout, padBefore: K - 1 - PB, padAfter: K - 1 - PA };

const rng = new Random(5);
const x = Float32Array.from({ length: ROWS * LEN * C }, () => rng.uniform(-1, 1));
const w = Float32Array.from({ length: K * C * C }, () => rng.uniform(-0.2, 0.2));
const bias = Float32Array.from({ length: C }, () => rng.uniform(-0.1, 0.1));
const dy = Float32Array.from({ length: ROWS * lout * C }, () => rng.uniform(-1, 1));
const wf = flipFilter(w, K, C, C);

const gemm = WasmGemm.create();
interface Impl {
  name: string;
  conv: { conv1d: FftConv["conv1d"]; conv1dFilterGrad: FftConv["conv1dFilterGrad"] };
}
const impls: Impl[] = [
  { name: "winograd F(4,4)", conv: new WinogradConv(gemm) },
  ...BLOCKS.map((b) => ({ name: `fft N=${b}`, conv: new FftConv(gemm, b) })),
];
const PASSES = ["forward", "filter grad", "input grad"] as const;
type Pass = typeof PASSES[number];

function run(impl: Impl, pass: Pass): Float32Array {
  const c = impl.conv;
  if (pass === "forward") return c.conv1d(x, w, shape, bias);
  if (pass === "filter grad") return c.conv1dFilterGrad(x, dy, shape);
  return c.conv1d(dy, wf, dxShape);
}

/** Wall and process-CPU seconds of one call. */
function timed(impl: Impl, pass: Pass): { wall: number; cpu: number; out: Float32Array } {
  const c0 = process.cpuUsage(), t0 = performance.now();
  const out = run(impl, pass);
  const wall = (performance.now() - t0) / 1000, d = process.cpuUsage(c0);
  return { wall, cpu: (d.user + d.system) / 1e6, out };
}

// ---- accuracy: sampled outputs and taps against float64 direct sums ----
console.log(
  `shape: ${ROWS} rows × ${LEN} positions, ${C} → ${C} channels, width ${K}, ` +
    `padding ${PB}/${PA} (input gradient: ${K - 1 - PB}/${K - 1 - PA})`,
);
console.log(`load average at start: ${loadavg()}`);
const outs = new Map<string, Record<Pass, Float32Array>>();
for (const impl of impls) {
  const rec = {} as Record<Pass, Float32Array>;
  for (const pass of PASSES) rec[pass] = run(impl, pass); // also the warm-up
  outs.set(impl.name, rec);
}
const SAMPLES = 300;
/** Worst |got − exact| over the sample, relative to the sample's largest Σ|terms|. */
const errors = new Map<string, Record<Pass, number>>(impls.map((i) => [i.name, {} as never]));
{
  const srng = new Random(9);
  const pick = (n: number) => Math.floor(srng.next() * n);
  const cases: { pass: Pass; index: number; exact: number; mag: number }[] = [];
  for (let k = 0; k < SAMPLES; k++) {
    // forward (pre-activation: compare max(exact + b, 0)).
    const r = pick(ROWS), t = pick(lout), o = pick(C);
    let s = bias[o], m = Math.abs(bias[o]);
    for (let q = 0; q < K; q++) {
      if (t + q - PB < 0 || t + q - PB >= LEN) continue;
      for (let i = 0; i < C; i++) {
        const v = x[(r * LEN + t + q - PB) * C + i] * w[(q * C + i) * C + o];
        s += v;
        m += Math.abs(v);
      }
    }
    cases.push({ pass: "forward", index: (r * lout + t) * C + o, exact: Math.max(s, 0), mag: m });
    // input gradient: dx[t][i] = Σ_q Σ_o dypad[t + q][o] · wf[q][o][i].
    const t2 = pick(LEN), i2 = pick(C);
    s = 0;
    m = 0;
    for (let q = 0; q < K; q++) {
      const p = t2 + q - (K - 1 - PB);
      if (p < 0 || p >= lout) continue;
      for (let o2 = 0; o2 < C; o2++) {
        const v = dy[(r * lout + p) * C + o2] * wf[(q * C + o2) * C + i2];
        s += v;
        m += Math.abs(v);
      }
    }
    cases.push({ pass: "input grad", index: (r * LEN + t2) * C + i2, exact: s, mag: m });
  }
  for (let k = 0; k < 40; k++) {
    // filter gradient taps: Σ over all rows and positions (≈ 194k terms each).
    const q = pick(K), i = pick(C), o = pick(C);
    let s = 0, m = 0;
    for (let r = 0; r < ROWS; r++) {
      for (let t = 0; t < lout; t++) {
        if (t + q - PB < 0 || t + q - PB >= LEN) continue;
        const v = x[(r * LEN + t + q - PB) * C + i] * dy[(r * lout + t) * C + o];
        s += v;
        m += Math.abs(v);
      }
    }
    cases.push({ pass: "filter grad", index: (q * C + i) * C + o, exact: s, mag: m });
  }
  for (const impl of impls) {
    const e = errors.get(impl.name)!;
    for (const pass of PASSES) {
      const cs = cases.filter((c) => c.pass === pass);
      const scale = Math.max(...cs.map((c) => c.mag));
      const got = outs.get(impl.name)![pass];
      e[pass] = Math.max(...cs.map((c) => Math.abs(got[c.index] - c.exact))) / scale;
    }
  }
  console.log("\naccuracy (sampled, worst error / largest Σ|terms| of the sample):");
  for (const impl of impls) {
    const e = errors.get(impl.name)!;
    console.log(
      `  ${impl.name.padEnd(16)} ` + PASSES.map((p) => `${p} ${e[p].toExponential(2)}`).join(", "),
    );
  }
}
outs.clear();
// A second untimed round: V8 optimises a wasm function only after it has run for a while (the
// first calls above ran the transforms partly in its baseline compiler).
for (const impl of impls) for (const pass of PASSES) run(impl, pass);

// ---- paired timing ----
const wall = new Map<string, Record<Pass | "total", number[]>>();
const cpu = new Map<string, Record<Pass | "total", number[]>>();
for (const impl of impls) {
  wall.set(impl.name, { forward: [], "filter grad": [], "input grad": [], total: [] });
  cpu.set(impl.name, { forward: [], "filter grad": [], "input grad": [], total: [] });
}
const loads: string[] = [];
const profiles = new Map<string, Record<string, number[]>>();
for (let pair = 0; pair < PAIRS; pair++) {
  const order = pair % 2 === 0 ? impls : [...impls].reverse();
  for (const impl of order) {
    let tw = 0, tc = 0;
    if (args.profile && impl.conv instanceof FftConv) impl.conv.phases = {};
    for (const pass of PASSES) {
      const r = timed(impl, pass);
      wall.get(impl.name)![pass].push(r.wall);
      cpu.get(impl.name)![pass].push(r.cpu);
      tw += r.wall;
      tc += r.cpu;
    }
    wall.get(impl.name)!.total.push(tw);
    cpu.get(impl.name)!.total.push(tc);
    if (impl.conv instanceof FftConv && impl.conv.phases) {
      const acc = profiles.get(impl.name) ?? {};
      for (const [k, v] of Object.entries(impl.conv.phases)) (acc[k] ??= []).push(v);
      profiles.set(impl.name, acc);
      impl.conv.phases = undefined;
    }
  }
  loads.push(loadavg().split(" ")[0]);
  console.log(
    `pair ${pair + 1}/${PAIRS}: ` +
      impls.map((i) => `${i.name} ${(wall.get(i.name)!.total[pair] * 1000).toFixed(0)} ms`)
        .join(", ") +
      `, load ${loads[loads.length - 1]}`,
  );
}

const ref = impls[0].name;
console.log(
  `\nmedian wall ms (CPU ms) over ${PAIRS} pairs; ratio = Winograd / FFT per pair, median [range]`,
);
const rows: Record<string, unknown>[] = [];
for (const pass of [...PASSES, "total"] as const) {
  for (const impl of impls) {
    const wv = wall.get(impl.name)![pass], cv = cpu.get(impl.name)![pass];
    const rw = wall.get(ref)![pass], rc = cpu.get(ref)![pass];
    const ratios = wv.map((v, k) => rw[k] / v), ratiosCpu = cv.map((v, k) => rc[k] / v);
    const row = {
      pass,
      impl: impl.name,
      wallMs: median(wv) * 1000,
      cpuMs: median(cv) * 1000,
      ratio: median(ratios),
      ratioMin: Math.min(...ratios),
      ratioMax: Math.max(...ratios),
      ratioCpu: median(ratiosCpu),
    };
    rows.push(row);
    const r = impl.name === ref
      ? "ref"
      : `${row.ratio.toFixed(2)} [${row.ratioMin.toFixed(2)}–${row.ratioMax.toFixed(2)}]` +
        ` (CPU ${row.ratioCpu.toFixed(2)})`;
    console.log(
      `  ${pass.padEnd(12)} ${impl.name.padEnd(16)} ${row.wallMs.toFixed(0).padStart(6)} ` +
        `(${row.cpuMs.toFixed(0).padStart(6)})  ${r}`,
    );
  }
}
if (args.profile) {
  console.log("\nFFT phases, median ms per pair (all three passes together):");
  for (const [nm, acc] of profiles) {
    const parts = Object.entries(acc).map(([k, v]) => `${k} ${median(v).toFixed(0)}`);
    console.log(`  ${nm}: ${parts.join(", ")}`);
  }
}
console.log(`load average during pairs (1 min): ${loads.join(" ")}; at end: ${loadavg()}`);
console.log(JSON.stringify({ shape, pairs: PAIRS, errors: Object.fromEntries(errors), rows }));
