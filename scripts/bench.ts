/**
 * Benchmark: trains and runs the paper model at realistic shapes (default 8 utterances × 300
 * windows, MTL with attention, three 3-class tasks) through the toolkit's own training loop
 * (`train()`: its objective, Adam, per-row class weighting, dropout and, with `--workers`, its
 * gradient workers) and its evaluation (`evaluate()`, with `--workers` on the same pool, each
 * batch's rows split between the workers), and prints windows/s for training and inference,
 * CPU seconds per step and GFLOP/s from the counted FLOPs of the paper's per-window
 * computation.
 *
 *   deno task bench [--backend auto|tensorflow|webgpu|wasm|cpu] [--batch 8] [--windows 300]
 *                   [--steps 3] [--workers 1] [--kernels own|tfjs] [--l2 0] [--naive] [--no-warmup]
 *                   [--checkpoint-above N] [--vary-windows] [--json]
 *
 * On webgpu it also prints the adapter (`GPUAdapterInfo`) and counts the GPU compute dispatches
 * of the timed training epoch and the timed inference pass, per step (`dispatches_per_step`,
 * `dispatches_per_infer_step` in `--json`; lib/model/webgpu_dispatches.ts says how), and the
 * training step's other WebGPU calls on the host (`host_calls_per_step`: new buffers, bind
 * groups, queue writes, submits, reads, pipeline compilations).
 *
 * `--l2 λ` adds the L2 term of the objective (experiments use 1e-5); the default 0 trains as the
 * PyTorch peer (../shared/peers/pytorch_speed.py) does, without one.
 *
 * `--checkpoint-above N` sets the model's `frontEndOptions.checkpointAbove`: batches of more
 * windows than N run the front-end in chunks recomputed in the backward pass (default 3,072 on
 * wasm and cpu, 8,192 on webgpu, for 2 GiB of activations). A GPU with the memory keeps
 * 16 × 3,500 windows' activations (12 GB) with 65536, as the PyTorch peer does.
 *
 * `--vary-windows` gives batch b of an epoch `windows − b` windows, so each step is a batch length
 * of its own, as a corpus's batches are: on webgpu each then takes buffers of new sizes from the
 * pool (lib/model/webgpu_buffers.ts), which the same-shaped default does not show.
 *
 * `--kernels tfjs` runs conv2 and the GRU recurrence on tfjs's kernels instead of our own
 * (own_kernels.ts; one engine), for a comparison in the same run: on wasm our GEMM kernels, on
 * webgpu our WGSL GRU recurrence (gru_webgpu.ts), dropout mask (dropout.ts) and fused Adam
 * update (adam_webgpu.ts).
 *
 * The workers start before training; the first epoch (steps batches, at least two) warms up
 * (kernel compilation, buffer pools), the second is timed; inference has one warm-up pass too
 * (`--no-warmup` skips both, for shapes where one more step costs minutes, as on a software GPU),
 * and on webgpu `gpu_memory` reports the buffer pool at the end. `--naive` runs the
 * per-window reference front-end instead (inference only, on this thread's engine: the training
 * loop and the workers always use the model's own front-end).
 * @module
 */
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import type { Batch } from "../lib/frames/types.ts";
import { initBackend, parseBackendName } from "../lib/model/backend.ts";
import { defaultModelConfig, EmotionModel } from "../lib/model/model.ts";
import { paperFlopsPerWindow } from "../lib/model/flops.ts";
import { setOwnKernels } from "../lib/model/own_kernels.ts";
import {
  dispatchCount,
  hostCallsBetween,
  type HostCallTotals,
  hostCallTotals,
  installDispatchCounter,
  installHostCallCounter,
} from "../lib/model/webgpu_dispatches.ts";
import { bindingLimit } from "../lib/model/webgpu_program.ts";
import { boundBufferPool } from "../lib/model/webgpu_buffers.ts";
import { evaluate } from "../lib/training/evaluate.ts";
import { startWorkerPool, train, workerPoolSize } from "../lib/training/train.ts";
import { parseCommandLine } from "../lib/util/cli.ts";
import { Random } from "../lib/util/random.ts";

const BENCH_USAGE =
  "Usage: deno task bench [--backend auto|tensorflow|webgpu|wasm|cpu] [--batch 8] " +
  "[--windows 300] [--steps 3] [--workers 1] [--kernels own|tfjs] [--l2 0] [--naive] [--no-warmup] " +
  "[--checkpoint-above N] [--vary-windows] [--json]";

const { values: args } = parseCommandLine({
  options: {
    backend: { type: "string", default: "auto" },
    batch: { type: "string", default: "8" },
    windows: { type: "string", default: "300" },
    steps: { type: "string", default: "3" },
    naive: { type: "boolean", default: false },
    "no-warmup": { type: "boolean", default: false },
    workers: { type: "string", default: "1" },
    kernels: { type: "string", default: "own" },
    l2: { type: "string", default: "0" },
    "checkpoint-above": { type: "string" },
    "vary-windows": { type: "boolean", default: false },
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
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench: --${name} must be an integer ≥ ${min}\n\n${BENCH_USAGE}`);
    Deno.exit(2);
  }
  return n;
};
const batchSize = int("batch", args.batch, 1);
const windows = int("windows", args.windows, 1);
const steps = int("steps", args.steps, 1);
const workers = int("workers", args.workers, 1);
const checkpointAbove = args["checkpoint-above"] === undefined
  ? undefined
  : int("checkpoint-above", args["checkpoint-above"], 1);
if (args.kernels !== "own" && args.kernels !== "tfjs") {
  console.error(`bench: --kernels must be own or tfjs\n\n${BENCH_USAGE}`);
  Deno.exit(2);
}
if (args.kernels === "tfjs" && workers > 1) {
  // Each worker engine decides for itself; the switch reaches only this thread.
  console.error(`bench: --kernels tfjs runs on one engine (--workers 1)\n\n${BENCH_USAGE}`);
  Deno.exit(2);
}
const l2 = Number(args.l2);
if (!(Number.isFinite(l2) && l2 >= 0)) {
  console.error(`bench: --l2 must be a number ≥ 0\n\n${BENCH_USAGE}`);
  Deno.exit(2);
}
setOwnKernels(args.kernels === "own");

const info = await initBackend(parseBackendName(args.backend));
const log = (s: string) => {
  if (!args.json) console.log(s);
};
log(
  `backend ${info.backend}, device ${info.device}, workers ${workers}` +
    (workers > 1 && workerPoolSize(workers, info.backend) === 0
      ? " (their jobs run in this thread's engine)"
      : ""),
);
// Only this thread's engine is counted, which is the whole step on webgpu (no workers start
// there: train.ts workerPoolSize).
const counting = info.backend === "webgpu" && installDispatchCounter() &&
  installHostCallCounter();
const warmup = !args["no-warmup"];

const tasks = ["arousal", "valence", "dominance"].map((name) => ({
  name,
  classes: ["low", "mid", "high"],
}));
const config = defaultModelConfig(tasks, { seed: 7 });
if (config.input.kind !== "raw") throw new Error("unreachable");
const { hopSamples, windowSamples } = config.input;
// With --vary-windows batch b has windows − b windows, so every batch of an epoch is a length of
// its own, as a corpus's batches are (padded to their longest utterance).
const vary = args["vary-windows"];
if (vary && windows - (steps - 1) < 1) {
  console.error(`bench: --vary-windows needs --windows ≥ --steps\n\n${BENCH_USAGE}`);
  Deno.exit(2);
}
const windowsOf = (b: number) => (vary ? windows - b : windows);

// Noise is enough: the cost does not depend on the values.
const rng = new Random(12345);
const makeBatch = (b: number): Batch => {
  const w = windowsOf(b), samples = (w - 1) * hopSamples + windowSamples;
  return {
    ids: Array.from({ length: batchSize }, (_, i) => `b${b}-${i}`),
    batchSize,
    windows: w,
    samplesPerRow: samples,
    signal: Float32Array.from({ length: batchSize * samples }, () => 2 * rng.next() - 1),
    lengths: new Int32Array(batchSize).fill(w),
    mask: new Float32Array(batchSize * w).fill(1),
    labels: Object.fromEntries(
      tasks.map((t) => [t.name, Int32Array.from({ length: batchSize }, (_, i) => (i + b) % 3)]),
    ),
  };
};
const batches = Array.from({ length: steps }, (_, b) => makeBatch(b));

/** Process CPU seconds (all threads, workers included) since `from`. */
const cpuSince = (from: NodeJS.CpuUsage) => {
  const c = process.cpuUsage(from);
  return (c.user + c.system) / 1e6;
};

const model = EmotionModel.create(config);
const frontEndOptions = checkpointAbove === undefined ? {} : { checkpointAbove };
model.frontEndOptions = frontEndOptions;
// One pool for training and inference, as trainModel has it, with the model's memory settings.
// On webgpu no pool (workerPoolSize): one engine runs the workers' jobs, as trainModel does.
const pool = workerPoolSize(workers) > 0
  ? await startWorkerPool(config, workers, { frontEndOptions })
  : undefined;
const inferWorkers = pool && !args.naive ? workers : 1;
let cpuMark = process.cpuUsage();
let timedCpu = 0;
const timedEpoch = warmup ? 2 : 1;
let dispatchMark = dispatchCount();
let trainDispatches = 0;
let hostMark = hostCallTotals();
let trainHostCalls: HostCallTotals | undefined;
const result0 = await train(model, {
  // A warm-up of one step would leave the second step's one-off work (tfjs's buffer pool grows
  // once more, a pipeline or two whose keys differ once the weights are Adam's outputs) in the
  // timed epoch, so the warm-up epoch runs at least two.
  train: (epoch) => (warmup && epoch === 0 && steps === 1 ? [batches[0], batches[0]] : batches),
  epochs: timedEpoch,
  learningRate: 1e-4,
  l2,
  progress: "none",
  workers,
  pool,
  onEpochEnd: (r) => {
    if (r.epoch === timedEpoch) {
      timedCpu = cpuSince(cpuMark);
      trainDispatches = dispatchCount() - dispatchMark;
      trainHostCalls = hostCallsBetween(hostMark, hostCallTotals());
    }
    cpuMark = process.cpuUsage();
    dispatchMark = dispatchCount();
    hostMark = hostCallTotals();
    log(
      `  epoch ${r.epoch}${r.epoch < timedEpoch ? " (warm-up)" : ""}: ${
        r.windowsPerSecond.toFixed(1)
      } windows/s`,
    );
  },
});
const timed = result0.history[timedEpoch - 1];

// Inference as evaluation runs it (one warm-up pass, then timed).
const evalOnce = () =>
  evaluate(model, batches, tasks, { workers: inferWorkers > 1 ? pool : undefined });
if (warmup) await evalOnce();
let inferWall: number, inferCpu: number;
const inferMark = dispatchCount();
if (args.naive) {
  const input = {
    signal: batches[0].signal,
    batchSize,
    windows: batches[0].windows,
    lengths: batches[0].lengths,
  };
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) {
    const out = model.apply(input, { training: false, naiveFrontEnd: true });
    await Promise.all(Object.values(out.logits).map((t) => t.data()));
    tf.dispose([...Object.values(out.logits), ...Object.values(out.attention ?? {})]);
  }
  inferWall = (performance.now() - t0) / 1000;
  inferCpu = cpuSince(c0);
} else {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await evalOnce();
  inferWall = (performance.now() - t0) / 1000;
  inferCpu = cpuSince(c0);
}
const inferDispatches = dispatchCount() - inferMark;

// Windows per step (the mean over the batches with --vary-windows).
/** The webgpu pool's bytes (lib/model/webgpu_buffers.ts), read before the model is disposed. */
function gpuMemory() {
  const pool = boundBufferPool();
  const m = tf.memory() as { numBytesAllocatedInGPU?: number };
  return {
    peak_in_use_bytes: pool.peakBytesInUse,
    allocated_bytes: m.numBytesAllocatedInGPU,
    evicted_buffers: pool.evictedBuffers,
  };
}

const perStep = batches.reduce((n, b) => n + b.batchSize * b.windows, 0) / steps;
const plan = model.passPlan(batches[0], pool ? 1 : workers);
const fwd = paperFlopsPerWindow(config);
const trainWindowsPerS = timed.windowsPerSecond;
const result = {
  backend: info.backend,
  device: info.device,
  adapter: info.adapter,
  frontEnd: args.naive ? "naive (inference)" : "fast",
  workers,
  infer_workers: inferWorkers,
  kernels: info.backend === "wasm" || info.backend === "webgpu" ? args.kernels : "tfjs",
  batch: batchSize,
  windows,
  steps,
  l2,
  checkpoint_above: checkpointAbove,
  vary_windows: vary || undefined,
  train_s_per_step: perStep / trainWindowsPerS,
  train_windows_per_s: trainWindowsPerS,
  infer_windows_per_s: (perStep * steps) / inferWall,
  train_cpu_s_per_step: timedCpu / steps,
  infer_cpu_s_per_step: inferCpu / steps,
  // Training counts forward + backward as 3 forwards (the usual rule of thumb).
  train_gflops: (3 * fwd * trainWindowsPerS) / 1e9,
  infer_gflops: (fwd * perStep * steps) / inferWall / 1e9,
  mflop_per_window_forward: fwd / 1e6,
  // The wasm heap never shrinks, so its size is this engine's memory high-water mark.
  wasm_heap_mib: info.backend === "wasm"
    ? (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length / 2 ** 20
    : undefined,
  // Whole steps of the timed epoch and pass: the counts include Adam, evaluation's softmax and
  // everything else the step launches. Absent (undefined) on backends without dispatches.
  dispatches_per_step: counting ? trainDispatches / steps : undefined,
  dispatches_per_infer_step: counting ? inferDispatches / steps : undefined,
  // The other WebGPU calls of the timed epoch's JavaScript thread, per step (new buffers, bind
  // groups, queue writes, submits, reads, compilations): the host's share of a step.
  host_calls_per_step: counting && trainHostCalls
    ? Object.fromEntries(Object.entries(trainHostCalls).map(([k, v]) => [k, v / steps]))
    : undefined,
  // How the model runs a batch of this shape (EmotionModel.passPlan): row groups, and passes.
  row_groups: plan.groups.length,
  passes_per_step: plan.passes,
  binding_limit_bytes: info.backend === "webgpu" ? bindingLimit() : undefined,
  // The webgpu buffer pool at the end: the most bytes ever in use at once (training and
  // inference), what is allocated now, and the free buffers destroyed to stay within the bound.
  gpu_memory: info.backend === "webgpu" ? gpuMemory() : undefined,
  warmup: warmup ? undefined : false,
  load_average: Deno.loadavg(),
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
      `(${result.infer_cpu_s_per_step.toFixed(2)} CPU s/step, ${
        result.infer_gflops.toFixed(1)
      } GFLOP/s, ${inferWorkers} engine${inferWorkers > 1 ? "s" : ""})`,
  );
  if (counting) {
    log(
      `GPU dispatches: ${result.dispatches_per_step} per training step, ` +
        `${result.dispatches_per_infer_step} per inference step`,
    );
    log(
      `WebGPU host calls per training step: ${
        Object.entries(result.host_calls_per_step ?? {}).map(([k, v]) => `${k} ${v}`).join(", ")
      }`,
    );
  }
  if (result.gpu_memory) {
    const gib = (b: number | undefined) => b === undefined ? "?" : (b / 2 ** 30).toFixed(2);
    log(
      `GPU memory: peak in use ${gib(result.gpu_memory.peak_in_use_bytes)} GiB, allocated ${
        gib(result.gpu_memory.allocated_bytes)
      } GiB, ${result.gpu_memory.evicted_buffers} free buffers destroyed`,
    );
  }
  if (plan.groups.length > 1) {
    log(`row groups: ${plan.groups.length} per batch, run in ${plan.passes} pass(es)`);
  }
  log(`FLOP model: ${result.mflop_per_window_forward.toFixed(1)} MFLOP per window forward`);
  log(`load average: ${result.load_average.map((x) => x.toFixed(2)).join(" ")}`);
}
pool?.dispose();
model.dispose();
