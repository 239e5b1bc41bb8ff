/**
 * End-to-end speech emotion research in TypeScript: an implementation of Zhang, Wu & Schuller,
 * "Attention-augmented end-to-end multi-task learning for emotion prediction from speech"
 * (ICASSP 2019), with its baselines, statistics and figures.
 *
 * The pipeline, one stage per folder under `lib/`:
 * audio → corpus → frames → model → training → evaluation → report, plus the eGeMAPS features
 * and baselines, and the `experiment` stage that runs Table 1.
 *
 * ```ts
 * import { initBackend, loadCorpus, presetFor, runExperiment } from "./mod.ts";
 * await initBackend("auto");
 * const corpus = await loadCorpus({ corpus: "example" });
 * ```
 * @module
 */

// audio
export {
  type AudioData,
  AudioFileError,
  decodeAudio,
  encodeWav16,
  readWav,
  type ReadWavOptions,
  resample,
  TARGET_SAMPLE_RATE,
} from "./lib/audio/mod.ts";

// corpus
export {
  type Corpus,
  type CorpusKind,
  type CorpusReport,
  corpusReport,
  discretiseRating,
  EMODB_DEFAULT_LEVELS,
  EMODB_DEFAULT_SPLIT,
  EMODB_EMOTIONS,
  EMODB_TASKS,
  EXAMPLE_DATA_DIR,
  fixedSplit,
  type Fold,
  formatCorpusReport,
  IEMOCAP_TASKS,
  iemocapSpeaker,
  leaveOneSpeakerOut,
  type LevelTable,
  loadCorpus,
  type LoadCorpusOptions,
  PAPER_SESSION_SPLIT,
  parseEmoEvaluation,
  parseSessionSplit,
  partition,
  selectTasks,
  type SessionSplit,
  type SkippedItem,
  speakersOf,
  type TaskSpec,
  type Utterance,
  validateAudio,
} from "./lib/corpus/mod.ts";

// frames
export {
  AudioCache,
  type Batch,
  batches,
  type BatchOptions,
  computeStandardisation,
  featureStatistics,
  frameSignal,
  PAPER_WINDOWS,
  planBatches,
  type Standardisation,
  standardise,
  windowCount,
  type WindowSpec,
  windowSpec,
} from "./lib/frames/mod.ts";

// example corpus
export {
  EXAMPLE_PROSODY,
  generateExampleSession,
  synthesizeUtterance,
  writeExampleCorpus,
} from "./lib/corpus/example.ts";

// features
export {
  EGEMAPS_FUNCTIONAL_NAMES,
  EGEMAPS_LLD_NAMES,
  type EgemapsOptions,
  type EgemapsResult,
  extractEgemaps,
} from "./lib/features/egemaps/mod.ts";

// model
export {
  BACKEND_NAMES,
  type BackendInfo,
  initBackend,
  parseBackendName,
} from "./lib/model/backend.ts";
export { defaultModelConfig, EmotionModel } from "./lib/model/model.ts";
export { loadModel, type ModelJson, saveModel } from "./lib/model/persist.ts";
export type { BackendName, ModelConfig, ModelInput, Pooling } from "./lib/model/types.ts";

// training
export { evaluate, type Evaluation, type TaskEvaluation } from "./lib/training/evaluate.ts";
export { predictUtterance, type UtterancePrediction } from "./lib/training/predict.ts";
export { createProgress, type ProgressMode } from "./lib/training/progress.ts";
export { searchTaskWeights, type WeightTrial } from "./lib/training/search.ts";
export {
  type EpochRecord,
  train,
  type TrainOptions,
  type TrainResult,
} from "./lib/training/train.ts";

// evaluation
export {
  accuracy,
  type ConfusionMatrix,
  confusionMatrix,
  perClassRecall,
  uar,
} from "./lib/evaluation/metrics.ts";
export { meanStd, pairedBootstrap, zTestOneTailed } from "./lib/evaluation/stats.ts";

// baselines
export * from "./lib/baselines/mod.ts";

// experiment (Table 1)
export * from "./lib/experiment/mod.ts";

// report
export {
  attentionFigureSpec,
  classDistributionSpec,
  confusionMatrixSpec,
  renderSvg,
  svgToPng,
  trainingCurvesSpec,
  type VegaLiteSpec,
} from "./lib/report/charts.ts";
