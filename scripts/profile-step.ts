/**
 * Where a training step's time goes: a V8 CPU profile (through `node:inspector`) of training
 * steps of the paper model (8 utterances × 300 windows, three 3-class tasks, wasm), printed as
 * self time per function. Our own kernels appear as `wasm-function[i]` of the GEMM module
 * (kernel i: rows 1–6 with unit column stride, then 1–6 transposed, then generic), tfjs's as
 * functions of its module.
 *
 *   deno task profile [--steps 3] [--top 30]
 *
 * The task grants all of `--allow-sys`: node:inspector's session asks for a sys permission
 * ("inspector") that Deno 2.9's `--allow-sys=` list cannot name.
 * @module
 */
import { Session } from "node:inspector";
import { initBackend } from "../lib/model/backend.ts";
import { registerGradients } from "../lib/model/gradients.ts";
import { defaultModelConfig, EmotionModel } from "../lib/model/model.ts";
import { classWeightsFor, objective } from "../lib/training/loss.ts";
import { parseCommandLine } from "../lib/util/cli.ts";
import { paperTrainingStep } from "./training_step.ts";

const USAGE = "Usage: deno task profile [--steps 3] [--top 30]";
const { values: args } = parseCommandLine({
  options: {
    steps: { type: "string", default: "3" },
    top: { type: "string", default: "30" },
    help: { type: "boolean", short: "h", default: false },
  },
}, USAGE);
if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}
const steps = Number(args.steps), top = Number(args.top);
if (!(Number.isInteger(steps) && steps >= 1 && Number.isInteger(top) && top >= 1)) {
  console.error(`profile: --steps and --top must be positive integers\n\n${USAGE}`);
  Deno.exit(2);
}

registerGradients();
await initBackend("wasm");
const B = 8, W = 300;
const step = paperTrainingStep(
  { model: { EmotionModel, defaultModelConfig }, loss: { objective, classWeightsFor } },
  B,
  W,
  false,
);
step(); // warm-up: kernel compilation and V8 tiering stay out of the profile

const session = new Session();
session.connect();
/** The parts of a V8 CPU profile (Profiler.stop) read here. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}
const post = (method: string, params: object = {}) =>
  new Promise<unknown>((res, rej) =>
    session.post(method, params, (e: Error | null, r: unknown) => (e ? rej(e) : res(r)))
  );
await post("Profiler.enable");
await post("Profiler.setSamplingInterval", { interval: 200 });
await post("Profiler.start");
const t0 = performance.now();
for (let i = 0; i < steps; i++) step();
const wall = (performance.now() - t0) / steps;
const { profile } = await post("Profiler.stop") as { profile: CpuProfile };

const self = new Map<number, number>();
const deltas = profile.timeDeltas;
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (deltas[i + 1] ?? 0)));
const byFunction = new Map<string, number>();
for (const node of profile.nodes) {
  const f = node.callFrame;
  const where = `${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`;
  const key = `${f.functionName || "(anonymous)"} ${where}`;
  byFunction.set(key, (byFunction.get(key) ?? 0) + (self.get(node.id) ?? 0));
}
console.log(`${B} × ${W} windows: ${wall.toFixed(0)} ms per step (profiled, ${steps} steps)`);
for (const [k, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${(us / 1000 / steps).toFixed(0).padStart(6)} ms  ${k}`);
}
