/**
 * What one GPU dispatch costs the host (the JavaScript thread and the driver), on the active
 * WebGPU adapter: a GPU finishes a training step only as fast as the host issues it, and a step
 * of the paper model issues about 165 dispatches (`deno task bench --backend webgpu`). Four ways
 * to issue a trivial program (one workgroup scaling 1,024 values), `--dispatches` times each,
 * submitted every 15 dispatches as tfjs does:
 *
 * - `raw`: `setPipeline`, `setBindGroup`, `dispatchWorkgroups` with one bind group made once;
 * - `raw + bind group`: a new bind group per dispatch, as tfjs makes one;
 * - `raw + bind group + uniforms`: also a `queue.writeBuffer` of the uniforms and the pipeline's
 *   `getBindGroupLayout(0)` per dispatch, i.e. the WebGPU calls of one tfjs op;
 * - `tfjs op`: `tf.mul` of a 1,024-value tensor by a scalar, everything tfjs does per op.
 *
 * Printed per dispatch: the JavaScript thread's time recording it (wall-clock time outside
 * `queue.submit` and the final wait: the thread is busy all of it), the time inside
 * `queue.submit` (on a GPU the driver's submission; on a software adapter such as lavapipe,
 * which runs the work inside `submit`, mostly the programs themselves), and the process CPU time
 * (all threads) of the whole.
 *
 *   deno run --allow-read --allow-env=XDG_RUNTIME_DIR --allow-sys=loadavg \
 *     scripts/bench-webgpu-host.ts [--dispatches 2000] [--reps 3] [--json]
 * @module
 */
import process from "node:process";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { parseCommandLine, runMain } from "../lib/util/cli.ts";
import { median } from "./bench_util.ts";

const USAGE = "usage: deno run --allow-read --allow-env=XDG_RUNTIME_DIR --allow-sys=loadavg " +
  "scripts/bench-webgpu-host.ts [--dispatches 2000] [--reps 3] [--json]";

/** Dispatches per submit, tfjs-backend-webgpu's default `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE`. */
const PER_SUBMIT = 15;

const SHADER = `
  @group(0) @binding(0) var<storage, read_write> o : array<f32>;
  @group(0) @binding(1) var<storage, read> a : array<f32>;
  struct U { n : i32, pad0 : i32, k : f32, pad1 : f32 };
  @group(0) @binding(2) var<uniform> u : U;
  @compute @workgroup_size(64)
  fn main(@builtin(global_invocation_id) g : vec3<u32>) {
    for (var i = i32(g.x); i < u.n; i += 64) { o[i] = a[i] * u.k; }
  }
`;

/** The parts of tfjs-backend-webgpu's backend read here. */
interface WebGpuBackendLike {
  device: GPUDevice;
}

async function main(): Promise<void> {
  const { values } = parseCommandLine({
    options: {
      dispatches: { type: "string", default: "2000" },
      reps: { type: "string", default: "3" },
      json: { type: "boolean", default: false },
    },
  }, USAGE);
  const n = Number(values.dispatches), reps = Number(values.reps);
  if (!(Number.isInteger(n) && n >= 1 && Number.isInteger(reps) && reps >= 1)) {
    throw new Error(`--dispatches and --reps must be positive integers\n\n${USAGE}`);
  }
  const info = await initBackend("webgpu");
  if (info.backend !== "webgpu") throw new Error(`no webgpu backend (${info.device})`);
  const device = (tf.backend() as unknown as WebGpuBackendLike).device;

  const pipeline = device.createComputePipeline({
    layout: "auto",
    compute: { module: device.createShaderModule({ code: SHADER }), entryPoint: "main" },
  });
  const storage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  const buffers = Array.from(
    { length: 8 },
    () => device.createBuffer({ size: 4096, usage: storage }),
  );
  // Enough uniform buffers that one is not rewritten while a submitted dispatch may read it
  // (writeBuffer is ordered after submitted work anyway; this keeps the pattern tfjs's).
  const uniforms = Array.from(
    { length: 64 },
    () =>
      device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
  );
  const uniformData = new ArrayBuffer(16);
  new Int32Array(uniformData, 0, 1)[0] = 1024;
  new Float32Array(uniformData, 8, 1)[0] = 1.0001;
  device.queue.writeBuffer(uniforms[0], 0, uniformData);
  const layout = pipeline.getBindGroupLayout(0);
  const bindGroup = (l: GPUBindGroupLayout, i: number) =>
    device.createBindGroup({
      layout: l,
      entries: [
        { binding: 0, resource: { buffer: buffers[i % 8] } },
        { binding: 1, resource: { buffer: buffers[(i + 1) % 8] } },
        { binding: 2, resource: { buffer: uniforms[i % 64] } },
      ],
    });
  const fixed = bindGroup(layout, 0);

  // Time inside queue.submit, for tfjs's submits too (it calls the device's queue).
  let inSubmit = 0;
  const queue = device.queue as GPUQueue & { submit: GPUQueue["submit"] };
  const submit = queue.submit.bind(queue);
  queue.submit = (buffers: GPUCommandBuffer[]) => {
    const t = performance.now();
    submit(buffers);
    inSubmit += performance.now() - t;
  };

  /** Milliseconds `wait` takes, less the time it spends inside `queue.submit`. */
  const waiting = async (wait: () => Promise<unknown>) => {
    const s0 = inSubmit, t0 = performance.now();
    await wait();
    return performance.now() - t0 - (inSubmit - s0);
  };

  /**
   * Issues `n` dispatches with `record`, submitting every PER_SUBMIT, waits for the GPU and
   * returns the milliseconds waited.
   */
  const issue = async (record: (pass: GPUComputePassEncoder, i: number) => void) => {
    let encoder = device.createCommandEncoder();
    let pass = encoder.beginComputePass();
    for (let i = 0; i < n; i++) {
      record(pass, i);
      if ((i + 1) % PER_SUBMIT === 0) {
        pass.end();
        device.queue.submit([encoder.finish()]);
        encoder = device.createCommandEncoder();
        pass = encoder.beginComputePass();
      }
    }
    pass.end();
    device.queue.submit([encoder.finish()]);
    return await waiting(() => device.queue.onSubmittedWorkDone());
  };
  const ways: Record<string, () => Promise<number>> = {
    "raw": () =>
      issue((pass) => {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, fixed);
        pass.dispatchWorkgroups(1);
      }),
    "raw + bind group": () =>
      issue((pass, i) => {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup(layout, i));
        pass.dispatchWorkgroups(1);
      }),
    "raw + bind group + uniforms": () =>
      issue((pass, i) => {
        device.queue.writeBuffer(uniforms[i % 64], 0, uniformData);
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, bindGroup(pipeline.getBindGroupLayout(0), i));
        pass.dispatchWorkgroups(1);
      }),
    "tfjs op": async () => {
      const x = tf.zeros([1024]);
      let y: tf.Tensor = x;
      for (let i = 0; i < n; i++) {
        const z = tf.mul(y, 1.0001);
        if (y !== x) y.dispose();
        y = z;
      }
      const waited = await waiting(() => y.data());
      tf.dispose([x, y]);
      return waited;
    },
  };

  const rows: { way: string; record_us: number; submit_us: number; cpu_us: number }[] = [];
  for (const [way, run] of Object.entries(ways)) {
    await run(); // warm-up: pipelines, V8 tiering, pools
    const record: number[] = [], submitted: number[] = [], cpu: number[] = [];
    for (let r = 0; r < reps; r++) {
      await device.queue.onSubmittedWorkDone();
      inSubmit = 0;
      const c0 = process.cpuUsage(), t0 = performance.now();
      // run() ends waiting for the GPU (onSubmittedWorkDone or a read): that wait is neither
      // recording nor submitting.
      const waited = await run();
      const end = performance.now();
      const c = process.cpuUsage(c0);
      const total = end - t0;
      record.push((1000 * (total - inSubmit - waited)) / n);
      submitted.push((1000 * inSubmit) / n);
      cpu.push((c.user + c.system) / n);
    }
    rows.push({
      way,
      record_us: median(record),
      submit_us: median(submitted),
      cpu_us: median(cpu),
    });
  }
  for (const b of [...buffers, ...uniforms]) b.destroy();
  const load = Deno.loadavg();
  if (values.json) {
    console.log(
      JSON.stringify({ device: info.device, dispatches: n, reps, rows, load_average: load }),
    );
    return;
  }
  console.log(`${info.device}: ${n} dispatches per way, median of ${reps}; µs per dispatch`);
  console.log(`${"".padEnd(28)}  recording  in submit  process CPU`);
  for (const r of rows) {
    console.log(
      `${r.way.padEnd(28)} ${r.record_us.toFixed(1).padStart(10)} ${
        r.submit_us.toFixed(1).padStart(10)
      } ${r.cpu_us.toFixed(1).padStart(12)}`,
    );
  }
  console.log(`load average: ${load.map((x) => x.toFixed(2)).join(" ")}`);
}

if (import.meta.main) await runMain("bench-webgpu-host", main);
