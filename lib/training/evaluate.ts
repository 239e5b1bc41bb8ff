/**
 * Evaluation of a model on a stream of batches: per task the predictions, class probabilities,
 * UAR, accuracy and confusion matrix (labels −1 are predicted but not scored).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TaskSpec } from "../corpus/types.ts";
import type { Batch } from "../frames/types.ts";
import type { ModelInput } from "../model/types.ts";
import { accuracy, type ConfusionMatrix, confusionMatrix, uarFromConfusion } from "./metrics.ts";

/** Batches, synchronous or asynchronous. */
export type BatchIterable = Iterable<Batch> | AsyncIterable<Batch>;

/** The part of a model evaluation and training need (EmotionModel satisfies it). */
export interface ApplicableModel {
  /** Forward pass. */
  apply(
    input: ModelInput,
    opts: { training: boolean; dropoutSeed?: number },
  ): { logits: Record<string, tf.Tensor2D>; attention?: Record<string, tf.Tensor2D> };
}

/** Results of one task on one evaluation set. */
export interface TaskEvaluation {
  /** Task name. */
  task: string;
  /** Class names in index order. */
  classes: string[];
  /** Utterance ids in evaluation order. */
  ids: string[];
  /** True labels (−1 = unlabelled, not scored). */
  truth: number[];
  /** Predicted class per utterance (argmax of the probabilities). */
  predictions: number[];
  /** Class probabilities per utterance. */
  probabilities: number[][];
  /** Unweighted average recall over labelled utterances (NaN when none). */
  uar: number;
  /** Accuracy over labelled utterances. */
  accuracy: number;
  /** `confusion[true][predicted]`. */
  confusion: ConfusionMatrix;
}

/** Evaluation of all tasks; `meanUar` averages the tasks' UARs (ignoring NaN ones). */
export interface Evaluation {
  /** Per task. */
  tasks: Record<string, TaskEvaluation>;
  /** Mean UAR over tasks, the model-selection criterion for MTL. */
  meanUar: number;
}

/** Converts a frames `Batch` to the model's input form. */
export function batchToInput(batch: Batch): ModelInput {
  if (!batch.signal && !batch.features) {
    throw new Error(`batch of ${batch.ids.join(", ")} has neither signal nor features`);
  }
  return {
    signal: batch.signal,
    features: batch.features,
    batchSize: batch.batchSize,
    windows: batch.windows,
    lengths: batch.lengths,
  };
}

/** Mean of the finite values (NaN when there is none). */
export function meanFinite(values: number[]): number {
  const ok = values.filter((v) => Number.isFinite(v));
  return ok.length === 0 ? NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
}

/** Runs the model (inference mode) over `batches` and scores every task. */
export async function evaluate(
  model: ApplicableModel,
  batches: BatchIterable,
  tasks: TaskSpec[],
): Promise<Evaluation> {
  const acc = new Map<string, { ids: string[]; truth: number[]; probs: number[][] }>();
  for (const t of tasks) acc.set(t.name, { ids: [], truth: [], probs: [] });
  for await (const batch of batches) {
    const out = model.apply(batchToInput(batch), { training: false });
    try {
      for (const t of tasks) {
        const lg = out.logits[t.name];
        if (!lg) throw new Error(`evaluate: model has no output for task ${t.name}`);
        const p = tf.softmax(lg);
        const data = await p.data();
        p.dispose();
        const k = t.classes.length;
        const a = acc.get(t.name)!;
        const labels = batch.labels[t.name];
        for (let i = 0; i < batch.batchSize; i++) {
          a.ids.push(batch.ids[i]);
          a.truth.push(labels ? labels[i] : -1);
          a.probs.push(Array.from(data.subarray(i * k, (i + 1) * k)));
        }
      }
    } finally {
      for (const x of Object.values(out.logits)) x.dispose();
      for (const x of Object.values(out.attention ?? {})) x.dispose();
    }
  }
  const result: Record<string, TaskEvaluation> = {};
  for (const t of tasks) {
    const a = acc.get(t.name)!;
    const predictions = a.probs.map(argmax);
    const confusion = confusionMatrix(a.truth, predictions, t.classes.length);
    result[t.name] = {
      task: t.name,
      classes: t.classes,
      ids: a.ids,
      truth: a.truth,
      predictions,
      probabilities: a.probs,
      uar: uarFromConfusion(confusion),
      accuracy: accuracy(a.truth, predictions),
      confusion,
    };
  }
  return { tasks: result, meanUar: meanFinite(Object.values(result).map((r) => r.uar)) };
}

/** Index of the largest value (first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
