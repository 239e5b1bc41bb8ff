/**
 * train() with gradient workers (workers ≥ 2) against the single-engine path: same weights and
 * loss history up to float rounding, dropout masks equal where parallel.ts says they are, and a
 * worker failure ending the run with the last epoch's checkpoint intact.
 *
 * Workers load their code from lib/model/, so this file needs --allow-read.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { EmotionModel, rowGroups } from "../lib/model/model.ts";
import type { ModelConfig } from "../lib/model/types.ts";
import { readCheckpointFile } from "../lib/training/checkpoint.ts";
import { batchToInput } from "../lib/training/evaluate.ts";
import {
  CHECKPOINT_FILE,
  snapshotWeights,
  train,
  type TrainOptions,
  type TrainResult,
} from "../lib/training/train.ts";

// Workers follow this thread's backend; cpu keeps the tiny model's steps at milliseconds.
import { sineBatch, TASKS, tinyConfig as sharedTinyConfig } from "./fixtures.ts";
import { maxAbsDiff } from "./numeric.ts";

await tf.setBackend("cpu");

/** The shared tiny model without dropout unless asked: the engines are compared exactly. */
function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return sharedTinyConfig({ dropoutKeep: 1, ...overrides });
}
const makeBatch = sineBatch;

// Unequal lengths and missing labels (−1), so row trimming and weight normalisation matter.
const TRAIN_BATCHES = [
  makeBatch(["a", "b", "c", "d"], [0, 1, 0, 1], [0, 2, 1, -1], [6, 5, 4, 6]),
  makeBatch(["e", "f", "g"], [1, 0, -1], [1, 0, 2], [5, 6, 3]),
];
const DEV = [makeBatch(["x", "y", "z", "w"], [1, 0, 1, 0], [2, 0, 1, 1], [6, 4, 5, 6])];

function options(extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    // Epoch-dependent order, like the frames module's shuffling.
    train: (epoch) => (epoch % 2 === 0 ? TRAIN_BATCHES : [...TRAIN_BATCHES].reverse()),
    dev: () => DEV,
    epochs: 2,
    learningRate: 3e-3,
    l2: 1e-3,
    classWeighting: "balanced",
    classCounts: { arousal: [3, 3], valence: [2, 2, 2] },
    taskWeights: { arousal: 0.7, valence: 1.6 },
    progress: "none",
    ...extra,
  };
}

async function runTraining(
  config: ModelConfig,
  extra: Partial<TrainOptions>,
  maxWindowsPerPass?: number,
): Promise<{ result: TrainResult; weights: Float32Array[] }> {
  const model = EmotionModel.create(config);
  if (maxWindowsPerPass !== undefined) model.maxWindowsPerPass = maxWindowsPerPass;
  try {
    const result = await train(model, options(extra));
    const weights = (await snapshotWeights(model)).map((a) => a.values as Float32Array);
    return { result, weights };
  } finally {
    model.dispose();
  }
}

/**
 * Tolerances. The paths differ only in the order float32 sums are taken (weight gradients are
 * summed per worker, then across workers; the L2 gradient is added after), i.e. by a few ulp
 * per gradient. Adam divides by √v, so such an error moves a weight by about lr·(relative
 * error) per step, far below one ulp of the weight; but once a single update rounds the other
 * way the weights differ by one ulp (6e-8 for |w| < 1), and later steps carry that on. Measured:
 * 3e-8 (no dropout) and 7e-8 (row groups) after 4 steps. 1e-6 allows ~16 ulp, yet is ~6000×
 * below the 6e-3 the 4 steps move the weights (asserted below) and far below the 1e-2 that a
 * different dropout mask makes, so a mismatch in the objective (a weight, a mask, a missed L2
 * term) cannot pass.
 */
const WEIGHT_TOL = 1e-6;
/** Losses are O(1) float32 sums over a handful of rows: 1e-5 relative is ~100 ulp. */
const LOSS_TOL = 1e-5;

function assertSameRun(
  one: { result: TrainResult; weights: Float32Array[] },
  two: { result: TrainResult; weights: Float32Array[] },
  initial: Float32Array[],
): void {
  let moved = 0, worst = 0;
  one.weights.forEach((w, i) => {
    moved = Math.max(moved, maxAbsDiff(w, initial[i]));
    worst = Math.max(worst, maxAbsDiff(w, two.weights[i]));
  });
  console.log(
    `max |Δweight| workers 1 vs 2: ${worst.toExponential(2)} (moved ${moved.toFixed(4)})`,
  );
  assert.ok(moved > 1e-3, `training moved the weights (${moved})`);
  assert.ok(worst <= WEIGHT_TOL, `weights differ by ${worst}`);
  assert.equal(two.result.history.length, one.result.history.length);
  const close = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) <= LOSS_TOL * Math.max(1, Math.abs(a)), `${what}: ${a} vs ${b}`);
  one.result.history.forEach((r, e) => {
    const q = two.result.history[e];
    close(r.loss, q.loss, `epoch ${e + 1} loss`);
    close(r.l2, q.l2, `epoch ${e + 1} l2`);
    assert.ok(r.l2 > 0, "the L2 term is reported");
    for (const t of TASKS) close(r.taskLoss[t.name], q.taskLoss[t.name], `${t.name} loss`);
    close(r.devMeanUar!, q.devMeanUar!, `epoch ${e + 1} dev UAR`);
  });
  assert.equal(two.result.bestEpoch, one.result.bestEpoch);
}

async function initialWeights(config: ModelConfig): Promise<Float32Array[]> {
  const m = EmotionModel.create(config);
  const w = (await snapshotWeights(m)).map((a) => a.values as Float32Array);
  m.dispose();
  return w;
}

Deno.test("workers 2 train to the weights and losses of one engine (no dropout)", async () => {
  const config = tinyConfig();
  const one = await runTraining(config, { workers: 1 });
  const two = await runTraining(config, { workers: 2 });
  assertSameRun(one, two, await initialWeights(config));
});

Deno.test("with row groups, workers use the single engine's dropout masks", async () => {
  // 12 windows per pass: every batch is processed in row groups of 2 rows, which the workers
  // compute as whole jobs with the same seeds, so the masks (keep 0.5) are identical.
  const config = tinyConfig({ dropoutKeep: 0.5 });
  for (const b of TRAIN_BATCHES) assert.ok(rowGroups(batchToInput(b), 12).length > 1);
  const one = await runTraining(config, { workers: 1 }, 12);
  const two = await runTraining(config, { workers: 2 }, 12);
  assertSameRun(one, two, await initialWeights(config));
  // Dropout is active: without it the loss history would be another one.
  const noDrop = await runTraining(tinyConfig(), { workers: 1, epochs: 1 }, 12);
  assert.notEqual(noDrop.result.history[0].loss, one.result.history[0].loss);
});

Deno.test("workers with whole-batch dropout are reproducible", async () => {
  // One pass per batch: only some rows keep the single engine's masks (see parallel.ts), but
  // a run is still a pure function of the seed.
  const config = tinyConfig({ dropoutKeep: 0.8 });
  const a = await runTraining(config, { workers: 2, epochs: 1 });
  const b = await runTraining(config, { workers: 2, epochs: 1 });
  a.weights.forEach((w, i) => assert.deepEqual(w, b.weights[i]));
  assert.equal(a.result.history[0].loss, b.result.history[0].loss);
  const other = await runTraining(config, { workers: 2, epochs: 1, seed: 8 });
  assert.notEqual(other.result.history[0].loss, a.result.history[0].loss);
});

Deno.test("a failing worker ends training with an error and keeps the last checkpoint", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parallel_train_test_" });
  try {
    // Label 5 of a 2-class task: the main thread passes it on, the worker rejects it.
    const bad = makeBatch(["p", "q"], [0, 5], [1, 1], [4, 5]);
    const model = EmotionModel.create(tinyConfig());
    await assert.rejects(
      () =>
        train(
          model,
          options({
            workers: 2,
            epochs: 3,
            checkpointDir: dir,
            train: (epoch) => (epoch === 1 ? [TRAIN_BATCHES[0], bad] : TRAIN_BATCHES),
          }),
        ),
      (e: Error) => {
        assert.match(e.message, /epoch 2, batch 2: gradient worker \d failed/);
        assert.match(e.message, /label 5 of task arousal/);
        assert.match(e.message, /still holds epoch 1/);
        return true;
      },
    );
    model.dispose();
    const ck = await readCheckpointFile(`${dir}/${CHECKPOINT_FILE}`);
    assert.ok(ck, "checkpoint is readable");
    assert.equal((ck.header as { state: { nextEpoch: number } }).state.nextEpoch, 1);
    // The run resumes from it (in one engine here) once the data is fixed.
    const again = EmotionModel.create(tinyConfig());
    try {
      const res = await train(again, options({ workers: 1, epochs: 2, checkpointDir: dir }));
      assert.equal(res.resumedFromEpoch, 1);
      assert.equal(res.history.length, 2);
    } finally {
      again.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train rejects a worker count that is not a positive integer", async () => {
  const model = EmotionModel.create(tinyConfig());
  try {
    await assert.rejects(() => train(model, options({ workers: 0 })), /workers 0/);
    await assert.rejects(() => train(model, options({ workers: 1.5 })), /workers 1.5/);
  } finally {
    model.dispose();
  }
});
