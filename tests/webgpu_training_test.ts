/**
 * A long GPU run must survive its session: training on webgpu (our Adam program's moments on the
 * GPU, steps issued before the previous step's numbers are read, the workers' jobs in one
 * engine), interrupted after an epoch's checkpoint, resumes to the uninterrupted run's weights
 * and epoch records.
 */
import assert from "node:assert/strict";
import { initBackend } from "../lib/model/backend.ts";
import { EmotionModel } from "../lib/model/model.ts";
import { snapshotWeights, train, type TrainOptions } from "../lib/training/train.ts";
import { sineBatch, tinyConfig } from "./fixtures.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("webgpu training");

const TRAIN = [
  sineBatch(["a", "b", "c", "d"], [0, 1, 0, 1], [0, 2, 1, -1], [6, 5, 4, 6]),
  sineBatch(["e", "f", "g"], [1, 0, -1], [1, 0, 2], [5, 6, 3]),
];
const DEV = [sineBatch(["x", "y", "z", "w"], [1, 0, 1, 0], [2, 0, 1, 1], [6, 4, 5, 6])];

webgpuTest(
  "webgpu: an interrupted training resumes to the uninterrupted run's weights",
  async () => {
    await initBackend("webgpu");
    const config = tinyConfig({ dropoutKeep: 0.7 });
    const dirs = [await Deno.makeTempDir(), await Deno.makeTempDir()];
    const opts = (dir: string): TrainOptions => ({
      // Another batch order each epoch, as the frames module's shuffling gives.
      train: (epoch) => (epoch % 2 ? [...TRAIN].reverse() : TRAIN),
      dev: () => DEV,
      epochs: 4,
      patience: 10,
      learningRate: 3e-3,
      l2: 1e-4,
      progress: "none",
      workers: 2,
      checkpointDir: dir,
    });
    const models: EmotionModel[] = [];
    const weightsOf = async (m: EmotionModel) =>
      (await snapshotWeights(m)).map((a) => Array.from(a.values as Float32Array));
    const strip = (h: Awaited<ReturnType<typeof train>>["history"]) =>
      h.map(({ seconds: _s, cpuSeconds: _c, windowsPerSecond: _w, ...rest }) => rest);
    try {
      const full = EmotionModel.create(config);
      models.push(full);
      const rFull = await train(full, opts(dirs[0]));

      const first = EmotionModel.create(config);
      models.push(first);
      await assert.rejects(
        train(first, {
          ...opts(dirs[1]),
          onEpochEnd: (r) => {
            if (r.epoch === 2) throw new Error("simulated crash");
          },
        }),
        /simulated crash/,
      );
      const resumed = EmotionModel.create(config);
      models.push(resumed);
      const rRes = await train(resumed, opts(dirs[1]));
      assert.equal(rRes.resumedFromEpoch, 2);
      assert.deepEqual(strip(rRes.history), strip(rFull.history));
      assert.deepEqual(await weightsOf(resumed), await weightsOf(full));
      // The run learned something, so equal weights are not two untouched initialisations.
      const untrained = EmotionModel.create(config);
      models.push(untrained);
      assert.notDeepEqual(await weightsOf(full), await weightsOf(untrained));
    } finally {
      models.forEach((m) => m.dispose());
      for (const d of dirs) await Deno.remove(d, { recursive: true });
    }
  },
);
