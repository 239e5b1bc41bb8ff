/**
 * Evaluation stage: the scores of a system (UAR, accuracy, confusion matrix, per-class recall)
 * and the tests that compare two systems on one test set (the paper's one-tailed z-test, the
 * paired bootstrap) and summarise seeds (mean ± sd).
 *
 * The metric definitions live in `training/metrics.ts`, the lower stage that already needs them
 * for model selection; they are named here because scoring is what this stage is about.
 *
 * ```ts
 * import { pairedBootstrap, uar } from "./lib/evaluation/mod.ts";
 * uar([0, 1, 1], [0, 1, 0], 2); // 0.75
 * ```
 * @module
 */
export {
  accuracy,
  type ConfusionMatrix,
  confusionMatrix,
  perClassRecall,
  uar,
  uarFromConfusion,
} from "../training/metrics.ts";
export {
  type BootstrapResult,
  meanStd,
  pairedBootstrap,
  zTestOneTailed,
  type ZTestResult,
} from "./stats.ts";
