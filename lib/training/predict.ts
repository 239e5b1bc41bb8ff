/**
 * Prediction for one utterance with a trained model: class, probabilities and (for attention
 * pooling) the attention weight of every window with its start time. No Deno API is used, so
 * this also runs in a browser once a model is decoded.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { assembleRawBatch } from "../frames/mod.ts";
import type { Standardisation } from "../frames/types.ts";
import type { ModelJson } from "../model/persist.ts";
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
  const windows = batch.windows;
  const hop = spec.hopSamples;
  const mi = batchToInput(batch);
  const out = model.apply(mi, { training: false });
  try {
    const tasks: Record<string, TaskPrediction> = {};
    for (const t of meta.config.tasks) {
      const lg = out.logits[t.name];
      if (!lg) throw new Error(`model has no output for task ${t.name}`);
      const p = tf.softmax(lg);
      const probs = Array.from(await p.data());
      p.dispose();
      const index = argmax(probs);
      const pred: TaskPrediction = {
        class: t.classes[index],
        index,
        probabilities: Object.fromEntries(t.classes.map((c, i) => [c, probs[i]])),
      };
      const att = out.attention?.[t.name];
      if (att) {
        const w = Array.from(await att.data()).slice(0, windows);
        pred.attention = {
          windowStart: w.map((_, i) => (i * hop) / sampleRate),
          weight: w,
        };
      }
      tasks[t.name] = pred;
    }
    return { seconds: samples.length / sampleRate, windows, tasks };
  } finally {
    tf.dispose(Object.values(out.logits));
    tf.dispose(Object.values(out.attention ?? {}));
  }
}
