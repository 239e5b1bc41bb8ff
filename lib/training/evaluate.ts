/**
 * Evaluation of a model on a stream of batches: per task the predictions, class probabilities,
 * UAR, accuracy and confusion matrix (labels −1 are predicted but not scored). With a worker
 * pool (`model/parallel.ts`) each batch's rows are split between the workers' engines, one core
 * each, and the next batch is read while they compute; the probabilities are the single
 * engine's (inference has no dropout), so the scores are too.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TaskSpec } from "../corpus/types.ts";
import type { Batch } from "../frames/types.ts";
import type { GradientWorkers } from "../model/parallel.ts";
import type { ModelConfig, ModelInput } from "../model/types.ts";
import { accuracy, type ConfusionMatrix, confusionMatrix, uarFromConfusion } from "./metrics.ts";

/** Batches, synchronous or asynchronous. */
export type BatchIterable = Iterable<Batch> | AsyncIterable<Batch>;

/** The part of a model evaluation and training need (EmotionModel satisfies it). */
export interface ApplicableModel {
  /** Forward pass. */
  apply(
    input: ModelInput,
    opts: { training: boolean; dropoutSeed?: number; dropoutJobs?: number },
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

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /**
   * Worker pool built for this model's configuration (e.g. the one `train()` uses; undefined:
   * this thread's engine). Each batch's rows are split between its workers, which get the
   * model's current weights; needs a model with `config` and `getWeights()` (an EmotionModel).
   * The probabilities equal the single engine's (see model/parallel.ts). A failing worker ends
   * the call with its error and leaves the pool unusable.
   */
  workers?: GradientWorkers;
}

/** What evaluation with workers needs besides `apply` (EmotionModel has it). */
interface WeightedModel {
  readonly config: ModelConfig;
  getWeights(): { name: string; tensor: tf.Tensor }[];
}

/** Runs the model (inference mode) over `batches` and scores every task. */
export async function evaluate(
  model: ApplicableModel,
  batches: BatchIterable,
  tasks: TaskSpec[],
  opts: EvaluateOptions = {},
): Promise<Evaluation> {
  const acc = new Map<string, { ids: string[]; truth: number[]; probs: number[][] }>();
  for (const t of tasks) acc.set(t.name, { ids: [], truth: [], probs: [] });
  /**
   * Appends one batch's rows; the task's probabilities of row i are `data`'s `classes` values
   * from `i · stride + col` (by default a `rows × classes` array of the task's own).
   */
  const add = (batch: Batch, t: TaskSpec, data: Float32Array, col = 0, stride?: number) => {
    const k = t.classes.length, step = stride ?? k;
    const a = acc.get(t.name)!;
    const labels = batch.labels[t.name];
    for (let i = 0; i < batch.batchSize; i++) {
      a.ids.push(batch.ids[i]);
      a.truth.push(labels ? labels[i] : -1);
      a.probs.push(Array.from(data.subarray(i * step + col, i * step + col + k)));
    }
  };
  if (opts.workers) {
    await evaluateOnWorkers(model, opts.workers, batches, tasks, add);
  } else {
    // Every task's probabilities of a batch come back in one transfer, read while the next
    // batch is issued, so that on a GPU the host's work on one batch overlaps the device's on
    // the other (as in training's step).
    const total = tasks.reduce((n, t) => n + t.classes.length, 0);
    const take = (batch: Batch, data: Float32Array) => {
      let col = 0;
      for (const t of tasks) {
        add(batch, t, data, col, total);
        col += t.classes.length;
      }
    };
    let pending: { batch: Batch; data: Promise<Float32Array> } | undefined;
    for await (const batch of batches) {
      const out = model.apply(batchToInput(batch), { training: false });
      let probs: tf.Tensor;
      try {
        probs = tf.tidy(() =>
          tf.concat(
            tasks.map((t) => {
              const lg = out.logits[t.name];
              if (!lg) throw new Error(`evaluate: model has no output for task ${t.name}`);
              return tf.softmax(lg);
            }),
            1,
          )
        );
      } finally {
        for (const x of Object.values(out.logits)) x.dispose();
        for (const x of Object.values(out.attention ?? {})) x.dispose();
      }
      const data = (probs.data() as Promise<Float32Array>).finally(() => probs.dispose());
      data.catch(() => {}); // awaited below, in order; never left unhandled meanwhile
      if (pending) take(pending.batch, await pending.data);
      pending = { batch, data };
    }
    if (pending) take(pending.batch, await pending.data);
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

/**
 * The batches' probabilities from the pool's workers, one batch at a time, with the next batch
 * read (audio decoded, standardised) on this thread while the workers compute the current one.
 */
async function evaluateOnWorkers(
  model: ApplicableModel,
  pool: GradientWorkers,
  batches: BatchIterable,
  tasks: TaskSpec[],
  add: (batch: Batch, t: TaskSpec, data: Float32Array) => void,
): Promise<void> {
  const m = model as ApplicableModel & Partial<WeightedModel>;
  if (!m.config || typeof m.getWeights !== "function") {
    throw new Error("evaluate: workers need a model with config and getWeights() (EmotionModel)");
  }
  const config = m.config;
  for (const t of tasks) {
    if (!config.tasks.some((c) => c.name === t.name)) {
      throw new Error(`evaluate: model has no output for task ${t.name}`);
    }
  }
  // Read once: the weights do not change during an evaluation.
  const weights = await Promise.all(
    m.getWeights().map(async (w) => (await w.tensor.data()) as Float32Array),
  );
  const iter = (async function* () {
    yield* batches;
  })();
  let next = iter.next();
  try {
    while (true) {
      const r = await next;
      if (r.done) break;
      const batch = r.value;
      // infer() has posted the rows to the workers when it returns; reading the next batch
      // then overlaps their computation.
      const pending = pool.infer(config, weights, batchToInput(batch));
      next = iter.next();
      // A failing batch read is reported when awaited above, not as an unhandled rejection
      // should the workers fail first.
      next.catch(() => {});
      const out = await pending;
      for (const t of tasks) add(batch, t, out.probabilities[t.name]);
    }
  } finally {
    await iter.return(undefined);
  }
}

/** Index of the largest value (first on ties). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}
