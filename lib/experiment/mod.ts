/**
 * The experiment stage: Table 1 as a configuration plus one runner. An experiment file
 * (`experiments/<name>.json`) is resolved with overlays and `--set` overrides, then
 * {@link runExperiment} trains and evaluates every system and writes all outputs of the run.
 *
 * @example
 * ```ts
 * import { resolveExperiment, runExperiment, SMOKE_OVERLAY } from "./mod.ts";
 * const config = await resolveExperiment({ corpus: "example", overlays: [SMOKE_OVERLAY] });
 * const { results } = await runExperiment(config);
 * ```
 * @module
 */
export {
  type BaselinesSection,
  type DataConfig,
  EXPERIMENT_KEYS,
  type ExperimentConfig,
  experimentFileFor,
  EXPERIMENTS_DIR,
  type ModelSection,
  parseOverride,
  parseSystems,
  presetFor,
  type Protocol,
  REFERENCE_SYSTEM,
  resolveExperiment,
  type ResolveOptions,
  resultFingerprint,
  SMOKE_OVERLAY,
  SYSTEM_INFO,
  type SystemName,
  SYSTEMS,
  type TrainingSection,
  validateExperiment,
} from "./config.ts";
export { type CorpusFeatures, corpusFeatures } from "./features.ts";
export { pickFigureUtterances, writeOutputs } from "./outputs.ts";
export {
  type ExperimentResults,
  PAPER_TABLE1,
  type PartitionScore,
  tableCsv,
  tableMarkdown,
  tableText,
  type TaskScores,
  type TestScore,
} from "./results.ts";
export { type ExperimentOutcome, runExperiment, type RunOptions, type RunRecord } from "./run.ts";
export {
  concatPredictions,
  type Predictions,
  predictionsOf,
  type SeedRun,
  summarise,
  type SystemRun,
} from "./summary.ts";
export { modelSpecFor, type RunContext, runNeural, runSvm } from "./systems.ts";

// Earlier stages' types that this stage's signatures use.
export type { Corpus, CorpusKind, Fold, SkippedItem, TaskSpec, Utterance } from "../corpus/mod.ts";
export type { AudioCache, AudioReader, Standardisation } from "../frames/mod.ts";
export type { BackendName, Pooling } from "../model/mod.ts";
export type {
  ClassWeighting,
  ConfusionMatrix,
  EpochRecord,
  Evaluation,
  ModelSpec,
  NetworkSpec,
  ProgressMode,
  TaskEvaluation,
  TrainingSpec,
} from "../training/mod.ts";
