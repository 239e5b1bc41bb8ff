/**
 * Times the webgpu CNN front-end alone (lib/model/frontend_webgpu.ts) at the paper's geometry:
 * one forward pass and one forward + backward pass (gradients of all four weights), B × W
 * windows of random signal, wall-clock and process CPU seconds per pass, and the dispatches.
 * On lavapipe (Mesa's software Vulkan) the CPU seconds measure the programs' arithmetic and
 * memory traffic; on a GPU the wall-clock time is what counts.
 *
 *   deno run --allow-read --allow-env=XDG_RUNTIME_DIR --allow-sys=loadavg \
 *     scripts/bench-frontend-webgpu.ts [--batch 1] [--windows 16] [--reps 2]
 * @module
 */
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { samplesFor } from "../lib/model/frontend.ts";
import { frontEndWebGpu } from "../lib/model/frontend_webgpu.ts";
import "../lib/model/model.ts";
import { dispatchCount, installDispatchCounter } from "../lib/model/webgpu_dispatches.ts";
import { parseCommandLine } from "../lib/util/cli.ts";

const { values } = parseCommandLine(
  {
    options: {
      batch: { type: "string", default: "1" },
      windows: { type: "string", default: "16" },
      reps: { type: "string", default: "2" },
    },
  },
  "usage: deno run --allow-read --allow-env=XDG_RUNTIME_DIR --allow-sys=loadavg " +
    "scripts/bench-frontend-webgpu.ts [--batch 1] [--windows 16] [--reps 2]",
);
const b = Number(values.batch), windows = Number(values.windows), reps = Number(values.reps);
const g = {
  windowSamples: 640,
  hopSamples: 160,
  kernel: 40,
  filters: 40,
  pool: 2,
  channelPool: 10,
};
await initBackend("webgpu");
installDispatchCounter();
const s = samplesFor(windows, g);
let seed = 1;
const rand = (n: number, scale = 1) =>
  Float32Array.from({ length: n }, () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return ((seed / 2 ** 32) * 2 - 1) * scale;
  });
const signal = tf.tensor2d(rand(b * s), [b, s]);
const w = {
  w1: tf.tensor3d(rand(40 * 40, 0.27), [40, 1, 40]),
  b1: tf.tensor1d(rand(40, 0.1)),
  w2: tf.tensor3d(rand(40 * 40 * 40, 0.06), [40, 40, 40]),
  b2: tf.tensor1d(rand(40, 0.1)),
};
const dy = tf.tensor3d(rand(b * windows * 1280), [b, windows, 1280]);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
async function time(label: string, fn: () => tf.Tensor[]) {
  for (let r = 0; r < reps; r++) {
    const d0 = dispatchCount(), c0 = cpu(), t0 = performance.now();
    const out = fn();
    await Promise.all(out.map((t) => t.data()));
    const wall = (performance.now() - t0) / 1000, c = cpu() - c0, d = dispatchCount() - d0;
    tf.dispose(out);
    console.log(
      `${label} ${b}x${windows}: ${wall.toFixed(3)} s wall, ${c.toFixed(2)} CPU s, ${d} dispatches`,
    );
  }
}
await time("forward", () => [frontEndWebGpu(signal, windows, g, w)]);
await time(
  "forward+backward",
  () =>
    tf.grads((w1, b1, w2, b2) =>
      frontEndWebGpu(signal, windows, g, {
        w1: w1 as tf.Tensor3D,
        b1: b1 as tf.Tensor1D,
        w2: w2 as tf.Tensor3D,
        b2: b2 as tf.Tensor1D,
      })
    )([w.w1, w.b1, w.w2, w.b2], dy),
);
console.log(`load ${Deno.loadavg().map((x) => x.toFixed(2)).join(" ")}`);
