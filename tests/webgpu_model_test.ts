/**
 * The whole model on a WebGPU adapter (Mesa's lavapipe here, a GPU on a lent machine) against
 * the cpu backend: the paper's CNN geometry, two GRU layers, attention and three tasks, through
 * every program of our own (front-end, GRU, Adam) and the heads, loss and L2 term as tfjs ops.
 * The GRU is narrow so that a software adapter finishes in seconds; the programs launched do not
 * depend on its width.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import type { Batch } from "../lib/frames/types.ts";
import { initBackend } from "../lib/model/backend.ts";
import {
  defaultModelConfig,
  EmotionModel,
  WEBGPU_PASS_WINDOWS,
  webgpuBindableWindows,
  webgpuWindowsPerPass,
} from "../lib/model/model.ts";
import { dispatchCount, installDispatchCounter } from "../lib/model/webgpu_dispatches.ts";
import { objective } from "../lib/training/loss.ts";
import { train } from "../lib/training/train.ts";
import { maxAbs, maxAbsDiff, noise } from "./numeric.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("webgpu model");

const TASKS = [
  { name: "arousal", classes: ["low", "mid", "high"] },
  { name: "valence", classes: ["neg", "pos"] },
  { name: "dominance", classes: ["low", "mid", "high"] },
];
const CONFIG = defaultModelConfig(TASKS, { gru: { units: 8, layers: 2 }, seed: 11 });

function batchOf(lengths: number[], seed: number): Batch {
  const windows = Math.max(...lengths);
  const samples = (windows - 1) * 160 + 640;
  const b = lengths.length;
  const mask = new Float32Array(b * windows);
  lengths.forEach((len, r) => mask.fill(1, r * windows, r * windows + len));
  return {
    ids: lengths.map((_, r) => `u${seed}-${r}`),
    batchSize: b,
    windows,
    samplesPerRow: samples,
    signal: noise(b * samples, seed, 0.5),
    lengths: Int32Array.from(lengths),
    mask,
    labels: {
      arousal: Int32Array.from(lengths, (_, r) => (r + seed) % 3),
      valence: Int32Array.from(lengths, (_, r) => r === 1 ? -1 : (r + seed) % 2),
      dominance: Int32Array.from(lengths, (_, r) => (2 * r + seed) % 3),
    },
  };
}

/**
 * Loss and gradients of the objective (class weights, task weights, L2) for one batch, of a
 * model with the given memory settings.
 */
async function gradientsOf(
  batch: Batch,
  memory: Partial<Pick<EmotionModel, "maxWindowsPerPass" | "maxWindowsPerWebGpuPass">> = {},
) {
  const model = EmotionModel.create(CONFIG);
  Object.assign(model, memory);
  const vars = model.trainableVariables();
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(batch, { training: true, dropoutSeed: 5 });
    return objective(out.logits, batch.labels, {
      classWeights: { arousal: [1, 2, 0.5], valence: [1.5, 1], dominance: [1, 1, 3] },
      taskWeights: { arousal: 0.5, valence: 1, dominance: 2 },
      l2: 0.05,
      variables: vars,
    }).total;
  }, vars);
  const loss = (await value.data())[0];
  const g = await Promise.all(vars.map((v) => grads[v.name].data() as Promise<Float32Array>));
  tf.dispose([value, ...Object.values(grads)]);
  model.dispose();
  return { loss, grads: g, names: vars.map((v) => v.name) };
}

/** The weights after one epoch of `train` (two batches, dropout, L2, Adam). */
async function oneEpoch() {
  const model = EmotionModel.create(CONFIG);
  const batches = [batchOf([5, 3, 5], 1), batchOf([4, 4], 2)];
  const result = await train(model, {
    train: () => batches,
    epochs: 1,
    learningRate: 3e-3,
    l2: 1e-3,
    progress: "none",
    seed: 4,
  });
  const weights = await Promise.all(
    model.trainableVariables().map((v) => v.data() as Promise<Float32Array>),
  );
  model.dispose();
  return { loss: result.history[0].loss, weights };
}

webgpuTest(
  "webgpu model: the objective's gradients and an epoch's weights equal the cpu backend's",
  async () => {
    const batch = batchOf([6, 4, 2], 3);
    await initBackend("cpu");
    const ref = await gradientsOf(batch);
    const refEpoch = await oneEpoch();
    await initBackend("webgpu");
    const gpu = await gradientsOf(batch);
    const gpuEpoch = await oneEpoch();
    assert.ok(
      Math.abs(gpu.loss - ref.loss) < 1e-5 * Math.abs(ref.loss),
      `${gpu.loss} vs ${ref.loss}`,
    );
    ref.grads.forEach((r, i) => {
      const scale = maxAbs(r);
      assert.ok(scale > 0, `${ref.names[i]} has a gradient`);
      const d = maxAbsDiff(gpu.grads[i], r);
      assert.ok(
        d <= 1e-4 * scale,
        `${ref.names[i]}: gradients differ by ${d} (largest ${scale})`,
      );
    });
    assert.ok(Math.abs(gpuEpoch.loss - refEpoch.loss) < 1e-5 * Math.abs(refEpoch.loss));
    refEpoch.weights.forEach((r, i) => {
      const d = maxAbsDiff(gpuEpoch.weights[i], r);
      // Two Adam steps of 3e-3 move each weight by up to 6e-3; a wrong gradient shows at that
      // scale. Rounding moves Adam's normalised step most where a gradient is near 0: 5e-6
      // on lavapipe.
      assert.ok(d < 2e-5, `${ref.names[i]} after one epoch differs by ${d}`);
    });
  },
);

webgpuTest(
  "webgpu model: a batch of several row groups runs as one pass with each group's dropout mask",
  async () => {
    // 12 windows per row group: rows [7] [5, 6] [6, 3] make three groups of their own lengths,
    // so each group's mask is drawn at its own shape and seed (model.ts's rowGroups).
    const batch = batchOf([7, 5, 6, 6, 3], 8);
    const grouped = { maxWindowsPerPass: 12 };
    await initBackend("cpu");
    const ref = await gradientsOf(batch, grouped);
    await initBackend("webgpu");
    assert.ok(installDispatchCounter());
    let mark = dispatchCount();
    const onePass = await gradientsOf(batch, grouped);
    const onePassDispatches = dispatchCount() - mark;
    mark = dispatchCount();
    const inGroups = await gradientsOf(batch, { ...grouped, maxWindowsPerWebGpuPass: 0 });
    const inGroupsDispatches = dispatchCount() - mark;
    for (const [what, gpu] of [["one pass", onePass], ["row groups", inGroups]] as const) {
      assert.ok(
        Math.abs(gpu.loss - ref.loss) < 1e-5 * Math.abs(ref.loss),
        `${what}: loss ${gpu.loss} vs ${ref.loss}`,
      );
      ref.grads.forEach((r, i) => {
        const d = maxAbsDiff(gpu.grads[i], r), scale = maxAbs(r);
        assert.ok(d <= 1e-4 * scale, `${what}: ${ref.names[i]} differs by ${d} (largest ${scale})`);
      });
    }
    // Three groups cost three forward passes, a recomputation of each and three backward passes;
    // one pass is one of each, plus the mask's few operations (177 against 581 here).
    assert.ok(
      onePassDispatches < inGroupsDispatches / 2,
      `dispatches: one pass ${onePassDispatches}, row groups ${inGroupsDispatches}`,
    );
  },
);

Deno.test("webgpuWindowsPerPass: the widest per-window tensor fits the binding limit", () => {
  // The paper's model: the front-end's 1,280 values per window are the widest (5,120 bytes).
  assert.equal(webgpuWindowsPerPass(defaultModelConfig(TASKS), 2 ** 27), 26214);
  assert.equal(webgpuWindowsPerPass(defaultModelConfig(TASKS), 2 ** 32 - 1), WEBGPU_PASS_WINDOWS);
  // Features input of 88 values: the GRU's packed record (4 × 128 values) is the widest.
  const features = defaultModelConfig(TASKS, { input: { kind: "features", dim: 88 } });
  assert.equal(webgpuWindowsPerPass(features, 2 ** 27), Math.floor(2 ** 27 / 2048));
});

webgpuTest(
  "webgpu model: a pass the device cannot bind is refused, not left undone as zeros",
  async () => {
    await initBackend("webgpu");
    const config = defaultModelConfig([{ name: "arousal", classes: ["low", "high"] }], {
      conv: { filters: 4, kernel: 4, pool: 2, channelPool: 2 },
      gru: { units: 4, layers: 1 },
    });
    const model = EmotionModel.create(config);
    try {
      // One row one window longer than the device binds (52,429 windows, 8.7 minutes of audio,
      // at lavapipe's 128 MiB): refused before any work, on every path.
      const most = webgpuBindableWindows(config);
      const windows = most + 1;
      const input = {
        signal: new Float32Array((windows - 1) * 160 + 640),
        batchSize: 1,
        windows,
        lengths: Int32Array.of(windows),
      };
      for (const training of [false, true]) {
        assert.throws(
          () =>
            tf.tidy(() => {
              model.apply(input, { training, dropoutSeed: 1 });
            }),
          new RegExp(
            `a pass of ${windows} windows \\(rows 0–0\\) is more than this device can bind \\(${most} windows`,
          ),
        );
      }
      // A one-pass plan set past the bound by hand is refused the same way.
      model.maxWindowsPerPass = 1;
      model.maxWindowsPerWebGpuPass = 10 * most;
      const rows = {
        ...input,
        batchSize: 2,
        windows: most / 2 + 1,
        lengths: Int32Array.of(most / 2 + 1, 3),
      };
      rows.signal = new Float32Array(2 * ((rows.windows - 1) * 160 + 640));
      assert.throws(
        () =>
          tf.tidy(() => {
            model.apply(rows, { training: false });
          }),
        /more than this device can bind/,
      );
    } finally {
      model.dispose();
    }
  },
);
