/**
 * Model stage: the CNN + GRU + attention emotion model on tfjs-core (paper sections 3 and 4.2),
 * its backends, deterministic initialisation, save/load and the worker pool (gradients and
 * inference, one core per worker). The front-end, kernels and gradients behind it are internal.
 *
 * ```ts
 * import { defaultModelConfig, EmotionModel, initBackend, saveModel } from "./lib/model/mod.ts";
 * await initBackend("auto");
 * const model = EmotionModel.create(defaultModelConfig(tasks));
 * ```
 * @module
 */
export {
  type AdapterDescription,
  BACKEND_NAMES,
  type BackendInfo,
  initBackend,
  parseBackendName,
  TENSORFLOW_BACKEND_HELP,
} from "./backend.ts";
export {
  type ApplyOptions,
  type ApplyResult,
  defaultModelConfig,
  EmotionModel,
  validateModelConfig,
  webgpuBindableWindows,
  webgpuWindowsPerPass,
} from "./model.ts";
export {
  decodeModel,
  encodeModel,
  type FeatureStandardisation,
  loadModel,
  MODEL_FORMAT,
  MODEL_FORMAT_VERSION,
  type ModelExtras,
  type ModelJson,
  saveModel,
  validateModelJson,
  type WeightSpec,
} from "./persist.ts";
export type { BackendName, InputSpec, ModelConfig, ModelInput, Pooling } from "./types.ts";
export { paperFlopsPerWindow } from "./flops.ts";
export type { FrontEndOptions } from "./frontend.ts";
export {
  type GradientsOptions,
  GradientWorkers,
  type GradientWorkersOptions,
  type InferenceResult,
  type ParallelResult,
  type WeightLayout,
} from "./parallel.ts";

// Earlier stages' types that this stage's signatures use.
export type { TaskSpec } from "../corpus/mod.ts";
export type { Standardisation, WindowSpec } from "../frames/mod.ts";
