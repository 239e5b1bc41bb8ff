/**
 * End-to-end speech emotion research in TypeScript: an implementation of Zhang, Wu & Schuller,
 * "Attention-augmented end-to-end multi-task learning for emotion prediction from speech"
 * (ICASSP 2019), with its baselines, statistics and figures.
 *
 * The pipeline, one stage per folder under `lib/`, each importing only from the ones before it:
 * audio → corpus → frames → features (eGeMAPS) → model → training → evaluation → baselines →
 * report → experiment (Table 1), with `util` (PRNG, atomic writes, statistics, CLI) below all.
 * This module re-exports each stage's `mod.ts`; the synthetic example-corpus generator is not
 * public API (`scripts/make-example-data.ts` uses it).
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
  type WavEncoding,
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
  type EmodbEmotion,
  type EmoEvaluationEntry,
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
  type ParseProblem,
  parseSessionSplit,
  partition,
  type PartitionReport,
  selectTasks,
  sessionFolds,
  sessionOf,
  type SessionSplit,
  type SkippedItem,
  speakersOf,
  type TaskSpec,
  type Utterance,
  validateAudio,
  type ValidateOptions,
} from "./lib/corpus/mod.ts";

// frames
export {
  AudioCache,
  type AudioReader,
  type Batch,
  batches,
  type BatchOptions,
  computeStandardisation,
  type FeatureSource,
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

// features
export {
  EGEMAPS_FUNCTIONAL_NAMES,
  EGEMAPS_LLD_NAMES,
  type EgemapsFunctionals,
  type EgemapsLld,
  type EgemapsOptions,
  EgemapsPool,
  type EgemapsResult,
  extractEgemaps,
} from "./lib/features/egemaps/mod.ts";

// model
export {
  type AdapterDescription,
  type ApplyOptions,
  type ApplyResult,
  BACKEND_NAMES,
  type BackendInfo,
  type BackendName,
  defaultModelConfig,
  EmotionModel,
  type FeatureStandardisation,
  type FrontEndOptions,
  type GradientsOptions,
  GradientWorkers,
  type GradientWorkersOptions,
  type InferenceResult,
  initBackend,
  type InputSpec,
  loadModel,
  type ModelConfig,
  type ModelExtras,
  type ModelInput,
  type ModelJson,
  type ParallelResult,
  parseBackendName,
  type Pooling,
  saveModel,
  type WeightLayout,
  type WeightSpec,
} from "./lib/model/mod.ts";

// training
export {
  type ApplicableModel,
  type BatchIterable,
  type ClassWeighting,
  createProgress,
  type DisplayFunction,
  type EpochBatches,
  type EpochRecord,
  evaluate,
  type EvaluateOptions,
  type Evaluation,
  type ModelSpec,
  type NetworkSpec,
  type PredictOptions,
  predictUtterance,
  predictUtterances,
  type ProgressMode,
  type ProgressOptions,
  type ProgressReporter,
  type ProgressStream,
  type ProgressUpdate,
  type SearchOptions,
  type SearchResult,
  searchTaskWeights,
  startWorkerPool,
  type TaskEvaluation,
  type TaskPrediction,
  train,
  type TrainableModel,
  type TrainingSpec,
  type TrainOptions,
  type TrainResult,
  type UtterancePrediction,
  type WeightTrial,
  type WorkerMemorySettings,
  workerPoolSize,
} from "./lib/training/mod.ts";

// evaluation
export {
  accuracy,
  type BootstrapResult,
  type ConfusionMatrix,
  confusionMatrix,
  meanStd,
  pairedBootstrap,
  perClassRecall,
  uar,
  zTestOneTailed,
  type ZTestResult,
} from "./lib/evaluation/mod.ts";

// baselines
export * from "./lib/baselines/mod.ts";

// report
export {
  attentionFigureSpec,
  type AttentionItem,
  classDistributionSpec,
  confusionMatrixSpec,
  type CurvePoint,
  renderSvg,
  svgToPng,
  trainingCurvesSpec,
  type VegaLiteSpec,
} from "./lib/report/mod.ts";

// experiment (Table 1)
export * from "./lib/experiment/mod.ts";
