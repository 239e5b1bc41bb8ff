/**
 * The training objective of the paper (eq. 5):
 * J = Σ_m w_m · CE_m + λ · R, with R = ½ Σ ‖W‖² over the weight matrices (tf.nn.l2_loss
 * convention; biases and other vectors are not regularised).
 *
 * CE_m is the (optionally class-weighted) mean cross-entropy of task m over the rows that carry
 * a label for m; rows labelled −1 contribute nothing. With class weights c, the mean is
 * Σ_i c[y_i]·ce_i / Σ_i c[y_i] (the convention of PyTorch's weighted cross-entropy), so the
 * weighting changes which errors matter, not the scale of the loss.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TaskSpec, Utterance } from "../corpus/types.ts";

/** How classes are weighted in the cross-entropy. */
export type ClassWeighting = "none" | "balanced";

/**
 * Counts training labels per class for each task (utterances without a label for a task are
 * skipped for that task).
 * @throws when a label index is outside the task's class list (names the utterance).
 */
export function countClasses(
  utterances: Iterable<Utterance>,
  tasks: TaskSpec[],
): Record<string, number[]> {
  const counts: Record<string, number[]> = {};
  for (const t of tasks) counts[t.name] = new Array<number>(t.classes.length).fill(0);
  for (const u of utterances) {
    for (const t of tasks) {
      const y = u.labels[t.name];
      if (y === undefined || y < 0) continue;
      if (!Number.isInteger(y) || y >= t.classes.length) {
        throw new Error(
          `countClasses: utterance ${u.id} (${u.path}) has label ${y} for task ${t.name}, ` +
            `which has ${t.classes.length} classes`,
        );
      }
      counts[t.name][y]++;
    }
  }
  return counts;
}

/**
 * Balanced class weights N / (K · n_c) (as scikit-learn's "balanced"), where K counts only the
 * classes present; classes absent from training get weight 0 since no row can carry them.
 */
export function balancedClassWeights(counts: number[]): number[] {
  const n = counts.reduce((a, b) => a + b, 0);
  const present = counts.filter((c) => c > 0).length;
  if (n === 0) return counts.map(() => 1);
  return counts.map((c) => (c > 0 ? n / (present * c) : 0));
}

/**
 * Class weights per task for a weighting scheme.
 * @param counts training counts per task (required for "balanced")
 */
export function classWeightsFor(
  weighting: ClassWeighting,
  tasks: TaskSpec[],
  counts?: Record<string, number[]>,
): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const t of tasks) {
    if (weighting === "none") {
      out[t.name] = t.classes.map(() => 1);
      continue;
    }
    const c = counts?.[t.name];
    if (!c) {
      throw new Error(
        `classWeightsFor: balanced class weighting needs training class counts for task ${t.name}`,
      );
    }
    if (c.length !== t.classes.length) {
      throw new Error(
        `classWeightsFor: ${c.length} counts for task ${t.name}, which has ${t.classes.length} classes`,
      );
    }
    out[t.name] = balancedClassWeights(c);
  }
  return out;
}

/**
 * Per-row weights of one task's cross-entropy: c[y_i] / Σ_j c[y_j] over labelled rows, 0 for
 * unlabelled rows. All zeros when the batch holds no labelled row for the task.
 */
export function rowWeights(labels: Int32Array, classWeights?: number[]): Float32Array {
  const w = new Float64Array(labels.length);
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i];
    if (y < 0) continue;
    w[i] = classWeights ? classWeights[y] : 1;
    sum += w[i];
  }
  const out = new Float32Array(labels.length);
  if (sum > 0) { for (let i = 0; i < w.length; i++) out[i] = w[i] / sum; }
  return out;
}

/**
 * Weighted mean cross-entropy of one task (a scalar tensor), ignoring rows labelled −1.
 * @param logits `[batch, classes]` unnormalised scores
 * @param labels class index per row, −1 = missing
 */
export function taskCrossEntropy(
  logits: tf.Tensor2D,
  labels: Int32Array,
  classWeights?: number[],
): tf.Scalar {
  const [rows, k] = logits.shape;
  if (labels.length !== rows) {
    throw new Error(`taskCrossEntropy: ${rows} logit rows but ${labels.length} labels`);
  }
  for (const y of labels) {
    if (y >= k) throw new Error(`taskCrossEntropy: label ${y} out of range for ${k} classes`);
  }
  // With C[i, k] = rowWeight_i · [y_i = k], CE = −Σ C ⊙ log softmax(z) and its gradient is
  // softmax(z) · rowWeight − C: one tape node with that gradient, and C one constant, instead of
  // oneHot and autodiff through logSoftmax (on webgpu every op is a dispatch). −C is stored, so
  // a batch without labels gives +0, not −0.
  const rw = rowWeights(labels, classWeights);
  const c = new Float32Array(rows * k);
  for (let i = 0; i < rows; i++) if (labels[i] >= 0) c[i * k + labels[i]] = -rw[i];
  // Made where used, from the JS arrays: tfjs disposes a forward pass's tensors before the
  // backward pass runs.
  const negCoef = () => tf.tensor2d(c, [rows, k]);
  return tf.tidy(() => {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const z = args[0] as tf.Tensor2D;
      const save = args[1] as tf.GradSaveFunc;
      const shifted = tf.sub(z, tf.max(z, 1, true));
      const logP = tf.sub(shifted, tf.log(tf.sum(tf.exp(shifted), 1, true)));
      save([logP]);
      return {
        value: tf.sum(tf.mul(negCoef(), logP)) as tf.Scalar,
        gradFunc: (dy: tf.Tensor, [sLogP]: tf.Tensor[]) =>
          tf.mul(dy, tf.add(tf.mul(tf.exp(sLogP), tf.tensor2d(rw, [rows, 1])), negCoef())),
      };
    });
    return f(logits) as tf.Scalar;
  });
}

/** Whether the L2 term covers a variable: weight matrices and conv kernels (rank ≥ 2), not biases. */
export function l2Covers(v: tf.Tensor): boolean {
  return v.rank >= 2;
}

/**
 * ½ Σ W² over the variables of rank ≥ 2 (weight matrices and conv kernels), with gradient W.
 * One tape node: the squares are summed over all weights at once and the gradient is written
 * down, rather than autodiff through a square, a sum and an add per variable (on webgpu each op
 * is a dispatch: about 100 per step for the paper model, now about 30).
 */
export function l2Penalty(variables: tf.Variable[]): tf.Scalar {
  const ws = variables.filter(l2Covers);
  if (ws.length === 0) return tf.scalar(0);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args.slice(0, ws.length) as tf.Tensor[];
    const flat = xs.length === 1
      ? tf.reshape(xs[0], [-1])
      : tf.concat(xs.map((x) => tf.reshape(x, [-1])));
    return {
      value: tf.mul(tf.sum(tf.square(flat)), 0.5) as tf.Scalar,
      // Variables outlive the backward pass, so they need no saving (which would copy them).
      gradFunc: (dy: tf.Tensor) => ws.map((w) => tf.mul(w, dy)),
    };
  });
  return tf.tidy(() => f(...ws) as tf.Scalar);
}

/** Options of {@link objective}. */
export interface ObjectiveOptions {
  /** w_m per task name; a task missing here gets weight 1. */
  taskWeights?: Record<string, number>;
  /** Class weights per task name; missing = unweighted. */
  classWeights?: Record<string, number[]>;
  /** λ of the L2 term (0 = none). */
  l2?: number;
  /** Variables the L2 term covers (needed when l2 > 0). */
  variables?: tf.Variable[];
}

/** The objective's total and its parts (scalar tensors; the caller disposes them). */
export interface ObjectiveValue {
  /** Σ_m w_m CE_m + λ R. */
  total: tf.Scalar;
  /** CE_m per task (unweighted by w_m). */
  perTask: Record<string, tf.Scalar>;
  /** λ R (0 when l2 is 0). */
  l2: tf.Scalar;
}

/**
 * Evaluates the objective for one batch.
 * @param logits model outputs per task
 * @param labels labels per task (−1 = missing)
 */
export function objective(
  logits: Record<string, tf.Tensor2D>,
  labels: Record<string, Int32Array>,
  opts: ObjectiveOptions = {},
): ObjectiveValue {
  for (const name of Object.keys(logits)) {
    if (!labels[name]) throw new Error(`objective: batch has no labels for task ${name}`);
  }
  const lambda = opts.l2 ?? 0;
  if (lambda > 0 && !opts.variables) {
    throw new Error("objective: l2 > 0 needs the variables to regularise");
  }
  // tidy keeps exactly the returned tensors, so nothing leaks when called outside a scope.
  return tf.tidy(() => {
    const perTask: Record<string, tf.Scalar> = {};
    const terms: tf.Scalar[] = [];
    for (const [name, lg] of Object.entries(logits)) {
      const ce = taskCrossEntropy(lg, labels[name], opts.classWeights?.[name]);
      perTask[name] = ce;
      terms.push(tf.mul(ce, opts.taskWeights?.[name] ?? 1) as tf.Scalar);
    }
    const l2 = lambda > 0 ? tf.mul(l2Penalty(opts.variables!), lambda) as tf.Scalar : tf.scalar(0);
    terms.push(l2);
    const total = tf.addN(terms) as tf.Scalar;
    return { total, perTask, l2 };
  });
}
