/**
 * Web Worker computing the loss and weight gradients of an {@link EmotionModel} for a slice
 * of a batch (data parallelism, see parallel.ts). Each worker has its own tfjs engine and
 * wasm instance, so two workers use two cores where tfjs's own wasm threads are unavailable.
 * @module
 */
/// <reference lib="deno.worker" />
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./backend.ts";
import { EmotionModel } from "./model.ts";
import type { BackendName, ModelConfig, ModelInput } from "./types.ts";

/** Messages the worker understands. */
export type WorkerRequest =
  | { type: "init"; config: ModelConfig; backend: BackendName }
  | {
    type: "step";
    weights: Float32Array[];
    input: ModelInput;
    labels: Record<string, Int32Array>;
    rowWeights: Record<string, Float32Array>;
    dropoutSeed: number;
  };

/** Messages the worker sends back. */
export type WorkerReply =
  | { type: "ready"; device: string }
  | { type: "grads"; loss: number; grads: Float32Array[] }
  | { type: "error"; message: string };

let model: EmotionModel | undefined;

/** Σ_task Σ_rows rowWeight · cross-entropy(logits, label); rows labelled −1 carry weight 0. */
function weightedLoss(
  logits: Record<string, tf.Tensor2D>,
  labels: Record<string, Int32Array>,
  rowWeights: Record<string, Float32Array>,
): tf.Scalar {
  const terms = Object.entries(logits).map(([name, lg]) => {
    const k = lg.shape[1];
    const y = tf.oneHot(
      tf.tensor1d(Int32Array.from(labels[name], (v) => Math.max(v, 0)), "int32"),
      k,
    );
    const nll = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(lg)), 1));
    return tf.sum(tf.mul(nll, tf.tensor1d(rowWeights[name])));
  });
  return tf.addN(terms) as tf.Scalar;
}

self.onmessage = async (e: MessageEvent<WorkerRequest>) => {
  const msg = e.data;
  try {
    if (msg.type === "init") {
      const info = await initBackend(msg.backend);
      model = EmotionModel.create(msg.config);
      self.postMessage({ type: "ready", device: info.device } satisfies WorkerReply);
      return;
    }
    if (!model) throw new Error("grad worker: 'step' before 'init'");
    const m = model;
    const specs = m.getWeights();
    const fresh = specs.map((w, i) => ({
      name: w.name,
      tensor: tf.tensor(msg.weights[i], w.tensor.shape),
    }));
    m.setWeights(fresh);
    tf.dispose(fresh.map((w) => w.tensor));
    const { value, grads } = tf.variableGrads(
      () =>
        weightedLoss(
          m.apply(msg.input, { training: true, dropoutSeed: msg.dropoutSeed }).logits,
          msg.labels,
          msg.rowWeights,
        ),
      m.trainableVariables(),
    );
    const loss = (await value.data())[0];
    const out = await Promise.all(
      m.trainableVariables().map(async (v) => (await grads[v.name].data()) as Float32Array),
    );
    tf.dispose([value, ...Object.values(grads)]);
    self.postMessage(
      { type: "grads", loss, grads: out } satisfies WorkerReply,
      out.map((a) => a.buffer as ArrayBuffer),
    );
  } catch (err) {
    self.postMessage({ type: "error", message: (err as Error).stack ?? String(err) });
  }
};
