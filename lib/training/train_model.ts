/**
 * `trainModel`: the one way the toolkit trains a neural model. Given a resolved model spec (the
 * network, the training settings, the tasks, the seed) and a fold (train/dev/test utterances)
 * it builds the model, trains it with checkpoints in `dir` (resumable; with a task-weight
 * search for MTL when asked), evaluates it on dev and test, saves the model folder with its
 * configuration and scores, and returns the model, both evaluations and the epoch history.
 * `deno task train` and `reproduce` both call it; scripts only parse arguments and print.
 *
 * Files in `dir`: `checkpoint.ckpt` (or `trial-<n>/` under a search), `epochs.jsonl`,
 * `trials.jsonl`, `model/` (model.json + weights.bin) and `outcome.json` (written last, atomically:
 * its presence means the training finished and a rerun returns it without training again).
 * @module
 */
import { join } from "node:path";
import { TARGET_SAMPLE_RATE } from "../audio/mod.ts";
import type { TaskSpec, Utterance } from "../corpus/types.ts";
import type { Fold } from "../corpus/splits.ts";
import {
  type AudioReader,
  batches,
  type BatchOptions,
  computeStandardisation,
  featureStatistics,
} from "../frames/mod.ts";
import type { Standardisation, WindowSpec } from "../frames/types.ts";
import { defaultModelConfig, EmotionModel } from "../model/model.ts";
import { loadModel, saveModel } from "../model/persist.ts";
import type { FrontEndOptions } from "../model/frontend.ts";
import type { GradientWorkers } from "../model/parallel.ts";
import type { ModelConfig, Pooling } from "../model/types.ts";
import { readJsonIfExists, writeJsonAtomic } from "../util/atomic.ts";
import { evaluate, type Evaluation } from "./evaluate.ts";
import { type ClassWeighting, countClasses } from "./loss.ts";
import type { ProgressMode } from "./progress.ts";
import { searchTaskWeights } from "./search.ts";
import {
  type EpochRecord,
  startWorkerPool,
  train,
  type TrainOptions,
  workerPoolSize,
} from "./train.ts";

/** The network: framing, both convolutions, the GRU stack, dropout. */
export interface NetworkSpec {
  /** Raw-audio framing in samples at 16 kHz (paper: 640 / 160). */
  window: { samples: number; hop: number };
  /** Convolutions (paper: 40 filters, width 40, pool 2, channel pool 10). */
  conv: { filters: number; kernel: number; pool: number; channelPool: number };
  /** GRU stack (paper: 2 × 128). */
  gru: { units: number; layers: number };
  /** Keep probability of the dropout after the CNN (paper: 0.9). */
  dropoutKeep: number;
}

/** Training settings of one model. */
export interface TrainingSpec {
  /** Maximum epochs. */
  epochs: number;
  /** Early-stopping patience (epochs without a better dev UAR). */
  patience: number;
  /** Utterances per batch. */
  batchSize: number;
  /** Adam step size. */
  learningRate: number;
  /** λ of the L2 term. */
  l2: number;
  /** Cross-entropy class weighting. */
  classWeighting: ClassWeighting;
  /** Task-weight random-search trials on dev (MTL with a dev set; 1 = equal weights). */
  taskWeightTrials: number;
  /** Fixed task weights w_m (default 1 each; ignored under a search). */
  taskWeights?: Record<string, number>;
  /**
   * Training engines (Web Workers, one core each; 1 = this thread). Part of the spec because
   * with ≥ 2 the rows of a batch get other dropout masks than in one engine (see
   * `model/parallel.ts`): the same seed gives the same result only with the same worker count.
   * The dev and test evaluations run on the same workers (with the scores of one engine). On
   * webgpu one engine runs the N workers' jobs (`workerPoolSize` in train.ts), to the same result.
   */
  workers?: number;
}

/** Everything that defines one trained model. */
export interface ModelSpec {
  /** Tasks: one for STL, several for MTL. */
  tasks: TaskSpec[];
  /** Utterance pooling. */
  pooling: Pooling;
  /** Raw audio (end-to-end) or frame features (OS+RNN). */
  input: "raw" | "features";
  /** The network. */
  network: NetworkSpec;
  /** The training settings. */
  training: TrainingSpec;
  /** Seed of initial weights, shuffling and dropout. */
  seed: number;
}

/** Frame features for `input: "features"` models (e.g. eGeMAPS LLDs). */
export interface FrameFeatures {
  /** Values per frame. */
  dim: number;
  /** Loads an utterance's frames (`frames × dim`, row-major). */
  load(u: Utterance): Promise<Float32Array>;
}

/** Where data come from and where progress goes. */
export interface TrainModelContext {
  /** Folder of this model's checkpoints, logs, model folder and outcome. */
  dir: string;
  /** Raw audio reader (share one AudioCache's reader across models). */
  read?: AudioReader;
  /** Raw-audio standardisation of the fold's training set (computed when absent). */
  standardisation?: Standardisation;
  /** Frame features, required for `input: "features"`. */
  features?: FrameFeatures;
  /** The backend and device really in use, recorded with the model. */
  backend: { backend: string; device: string };
  /** Training progress display. */
  progress?: ProgressMode;
  /** Receives log lines (trial results, summary). */
  log?: (line: string) => void;
  /** Resume from a checkpoint in `dir` (default true). */
  resume?: boolean;
  /** Stored with the model under `training` (system, corpus, fold, resolved experiment …). */
  describe?: Record<string, unknown>;
  /** Version of the code (e.g. its git commit), recorded in every epoch record. */
  code?: string;
  /**
   * The front-end's memory setting for this machine (`FrontEndOptions.checkpointAbove`, for the
   * model and its workers): batches of more windows than this recompute the front-end in the
   * backward pass instead of keeping its activations. Default the backend's (3,072 windows on
   * wasm and cpu, 8,192 on webgpu: 2 GiB of the paper model's activations); a GPU with the
   * memory keeps more (65,536 keeps 16 × 3,500 windows, 12 GB), which saves a second forward
   * pass of the front-end. Not part of the spec, like the backend: the results are the same up
   * to float rounding (the weight gradients are summed over other pieces).
   */
  checkpointAbove?: number;
}

/** A trained model and its scores. */
export interface TrainedModel {
  /** The model holding its selected (best-dev) weights. Dispose it when done. */
  model: EmotionModel;
  /** Dev evaluation of the selected weights. */
  dev: Evaluation;
  /** Test evaluation (empty tasks when the fold has no test set). */
  test: Evaluation;
  /** Epoch records of the selected training (the best trial's under a search). */
  history: EpochRecord[];
  /** Task weights of the selected model. */
  taskWeights: Record<string, number>;
  /** Whether this call only loaded a finished training from `dir`. */
  reused: boolean;
}

/** What `outcome.json` holds. */
interface Outcome {
  spec: ModelSpec;
  dev: Evaluation;
  test: Evaluation;
  history: EpochRecord[];
  taskWeights: Record<string, number>;
}

/** The tfjs-level model configuration of a spec. */
export function modelConfigOf(spec: ModelSpec, featureDim?: number): ModelConfig {
  const n = spec.network;
  if (spec.input === "features" && !featureDim) {
    throw new Error("modelConfigOf: feature input needs the feature dimension");
  }
  return defaultModelConfig(spec.tasks, {
    pooling: spec.pooling,
    seed: spec.seed,
    input: spec.input === "features"
      ? { kind: "features", dim: featureDim! }
      : { kind: "raw", windowSamples: n.window.samples, hopSamples: n.window.hop },
    conv: { ...n.conv },
    gru: { ...n.gru },
    dropoutKeep: n.dropoutKeep,
  });
}

/** Drops per-utterance probabilities: the statistics need predictions only. */
function slim(e: Evaluation): Evaluation {
  return {
    meanUar: e.meanUar,
    tasks: Object.fromEntries(
      Object.entries(e.tasks).map(([k, v]) => [k, { ...v, probabilities: [] }]),
    ),
  };
}

const uarOf = (e: Evaluation) =>
  Object.fromEntries(Object.entries(e.tasks).map(([k, v]) => [k, v.uar]));

/**
 * Trains (or, when `dir` holds a finished training of the same spec, loads) one model on one
 * fold and evaluates it on the fold's dev and test sets.
 * @throws when `dir` holds a finished training of a different spec, or a checkpoint of one
 */
export async function trainModel(
  spec: ModelSpec,
  fold: Fold,
  ctx: TrainModelContext,
): Promise<TrainedModel> {
  const outcomePath = join(ctx.dir, "outcome.json");
  const done = ctx.resume === false ? undefined : await readJsonIfExists<Outcome>(outcomePath);
  if (done) {
    if (JSON.stringify(done.spec) !== JSON.stringify(spec)) {
      throw new Error(
        `${outcomePath}: a finished training of another configuration; use another folder`,
      );
    }
    const { model } = await loadModel(join(ctx.dir, "model"));
    return { model, ...done, reused: true };
  }
  await Deno.mkdir(ctx.dir, { recursive: true });
  const trainSet = fold.train;
  if (trainSet.length === 0) throw new Error(`fold ${fold.name}: no training utterances`);

  // Input pipeline: standardised raw audio, or standardised frame features.
  let batchOptions: BatchOptions;
  let standardisation: Standardisation | { mean: number[]; std: number[] };
  let window: WindowSpec | undefined;
  if (spec.input === "features") {
    const f = ctx.features;
    if (!f) throw new Error("trainModel: feature input needs ctx.features");
    const frames = await Promise.all(trainSet.map((u) => f.load(u)));
    const stats = featureStatistics(frames, f.dim);
    batchOptions = { batchSize: spec.training.batchSize, features: { ...f, ...stats } };
    standardisation = { mean: Array.from(stats.mean), std: Array.from(stats.std) };
  } else {
    const s = ctx.standardisation ?? await computeStandardisation(trainSet, ctx.read);
    window = {
      sampleRate: TARGET_SAMPLE_RATE,
      windowSamples: spec.network.window.samples,
      hopSamples: spec.network.window.hop,
    };
    batchOptions = {
      batchSize: spec.training.batchSize,
      standardisation: s,
      read: ctx.read,
      window,
    };
    standardisation = s;
  }
  const config = modelConfigOf(spec, ctx.features?.dim);
  const t = spec.training;
  const workers = t.workers ?? 1;
  if (
    ctx.checkpointAbove !== undefined &&
    !(Number.isInteger(ctx.checkpointAbove) && ctx.checkpointAbove >= 1)
  ) {
    throw new Error(
      `trainModel: checkpointAbove must be a positive integer, got ${ctx.checkpointAbove}`,
    );
  }
  const frontEndOptions: FrontEndOptions = ctx.checkpointAbove === undefined
    ? {}
    : { checkpointAbove: ctx.checkpointAbove };
  // One pool for every training (all trials of a search) and the final dev/test evaluation,
  // with the memory settings of the models it serves (newModel's).
  const pool = workerPoolSize(workers) > 0
    ? await startWorkerPool(config, workers, { frontEndOptions })
    : undefined;
  const newModel = () => {
    const model = EmotionModel.create(config);
    model.frontEndOptions = frontEndOptions;
    return model;
  };
  try {
    return await trainAndEvaluate(spec, fold, ctx, {
      newModel,
      batchOptions,
      standardisation,
      window,
      workers,
      pool,
    });
  } finally {
    pool?.dispose();
  }
}

/** What {@link trainModel} has prepared for the training proper. */
interface Prepared {
  /** A new model of `config` with this machine's memory settings. */
  newModel: () => EmotionModel;
  batchOptions: BatchOptions;
  standardisation: Standardisation | { mean: number[]; std: number[] };
  window: WindowSpec | undefined;
  workers: number;
  pool: GradientWorkers | undefined;
}

/** Trains (with a search for MTL when asked), evaluates on dev and test, saves the model. */
async function trainAndEvaluate(
  spec: ModelSpec,
  fold: Fold,
  ctx: TrainModelContext,
  p: Prepared,
): Promise<TrainedModel> {
  const log = ctx.log ?? (() => {});
  const outcomePath = join(ctx.dir, "outcome.json");
  const { train: trainSet, dev: devSet, test: testSet } = fold;
  const { newModel, batchOptions, standardisation, window, pool } = p;
  const t = spec.training;
  const trainOptions: TrainOptions = {
    train: (_epoch, seed) =>
      batches(trainSet, spec.tasks, { ...batchOptions, shuffle: true, seed }),
    dev: devSet.length ? () => batches(devSet, spec.tasks, batchOptions) : undefined,
    epochs: t.epochs,
    patience: t.patience,
    learningRate: t.learningRate,
    l2: t.l2,
    classWeighting: t.classWeighting,
    classCounts: countClasses(trainSet, spec.tasks),
    taskWeights: t.taskWeights,
    seed: spec.seed,
    checkpointDir: ctx.dir,
    resume: ctx.resume,
    logPath: join(ctx.dir, "epochs.jsonl"),
    progress: ctx.progress,
    batchesPerEpoch: Math.ceil(trainSet.length / t.batchSize),
    backend: ctx.backend.backend,
    code: ctx.code,
    workers: p.workers,
    pool,
  };

  const t0 = performance.now();
  let model: EmotionModel;
  let history: EpochRecord[];
  let dev: Evaluation | undefined;
  let taskWeights = t.taskWeights ??
    Object.fromEntries(spec.tasks.map((x) => [x.name, 1]));
  if (spec.tasks.length > 1 && t.taskWeightTrials > 1 && devSet.length) {
    const search = await searchTaskWeights(newModel, trainOptions, {
      trials: t.taskWeightTrials,
      seed: spec.seed,
      checkpointDir: ctx.dir,
      logPath: join(ctx.dir, "trials.jsonl"),
      onTrial: (x) =>
        log(
          `trial ${x.trial}: weights ${JSON.stringify(x.weights)} → dev UAR ${
            (100 * x.devUar).toFixed(1)
          } %`,
        ),
    });
    model = search.model;
    history = search.result.history;
    dev = search.result.dev;
    taskWeights = search.best.weights;
  } else {
    model = newModel();
    const result = await train(model, trainOptions);
    history = result.history;
    dev = result.dev;
  }
  try {
    const on = { workers: pool };
    dev ??= await evaluate(model, batches(devSet, spec.tasks, batchOptions), spec.tasks, on);
    const test = await evaluate(model, batches(testSet, spec.tasks, batchOptions), spec.tasks, on);
    const best = history.findLast((h) => h.best) ?? history.at(-1);
    log(
      `${history.length} epochs in ${((performance.now() - t0) / 1000).toFixed(0)} s, best epoch ${
        best?.epoch ?? "–"
      }; ` +
        spec.tasks.map((x) =>
          `${x.name} dev ${(100 * dev!.tasks[x.name].uar).toFixed(1)} / test ${
            (100 * test.tasks[x.name].uar).toFixed(1)
          }`
        ).join(", "),
    );
    await saveModel(join(ctx.dir, "model"), model, {
      backend: ctx.backend.backend,
      device: ctx.backend.device,
      standardisation,
      ...(window ? { window } : {}),
      training: {
        ...ctx.describe,
        fold: fold.name,
        seed: spec.seed,
        bestEpoch: best?.epoch,
        taskWeights,
        spec,
        dev: uarOf(dev),
        test: uarOf(test),
      },
    });
    const outcome: Outcome = { spec, dev: slim(dev), test: slim(test), history, taskWeights };
    await writeJsonAtomic(outcomePath, outcome);
    return { model, dev, test, history, taskWeights, reused: false };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
