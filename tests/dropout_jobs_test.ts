/**
 * `training.workers` = N in one engine: `apply`'s `dropoutJobs` draws the N gradient workers'
 * dropout masks (model.ts `jobRanges`, the pool's rule too), so one engine's loss and gradients
 * are the pool's; on webgpu, train() starts no workers and trains to the pool's weights.
 *
 * Workers load their code from lib/model/, so this file needs --allow-read.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { Batch } from "../lib/frames/types.ts";
import { initBackend } from "../lib/model/backend.ts";
import { EmotionModel, jobRanges } from "../lib/model/model.ts";
import { GradientWorkers } from "../lib/model/parallel.ts";
import type { ModelConfig, ModelInput } from "../lib/model/types.ts";
import { batchToInput } from "../lib/training/evaluate.ts";
import { train, workerPoolSize } from "../lib/training/train.ts";
import { sineBatch, TASKS, tinyConfig } from "./fixtures.ts";
import { maxAbs, maxAbsDiff } from "./numeric.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

// Workers follow this thread's backend; cpu keeps the tiny model's passes at milliseconds.
await tf.setBackend("cpu");

/** Strong dropout, so that another mask moves the loss by far more than rounding. */
const CONFIG: ModelConfig = tinyConfig({ dropoutKeep: 0.5 });
const BATCH: Batch = sineBatch(["a", "b", "c"], [0, 1, 1], [2, 0, -1], [5, 3, 4]);
const ROW_WEIGHTS = {
  arousal: new Float32Array(3).fill(1 / 3),
  valence: Float32Array.of(0.5, 0.5, 0),
};
const SEED = 12345;

/** Σ_tasks Σ_rows rowWeight · cross-entropy and its gradients, as one engine computes them. */
async function engineGradients(
  model: EmotionModel,
  input: ModelInput,
  dropoutJobs: number,
): Promise<{ loss: number; grads: Float32Array[] }> {
  const vars = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(input, { training: true, dropoutSeed: SEED, dropoutJobs });
    const terms = TASKS.map((t) => {
      const labels = BATCH.labels[t.name];
      const y = tf.oneHot(
        tf.tensor1d(Int32Array.from(labels, (v) => Math.max(v, 0)), "int32"),
        t.classes.length,
      );
      const nll = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(out.logits[t.name])), 1));
      return tf.sum(tf.mul(nll, tf.tensor1d(ROW_WEIGHTS[t.name as "arousal"])));
    });
    return tf.addN(terms) as tf.Scalar;
  }, vars);
  const loss = (await value.data())[0];
  const g = await Promise.all(vars.map((v) => grads[v.name].data() as Promise<Float32Array>));
  tf.dispose([value, ...Object.values(grads)]);
  return { loss, grads: g };
}

function assertSameGradients(
  got: { loss: number; grads: Float32Array[] },
  ref: { loss: number; grads: Float32Array[] },
  what: string,
): void {
  assert.ok(Math.abs(got.loss - ref.loss) < 1e-5, `${what}: loss ${got.loss} vs ${ref.loss}`);
  ref.grads.forEach((r, i) => {
    const d = maxAbsDiff(got.grads[i], r) / Math.max(1, maxAbs(r));
    assert.ok(d < 1e-4, `${what}: gradient ${i} differs by ${d}`);
  });
}

Deno.test("jobRanges: row groups when the batch needs several, else even parts", () => {
  const input = batchToInput(BATCH);
  assert.deepEqual(jobRanges(input, 1000, 1), [[0, 3]]);
  assert.deepEqual(jobRanges(input, 1000, 2), [[0, 1], [1, 3]]);
  assert.deepEqual(jobRanges(input, 1000, 3), [[0, 1], [1, 2], [2, 3]]);
  assert.deepEqual(jobRanges(input, 1000, 8), [[0, 1], [1, 2], [2, 3]], "at most one per row");
  // 8 windows per group: rows [5, 3] would take 10, rows [3, 4] take 8: two groups, and
  // they are the jobs whatever their number.
  assert.deepEqual(jobRanges(input, 8, 3), [[0, 1], [1, 3]]);
  assert.deepEqual(jobRanges(input, 8, 1), [[0, 1], [1, 3]]);
  assert.throws(() => jobRanges(input, 1000, 0), /positive integer/);
});

Deno.test("one engine with dropoutJobs N has the loss and gradients of N gradient workers", async () => {
  const input = batchToInput(BATCH);
  const model = EmotionModel.create(CONFIG);
  try {
    const weights = model.trainableVariables().map((v) => v.dataSync() as Float32Array);
    for (const n of [2, 3]) {
      const pool = await GradientWorkers.create(CONFIG, n, "cpu");
      try {
        const ref = await pool.gradients(CONFIG, weights, input, BATCH.labels, ROW_WEIGHTS, SEED);
        assertSameGradients(await engineGradients(model, input, n), ref, `${n} jobs`);
        // Without the jobs the engine draws other masks: the check above can fail.
        const whole = await engineGradients(model, input, 1);
        assert.ok(Math.abs(whole.loss - ref.loss) > 1e-3, `${n} workers: masks differ from one`);
      } finally {
        pool.dispose();
      }
    }
    // Inference ignores the jobs (no dropout).
    const a = model.apply(input, { training: false, dropoutJobs: 3 });
    const b = model.apply(input, { training: false });
    assert.equal(maxAbsDiff(await a.logits.arousal.data(), await b.logits.arousal.data()), 0);
    tf.dispose([a.logits, b.logits, a.attention!, b.attention!].flatMap((r) => Object.values(r)));
  } finally {
    model.dispose();
  }
});

Deno.test("workerPoolSize: workers on wasm, cpu and tensorflow, none on webgpu or for one", () => {
  assert.equal(workerPoolSize(1, "wasm"), 0);
  assert.equal(workerPoolSize(2, "wasm"), 2);
  assert.equal(workerPoolSize(4, "cpu"), 4);
  assert.equal(workerPoolSize(2, "tensorflow"), 2);
  assert.equal(workerPoolSize(8, "webgpu"), 0);
});

webgpuOrSkip("dropout jobs on webgpu");

webgpuTest(
  "webgpu: one engine with dropoutJobs 2 has the loss and gradients of 2 cpu workers",
  async () => {
    await initBackend("cpu");
    const input = batchToInput(BATCH);
    const cpuModel = EmotionModel.create(CONFIG);
    const weights = cpuModel.trainableVariables().map((v) => v.dataSync() as Float32Array);
    cpuModel.dispose();
    const pool = await GradientWorkers.create(CONFIG, 2, "cpu");
    let ref;
    try {
      ref = await pool.gradients(CONFIG, weights, input, BATCH.labels, ROW_WEIGHTS, SEED);
    } finally {
      pool.dispose();
    }
    await initBackend("webgpu");
    const model = EmotionModel.create(CONFIG);
    try {
      assert.equal(model.passPlan(input, 2).passes, 1, "both jobs in one pass");
      assertSameGradients(await engineGradients(model, input, 2), ref, "webgpu, 2 jobs");
    } finally {
      model.dispose();
    }
  },
);

webgpuTest(
  "webgpu: train() with workers 2 starts no worker and ends at the 2-worker pool's weights",
  async () => {
    const batches = [
      sineBatch(["a", "b", "c"], [0, 1, 1], [2, 0, -1], [5, 3, 4]),
      sineBatch(["d", "e"], [1, 0], [1, 1], [4, 6]),
    ];
    const run = async (backend: "cpu" | "webgpu") => {
      await initBackend(backend);
      const model = EmotionModel.create(CONFIG);
      const Original = globalThis.Worker;
      let started = 0;
      globalThis.Worker = class extends Original {
        constructor(...args: ConstructorParameters<typeof Worker>) {
          super(...args);
          started++;
        }
      };
      try {
        const res = await train(model, {
          train: () => batches,
          epochs: 2,
          learningRate: 3e-3,
          progress: "none",
          workers: 2,
        });
        const weights = await Promise.all(model.getWeights().map((w) => w.tensor.data()));
        return { losses: res.history.map((r) => r.loss), weights, started };
      } finally {
        globalThis.Worker = Original;
        model.dispose();
      }
    };
    const pool = await run("cpu");
    const gpu = await run("webgpu");
    assert.equal(pool.started, 2, "cpu trains on 2 workers");
    assert.equal(gpu.started, 0, "webgpu trains in its own engine");
    gpu.losses.forEach((l, e) => assert.ok(Math.abs(l - pool.losses[e]) < 1e-5, `epoch ${e + 1}`));
    pool.weights.forEach((w, i) => {
      const d = maxAbsDiff(gpu.weights[i] as Float32Array, w as Float32Array);
      assert.ok(d < 1e-5, `weight ${i} differs by ${d}`);
    });
  },
);
