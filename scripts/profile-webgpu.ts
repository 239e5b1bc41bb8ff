/**
 * Where a webgpu training step's GPU time goes: the paper model's objective and gradients
 * (scripts/training_step.ts; Adam's update not included) on a fixed random batch, every
 * compute program timed on the GPU with timestamp queries (tfjs-backend-webgpu's
 * `backend.time`), summed per program.
 *
 *   deno run --allow-read --allow-env=XDG_RUNTIME_DIR --allow-sys=loadavg \
 *     scripts/profile-webgpu.ts [--batch 2] [--windows 100] [--top 25] [--json]
 *
 * Each timed program runs in a compute pass of its own, so the sum of the programs' times is
 * the GPU's work without the gaps between dispatches; the untimed step's wall-clock time beside
 * it shows what the gaps (driver, JS, queue submissions) add. Needs an adapter with the
 * `timestamp-query` feature (NVIDIA and Mesa's lavapipe through Vulkan have it).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import * as ModelCode from "../lib/model/model.ts";
import * as LossCode from "../lib/training/loss.ts";
import { parseCommandLine, runMain } from "../lib/util/cli.ts";
import { loadavg } from "./bench_util.ts";
import { paperObjective } from "./training_step.ts";

/** The part of tfjs-backend-webgpu's backend this script uses. */
interface TimedBackend {
  supportTimestampQuery?: boolean;
  time(f: () => void): Promise<{ kernelMs: number | null; getExtraProfileInfo?: () => string }>;
}

/** One program's share of the step. */
interface ProgramTime {
  name: string;
  dispatches: number;
  ms: number;
}

/**
 * Per-program totals from `getExtraProfileInfo()`'s "Name: ms, Name: ms, …" (one entry per
 * dispatch, in order); sorted by time, largest first.
 */
export function programTimes(info: string): ProgramTime[] {
  const by = new Map<string, ProgramTime>();
  for (const entry of info.split(", ").filter((e) => e.length > 0)) {
    const at = entry.lastIndexOf(": ");
    if (at < 0) throw new Error(`profile-webgpu: cannot read "${entry}"`);
    const name = entry.slice(0, at), ms = Number(entry.slice(at + 2));
    if (!Number.isFinite(ms)) throw new Error(`profile-webgpu: no time in "${entry}"`);
    const p = by.get(name) ?? { name, dispatches: 0, ms: 0 };
    p.dispatches++;
    p.ms += ms;
    by.set(name, p);
  }
  return [...by.values()].sort((a, b) => b.ms - a.ms);
}

const USAGE = "usage: deno run --allow-read --allow-env=XDG_RUNTIME_DIR --allow-sys=loadavg " +
  "scripts/profile-webgpu.ts [--batch 2] [--windows 100] [--top 25] [--json]";

async function main(): Promise<void> {
  const { values } = parseCommandLine({
    options: {
      batch: { type: "string", default: "2" },
      windows: { type: "string", default: "100" },
      top: { type: "string", default: "25" },
      json: { type: "boolean", default: false },
    },
  }, USAGE);
  const batch = Number(values.batch), windows = Number(values.windows);
  if (!(batch >= 1 && windows >= 1)) throw new Error("--batch and --windows must be ≥ 1");
  const info = await initBackend("webgpu");
  if (info.backend !== "webgpu") {
    throw new Error(`no webgpu backend (${info.device})`);
  }
  const device = info.device;
  const backend = tf.backend() as unknown as TimedBackend;
  if (!backend.supportTimestampQuery) {
    throw new Error(`${device} has no timestamp-query feature; nothing to time`);
  }
  const objective = paperObjective({ model: ModelCode, loss: LossCode }, batch, windows);
  const finish = async (r: { value: tf.Scalar; grads: tf.NamedTensorMap }) => {
    await Promise.all([r.value, ...Object.values(r.grads)].map((t) => t.data()));
    tf.dispose([r.value, ...Object.values(r.grads)]);
  };
  await finish(objective()); // compiles the pipelines
  const t0 = performance.now();
  await finish(objective());
  const wallMs = performance.now() - t0;
  let timed: { value: tf.Scalar; grads: tf.NamedTensorMap } | undefined;
  const timing = await backend.time(() => {
    timed = objective();
  });
  await finish(timed!);
  const programs = programTimes(timing.getExtraProfileInfo?.() ?? "");
  const kernelMs = programs.reduce((s, p) => s + p.ms, 0);
  const dispatches = programs.reduce((s, p) => s + p.dispatches, 0);
  if (values.json) {
    console.log(JSON.stringify({
      device,
      adapter: info.adapter,
      batch,
      windows,
      wall_ms: wallMs,
      kernel_ms: kernelMs,
      dispatches,
      programs,
      load_average: Deno.loadavg(),
    }));
  } else {
    console.log(
      `${device}: objective + gradients of the paper model, ${batch} × ${windows} windows`,
    );
    console.log(
      `untimed step ${wallMs.toFixed(1)} ms wall; timed programs ${
        kernelMs.toFixed(1)
      } ms of GPU ` +
        `time in ${dispatches} dispatches (load ${loadavg()})`,
    );
    console.log("\n| program | dispatches | GPU ms | share |\n| --- | ---: | ---: | ---: |");
    for (const p of programs.slice(0, Number(values.top))) {
      console.log(
        `| ${p.name} | ${p.dispatches} | ${p.ms.toFixed(2)} | ${
          (100 * p.ms / kernelMs).toFixed(1)
        } % |`,
      );
    }
  }
}

if (import.meta.main) await runMain("profile-webgpu", main);
