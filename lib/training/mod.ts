/**
 * Training stage: the paper's objective, Adam, training with model selection and early stopping
 * on dev UAR (the metrics are defined here for that reason), resumable checkpoints, task-weight
 * random search, evaluation and prediction, and `trainModel`, the one path from a model
 * specification and a fold to a trained, saved model.
 *
 * ```ts
 * const model = EmotionModel.create(defaultModelConfig(tasks));
 * const result = await train(model, {
 *   train: (_epoch, seed) => batches(trainSet, tasks, { batchSize: 16, shuffle: true, seed, standardisation }),
 *   dev: () => batches(devSet, tasks, { batchSize: 16, standardisation }),
 *   epochs: 30, patience: 5, checkpointDir: "runs/x", logPath: "runs/x/train-log.jsonl",
 * });
 * ```
 * @module
 */
export { Adam, type AdamOptions, type AdamState } from "./adam.ts";
export {
  CHECKPOINT_FILE,
  type EpochBatches,
  type EpochRecord,
  restoreWeights,
  snapshotWeights,
  startWorkerPool,
  train,
  type TrainableModel,
  type TrainOptions,
  type TrainResult,
  type WorkerMemorySettings,
  workerPoolSize,
} from "./train.ts";
export {
  type ApplicableModel,
  argmax,
  type BatchIterable,
  batchToInput,
  evaluate,
  type EvaluateOptions,
  type Evaluation,
  meanFinite,
  type TaskEvaluation,
} from "./evaluate.ts";
export {
  balancedClassWeights,
  type ClassWeighting,
  classWeightsFor,
  countClasses,
  l2Penalty,
  objective,
  type ObjectiveOptions,
  type ObjectiveValue,
  rowWeights,
  taskCrossEntropy,
} from "./loss.ts";
export {
  sampleTaskWeights,
  type SearchOptions,
  type SearchResult,
  searchTaskWeights,
  type WeightTrial,
} from "./search.ts";
export {
  createProgress,
  type DisplayFunction,
  formatDuration,
  inJupyter,
  type ProgressMode,
  type ProgressOptions,
  type ProgressReporter,
  type ProgressStream,
  type ProgressUpdate,
} from "./progress.ts";
export {
  type PredictOptions,
  predictUtterance,
  predictUtterances,
  type TaskPrediction,
  type UtterancePrediction,
} from "./predict.ts";
export {
  accuracy,
  type ConfusionMatrix,
  confusionMatrix,
  perClassRecall,
  uar,
  uarFromConfusion,
} from "./metrics.ts";
export {
  type FrameFeatures,
  modelConfigOf,
  type ModelSpec,
  type NetworkSpec,
  type TrainedModel,
  type TrainingSpec,
  trainModel,
  type TrainModelContext,
} from "./train_model.ts";
export {
  decodeCheckpoint,
  encodeCheckpoint,
  readCheckpointFile,
  type StoredArray,
} from "./checkpoint.ts";

// Earlier stages' types that this stage's signatures use.
export type { Fold, TaskSpec, Utterance } from "../corpus/mod.ts";
export type { AudioReader, Batch, Standardisation, WindowSpec } from "../frames/mod.ts";
export type {
  ApplyOptions,
  ApplyResult,
  EmotionModel,
  FeatureStandardisation,
  FrontEndOptions,
  GradientWorkers,
  GradientWorkersOptions,
  InferenceResult,
  InputSpec,
  ModelConfig,
  ModelExtras,
  ModelInput,
  ModelJson,
  Pooling,
  WeightSpec,
} from "../model/mod.ts";
