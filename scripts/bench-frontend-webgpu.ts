/**
 * Times the webgpu CNN front-end alone (lib/model/frontend_webgpu.ts, through `frontEnd` as the
 * model calls it: in one piece up to 8,192 windows on a GPU, in chunks past the device's
 * binding limit) at the paper's geometry:
 * one forward pass and one forward + backward pass (gradients of all four weights), B × W
 * windows of random signal, wall-clock and process CPU seconds per pass (the median of
 * `--reps`, after one untimed pass that compiles the pipelines), and the dispatches. On
 * lavapipe (Mesa's software Vulkan) the CPU seconds measure the programs' arithmetic and
 * memory traffic; on a GPU the wall-clock time is what counts.
 *
 * `--tilings 4x16,8x8,…` times each register block of the conv2 programs (positions per
 * invocation × lanes per channel group, `setConv2Tiling`; the default is 4x16), so one run on a
 * GPU says which block to keep. `--json` prints one line per block.
 *
 *   deno run --allow-read --allow-env=XDG_RUNTIME_DIR --allow-sys=loadavg \
 *     scripts/bench-frontend-webgpu.ts [--batch 1] [--windows 16] [--reps 2] [--tilings 4x16] [--json]
 * @module
 */
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { frontEnd, frontEndDim, samplesFor } from "../lib/model/frontend.ts";
import { type Conv2Tiling, setConv2Tiling } from "../lib/model/frontend_webgpu.ts";
import { defaultModelConfig, geometryOf } from "../lib/model/model.ts";
import { dispatchCount, installDispatchCounter } from "../lib/model/webgpu_dispatches.ts";
import { parseCommandLine, runMain } from "../lib/util/cli.ts";
import { Random } from "../lib/util/random.ts";
import { median } from "./bench_util.ts";

const USAGE = "usage: deno run --allow-read --allow-env=XDG_RUNTIME_DIR --allow-sys=loadavg " +
  "scripts/bench-frontend-webgpu.ts [--batch 1] [--windows 16] [--reps 2] [--tilings 4x16] [--json]";

/** `"4x16,8x8"` → blocks; refuses anything else. */
export function parseTilings(text: string): Conv2Tiling[] {
  return text.split(",").map((part) => {
    const m = part.trim().match(/^(\d+)x(\d+)$/);
    if (!m) throw new Error(`--tilings: "${part}" is not PTxNL (e.g. 4x16)`);
    return { pt: Number(m[1]), nl: Number(m[2]) };
  });
}

async function main(): Promise<void> {
  const { values } = parseCommandLine({
    options: {
      batch: { type: "string", default: "1" },
      windows: { type: "string", default: "16" },
      reps: { type: "string", default: "2" },
      tilings: { type: "string", default: "4x16" },
      json: { type: "boolean", default: false },
    },
  }, USAGE);
  const b = Number(values.batch), windows = Number(values.windows), reps = Number(values.reps);
  if (!(b >= 1 && windows >= 1 && reps >= 1)) throw new Error("--batch, --windows, --reps ≥ 1");
  const tilings = parseTilings(values.tilings);
  // The paper's geometry, as the model's default configuration defines it.
  const g = geometryOf(defaultModelConfig([{ name: "t", classes: ["a", "b"] }]));
  const { kernel: k, filters: f } = g;
  const info = await initBackend("webgpu");
  if (info.backend !== "webgpu") throw new Error(`no webgpu backend (${info.device})`);
  installDispatchCounter();
  const s = samplesFor(windows, g);
  const random = new Random(1);
  const rand = (n: number, scale = 1) =>
    Float32Array.from({ length: n }, () => random.uniform(-scale, scale));
  const signal = tf.tensor2d(rand(b * s), [b, s]);
  // Glorot-like scales, so both ReLUs pass about half their inputs.
  const w = {
    w1: tf.tensor3d(rand(k * f, Math.sqrt(6 / (k + f))), [k, 1, f]),
    b1: tf.tensor1d(rand(f, 0.1)),
    w2: tf.tensor3d(rand(k * f * f, Math.sqrt(6 / (k * f + f))), [k, f, f]),
    b2: tf.tensor1d(rand(f, 0.1)),
  };
  const dim = frontEndDim(g);
  const dy = tf.tensor3d(rand(b * windows * dim), [b, windows, dim]);
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  /** Median wall and CPU seconds and the dispatches of `fn`, after one untimed pass. */
  async function time(fn: () => tf.Tensor[]) {
    const walls: number[] = [], cpus: number[] = [];
    let dispatches = 0;
    for (let r = 0; r <= reps; r++) {
      const d0 = dispatchCount(), c0 = cpu(), t0 = performance.now();
      const out = fn();
      await Promise.all(out.map((t) => t.data()));
      if (r > 0) {
        walls.push((performance.now() - t0) / 1000);
        cpus.push(cpu() - c0);
        dispatches = dispatchCount() - d0;
      }
      tf.dispose(out);
    }
    return { wall_s: median(walls), cpu_s: median(cpus), dispatches };
  }
  for (const t of tilings) {
    const before = setConv2Tiling(t);
    try {
      const forward = await time(() => [frontEnd(signal, windows, g, w)]);
      const both = await time(() =>
        tf.grads((w1, b1, w2, b2) =>
          frontEnd(signal, windows, g, {
            w1: w1 as tf.Tensor3D,
            b1: b1 as tf.Tensor1D,
            w2: w2 as tf.Tensor3D,
            b2: b2 as tf.Tensor1D,
          })
        )([w.w1, w.b1, w.w2, w.b2], dy)
      );
      if (values.json) {
        console.log(JSON.stringify({
          device: info.device,
          batch: b,
          windows,
          tiling: `${t.pt}x${t.nl}`,
          forward,
          forward_backward: both,
          load_average: Deno.loadavg(),
        }));
      } else {
        const line = (label: string, r: typeof forward) =>
          `${label}: ${(r.wall_s * 1000).toFixed(1)} ms wall, ${r.cpu_s.toFixed(2)} CPU s, ` +
          `${r.dispatches} dispatches`;
        console.log(
          `${info.device}, ${b} × ${windows} windows, block ${t.pt}x${t.nl} (median of ${reps}): ` +
            `${line("forward", forward)}; ${line("forward + backward", both)}`,
        );
      }
    } finally {
      setConv2Tiling(before);
    }
  }
  if (!values.json) console.log(`load ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
}

if (import.meta.main) await runMain("bench-frontend-webgpu", main);
