/**
 * The benchmark scripts' training step: the paper model (three 3-class tasks, seed 7) on one
 * fixed random batch of `batch` utterances × `windows` windows, its objective's loss and
 * gradients. Shared by `bench:ab` (which builds it from two checkouts' code) and `profile`.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as ModelCode from "../lib/model/model.ts";
import type * as LossCode from "../lib/training/loss.ts";

/** The modules a step is built from: this checkout's or another's with the same API. */
export interface StepCode {
  model: Pick<typeof ModelCode, "EmotionModel" | "defaultModelConfig">;
  loss: Pick<typeof LossCode, "objective" | "classWeightsFor">;
}

/** One step's results: the loss and, when asked for, every gradient's values. */
export interface StepResult {
  loss: number;
  gradients: Float32Array[];
}

/**
 * The objective's value and gradients of a new paper model on a fixed batch (the same signal
 * for every call and every `code`, so two checkouts can be compared), without reading anything
 * back: on webgpu all of it is queued GPU work when the function returns. The caller disposes.
 */
export function paperObjective(
  code: StepCode,
  batch: number,
  windows: number,
): () => { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const tasks = ["arousal", "valence", "dominance"].map((name) => ({
    name,
    classes: ["low", "mid", "high"],
  }));
  const samples = (windows - 1) * 160 + 640;
  let state = 1;
  const rnd = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const input = {
    signal: Float32Array.from({ length: batch * samples }, rnd),
    batchSize: batch,
    windows,
    lengths: new Int32Array(batch).fill(windows),
  };
  const labels = Object.fromEntries(
    tasks.map((t) => [t.name, Int32Array.from({ length: batch }, (_, i) => i % 3)]),
  );
  const model = code.model.EmotionModel.create(code.model.defaultModelConfig(tasks, { seed: 7 }));
  const vars = model.trainableVariables();
  const classWeights = code.loss.classWeightsFor("none", tasks);
  return () =>
    tf.variableGrads(
      () =>
        code.loss.objective(model.apply(input, { training: true, dropoutSeed: 1 }).logits, labels, {
          classWeights,
          l2: 0,
          variables: vars,
        }).total,
      vars,
    );
}

/**
 * A training step of a new paper model on a fixed batch ({@link paperObjective}), its loss read
 * back. `readGradients` copies the gradients out.
 */
export function paperTrainingStep(
  code: StepCode,
  batch: number,
  windows: number,
  readGradients: boolean,
): () => StepResult {
  const objective = paperObjective(code, batch, windows);
  return () => {
    const { value, grads } = objective();
    const loss = value.dataSync()[0];
    const gradients = readGradients
      ? Object.values(grads).map((t) => t.dataSync().slice() as Float32Array)
      : [];
    value.dispose();
    tf.dispose(Object.values(grads));
    return { loss, gradients };
  };
}
