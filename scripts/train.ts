/**
 * Trains one model on a corpus and saves it.
 *
 *   deno task train --corpus emodb --data ../shared/data/emodb --tasks arousal,valence \
 *     --pooling attention --mtl --epochs 30 --out runs/emodb-mtl-att --backend wasm
 *
 * Writes to --out: `checkpoint.ckpt` (every epoch; rerunning the same command resumes),
 * `train-log.jsonl` (one record per epoch), `trials.jsonl` (task-weight search), `model/`
 * (model.json + weights.bin of the selected model) and `results.json` (dev and test evaluation).
 * @module
 */
import { parseCommandLine } from "../lib/util/cli.ts";
import { type CorpusKind, loadCorpus, partition } from "../lib/corpus/mod.ts";
import type { TaskSpec, Utterance } from "../lib/corpus/types.ts";
import {
  AudioCache,
  batches,
  computeStandardisation,
  PAPER_WINDOWS,
  windowCount,
} from "../lib/frames/mod.ts";
import { initBackend, parseBackendName } from "../lib/model/backend.ts";
import { defaultModelConfig, EmotionModel } from "../lib/model/model.ts";
import { saveModel } from "../lib/model/persist.ts";
import type { ModelConfig, Pooling } from "../lib/model/types.ts";
import { evaluate, type Evaluation } from "../lib/training/evaluate.ts";
import { type ClassWeighting, countClasses } from "../lib/training/loss.ts";
import { searchTaskWeights } from "../lib/training/search.ts";
import { train, type TrainOptions, type TrainResult } from "../lib/training/train.ts";

const HELP = `usage: deno task train --corpus iemocap|emodb|manifest|example [--data PATH]
    --tasks arousal,valence,dominance --pooling last|attention --mtl|--stl --out DIR [options]

  --epochs N            maximum epochs (default 20)
  --batch-size N        utterances per batch (default 16)
  --lr X                Adam learning rate (default 1e-4, the paper's)
  --l2 X                λ of the L2 term (default 0)
  --class-weights M     none | balanced (default none)
  --task-weights LIST   fixed w_m, e.g. arousal=1,valence=0.5 (default all 1)
  --search-trials N     random search of w_m on dev with N trials (MTL only)
  --patience N          early stopping after N epochs without better dev UAR
  --seed N              seed of weights, shuffling and dropout (default 1)
  --backend NAME        auto | wasm | cpu | webgpu | tensorflow (default auto)
  --filters N --kernel N --channel-pool N --gru-units N --gru-layers N
                        smaller models for quick runs (filters must be a multiple of channel-pool)
  --limit N             use at most N utterances per partition (smoke tests)
  --no-resume           ignore an existing checkpoint in --out
  --progress MODE       auto | terminal | jupyter | none
`;

function parseNumber(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isFinite(x)) throw new Error(`--${name} '${v}' is not a number`);
  return x;
}

function parseTaskWeights(text: string, tasks: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(",")) {
    const [k, v] = part.split("=");
    if (!tasks.includes(k)) throw new Error(`--task-weights: '${k}' is not one of ${tasks}`);
    const x = Number(v);
    if (!(x >= 0)) throw new Error(`--task-weights: weight of ${k} must be ≥ 0, got '${v}'`);
    out[k] = x;
  }
  return out;
}

function summariseEvaluation(e: Evaluation | undefined) {
  if (!e) return undefined;
  return {
    meanUar: e.meanUar,
    tasks: Object.fromEntries(
      Object.entries(e.tasks).map(([k, t]) => [k, {
        uar: t.uar,
        accuracy: t.accuracy,
        classes: t.classes,
        confusion: t.confusion,
        ids: t.ids,
        truth: t.truth,
        predictions: t.predictions,
        probabilities: t.probabilities,
      }]),
    ),
  };
}

async function main(): Promise<void> {
  const { values: a } = parseCommandLine({
    options: {
      corpus: { type: "string" },
      data: { type: "string" },
      tasks: { type: "string" },
      pooling: { type: "string", default: "last" },
      mtl: { type: "boolean", default: false },
      stl: { type: "boolean", default: false },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      l2: { type: "string" },
      "class-weights": { type: "string", default: "none" },
      "task-weights": { type: "string" },
      "search-trials": { type: "string" },
      patience: { type: "string" },
      seed: { type: "string" },
      backend: { type: "string", default: "auto" },
      filters: { type: "string" },
      kernel: { type: "string" },
      "channel-pool": { type: "string" },
      "gru-units": { type: "string" },
      "gru-layers": { type: "string" },
      limit: { type: "string" },
      "no-resume": { type: "boolean", default: false },
      progress: { type: "string", default: "auto" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, HELP);
  if (a.help) {
    console.log(HELP);
    return;
  }
  if (!a.corpus) throw new Error("--corpus is required\n" + HELP);
  if (!a.out) throw new Error("--out DIR is required");
  if (a.mtl && a.stl) throw new Error("--mtl and --stl exclude each other");
  const pooling = a.pooling as Pooling;
  if (pooling !== "last" && pooling !== "attention") {
    throw new Error(`--pooling '${a.pooling}' must be last or attention`);
  }
  const classWeighting = a["class-weights"] as ClassWeighting;
  if (classWeighting !== "none" && classWeighting !== "balanced") {
    throw new Error(`--class-weights '${classWeighting}' must be none or balanced`);
  }
  const progress = a.progress as TrainOptions["progress"];
  if (!["auto", "terminal", "jupyter", "none"].includes(progress as string)) {
    throw new Error(`--progress '${a.progress}' must be auto, terminal, jupyter or none`);
  }
  const taskNames = a.tasks?.split(",").map((s) => s.trim()).filter((s) => s);
  if (a.stl && taskNames && taskNames.length !== 1) {
    throw new Error(`--stl trains one task; got --tasks ${a.tasks} (run once per task)`);
  }
  const backend = await initBackend(parseBackendName(a.backend));
  console.error(`backend: ${backend.device}`);

  const corpus = await loadCorpus({
    corpus: a.corpus as CorpusKind,
    data: a.data,
    tasks: taskNames,
  });
  for (const s of corpus.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
  const tasks: TaskSpec[] = corpus.tasks;
  if (a.stl && tasks.length !== 1) {
    throw new Error(
      `--stl trains one task; corpus provides ${tasks.map((t) => t.name)}: use --tasks`,
    );
  }
  const limit = a.limit === undefined ? Infinity : parseNumber("limit", a.limit, Infinity);
  const part = (name: string): Utterance[] => partition(corpus.utterances, name).slice(0, limit);
  const trainSet = part("train"), devSet = part("dev"), testSet = part("test");
  if (trainSet.length === 0) {
    throw new Error(`corpus ${corpus.name} at ${corpus.root} has no 'train' utterances`);
  }
  console.error(
    `${corpus.name}: train ${trainSet.length}, dev ${devSet.length}, test ${testSet.length}; ` +
      `tasks ${tasks.map((t) => t.name).join(", ")}`,
  );

  const seed = parseNumber("seed", a.seed, 1);
  const overrides: Partial<ModelConfig> = { pooling, seed };
  const base = defaultModelConfig(tasks, overrides);
  const config: ModelConfig = {
    ...base,
    conv: {
      ...base.conv,
      filters: parseNumber("filters", a.filters, base.conv.filters),
      kernel: parseNumber("kernel", a.kernel, base.conv.kernel),
      channelPool: parseNumber("channel-pool", a["channel-pool"], base.conv.channelPool),
    },
    gru: {
      units: parseNumber("gru-units", a["gru-units"], base.gru.units),
      layers: parseNumber("gru-layers", a["gru-layers"], base.gru.layers),
    },
  };
  const batchSize = parseNumber("batch-size", a["batch-size"], 16);
  const cache = new AudioCache();
  const standardisation = await computeStandardisation(trainSet, cache.reader);
  const window = PAPER_WINDOWS;
  const common = { standardisation, read: cache.reader, window };
  await Deno.mkdir(a.out, { recursive: true });
  const trainWindows = trainSet.reduce((s, u) => s + windowCount(u.samples ?? 0, window), 0);

  const opts: TrainOptions = {
    train: (_epoch, epochSeed) =>
      batches(trainSet, tasks, { ...common, batchSize, shuffle: true, seed: epochSeed }),
    dev: devSet.length > 0
      ? () => batches(devSet, tasks, { ...common, batchSize, shuffle: false })
      : undefined,
    epochs: parseNumber("epochs", a.epochs, 20),
    learningRate: parseNumber("lr", a.lr, 1e-4),
    l2: parseNumber("l2", a.l2, 0),
    classWeighting,
    classCounts: countClasses(trainSet, tasks),
    taskWeights: a["task-weights"]
      ? parseTaskWeights(a["task-weights"], tasks.map((t) => t.name))
      : undefined,
    patience: a.patience === undefined ? undefined : parseNumber("patience", a.patience, 0),
    seed,
    checkpointDir: a.out,
    resume: !a["no-resume"],
    logPath: `${a.out}/train-log.jsonl`,
    progress,
    batchesPerEpoch: Math.ceil(trainSet.length / batchSize),
    backend: backend.backend,
  };
  console.error(`training windows per epoch: ${trainWindows}`);

  let model: EmotionModel;
  let result: TrainResult;
  let taskWeights = opts.taskWeights;
  const trials = a["search-trials"] === undefined
    ? 0
    : parseNumber("search-trials", a["search-trials"], 0);
  if (trials > 0) {
    if (tasks.length < 2) throw new Error("--search-trials needs an MTL model (two or more tasks)");
    const s = await searchTaskWeights(() => EmotionModel.create(config), opts, {
      trials,
      seed,
      logPath: `${a.out}/trials.jsonl`,
      checkpointDir: a.out,
    });
    model = s.model;
    result = s.result;
    taskWeights = s.best.weights;
    console.error(`best task weights (trial ${s.best.trial}): ${JSON.stringify(s.best.weights)}`);
  } else {
    model = EmotionModel.create(config);
    result = await train(model, opts);
  }

  const test = testSet.length > 0
    ? await evaluate(model, batches(testSet, tasks, { ...common, batchSize }), tasks)
    : undefined;
  await saveModel(`${a.out}/model`, model, {
    standardisation,
    window,
    backend: backend.backend,
    device: backend.device,
    training: {
      corpus: corpus.name,
      epochs: result.history.length,
      bestEpoch: result.bestEpoch,
      devUar: result.bestDevUar,
      taskWeights,
      classWeighting,
      learningRate: opts.learningRate,
      l2: opts.l2,
      batchSize,
      seed,
    },
  });
  const results = {
    corpus: corpus.name,
    tasks,
    backend: backend.device,
    bestEpoch: result.bestEpoch,
    stoppedEarly: result.stoppedEarly,
    taskWeights,
    dev: summariseEvaluation(result.dev),
    test: summariseEvaluation(test),
  };
  await Deno.writeTextFile(`${a.out}/results.json`, JSON.stringify(results, null, 1));
  const fmt = (e?: Evaluation) =>
    e
      ? Object.entries(e.tasks).map(([k, t]) => `${k} ${(t.uar * 100).toFixed(1)}%`).join(", ")
      : "—";
  console.log(
    `best epoch ${result.bestEpoch}; dev UAR: ${fmt(result.dev)}; test UAR: ${fmt(test)}`,
  );
  console.log(`model saved to ${a.out}/model`);
  model.dispose();
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`train: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
