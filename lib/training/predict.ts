/**
 * Prediction for utterances with a trained model: class, probabilities and (for attention
 * pooling) the attention weight of every window with its start time. No Deno API is used, so
 * this also runs in a browser once a model is decoded. Several utterances can be spread over a
 * worker pool (`model/parallel.ts`), one utterance per job; one utterance always runs on one
 * engine, since the GRU reads its windows in sequence.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { assembleRawBatch } from "../frames/mod.ts";
import type { Batch, Standardisation } from "../frames/types.ts";
import type { GradientWorkers } from "../model/parallel.ts";
import type { ModelJson } from "../model/persist.ts";
import type { ModelConfig } from "../model/types.ts";
import { type ApplicableModel, argmax, batchToInput } from "./evaluate.ts";

/** Prediction of one task for one utterance. */
export interface TaskPrediction {
  /** Predicted class name. */
  class: string;
  /** Predicted class index. */
  index: number;
  /** Probability per class name. */
  probabilities: Record<string, number>;
  /** Attention over windows (attention pooling only). */
  attention?: { windowStart: number[]; weight: number[] };
}

/** Prediction of all tasks for one utterance. */
export interface UtterancePrediction {
  /** Duration in seconds. */
  seconds: number;
  /** Windows the utterance was split into. */
  windows: number;
  /** Per task. */
  tasks: Record<string, TaskPrediction>;
}

/** An utterance framed and standardised as the model reads it. */
interface Prepared {
  batch: Batch;
  seconds: number;
  sampleRate: number;
  hop: number;
}

/** Frames one utterance with the training batches' code (or says why the model cannot). */
function prepare(meta: ModelJson, samples: Float32Array): Prepared {
  const input = meta.config.input;
  if (input.kind !== "raw") {
    throw new Error(
      "this model reads frame-level features, not audio; predict from wav supports raw-input models",
    );
  }
  const std = meta.standardisation as Standardisation | undefined;
  if (!std || typeof std.mean !== "number") {
    throw new Error("model.json has no raw-signal standardisation statistics (mean, std)");
  }
  if (!(std.std > 0) || !Number.isFinite(std.mean)) {
    throw new Error(`model.json: unusable standardisation (mean ${std.mean}, std ${std.std})`);
  }
  const sampleRate = meta.window?.sampleRate ?? 16000;
  const spec = { sampleRate, windowSamples: input.windowSamples, hopSamples: input.hopSamples };
  // The same framing and standardisation code as the training batches.
  const batch = assembleRawBatch(
    [{ id: "input", path: "input", speaker: "", labels: {} }],
    [samples],
    meta.config.tasks,
    std,
    spec,
  );
  return { batch, seconds: samples.length / sampleRate, sampleRate, hop: spec.hopSamples };
}

/** The prediction from one row's probabilities and attention (whole arrays of that row). */
function toPrediction(
  meta: ModelJson,
  p: Prepared,
  probabilities: Record<string, ArrayLike<number>>,
  attention: Record<string, ArrayLike<number>> | undefined,
): UtterancePrediction {
  const windows = p.batch.windows;
  const tasks: Record<string, TaskPrediction> = {};
  for (const t of meta.config.tasks) {
    const probs = probabilities[t.name];
    if (!probs) throw new Error(`model has no output for task ${t.name}`);
    const index = argmax(probs);
    const pred: TaskPrediction = {
      class: t.classes[index],
      index,
      probabilities: Object.fromEntries(t.classes.map((c, i) => [c, probs[i]])),
    };
    const att = attention?.[t.name];
    if (att) {
      const w = Array.from(att).slice(0, windows);
      pred.attention = {
        windowStart: w.map((_, i) => (i * p.hop) / p.sampleRate),
        weight: w,
      };
    }
    tasks[t.name] = pred;
  }
  return { seconds: p.seconds, windows, tasks };
}

/**
 * Predicts every task of a raw-input model for one utterance.
 * @param samples mono samples at the model's sample rate, in [-1, 1] (not yet standardised)
 * @param meta the model's model.json (standardisation, window geometry, tasks)
 */
export async function predictUtterance(
  model: ApplicableModel,
  meta: ModelJson,
  samples: Float32Array,
): Promise<UtterancePrediction> {
  const p = prepare(meta, samples);
  const out = model.apply(batchToInput(p.batch), { training: false });
  try {
    const probabilities: Record<string, number[]> = {};
    const attention: Record<string, number[]> = {};
    for (const t of meta.config.tasks) {
      const lg = out.logits[t.name];
      if (!lg) throw new Error(`model has no output for task ${t.name}`);
      const sm = tf.softmax(lg);
      probabilities[t.name] = Array.from(await sm.data());
      sm.dispose();
      const att = out.attention?.[t.name];
      if (att) attention[t.name] = Array.from(await att.data());
    }
    return toPrediction(meta, p, probabilities, out.attention ? attention : undefined);
  } finally {
    tf.dispose(Object.values(out.logits));
    tf.dispose(Object.values(out.attention ?? {}));
  }
}

/** Options of {@link predictUtterances}. */
export interface PredictOptions {
  /**
   * Worker pool built for `meta.config` (undefined: this thread's engine). Each utterance is
   * one job, computed whole by one worker, so every prediction is exactly what
   * {@link predictUtterance} gives; needs a model with `getWeights()` (an EmotionModel).
   */
  workers?: GradientWorkers;
}

/**
 * Predicts every task of a raw-input model for several utterances (results in their order),
 * on this thread's engine or spread over a worker pool.
 * @param utterances per utterance, mono samples at the model's sample rate, in [-1, 1]
 * @param meta the model's model.json (standardisation, window geometry, tasks)
 */
export async function predictUtterances(
  model: ApplicableModel,
  meta: ModelJson,
  utterances: Float32Array[],
  opts: PredictOptions = {},
): Promise<UtterancePrediction[]> {
  const pool = opts.workers;
  if (!pool) {
    const out: UtterancePrediction[] = [];
    for (const samples of utterances) out.push(await predictUtterance(model, meta, samples));
    return out;
  }
  const m = model as ApplicableModel & {
    getWeights?: () => { name: string; tensor: tf.Tensor }[];
  };
  if (typeof m.getWeights !== "function") {
    throw new Error("predictUtterances: workers need a model with getWeights() (EmotionModel)");
  }
  const prepared = utterances.map((s) => prepare(meta, s));
  if (prepared.length === 0) return [];
  const weights = await Promise.all(
    m.getWeights().map(async (w) => (await w.tensor.data()) as Float32Array),
  );
  const config: ModelConfig = meta.config;
  const outputs = await pool.inferEach(config, weights, prepared.map((p) => batchToInput(p.batch)));
  return prepared.map((p, i) =>
    toPrediction(meta, p, outputs[i].probabilities, outputs[i].attention)
  );
}
