/**
 * Dispatch counting (lib/model/webgpu_dispatches.ts) and the adapter description on a real
 * WebGPU adapter: Mesa's lavapipe here, a GPU on a lent machine. A tiny model keeps this to a
 * few seconds on a software adapter; bench.ts counts the paper model with the same code.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { defaultModelConfig, EmotionModel } from "../lib/model/model.ts";
import { train } from "../lib/training/train.ts";
import {
  dispatchCount,
  dispatchTotals,
  hostCallsBetween,
  type HostCallTotals,
  hostCallTotals,
  installDispatchCounter,
  installHostCallCounter,
} from "../lib/model/webgpu_dispatches.ts";
import { twoRowBatch } from "./fixtures.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("webgpu dispatch");

const TASKS = [{ name: "arousal", classes: ["low", "mid", "high"] }];

/** Dispatches of one training step (forward, loss, gradients) of a tiny model. */
function stepDispatches(model: EmotionModel, windows: number): number {
  const samples = (windows - 1) * 160 + 640;
  const input = {
    signal: Float32Array.from({ length: samples }, (_, i) => Math.sin(i / 7)),
    batchSize: 1,
    windows,
    lengths: new Int32Array([windows]),
  };
  const before = dispatchCount();
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.apply(input, { training: true, dropoutSeed: 1 }).logits.arousal;
    return tf.sum(tf.logSoftmax(logits)) as tf.Scalar;
  }, model.trainableVariables());
  const n = dispatchCount() - before;
  tf.dispose([value, ...Object.values(grads)]);
  return n;
}

webgpuTest(
  "webgpu: the adapter is described and a training step's dispatches are counted",
  async () => {
    const info = await initBackend("webgpu");
    assert.equal(info.backend, "webgpu");
    assert.ok(info.adapter, "webgpu's BackendInfo carries the adapter");
    assert.ok(
      info.adapter.description.length > 0 || info.adapter.vendor.length > 0,
      `adapter named: ${JSON.stringify(info.adapter)}`,
    );
    assert.ok(installDispatchCounter());
    // Installing twice must not double-count.
    assert.ok(installDispatchCounter());
    const config = defaultModelConfig(TASKS, {
      conv: { filters: 4, kernel: 4, pool: 2, channelPool: 2 },
      gru: { units: 4, layers: 1 },
      seed: 3,
    });
    const model = EmotionModel.create(config);
    try {
      const first = stepDispatches(model, 3);
      const again = stepDispatches(model, 3);
      assert.ok(first > 0, "a webgpu training step launches compute dispatches");
      // The same step launches the same programs: the count is a property of the code.
      assert.equal(again, first);
      const { direct, indirect } = dispatchTotals();
      assert.equal(direct + indirect, dispatchCount());
    } finally {
      model.dispose();
    }
  },
);

/**
 * Dispatches of one whole training step as `train` runs it (forward, the objective with its L2
 * term, gradients and the Adam update), counted over a second epoch of one batch so that the
 * first step's one-off work (packing Adam's moments) is not counted.
 */
async function trainStepDispatches(model: EmotionModel, windows: number): Promise<number> {
  const batch = twoRowBatch(windows, model.config.tasks.map((t) => t.name));
  let mark = 0, counted = 0;
  await train(model, {
    train: () => [batch],
    epochs: 2,
    learningRate: 1e-4,
    l2: 1e-5,
    progress: "none",
    onEpochEnd: (r) => {
      if (r.epoch === 2) counted = dispatchCount() - mark;
      mark = dispatchCount();
    },
  });
  return counted;
}

webgpuTest(
  "webgpu: a training step of the paper's structure takes ≤ 200 dispatches at any length",
  async () => {
    await initBackend("webgpu");
    assert.ok(installDispatchCounter());
    // The paper's structure (CNN, 2 GRU layers, attention, three tasks) at a tiny width: the
    // programs launched per step depend on the structure, not on the sizes.
    const config = defaultModelConfig(
      ["arousal", "valence", "dominance"].map((name) => ({
        name,
        classes: ["low", "mid", "high"],
      })),
      { conv: { filters: 4, kernel: 4, pool: 2, channelPool: 2 }, gru: { units: 4, layers: 2 } },
    );
    const counts: number[] = [];
    for (const windows of [4, 12]) {
      const model = EmotionModel.create(config);
      try {
        counts.push(await trainStepDispatches(model, windows));
      } finally {
        model.dispose();
      }
    }
    assert.equal(counts[1], counts[0], `dispatches at 4 and 12 windows: ${counts}`);
    assert.ok(counts[0] <= 200, `${counts[0]} dispatches per training step`);
  },
);

webgpuTest(
  "webgpu: a steady-state training step creates no GPU buffers and compiles no pipelines",
  async () => {
    await initBackend("webgpu");
    assert.ok(installHostCallCounter());
    const tasks = ["arousal", "valence"].map((name) => ({ name, classes: ["low", "mid", "high"] }));
    const config = defaultModelConfig(tasks, {
      conv: { filters: 4, kernel: 4, pool: 2, channelPool: 2 },
      gru: { units: 4, layers: 2 },
    });
    const batch = twoRowBatch(6, tasks.map((t) => t.name), {
      period: 5,
      shorter: 2,
      labels: [2, 0],
    });
    const model = EmotionModel.create(config);
    const perEpoch: HostCallTotals[] = [];
    let mark = hostCallTotals();
    try {
      await train(model, {
        train: () => [batch, batch],
        epochs: 3,
        learningRate: 1e-4,
        l2: 1e-5,
        progress: "none",
        onEpochEnd: () => {
          perEpoch.push(hostCallsBetween(mark, hostCallTotals()));
          mark = hostCallTotals();
        },
      });
    } finally {
      model.dispose();
    }
    // The first epoch compiles the programs and fills tfjs's buffer pool; after that every
    // buffer comes from the pool (uploads included) and every pipeline from tfjs's cache.
    assert.ok(perEpoch[0].createComputePipeline > 0 && perEpoch[0].createBuffer > 0);
    const steady = perEpoch[2];
    assert.equal(steady.createBuffer, 0, `buffers created in epoch 3: ${JSON.stringify(steady)}`);
    assert.equal(
      steady.createComputePipeline,
      0,
      `pipelines in epoch 3: ${JSON.stringify(steady)}`,
    );
    // One bind group per dispatch, each program's uniforms written once.
    assert.ok(steady.createBindGroup > 0 && steady.writeBuffer >= steady.createBindGroup);
  },
);
