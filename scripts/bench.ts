/**
 * Benchmark: trains and runs the paper model at realistic shapes (default 8 utterances × 300
 * windows, MTL with attention) and prints windows/s for training and inference, plus GFLOP/s
 * from a counted FLOP model of the paper's per-window computation.
 *
 *   deno task bench [--backend auto|tensorflow|webgpu|wasm|cpu] [--batch 8] [--windows 300]
 *                   [--steps 3] [--warmup 1] [--workers 0] [--naive] [--json]
 *
 * `--workers N` (N ≥ 1) computes training gradients data-parallel in N Web Workers, each
 * with its own tfjs engine (one core each); 0 trains in this thread.
 *
 * @module
 */
import { parseCommandLine } from "../lib/util/cli.ts";
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend, parseBackendName } from "../lib/model/backend.ts";
import { defaultModelConfig, EmotionModel } from "../lib/model/model.ts";
import { paperFlopsPerWindow } from "../lib/model/flops.ts";
import { GradientWorkers } from "../lib/model/parallel.ts";
import type { ModelInput } from "../lib/model/types.ts";

const BENCH_USAGE =
  "Usage: deno task bench [--backend auto|tensorflow|webgpu|wasm|cpu] [--batch 8] " +
  "[--windows 300] [--steps 3] [--warmup 1] [--workers 0] [--naive] [--json]";

const { values: args } = parseCommandLine({
  options: {
    backend: { type: "string", default: "auto" },
    batch: { type: "string", default: "8" },
    windows: { type: "string", default: "300" },
    steps: { type: "string", default: "3" },
    warmup: { type: "string", default: "1" },
    naive: { type: "boolean", default: false },
    workers: { type: "string", default: "0" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
}, BENCH_USAGE);
if (args.help) {
  console.log(BENCH_USAGE);
  Deno.exit(0);
}
const int = (name: string, v: string | undefined, min: number) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return n;
};
const batch = int("batch", args.batch, 1);
const windows = int("windows", args.windows, 1);
const steps = int("steps", args.steps, 1);
const warmup = int("warmup", args.warmup, 0);
const workers = int("workers", args.workers, 0);

const info = await initBackend(parseBackendName(args.backend));
const log = (s: string) => {
  if (!args.json) console.log(s);
};
log(`backend ${info.backend}, device ${info.device}`);

const tasks = ["arousal", "valence", "dominance"].map((name) => ({
  name,
  classes: ["low", "mid", "high"],
}));
const config = defaultModelConfig(tasks, { seed: 7 });
const model = EmotionModel.create(config);
if (config.input.kind !== "raw") throw new Error("unreachable");
const samples = (windows - 1) * config.input.hopSamples + config.input.windowSamples;

// Deterministic pseudo-speech: noise is enough, the cost does not depend on the values.
let state = 12345;
const rand = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state / 2 ** 32;
};
const signal = new Float32Array(batch * samples).map(() => 2 * rand() - 1);
const input: ModelInput = {
  signal,
  batchSize: batch,
  windows,
  lengths: new Int32Array(batch).fill(windows),
};
const labels = tasks.map(() =>
  tf.oneHot(tf.tensor1d([...Array(batch)].map((_, i) => i % 3), "int32"), 3)
);
const optimizer = tf.train.adam(1e-4);

const pool = workers > 0
  ? await GradientWorkers.create(config, workers, info.backend as "wasm")
  : undefined;
if (pool) log(`gradient workers: ${pool.devices.join("; ")}`);
const intLabels = Object.fromEntries(
  tasks.map((t) => [t.name, Int32Array.from({ length: batch }, (_, i) => i % 3)]),
);
const rowWeights = Object.fromEntries(
  tasks.map((t) => [t.name, new Float32Array(batch).fill(1 / batch)]),
);

async function parallelStep(step: number): Promise<number> {
  const vars = model.trainableVariables();
  const weights = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
  const res = await pool!.gradients(config, weights, input, intLabels, rowWeights, step);
  const grads = vars.map((v, i) => ({ name: v.name, tensor: tf.tensor(res.grads[i], v.shape) }));
  optimizer.applyGradients(grads);
  tf.dispose(grads.map((g) => g.tensor));
  return res.loss;
}

async function trainStep(step: number): Promise<number> {
  if (pool) return await parallelStep(step);
  const loss = optimizer.minimize(
    () => {
      const out = model.apply(input, {
        training: true,
        dropoutSeed: step,
        naiveFrontEnd: args.naive,
      });
      const losses = tasks.map((t, i) =>
        tf.losses.softmaxCrossEntropy(labels[i], out.logits[t.name])
      );
      return tf.addN(losses) as tf.Scalar;
    },
    true,
    model.trainableVariables(),
  )!;
  const v = (await loss.data())[0];
  loss.dispose();
  return v;
}

async function inferStep(): Promise<void> {
  const out = model.apply(input, { training: false, naiveFrontEnd: args.naive });
  await Promise.all(Object.values(out.logits).map((t) => t.data()));
  Object.values(out.logits).forEach((t) => t.dispose());
  Object.values(out.attention ?? {}).forEach((t) => t.dispose());
}

/** Wall and process CPU seconds of `n` calls (CPU time shows the cost when cores are shared). */
async function timeIt(
  n: number,
  fn: (i: number) => Promise<unknown>,
): Promise<{ wall: number; cpu: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(i);
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

for (let i = 0; i < warmup; i++) await trainStep(-1 - i);
const trainT = await timeIt(steps, async (i) => {
  const loss = await trainStep(i);
  log(`  train step ${i + 1}/${steps}: loss ${loss.toFixed(4)}`);
});
for (let i = 0; i < warmup; i++) await inferStep();
const inferT = await timeIt(steps, inferStep);
const trainS = trainT.wall, inferS = inferT.wall;

const perStep = batch * windows;
const fwd = paperFlopsPerWindow(config);
const result = {
  backend: info.backend,
  device: info.device,
  frontEnd: args.naive ? "naive" : "fast",
  workers,
  batch,
  windows,
  steps,
  train_s_per_step: trainS / steps,
  train_windows_per_s: (perStep * steps) / trainS,
  infer_windows_per_s: (perStep * steps) / inferS,
  // Training counts forward + backward as 3 forwards (the usual rule of thumb).
  train_cpu_s_per_step: trainT.cpu / steps,
  infer_cpu_s_per_step: inferT.cpu / steps,
  train_gflops: (3 * fwd * perStep * steps) / trainS / 1e9,
  infer_gflops: (fwd * perStep * steps) / inferS / 1e9,
  mflop_per_window_forward: fwd / 1e6,
  // The wasm heap never shrinks, so its size is this engine's memory high-water mark.
  wasm_heap_mib: info.backend === "wasm"
    ? (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20
    : undefined,
};
if (args.json) {
  console.log(JSON.stringify(result));
} else {
  log(
    `training:  ${result.train_windows_per_s.toFixed(1)} windows/s ` +
      `(${result.train_s_per_step.toFixed(2)} s/step, ${
        result.train_cpu_s_per_step.toFixed(2)
      } CPU s/step, ${result.train_gflops.toFixed(1)} GFLOP/s)`,
  );
  log(
    `inference: ${result.infer_windows_per_s.toFixed(1)} windows/s ` +
      `(${result.infer_gflops.toFixed(1)} GFLOP/s)`,
  );
  log(`FLOP model: ${result.mflop_per_window_forward.toFixed(1)} MFLOP per window forward`);
}
model.dispose();
pool?.dispose();
