import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { TaskSpec } from "../lib/corpus/types.ts";
import type { Batch } from "../lib/frames/types.ts";
import { EmotionModel } from "../lib/model/model.ts";
import { decodeModel, encodeModel, loadModel, saveModel } from "../lib/model/persist.ts";
import { Adam } from "../lib/training/adam.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../lib/training/checkpoint.ts";
import { evaluate } from "../lib/training/evaluate.ts";
import {
  balancedClassWeights,
  classWeightsFor,
  countClasses,
  l2Penalty,
  objective,
  rowWeights,
  taskCrossEntropy,
} from "../lib/training/loss.ts";
import { predictUtterance } from "../lib/training/predict.ts";
import { createProgress } from "../lib/training/progress.ts";
import { deriveSeed, Random } from "../lib/util/random.ts";
import { sampleTaskWeights, searchTaskWeights } from "../lib/training/search.ts";
import { snapshotWeights, train, type TrainOptions } from "../lib/training/train.ts";

import { HOP, sineBatch, TASKS, tinyConfig, WIN } from "./fixtures.ts";

await tf.setBackend("cpu");

// Tiny raw-input geometry: 64-sample windows every 16 samples, 4 conv filters of width 8,
// one GRU layer of 8 units. A step takes milliseconds on the cpu backend.
const makeBatch = sineBatch;

const TRAIN_BATCHES = [
  makeBatch(["a", "b", "c", "d"], [0, 1, 0, 1], [0, 2, 1, -1], [6, 5, 4, 6]),
  makeBatch(["e", "f", "g"], [1, 0, -1], [1, 0, 2], [5, 6, 3]),
];
const DEV = [makeBatch(["x", "y", "z", "w"], [1, 0, 1, 0], [2, 0, 1, 1], [6, 4, 5, 6])];

/** Epoch batches in a seed-dependent order, like the frames module's shuffling. */
function epochBatches(_epoch: number, seed: number): Batch[] {
  return new Random(seed).next() < 0.5 ? TRAIN_BATCHES : [...TRAIN_BATCHES].reverse();
}

function baseOptions(extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    train: epochBatches,
    dev: () => DEV,
    epochs: 4,
    learningRate: 3e-3,
    l2: 1e-4,
    progress: "none",
    ...extra,
  };
}

async function weightValues(model: EmotionModel): Promise<Float32Array[]> {
  return (await snapshotWeights(model)).map((a) => a.values as Float32Array);
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "training_test_" });
}

Deno.test("objective equals the hand-computed Σ w_m CE_m + λ·½ΣW²", () => {
  const la = [[2, -1], [0.5, 0.5], [-3, 1]];
  const lv = [[1, 0, -1], [0, 2, 0], [0.3, 0.2, 0.1]];
  const ya = Int32Array.of(0, -1, 1), yv = Int32Array.of(2, 1, -1);
  const cwA = [1, 3], cwV = [0.5, 1, 2];
  const taskWeights = { arousal: 0.7, valence: 1.6 };
  const W = tf.variable(tf.tensor2d([[1, -2], [0.5, 3]]));
  const bias = tf.variable(tf.tensor1d([10, 10])); // rank 1: not regularised
  const ce = (rows: number[][], y: Int32Array, cw: number[]) => {
    let num = 0, den = 0;
    rows.forEach((r, i) => {
      if (y[i] < 0) return;
      const lse = Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
      num += cw[y[i]] * (lse - r[y[i]]);
      den += cw[y[i]];
    });
    return num / den;
  };
  const ceA = ce(la, ya, cwA), ceV = ce(lv, yv, cwV);
  const l2 = 0.01 * 0.5 * (1 + 4 + 0.25 + 9);
  const expected = 0.7 * ceA + 1.6 * ceV + l2;
  const out = objective(
    { arousal: tf.tensor2d(la), valence: tf.tensor2d(lv) },
    { arousal: ya, valence: yv },
    {
      taskWeights,
      classWeights: { arousal: cwA, valence: cwV },
      l2: 0.01,
      variables: [W, bias],
    },
  );
  assert.ok(
    Math.abs(out.total.dataSync()[0] - expected) < 1e-5,
    `${out.total.dataSync()} vs ${expected}`,
  );
  assert.ok(Math.abs(out.perTask.arousal.dataSync()[0] - ceA) < 1e-5);
  assert.ok(Math.abs(out.perTask.valence.dataSync()[0] - ceV) < 1e-5);
  assert.ok(Math.abs(out.l2.dataSync()[0] - l2) < 1e-6);
  tf.dispose([out.total, out.l2, ...Object.values(out.perTask), W, bias]);
});

Deno.test("missing labels (−1) contribute no loss and no gradient", () => {
  const logits = tf.tensor2d([[1, 2], [3, -1], [0, 0]]);
  const y = Int32Array.of(1, -1, 0);
  const g = tf.grad((x: tf.Tensor) => taskCrossEntropy(x as tf.Tensor2D, y))(logits);
  const gd = g.arraySync() as number[][];
  assert.ok(gd[1].every((v) => v === 0), `unlabelled row got gradient ${gd[1]}`);
  assert.ok(Math.abs(gd[0][0]) > 0.1 && Math.abs(gd[2][0]) > 0.1);
  // Changing the unlabelled row's logits leaves the loss unchanged.
  const l1 = taskCrossEntropy(logits, y).dataSync()[0];
  const l2 = taskCrossEntropy(tf.tensor2d([[1, 2], [-9, 9], [0, 0]]), y).dataSync()[0];
  assert.equal(l1, l2);
  // A batch with no labels for a task gives exactly 0.
  assert.equal(taskCrossEntropy(logits, Int32Array.of(-1, -1, -1)).dataSync()[0], 0);
  tf.dispose([logits, g]);
});

Deno.test("the cross-entropy's gradient is (softmax − one-hot) · c[y] / Σ c[y], also under an outer factor", () => {
  const rows = [[2, -1, 0.5], [0.1, 0.2, 0.3], [-4, 3, 1], [1, 1, 1]];
  const y = Int32Array.of(0, 2, -1, 1);
  const cw = [0.5, 2, 1.5];
  const den = cw[0] + cw[2] + cw[1];
  const expected = rows.map((r, i) => {
    if (y[i] < 0) return r.map(() => 0);
    const z = r.reduce((s, v) => s + Math.exp(v), 0);
    return r.map((v, k) => 3 * (Math.exp(v) / z - (k === y[i] ? 1 : 0)) * cw[y[i]] / den);
  });
  const g = tf.grad((x: tf.Tensor) => tf.mul(taskCrossEntropy(x as tf.Tensor2D, y, cw), 3))(
    tf.tensor2d(rows),
  );
  const got = g.arraySync() as number[][];
  got.forEach((r, i) =>
    r.forEach((v, k) => {
      assert.ok(
        Math.abs(v - expected[i][k]) < 1e-6,
        `row ${i} class ${k}: ${v} vs ${expected[i][k]}`,
      );
    })
  );
  g.dispose();
});

Deno.test("the L2 term's gradient is λ·W for weight matrices and nothing for biases", () => {
  const W = tf.variable(tf.tensor2d([[1, -2], [0.5, 3]]), true, "W");
  const K = tf.variable(tf.tensor3d([[[0.25, -1]], [[2, 0]]]), true, "K");
  const bias = tf.variable(tf.tensor1d([10, 10]), true, "bias");
  const { value, grads } = tf.variableGrads(
    () => tf.mul(l2Penalty([W, bias, K]), 0.01) as tf.Scalar,
    [W, bias, K],
  );
  assert.ok(Math.abs(value.dataSync()[0] - 0.01 * 0.5 * (14.25 + 5.0625)) < 1e-7);
  assert.deepEqual(Array.from(grads.W.dataSync()), [0.01, -0.02, 0.005, 0.03].map(Math.fround));
  assert.deepEqual(Array.from(grads.K.dataSync()), [0.0025, -0.01, 0.02, 0].map(Math.fround));
  assert.equal(grads.bias, undefined, "a bias is not regularised");
  tf.dispose([value, ...Object.values(grads), W, K, bias]);
});

Deno.test("an epoch logs its steps' mean objective, the L2 term's value included", async () => {
  // No dropout and a learning rate of 0: every step sees the initial weights, so the objective
  // of each batch can be computed here first. Three steps, since each step's numbers are read
  // back while the next one is issued.
  const model = EmotionModel.create(tinyConfig({ dropoutKeep: 1 }));
  const batches = [...TRAIN_BATCHES, TRAIN_BATCHES[0]];
  const lambda = 0.05;
  const vars = model.trainableVariables();
  const parts = batches.map((b) =>
    tf.tidy(() => {
      const obj = objective(model.apply(b, { training: false }).logits, b.labels);
      return {
        total: obj.total.dataSync()[0],
        perTask: Object.fromEntries(TASKS.map((t) => [t.name, obj.perTask[t.name].dataSync()[0]])),
        l2: tf.mul(l2Penalty(vars), lambda).dataSync()[0],
      };
    })
  );
  const mean = (f: (p: (typeof parts)[number]) => number) =>
    parts.reduce((s, p) => s + f(p), 0) / parts.length;
  const r = await train(model, {
    train: () => batches,
    epochs: 1,
    learningRate: 0,
    l2: lambda,
    progress: "none",
  });
  const h = r.history[0];
  assert.equal(h.batches, batches.length);
  const close = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
  close(h.loss, mean((p) => p.total + p.l2), "loss");
  close(h.l2, mean((p) => p.l2), "l2");
  assert.ok(h.l2 > 1e-3, "the L2 term is not negligible here");
  for (const t of TASKS) close(h.taskLoss[t.name], mean((p) => p.perTask[t.name]), t.name);
  model.dispose();
});

Deno.test("balanced class weights follow training counts; counts skip missing labels", () => {
  const w = balancedClassWeights([30, 10, 0]);
  assert.deepEqual(w, [40 / (2 * 30), 40 / (2 * 10), 0]);
  const counts = countClasses([
    { id: "1", path: "1.wav", speaker: "s", labels: { arousal: 1 } },
    { id: "2", path: "2.wav", speaker: "s", labels: { arousal: 1, valence: 0 } },
    { id: "3", path: "3.wav", speaker: "s", labels: { arousal: 0, valence: 2 } },
  ], TASKS);
  assert.deepEqual(counts, { arousal: [1, 2], valence: [1, 0, 1] });
  assert.throws(
    () =>
      countClasses([{ id: "bad", path: "bad.wav", speaker: "s", labels: { arousal: 5 } }], TASKS),
    /bad.*arousal/,
  );
  assert.throws(() => classWeightsFor("balanced", TASKS), /counts/);
  // Balanced weighting gives the minority row the larger share of the loss.
  const rw = rowWeights(Int32Array.of(0, 0, 0, 1, -1), balancedClassWeights([3, 1]));
  assert.ok(Math.abs(rw.reduce((a, b) => a + b, 0) - 1) < 1e-6);
  assert.ok(rw[3] > rw[0] * 2.9 && rw[3] < rw[0] * 3.1);
  assert.equal(rw[4], 0);
});

Deno.test("seeds are positional and reproducible", () => {
  assert.equal(deriveSeed(1, 2, 3), deriveSeed(1, 2, 3));
  assert.notEqual(deriveSeed(1, 2, 3), deriveSeed(1, 3, 2));
  assert.notEqual(deriveSeed(1, 2), deriveSeed(2, 2));
  const a = sampleTaskWeights(["x", "y", "z"], 5, 3);
  assert.deepEqual(a, sampleTaskWeights(["x", "y", "z"], 5, 3));
  assert.notDeepEqual(a, sampleTaskWeights(["x", "y", "z"], 5, 4));
  assert.ok(Math.abs(Object.values(a).reduce((s, v) => s + v, 0) / 3 - 1) < 1e-12);
  assert.deepEqual(sampleTaskWeights(["x", "y"], 5, 0), { x: 1, y: 1 });
});

Deno.test("checkpoint container round-trips and rejects garbage", () => {
  const bytes = encodeCheckpoint({ epoch: 3, best: -Infinity }, [
    {
      group: "w",
      name: "a",
      shape: [2, 2],
      dtype: "float32",
      values: Float32Array.of(1, 2, 3, 4.5),
    },
    { group: "w", name: "b", shape: [3], dtype: "int32", values: Int32Array.of(-1, 0, 7) },
  ]);
  const back = decodeCheckpoint(bytes);
  assert.deepEqual((back.header as { epoch: number }).epoch, 3);
  assert.deepEqual(Array.from(back.arrays[0].values), [1, 2, 3, 4.5]);
  assert.deepEqual(Array.from(back.arrays[1].values), [-1, 0, 7]);
  assert.throws(
    () => decodeCheckpoint(new Uint8Array(20), "x.ckpt"),
    /x\.ckpt.*not a training checkpoint/,
  );
  assert.throws(
    () => decodeCheckpoint(bytes.subarray(0, bytes.length - 4), "y.ckpt"),
    /y\.ckpt.*truncated/,
  );
});

Deno.test("Adam matches the textbook update and restores exactly", async () => {
  const v = tf.variable(tf.tensor1d([1, -2]));
  const adam = new Adam([v], { learningRate: 0.1 });
  const g = tf.tensor1d([0.5, -3]);
  adam.apply([g]);
  // First step: m̂ = g, v̂ = g², so the update is lr · g / (|g| + ε) ≈ lr · sign(g).
  const after = v.dataSync();
  assert.ok(Math.abs(after[0] - 0.9) < 1e-5 && Math.abs(after[1] - -1.9) < 1e-5);
  const state = await adam.getState();
  const v2 = tf.variable(tf.tensor(after.slice(), [2]));
  const adam2 = new Adam([v2], { learningRate: 0.1 });
  adam2.setState(state);
  adam.apply([g]);
  adam2.apply([g]);
  assert.deepEqual(Array.from(v.dataSync()), Array.from(v2.dataSync()));
  adam.dispose();
  adam2.dispose();
  tf.dispose([v, v2, g]);
});

Deno.test("Adam's l2 adds the L2 term's own gradient λW: equal to autodiff of λ·½ΣW²", () => {
  const lambda = 0.05;
  const start = [tf.tensor2d([[1, -2], [0.5, 3]]), tf.tensor1d([0.3, -0.7]), tf.tensor2d([[2, 1]])];
  const make = () => start.map((t) => tf.variable(t.clone()));
  const fused = make(), reference = make();
  const a = new Adam(fused, { learningRate: 0.1, l2: lambda });
  const b = new Adam(reference, { learningRate: 0.1 });
  for (let step = 0; step < 3; step++) {
    // The loss reaches the matrix and the bias; the second matrix has no loss gradient.
    const loss = [tf.mul(tf.tensor2d([[0.5, -1], [2, 0.1]]), step + 1), tf.tensor1d([1, -1])];
    a.apply([loss[0], loss[1], undefined]);
    const l2 = tf.variableGrads(() => tf.mul(l2Penalty(reference), lambda) as tf.Scalar, reference);
    b.apply([tf.add(loss[0], l2.grads[reference[0].name]), loss[1], l2.grads[reference[2].name]]);
    assert.equal(l2.grads[reference[1].name], undefined, "the bias is not covered");
    tf.dispose([...loss, l2.value, ...Object.values(l2.grads)]);
  }
  for (let i = 0; i < fused.length; i++) {
    assert.deepEqual(Array.from(fused[i].dataSync()), Array.from(reference[i].dataSync()));
  }
  // The matrix without a loss gradient moved (by λW alone), as the L2 term's gradient moves it.
  assert.notDeepEqual(Array.from(fused[2].dataSync()), [2, 1]);
  a.dispose();
  b.dispose();
  tf.dispose([...fused, ...reference, ...start]);
});

Deno.test("a tiny model overfits a tiny batch to 100 % UAR", async () => {
  const model = EmotionModel.create(tinyConfig({ dropoutKeep: 1, tasks: [TASKS[0]] }));
  const batch = makeBatch(["p", "q", "r", "s"], [0, 1, 0, 1], [0, 0, 0, 0], [6, 6, 5, 4]);
  const result = await train(model, {
    train: () => [batch],
    dev: () => [batch],
    epochs: 60,
    patience: 1000,
    learningRate: 2e-2,
    progress: "none",
    onEpochEnd: (r) => {
      if (r.devMeanUar === 1 && r.loss < 0.05) throw new StopTraining();
    },
  }).catch((e) => (e instanceof StopTraining ? undefined : Promise.reject(e)));
  // Whether stopped by the callback or not, the model must now classify the batch perfectly.
  const ev = await evaluate(model, [batch], [TASKS[0]]);
  assert.equal(ev.tasks.arousal.uar, 1, JSON.stringify(ev.tasks.arousal.confusion));
  assert.deepEqual(ev.tasks.arousal.confusion, [[2, 0], [0, 2]]);
  void result;
  model.dispose();
});

class StopTraining extends Error {}

Deno.test("same seed gives identical weights and metrics; another seed differs", async () => {
  const run = async (seed: number) => {
    const model = EmotionModel.create(tinyConfig({ seed }));
    const before = tf.memory().numTensors;
    const r = await train(model, baseOptions({ epochs: 2 }));
    // Training leaves no tensors behind (best-weight snapshots live in JS arrays).
    assert.equal(tf.memory().numTensors, before);
    const w = await weightValues(model);
    model.dispose();
    return { w, h: r.history.map((x) => [x.loss, x.devMeanUar]) };
  };
  const a = await run(7), b = await run(7), c = await run(8);
  assert.deepEqual(a.w, b.w);
  assert.deepEqual(a.h, b.h);
  assert.notDeepEqual(a.w, c.w);
});

Deno.test("an interrupted run resumes to the same weights and metrics", async () => {
  const dirA = await tempDir(), dirB = await tempDir();
  try {
    const opts = baseOptions({ epochs: 4, patience: 10 });
    const full = EmotionModel.create(tinyConfig());
    const rFull = await train(full, { ...opts, checkpointDir: dirA, logPath: `${dirA}/log.jsonl` });

    const first = EmotionModel.create(tinyConfig());
    await assert.rejects(
      train(first, {
        ...opts,
        checkpointDir: dirB,
        logPath: `${dirB}/log.jsonl`,
        onEpochEnd: (r) => {
          if (r.epoch === 2) throw new Error("simulated crash");
        },
      }),
      /simulated crash/,
    );
    first.dispose();
    const resumed = EmotionModel.create(tinyConfig());
    const rRes = await train(resumed, {
      ...opts,
      checkpointDir: dirB,
      logPath: `${dirB}/log.jsonl`,
    });
    assert.equal(rRes.resumedFromEpoch, 2);
    assert.deepEqual(await weightValues(resumed), await weightValues(full));
    const strip = (h: typeof rFull.history) =>
      h.map(({ seconds: _s, cpuSeconds: _c, windowsPerSecond: _w, ...rest }) => rest);
    assert.deepEqual(strip(rRes.history), strip(rFull.history));
    assert.equal(rRes.bestEpoch, rFull.bestEpoch);
    assert.deepEqual(rRes.dev?.tasks.valence.probabilities, rFull.dev?.tasks.valence.probabilities);
    // One JSON line per epoch, in both logs; no temporary files left behind.
    const lines = (await Deno.readTextFile(`${dirB}/log.jsonl`)).trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.deepEqual(lines.map((l) => l.epoch), [1, 2, 3, 4]);
    const keys = [
      "loss",
      "taskLoss",
      "devUar",
      "windowsPerSecond",
      "seconds",
      "cpuSeconds",
      "backend",
    ];
    for (const key of keys) {
      assert.ok(key in lines[0], `log lacks ${key}`);
    }
    const names = [...Deno.readDirSync(dirB)].map((e) => e.name).sort();
    assert.deepEqual(names, ["checkpoint.ckpt", "log.jsonl"]);
    // A checkpoint from other settings is refused with the file named.
    const other = EmotionModel.create(tinyConfig());
    await assert.rejects(
      train(other, { ...opts, learningRate: 1, checkpointDir: dirB }),
      /checkpoint\.ckpt.*different/,
    );
    for (const m of [full, resumed, other]) m.dispose();
  } finally {
    await Deno.remove(dirA, { recursive: true });
    await Deno.remove(dirB, { recursive: true });
  }
});

Deno.test("early stopping keeps the best dev epoch's weights", async () => {
  const model = EmotionModel.create(tinyConfig());
  const r = await train(model, baseOptions({ epochs: 30, patience: 2, learningRate: 1e-3 }));
  const last = r.history[r.history.length - 1].epoch;
  assert.ok(r.stoppedEarly ? last === r.bestEpoch + 2 : last === 30);
  // The kept weights reproduce the best epoch's dev result.
  const ev = await evaluate(model, DEV, TASKS);
  assert.equal(ev.meanUar, r.bestDevUar);
  assert.equal(Math.max(...r.history.map((h) => h.devMeanUar!)), r.bestDevUar);
  model.dispose();
});

Deno.test("save → load gives identical predictions; model.json is a tfjs-style manifest", async () => {
  const dir = await tempDir();
  try {
    const model = EmotionModel.create(tinyConfig());
    await train(model, baseOptions({ epochs: 1 }));
    const std = { mean: 0.01, std: 0.5 };
    await saveModel(dir, model, {
      standardisation: std,
      window: { sampleRate: 16000, windowSamples: WIN, hopSamples: HOP },
      backend: "cpu",
    });
    const json = JSON.parse(await Deno.readTextFile(`${dir}/model.json`));
    assert.equal(json.format, "emo-e2e-model");
    assert.deepEqual(json.weightsManifest[0].paths, ["weights.bin"]);
    assert.deepEqual(json.tasks.map((t: TaskSpec) => t.classes), TASKS.map((t) => t.classes));
    const bytes = (await Deno.stat(`${dir}/weights.bin`)).size;
    const expected = json.weightsManifest[0].weights.reduce(
      (s: number, w: { shape: number[] }) => s + 4 * w.shape.reduce((a, b) => a * b, 1),
      0,
    );
    assert.equal(bytes, expected);
    const { model: loaded, meta } = await loadModel(dir);
    assert.deepEqual(meta.standardisation, std);
    const a = await evaluate(model, DEV, TASKS), b = await evaluate(loaded, DEV, TASKS);
    for (const t of TASKS) {
      assert.deepEqual(b.tasks[t.name].probabilities, a.tasks[t.name].probabilities);
    }
    // The pure decoder works from bytes alone, and the prediction helper gives attention.
    const enc = await encodeModel(model, { standardisation: std, backend: "cpu" });
    const { model: fromBytes } = decodeModel(
      JSON.parse(JSON.stringify(enc.json)),
      enc.weights.slice().buffer as ArrayBuffer,
    );
    const samples = Float32Array.from({ length: 300 }, (_, i) => 0.5 * Math.sin(i / 3));
    const p1 = await predictUtterance(model, meta, samples);
    const p2 = await predictUtterance(fromBytes, enc.json, samples);
    assert.deepEqual(p2, p1);
    assert.equal(p1.tasks.arousal.attention!.weight.length, p1.windows);
    assert.ok(Math.abs(p1.tasks.arousal.attention!.weight.reduce((s, v) => s + v, 0) - 1) < 1e-5);
    assert.equal(p1.tasks.arousal.attention!.windowStart[1], HOP / 16000);
    // Corrupt weights are reported with the folder named.
    await Deno.writeFile(`${dir}/weights.bin`, new Uint8Array(12));
    await assert.rejects(loadModel(dir), new RegExp(`${dir}/weights.bin.*12 bytes`));
    for (const m of [model, loaded, fromBytes]) m.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("task-weight random search logs seeded trials and keeps the best", async () => {
  const dir = await tempDir();
  try {
    const run = async () => {
      const s = await searchTaskWeights(
        () => EmotionModel.create(tinyConfig()),
        baseOptions({ epochs: 1 }),
        { trials: 3, seed: 11, logPath: `${dir}/trials.jsonl` },
      );
      s.model.dispose();
      return s;
    };
    const s1 = await run();
    const s2 = await run();
    assert.deepEqual(
      s1.trials.map((t) => [t.weights, t.devUar]),
      s2.trials.map((t) => [t.weights, t.devUar]),
    );
    assert.equal(s1.best.devUar, Math.max(...s1.trials.map((t) => t.devUar)));
    const lines = (await Deno.readTextFile(`${dir}/trials.jsonl`)).trim().split("\n");
    assert.equal(lines.length, 3);
    assert.deepEqual(JSON.parse(lines[1]).weights, s1.trials[1].weights);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cpu and wasm: identical initial weights, close trained weights, wasm reproducible", async () => {
  await import("@tensorflow/tfjs-backend-wasm");
  const cpu = EmotionModel.create(tinyConfig());
  const wCpu = await weightValues(cpu);
  const evCpu = await evaluate(cpu, DEV, TASKS);
  await train(cpu, baseOptions({ epochs: 2 }));
  const trainedCpu = await weightValues(cpu);
  cpu.dispose();
  assert.ok(await tf.setBackend("wasm"));
  try {
    const wasm = EmotionModel.create(tinyConfig());
    assert.deepEqual(await weightValues(wasm), wCpu);
    // Forward passes agree to float rounding.
    const evWasm = await evaluate(wasm, DEV, TASKS);
    for (const t of TASKS) {
      const a = evCpu.tasks[t.name].probabilities.flat(),
        b = evWasm.tasks[t.name].probabilities.flat();
      const diff = Math.max(...a.map((v, i) => Math.abs(v - b[i])));
      assert.ok(diff < 1e-5, `${t.name}: cpu and wasm probabilities differ by ${diff}`);
    }
    await train(wasm, baseOptions({ epochs: 2 }));
    const trainedWasm = await weightValues(wasm);
    wasm.dispose();
    // Float rounding differs between the backends' kernels, so trained weights agree only
    // closely; on one backend the same seed reproduces them bit for bit.
    const maxDiff = Math.max(
      ...trainedCpu.map((a, i) => Math.max(...a.map((v, j) => Math.abs(v - trainedWasm[i][j])))),
    );
    assert.ok(maxDiff < 1e-4, `cpu and wasm trained weights differ by ${maxDiff}`);
    const again = EmotionModel.create(tinyConfig());
    await train(again, baseOptions({ epochs: 2 }));
    assert.deepEqual(await weightValues(again), trainedWasm);
    again.dispose();
  } finally {
    await tf.setBackend("cpu");
  }
});

Deno.test("Jupyter progress: one display, updated in place with the epoch summaries", async () => {
  const calls: { text: string; id: string; update: boolean }[] = [];
  const reporter = createProgress("jupyter", (bundle, o) => {
    calls.push({ text: bundle["text/plain"], id: o.display_id, update: o.update });
    return Promise.resolve();
  });
  const model = EmotionModel.create(tinyConfig());
  await train(model, baseOptions({ epochs: 2, progress: reporter }));
  model.dispose();
  assert.ok(calls.length >= 3, `only ${calls.length} display calls`);
  assert.equal(calls[0].update, false);
  assert.ok(calls.slice(1).every((c) => c.update && c.id === calls[0].id));
  const last = calls[calls.length - 1].text;
  assert.match(last, /epoch 1\/2 loss [\d.]+ \| dev UAR arousal/);
  assert.match(last, /epoch 2\/2 loss/);
});
