/**
 * Web Worker computing, for slices of a batch (data parallelism, see parallel.ts), either the
 * loss and weight gradients of an {@link EmotionModel} (training) or its inference-mode class
 * probabilities and attention (evaluation, prediction). Each worker has its own tfjs engine and
 * wasm instance, so two workers use two cores where tfjs's own wasm threads are unavailable.
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./backend.ts";
import type { FrontEndOptions } from "./frontend.ts";
import { EmotionModel } from "./model.ts";
import type { BackendName, ModelConfig, ModelInput } from "./types.ts";

/** One sub-batch to differentiate: the rows of one row group or one worker's share. */
export interface GradJob {
  /** The rows, trimmed to their longest row (`sliceRows`). */
  input: ModelInput;
  /** Labels per task (−1 = missing). */
  labels: Record<string, Int32Array>;
  /** Per task, the weight of each row's cross-entropy (normalised over the whole batch). */
  rowWeights: Record<string, Float32Array>;
  /** Dropout seed passed to `apply` for these rows. */
  dropoutSeed: number;
}

/** Inference-mode outputs of one sub-batch, as one engine's forward pass gives them. */
export interface InferenceResult {
  /** Per task, the softmax of the logits, `rows × classes` row-major. */
  probabilities: Record<string, Float32Array>;
  /** Per task (attention pooling only), the weights `rows × windows`, 0 on padding. */
  attention?: Record<string, Float32Array>;
}

/** Messages the worker understands. */
export type WorkerRequest =
  | {
    type: "init";
    config: ModelConfig;
    backend: BackendName;
    frontEndOptions: FrontEndOptions;
    maxWindowsPerPass: number;
  }
  | {
    type: "step";
    /** Current weights in `getWeights()` order, set before any job runs. */
    weights: Float32Array[];
    jobs: GradJob[];
    taskWeights: Record<string, number>;
  }
  | {
    type: "infer";
    /** Current weights in `getWeights()` order, set before any input runs. */
    weights: Float32Array[];
    /** Sub-batches, each run whole in inference mode (no dropout). */
    inputs: ModelInput[];
  };

/** Messages the worker sends back. */
export type WorkerReply =
  | { type: "ready"; device: string; layout: { name: string; shape: number[] }[] }
  | {
    type: "grads";
    loss: number;
    perTask: Record<string, number>;
    grads: Float32Array[];
    connected: boolean[];
  }
  | { type: "outputs"; outputs: InferenceResult[] }
  | { type: "error"; message: string };

let model: EmotionModel | undefined;

/**
 * Checks what the main thread does not (it never runs the loss itself): a label outside a
 * task's classes would otherwise silently become a zero one-hot row.
 */
function checkJob(job: GradJob, config: ModelConfig): void {
  const rows = job.input.batchSize;
  for (const t of config.tasks) {
    const y = job.labels[t.name], w = job.rowWeights[t.name];
    if (!y || !w) throw new Error(`grad worker: batch has no labels for task ${t.name}`);
    if (y.length !== rows || w.length !== rows) {
      throw new Error(
        `grad worker: task ${t.name} has ${y.length} labels and ${w.length} row weights ` +
          `for ${rows} rows`,
      );
    }
    for (const v of y) {
      if (!Number.isInteger(v) || v >= t.classes.length || v < -1) {
        throw new Error(
          `grad worker: label ${v} of task ${t.name} is out of range for ` +
            `${t.classes.length} classes`,
        );
      }
    }
  }
}

/** Per task, Σ_rows rowWeight · cross-entropy(logits, label); rows labelled −1 carry weight 0. */
function taskLosses(
  logits: Record<string, tf.Tensor2D>,
  labels: Record<string, Int32Array>,
  rowWeights: Record<string, Float32Array>,
): Record<string, tf.Scalar> {
  // The same ops as taskCrossEntropy in loss.ts, so values agree to the last bit where the rows do.
  return Object.fromEntries(
    Object.entries(logits).map(([name, lg]) => {
      const k = lg.shape[1];
      const y = tf.oneHot(
        tf.tensor1d(Int32Array.from(labels[name], (v) => Math.max(v, 0)), "int32"),
        k,
      );
      const nll = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(lg)), 1));
      return [name, tf.sum(tf.mul(nll, tf.tensor1d(rowWeights[name]))) as tf.Scalar];
    }),
  );
}

/** Loss parts and gradients of one job, gradients added into `acc`. */
async function runJob(
  m: EmotionModel,
  job: GradJob,
  taskWeights: Record<string, number>,
  acc: { grads: Float32Array[]; connected: boolean[]; perTask: Record<string, number> },
): Promise<number> {
  checkJob(job, m.config);
  const vars = m.trainableVariables();
  let kept: Record<string, tf.Scalar> = {};
  const { value, grads } = tf.variableGrads(() => {
    const per = taskLosses(
      m.apply(job.input, { training: true, dropoutSeed: job.dropoutSeed }).logits,
      job.labels,
      job.rowWeights,
    );
    kept = Object.fromEntries(Object.entries(per).map(([k, v]) => [k, tf.keep(v)]));
    return tf.addN(
      Object.entries(per).map(([k, v]) => tf.mul(v, taskWeights[k] ?? 1)),
    ) as tf.Scalar;
  }, vars);
  try {
    for (const [k, v] of Object.entries(kept)) {
      acc.perTask[k] = (acc.perTask[k] ?? 0) + (await v.data())[0];
    }
    for (let i = 0; i < vars.length; i++) {
      const g = grads[vars[i].name];
      if (!g) continue;
      acc.connected[i] = true;
      const d = await g.data();
      const a = acc.grads[i];
      for (let j = 0; j < a.length; j++) a[j] += d[j];
    }
    return (await value.data())[0];
  } finally {
    tf.dispose([value, ...Object.values(grads), ...Object.values(kept)]);
  }
}

/** Inference-mode outputs of one sub-batch (softmax here, as evaluate() does in one engine). */
async function infer(m: EmotionModel, input: ModelInput): Promise<InferenceResult> {
  const out = m.apply(input, { training: false });
  try {
    const probabilities: Record<string, Float32Array> = {};
    for (const t of m.config.tasks) {
      const p = tf.softmax(out.logits[t.name]);
      try {
        // Own copies: a backend may hand out its storage, and these buffers are transferred.
        probabilities[t.name] = new Float32Array(await p.data());
      } finally {
        p.dispose();
      }
    }
    if (!out.attention) return { probabilities };
    const attention: Record<string, Float32Array> = {};
    for (const [k, a] of Object.entries(out.attention)) {
      attention[k] = new Float32Array(await a.data());
    }
    return { probabilities, attention };
  } finally {
    tf.dispose([...Object.values(out.logits), ...Object.values(out.attention ?? {})]);
  }
}

/** Copies `weights` (in `getWeights()` order) into the worker's model. */
function loadWeights(m: EmotionModel, weights: Float32Array[]): void {
  const specs = m.getWeights();
  if (weights.length !== specs.length) {
    throw new Error(`grad worker: ${weights.length} weights for ${specs.length}`);
  }
  const fresh = specs.map((w, i) => ({
    name: w.name,
    tensor: tf.tensor(weights[i], w.tensor.shape),
  }));
  try {
    m.setWeights(fresh);
  } finally {
    tf.dispose(fresh.map((w) => w.tensor));
  }
}

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const msg = e.data;
  try {
    if (msg.type === "init") {
      const info = await initBackend(msg.backend);
      model = EmotionModel.create(msg.config);
      // Same memory settings as the model being trained, so each job runs as it would there.
      model.frontEndOptions = msg.frontEndOptions;
      model.maxWindowsPerPass = msg.maxWindowsPerPass;
      const layout = model.getWeights().map((w) => ({
        name: w.name,
        shape: w.tensor.shape.slice(),
      }));
      self.postMessage({ type: "ready", device: info.device, layout } satisfies WorkerReply);
      return;
    }
    if (!model) throw new Error(`grad worker: '${msg.type}' before 'init'`);
    const m = model;
    loadWeights(m, msg.weights);
    if (msg.type === "infer") {
      const outputs: InferenceResult[] = [];
      for (const input of msg.inputs) outputs.push(await infer(m, input));
      const buffers = outputs.flatMap((o) =>
        [...Object.values(o.probabilities), ...Object.values(o.attention ?? {})].map((a) =>
          a.buffer as ArrayBuffer
        )
      );
      self.postMessage({ type: "outputs", outputs } satisfies WorkerReply, buffers);
      return;
    }
    const specs = m.getWeights();
    const acc = {
      grads: specs.map((w) => new Float32Array(w.tensor.size)),
      connected: specs.map(() => false),
      perTask: {} as Record<string, number>,
    };
    let loss = 0;
    for (const job of msg.jobs) loss += await runJob(m, job, msg.taskWeights, acc);
    self.postMessage(
      {
        type: "grads",
        loss,
        perTask: acc.perTask,
        grads: acc.grads,
        connected: acc.connected,
      } satisfies WorkerReply,
      acc.grads.map((a) => a.buffer as ArrayBuffer),
    );
  } catch (err) {
    self.postMessage(
      { type: "error", message: (err as Error).stack ?? String(err) } satisfies WorkerReply,
    );
  }
};
