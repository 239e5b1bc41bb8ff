/**
 * Classification metrics used throughout the toolkit: confusion matrix, per-class recall and
 * UAR (unweighted average recall: the mean of the per-class recalls).
 *
 * They live in the training stage because training already needs them (epochs and task weights
 * are selected by dev UAR); the later stages (evaluation, baselines, experiment) use these same
 * definitions, and `evaluation/mod.ts` names them in its public surface.
 * @module
 */

/** Confusion matrix: `matrix[trueClass][predictedClass]` = count. */
export type ConfusionMatrix = number[][];

/**
 * Counts a confusion matrix. Pairs whose true label is negative (missing) are ignored.
 * @param truth true class indices (−1 = unlabelled)
 * @param predicted predicted class indices, same length as `truth`
 * @param numClasses number of classes of the task
 */
export function confusionMatrix(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses: number,
): ConfusionMatrix {
  if (truth.length !== predicted.length) {
    throw new Error(
      `confusionMatrix: ${truth.length} labels but ${predicted.length} predictions`,
    );
  }
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i];
    if (t < 0) continue;
    const p = predicted[i];
    if (t >= numClasses || p < 0 || p >= numClasses) {
      throw new Error(`confusionMatrix: class index out of range (true ${t}, predicted ${p})`);
    }
    m[t][p]++;
  }
  return m;
}

/** Recall per class; NaN for a class with no true examples. */
export function perClassRecall(matrix: ConfusionMatrix): number[] {
  return matrix.map((row, c) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n === 0 ? NaN : row[c] / n;
  });
}

/**
 * Unweighted average recall: the mean recall over the classes that occur in the truth.
 * Classes absent from the reference are left out of the mean (their recall is undefined);
 * returns NaN when no labelled example exists.
 */
export function uarFromConfusion(matrix: ConfusionMatrix): number {
  const recalls = perClassRecall(matrix).filter((r) => !Number.isNaN(r));
  if (recalls.length === 0) return NaN;
  return recalls.reduce((a, b) => a + b, 0) / recalls.length;
}

/** UAR of predictions against truth (−1 truth entries are ignored). */
export function uar(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  numClasses: number,
): number {
  return uarFromConfusion(confusionMatrix(truth, predicted, numClasses));
}

/** Plain accuracy (weighted average recall) over labelled examples. */
export function accuracy(truth: ArrayLike<number>, predicted: ArrayLike<number>): number {
  let n = 0, ok = 0;
  for (let i = 0; i < truth.length; i++) {
    if (truth[i] < 0) continue;
    n++;
    if (truth[i] === predicted[i]) ok++;
  }
  return n === 0 ? NaN : ok / n;
}
