/**
 * Baselines on utterance-level features: the paper's OS+SVM system (eGeMAPS functionals →
 * standardisation → linear SVM) with split and leave-one-speaker-out protocols.
 *
 * @module
 */

export {
  type CScore,
  DEFAULT_C_GRID,
  runSvmBaseline,
  type SvmBaselineOptions,
  type SvmBaselineResult,
  type SvmFoldResult,
  type SvmProtocol,
  type SvmTaskResult,
  type SvmTrainEvent,
} from "./svm_baseline.ts";
export {
  type LibsvmBuild,
  type LibsvmClass,
  type LibsvmInstance,
  type LinearSvm,
  type LinearSvmOptions,
  loadLibsvm,
  trainLinearSvm,
} from "./svm.ts";
export {
  applyFeatureStats,
  computeFeatureStats,
  type FeatureNorm,
  type FeatureStats,
  standardiseGlobal,
  standardisePerSpeaker,
} from "./standardise.ts";
export {
  type FeatureTable,
  formatFeatureCsv,
  idFromFileName,
  parseFeatureCsv,
  readFeatureCsv,
  writeFeatureCsv,
} from "./features_csv.ts";

// Earlier stages' types that this stage's signatures use.
export type { TaskSpec, Utterance } from "../corpus/mod.ts";
export type { ConfusionMatrix } from "../training/mod.ts";
