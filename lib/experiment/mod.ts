/**
 * The experiment stage: Table 1 as a configuration plus one runner. An experiment file
 * (`experiments/<name>.json`) is resolved with overlays and `--set` overrides, then
 * {@link runExperiment} trains and evaluates every system and writes all outputs of the run;
 * or {@link writePlan}, {@link runTrial} and {@link collectTrials} run the same study as
 * independent trials on a scheduler.
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
  PROTOCOLS,
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
export {
  attentionItems,
  type ModelFolder,
  pickFigureUtterances,
  systemsLayout,
  writeOutputs,
} from "./outputs.ts";
export { type PublishOptions, publishRun } from "./publish.ts";
export {
  type ExperimentResults,
  type FoldScore,
  foldTableMarkdown,
  PAPER_TABLE1,
  type PartitionScore,
  tableCsv,
  tableMarkdown,
  tableText,
  type TaskScores,
  type TestScore,
} from "./results.ts";
export {
  addFeatures,
  type ExperimentOutcome,
  figureUtterances,
  foldMembers,
  foldSizes,
  foldsOf,
  gitCommit,
  type PreparedRun,
  prepareRun,
  runExperiment,
  type RunOptions,
  type RunRecord,
  sampleUtterances,
} from "./run.ts";
export {
  bootstrapTest,
  concatPredictions,
  type FoldMembers,
  type Predictions,
  predictionsOf,
  type SeedRun,
  summarise,
  systemCpuSeconds,
  type SystemRun,
} from "./summary.ts";
export {
  assembleSeedRun,
  modelSpecFor,
  type ModelUnit,
  modelUnits,
  type RunContext,
  runNeural,
  runSvm,
  trainUnit,
  type UnitRun,
} from "./systems.ts";
export {
  acquireLock,
  type CollectOutcome,
  collectTrials,
  hostName,
  type Lock,
  LOCK_HEARTBEAT_MS,
  LOCK_STALE_MS,
  type LockInfo,
  type Plan,
  PLAN_FORMAT,
  planTrials,
  readPlan,
  runTrial,
  TrialBusyError,
  trialIndexFromEnv,
  type TrialOptions,
  type TrialOutcome,
  type TrialResult,
  type TrialSpec,
  writePlan,
} from "./trials.ts";

// Earlier stages' types that this stage's signatures use.
export type {
  Corpus,
  CorpusKind,
  CorpusReport,
  Fold,
  PartitionReport,
  SkippedItem,
  TaskSpec,
  Utterance,
} from "../corpus/mod.ts";
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
