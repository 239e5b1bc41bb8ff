/**
 * Inference on the worker pool (GradientWorkers.infer / inferEach, evaluate({ workers }),
 * trainModel's dev/test evaluation) against the single engine: the same probabilities and
 * attention up to float rounding, rows in order, the workers using the weights they are sent;
 * and a worker that throws ending the call with its error instead of a hang.
 *
 * Workers load their code from lib/model/, so this file needs --allow-read.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { join } from "node:path";
import { readWav } from "../lib/audio/mod.ts";
import { encodeWav16 } from "../lib/audio/wav.ts";
import type { Utterance } from "../lib/corpus/types.ts";
import { batches, computeStandardisation } from "../lib/frames/mod.ts";
import type { Batch } from "../lib/frames/types.ts";
import { EmotionModel } from "../lib/model/model.ts";
import type { GradientWorkers, InferenceResult } from "../lib/model/parallel.ts";
import { encodeModel, saveModel } from "../lib/model/persist.ts";
import type { ModelConfig, ModelInput } from "../lib/model/types.ts";
import { batchToInput, evaluate, type Evaluation } from "../lib/training/evaluate.ts";
import { predictUtterance, predictUtterances } from "../lib/training/predict.ts";
import { startWorkerPool, train } from "../lib/training/train.ts";
import { type ModelSpec, trainModel } from "../lib/training/train_model.ts";
import { HOP, sineBatch, TASKS, tinyConfig, WIN } from "./fixtures.ts";
import { maxAbsDiff } from "./numeric.ts";
import { runTask } from "./task_runner.ts";

// Workers follow this thread's backend; cpu keeps the tiny model's passes at milliseconds.
await tf.setBackend("cpu");

/**
 * Inference in one engine and on the workers runs the same ops on the same rows; only the
 * batch shapes differ (rows split, each job trimmed to its longest row), which can change the
 * order of float32 sums at most. Probabilities and attention weights are in [0, 1], so 1e-6 is
 * a few ulp of rounding yet far below any real difference (another weight, a shifted row, a
 * padding window counted: ≥ 1e-3 for this model).
 */
const TOL = 1e-6;

/** Unequal lengths and missing labels, so trimming, padding and row order all matter. */
const BATCHES: Batch[] = [
  sineBatch(["a", "b", "c", "d", "e"], [0, 1, 0, 1, 1], [0, 2, 1, -1, 2], [6, 3, 5, 6, 2]),
  sineBatch(["f", "g", "h"], [1, 0, -1], [1, 0, 2], [4, 6, 3]),
  sineBatch(["i"], [0], [1], [5]),
];

/** A model whose weights differ from `config`'s initial ones (which the workers start with). */
function modelWithOtherWeights(config: ModelConfig): EmotionModel {
  const model = EmotionModel.create(config);
  const other = EmotionModel.create({ ...config, seed: config.seed + 100 });
  model.setWeights(other.getWeights());
  other.dispose();
  return model;
}

async function weightsOf(model: EmotionModel): Promise<Float32Array[]> {
  return await Promise.all(
    model.getWeights().map(async (w) => new Float32Array(await w.tensor.data())),
  );
}

/** One engine's probabilities and attention for `input`, as flat arrays. */
async function singleEngine(model: EmotionModel, input: ModelInput): Promise<InferenceResult> {
  const out = model.apply(input, { training: false });
  try {
    const probabilities: Record<string, Float32Array> = {};
    const attention: Record<string, Float32Array> = {};
    for (const t of model.config.tasks) {
      const p = tf.softmax(out.logits[t.name]);
      probabilities[t.name] = new Float32Array(await p.data());
      p.dispose();
      attention[t.name] = new Float32Array(await out.attention![t.name].data());
    }
    return { probabilities, attention };
  } finally {
    tf.dispose([...Object.values(out.logits), ...Object.values(out.attention ?? {})]);
  }
}

function assertSameOutputs(got: InferenceResult, want: InferenceResult, what: string): number {
  let worst = 0;
  for (const t of TASKS) {
    worst = Math.max(worst, maxAbsDiff(got.probabilities[t.name], want.probabilities[t.name]));
    assert.ok(got.attention && want.attention, `${what}: attention present`);
    worst = Math.max(worst, maxAbsDiff(got.attention[t.name], want.attention[t.name]));
  }
  assert.ok(worst <= TOL, `${what}: outputs differ by ${worst}`);
  return worst;
}

function assertSameEvaluation(got: Evaluation, want: Evaluation): number {
  let worst = 0;
  for (const t of TASKS) {
    const g = got.tasks[t.name], w = want.tasks[t.name];
    assert.deepEqual(g.ids, w.ids);
    assert.deepEqual(g.truth, w.truth);
    assert.deepEqual(g.predictions, w.predictions);
    assert.deepEqual(g.confusion, w.confusion);
    assert.equal(g.uar, w.uar);
    assert.equal(g.probabilities.length, w.probabilities.length);
    g.probabilities.forEach((p, i) => {
      worst = Math.max(worst, maxAbsDiff(p, w.probabilities[i]));
    });
  }
  assert.ok(worst <= TOL, `probabilities differ by ${worst}`);
  assert.equal(got.meanUar, want.meanUar);
  return worst;
}

/** Fails instead of hanging when a call never settles. */
async function within<T>(seconds: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function withPool<T>(
  config: ModelConfig,
  count: number,
  body: (pool: GradientWorkers) => Promise<T>,
  maxWindowsPerPass?: number,
): Promise<T> {
  const pool = await startWorkerPool(config, count, { maxWindowsPerPass });
  try {
    return await body(pool);
  } finally {
    pool.dispose();
  }
}

Deno.test("infer gives one engine's probabilities and attention, rows in order", async () => {
  const config = tinyConfig();
  const model = modelWithOtherWeights(config);
  try {
    const weights = await weightsOf(model);
    for (const count of [2, 3]) {
      await withPool(config, count, async (pool) => {
        for (const [b, batch] of BATCHES.entries()) {
          const input = batchToInput(batch);
          const got = await pool.infer(config, weights, input);
          const worst = assertSameOutputs(
            got,
            await singleEngine(model, input),
            `${count} workers, batch ${b}`,
          );
          console.log(`${count} workers, batch ${b}: max |Δ| ${worst.toExponential(2)}`);
        }
        // The workers really use the weights they are sent: their own initial weights differ.
        const initial = EmotionModel.create(config);
        try {
          const input = batchToInput(BATCHES[0]);
          const own = await pool.infer(config, await weightsOf(initial), input);
          assertSameOutputs(own, await singleEngine(initial, input), "initial weights");
          const moved = maxAbsDiff(
            own.probabilities.valence,
            (await pool.infer(config, weights, input)).probabilities.valence,
          );
          assert.ok(moved > 1e-3, `other weights give other outputs (${moved})`);
        } finally {
          initial.dispose();
        }
      });
    }
  } finally {
    model.dispose();
  }
});

Deno.test("infer with row groups matches the single engine's grouped pass", async () => {
  // 12 windows per pass: the single engine and the workers both cut batch 0 into row groups.
  const config = tinyConfig();
  const model = modelWithOtherWeights(config);
  model.maxWindowsPerPass = 12;
  try {
    const weights = await weightsOf(model);
    await withPool(config, 2, async (pool) => {
      for (const batch of BATCHES) {
        const input = batchToInput(batch);
        assertSameOutputs(
          await pool.infer(config, weights, input),
          await singleEngine(model, input),
          `row groups, ${batch.ids.join("")}`,
        );
      }
    }, 12);
  } finally {
    model.dispose();
  }
});

Deno.test("inferEach computes every input whole, results in the order given", async () => {
  const config = tinyConfig();
  const model = modelWithOtherWeights(config);
  try {
    const weights = await weightsOf(model);
    // More inputs than workers, with different costs, so the assignment reorders them.
    const inputs = BATCHES.map(batchToInput);
    await withPool(config, 2, async (pool) => {
      const got = await pool.inferEach(config, weights, inputs);
      assert.equal(got.length, inputs.length);
      for (const [i, input] of inputs.entries()) {
        assertSameOutputs(got[i], await singleEngine(model, input), `input ${i}`);
      }
      assert.deepEqual(await pool.inferEach(config, weights, []), []);
    });
  } finally {
    model.dispose();
  }
});

Deno.test("evaluate on workers scores exactly as one engine", async () => {
  const config = tinyConfig();
  const model = modelWithOtherWeights(config);
  try {
    const one = await evaluate(model, BATCHES, TASKS);
    await withPool(config, 2, async (pool) => {
      const two = await evaluate(model, BATCHES, TASKS, { workers: pool });
      console.log(`evaluate: max |Δp| ${assertSameEvaluation(two, one).toExponential(2)}`);
      // Asynchronous batches (as the frames module gives them) are read ahead the same way.
      async function* stream() {
        for (const b of BATCHES) {
          await new Promise((r) => setTimeout(r, 1));
          yield b;
        }
      }
      assertSameEvaluation(await evaluate(model, stream(), TASKS, { workers: pool }), one);
      // A task the model does not have is an error here too.
      await assert.rejects(
        () =>
          evaluate(model, BATCHES, [{ name: "dominance", classes: ["l", "h"] }], {
            workers: pool,
          }),
        /model has no output for task dominance/,
      );
      // A batch stream that fails is reported as such, and the pool stays usable.
      async function* broken() {
        yield BATCHES[0];
        throw new Error("disk on fire");
      }
      await assert.rejects(() => evaluate(model, broken(), TASKS, { workers: pool }), /on fire/);
      assertSameEvaluation(await evaluate(model, BATCHES, TASKS, { workers: pool }), one);
    });
  } finally {
    model.dispose();
  }
});

Deno.test("a worker that throws ends the call with its error, and the pool refuses more", async () => {
  const config = tinyConfig();
  const model = modelWithOtherWeights(config);
  try {
    await withPool(config, 2, async (pool) => {
      // Row 3 has no real window: the main thread passes it on, the worker's model refuses it.
      const bad = sineBatch(["p", "q", "r", "s"], [0, 1, 0, 1], [0, 1, 2, 0], [4, 5, 3, 4]);
      bad.lengths[3] = 0;
      await within(
        60,
        assert.rejects(
          () => evaluate(model, [BATCHES[0], bad, BATCHES[1]], TASKS, { workers: pool }),
          (e: Error) => {
            assert.match(e.message, /gradient worker 1 failed/);
            assert.match(e.message, /row 1 has length 0/);
            return true;
          },
        ),
      );
      await assert.rejects(
        () => evaluate(model, BATCHES, TASKS, { workers: pool }),
        /pool is unusable after an earlier failure/,
      );
    });
    await withPool(config, 2, async (pool) => {
      // Weight arrays of the wrong size reach the workers (only their count is checked here).
      const weights = await weightsOf(model);
      weights[0] = weights[0].slice(1);
      await within(
        60,
        assert.rejects(
          () => pool.infer(config, weights, batchToInput(BATCHES[0])),
          /gradient worker \d failed/,
        ),
      );
    });
  } finally {
    model.dispose();
  }
});

Deno.test("pool calls must not overlap; bad arguments are refused before any work", async () => {
  const config = tinyConfig();
  const model = modelWithOtherWeights(config);
  try {
    const weights = await weightsOf(model);
    await withPool(config, 2, async (pool) => {
      const input = batchToInput(BATCHES[0]);
      const first = pool.infer(config, weights, input);
      await assert.rejects(() => pool.infer(config, weights, input), /must not overlap/);
      assertSameOutputs(await first, await singleEngine(model, input), "first call");
      await assert.rejects(
        () => pool.infer({ ...config, seed: 8 }, weights, input),
        /config differs/,
      );
      await assert.rejects(() => pool.infer(config, weights.slice(1), input), /weight arrays/);
      // Still usable: refusals are not failures.
      assertSameOutputs(
        await pool.infer(config, weights, input),
        await singleEngine(model, input),
        "after refusals",
      );
    });
  } finally {
    model.dispose();
  }
});

Deno.test("train() with a given pool evaluates dev on it and leaves it running", async () => {
  const config = tinyConfig({ dropoutKeep: 1 });
  await withPool(config, 2, async (pool) => {
    const run = async (extra: { workers?: number; pool?: GradientWorkers }) => {
      const model = EmotionModel.create(config);
      try {
        const res = await train(model, {
          train: () => BATCHES.slice(0, 2),
          dev: () => BATCHES,
          epochs: 2,
          learningRate: 3e-3,
          progress: "none",
          ...extra,
        });
        return { res, after: await evaluate(model, BATCHES, TASKS) };
      } finally {
        model.dispose();
      }
    };
    const own = await run({ workers: 2 });
    const given = await run({ pool });
    // Same pool computations as a pool of train()'s own: the same run to the last bit.
    assert.deepEqual(given.res.history.map((h) => h.loss), own.res.history.map((h) => h.loss));
    assertSameEvaluation(given.res.dev!, own.res.dev!);
    // The kept dev evaluation (from the workers) is one engine's evaluation of the kept model.
    assertSameEvaluation(given.res.dev!, given.after);
    const model = EmotionModel.create(config);
    try {
      assertSameOutputs(
        await pool.infer(config, await weightsOf(model), batchToInput(BATCHES[0])),
        await singleEngine(model, batchToInput(BATCHES[0])),
        "pool after training",
      );
      await assert.rejects(
        () => train(model, { train: () => BATCHES, epochs: 1, workers: 3, pool }),
        /pool has 2 workers, but workers is 3/,
      );
    } finally {
      model.dispose();
    }
  });
});

/**
 * A tiny training of trainModel's: three utterances per partition (sines whose frequency is the
 * arousal class), a small attention model, 2 workers, 2 epochs.
 */
function tinyTraining() {
  // Three utterances per partition, sines whose frequency is the arousal class.
  const utterances: Utterance[] = [];
  const audio = new Map<string, Float32Array>();
  ["train", "dev", "test"].forEach((partition, p) => {
    for (let i = 0; i < 3; i++) {
      const id = `${partition}${i}`, arousal = (i + p) % 2, windows = 3 + i + p;
      const n = (windows - 1) * HOP + WIN;
      const f = arousal ? 0.35 : 0.05;
      audio.set(id, Float32Array.from({ length: n }, (_, k) => Math.sin(2 * Math.PI * f * k)));
      utterances.push({
        id,
        path: id,
        speaker: `s${i}`,
        partition,
        labels: { arousal, valence: (i + 2 * p) % 3 },
        samples: n,
      });
    }
  });
  const spec: ModelSpec = {
    tasks: TASKS,
    pooling: "attention",
    input: "raw",
    network: {
      window: { samples: WIN, hop: HOP },
      conv: { filters: 4, kernel: 8, pool: 2, channelPool: 2 },
      gru: { units: 8, layers: 1 },
      dropoutKeep: 1,
    },
    training: {
      epochs: 2,
      patience: 2,
      batchSize: 2,
      learningRate: 3e-3,
      l2: 0,
      classWeighting: "none",
      taskWeightTrials: 1,
      workers: 2,
    },
    seed: 7,
  };
  const part = (name: string) => utterances.filter((u) => u.partition === name);
  const fold = { name: "split", train: part("train"), dev: part("dev"), test: part("test") };
  const read = (u: Utterance) => Promise.resolve(audio.get(u.id)!);
  return { spec, fold, read };
}

Deno.test("trainModel with 2 workers evaluates dev and test as one engine would", async () => {
  const { spec, fold, read } = tinyTraining();
  const dir = await Deno.makeTempDir({ prefix: "parallel_eval_test_" });
  try {
    const res = await trainModel(spec, fold, {
      dir,
      read,
      backend: { backend: "cpu", device: "cpu" },
      progress: "none",
    });
    try {
      assert.equal(res.reused, false);
      // One engine's evaluation of the returned model, through the same batches.
      const model = res.model;
      const standardisation = await computeStandardisation(fold.train, read);
      const window = { sampleRate: 16000, windowSamples: WIN, hopSamples: HOP };
      const opts = { batchSize: 2, standardisation, read, window };
      assertSameEvaluation(res.test, await evaluate(model, batches(fold.test, TASKS, opts), TASKS));
      assertSameEvaluation(res.dev, await evaluate(model, batches(fold.dev, TASKS, opts), TASKS));
      assert.equal(res.test.tasks.arousal.ids.length, 3);
    } finally {
      res.model.dispose();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("trainModel's checkpointAbove reaches the model and its workers, results to rounding", async () => {
  const { spec, fold, read } = tinyTraining();
  const run = async (checkpointAbove?: number) => {
    const dir = await Deno.makeTempDir({ prefix: "parallel_eval_test_" });
    try {
      return await trainModel(spec, fold, {
        dir,
        read,
        backend: { backend: "cpu", device: "cpu" },
        progress: "none",
        checkpointAbove,
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
  const plain = await run();
  // Every batch (2 rows of 3–6 windows) above 1 window: the front-end is recomputed in the
  // backward pass, on this thread and on both workers (whose settings must match the model's).
  const recomputed = await run(1);
  try {
    assert.deepEqual(recomputed.model.frontEndOptions, { checkpointAbove: 1 });
    assert.deepEqual(plain.model.frontEndOptions, {});
    const losses = (r: typeof plain) => r.history.map((h) => h.loss);
    losses(recomputed).forEach((l, i) => assert.ok(Math.abs(l - losses(plain)[i]) < 1e-5));
    for (const split of ["dev", "test"] as const) {
      const a = recomputed[split].tasks.arousal.probabilities.flat();
      const b = plain[split].tasks.arousal.probabilities.flat();
      a.forEach((p, i) => assert.ok(Math.abs(p - b[i]) < 1e-5, `${split} probability ${i}`));
    }
  } finally {
    plain.model.dispose();
    recomputed.model.dispose();
  }
  await assert.rejects(() => run(0), /checkpointAbove must be a positive integer/);
});

/** Utterances of different lengths (samples at 16 kHz, in [-1, 1]), one shorter than a window. */
const CLIPS = [300, 48, 700, 160, 420].map((n, c) =>
  Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin(i / (2 + c)) + 0.1 * Math.cos(i))
);
const EXTRAS = {
  standardisation: { mean: 0.01, std: 0.5 },
  window: { sampleRate: 16000, windowSamples: WIN, hopSamples: HOP },
  backend: "cpu",
};

Deno.test("predictUtterances on workers gives predictUtterance's results in order", async () => {
  const config = tinyConfig();
  const model = modelWithOtherWeights(config);
  try {
    const { json: meta } = await encodeModel(model, EXTRAS);
    const one = await Promise.all(CLIPS.map((c) => predictUtterance(model, meta, c)));
    assert.deepEqual(await predictUtterances(model, meta, CLIPS), one);
    await withPool(config, 2, async (pool) => {
      // One utterance per job, computed whole: the very numbers of one engine.
      assert.deepEqual(await predictUtterances(model, meta, CLIPS, { workers: pool }), one);
      assert.deepEqual(await predictUtterances(model, meta, [], { workers: pool }), []);
    });
  } finally {
    model.dispose();
  }
});

Deno.test("deno task predict --workers 2 prints what --workers 1 prints", async () => {
  const dir = await Deno.makeTempDir({ prefix: "parallel_eval_test_" });
  const model = modelWithOtherWeights(tinyConfig());
  try {
    await saveModel(join(dir, "model"), model, EXTRAS);
    const files = CLIPS.map((_, i) => join(dir, `clip${i}.wav`));
    await Promise.all(files.map((f, i) => Deno.writeFile(f, encodeWav16(CLIPS[i], 16000))));
    // An unreadable file among them is reported and skipped in both.
    const missing = join(dir, "missing.wav");
    const predict = async (workers: number) => {
      // The task's own permissions (deno.json), which the workers inherit.
      const out = await runTask("predict", [
        ...files.slice(0, 2),
        missing,
        ...files.slice(2),
        "--model",
        join(dir, "model"),
        "--json",
        "--backend",
        "cpu",
        "--workers",
        String(workers),
      ]);
      assert.equal(out.code, 1, `one file fails: exit 1\n${out.stderr}`);
      assert.match(out.stderr, /skipped .*missing\.wav/);
      return JSON.parse(out.stdout);
    };
    const one = await predict(1), two = await predict(2);
    assert.deepEqual(two, one);
    assert.deepEqual(
      one.results.map((r: { file: string }) => r.file),
      [...files.slice(0, 2), missing, ...files.slice(2)],
    );
    // And both are the library's predictions of the files' (16-bit) samples.
    const { json: meta } = await encodeModel(model, EXTRAS);
    const decoded = await Promise.all(files.map(async (f) => (await readWav(f)).samples));
    const want = await predictUtterances(model, meta, decoded);
    const got = one.results.filter((r: { error?: string }) => !r.error);
    got.forEach((r: { tasks: unknown }, i: number) => assert.deepEqual(r.tasks, want[i].tasks));
  } finally {
    model.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
