/**
 * The OS+SVM baseline protocol: utterance-level features (e.g. the 88 eGeMAPSv02 functionals)
 * → standardisation → linear C-SVC, evaluated per task by UAR.
 *
 * Protocols:
 * - `split`: train on the `train` partition, choose C on `dev` by UAR (or use a fixed C),
 *   report the `test` partition with the model trained on `train` at that C (the paper's
 *   IEMOCAP setup: hyper-parameters optimised on the development set).
 * - `loso`: leave-one-speaker-out; each speaker is held out once and predicted by a model
 *   trained on all other speakers; the held-out predictions of all folds are pooled into one
 *   confusion matrix and UAR per task. C is either fixed (`c`), or chosen per outer fold by an
 *   inner speaker-grouped cross-validation on the training speakers only (by default inner
 *   leave-one-speaker-out; `innerFolds` groups the speakers round-robin into fewer folds), so
 *   the held-out speaker never influences its own C.
 *
 * Standardisation (`featureNorm`): `global` fits mean/std on the rows a model is trained on
 * (inner-fold training rows included) and applies them to the rows it predicts; `speaker`
 * standardises every speaker with that speaker's own statistics, computed from all of that
 * speaker's utterances given in `utterances` (labels never enter). `none` uses raw features.
 *
 * C selection: highest UAR wins; ties go to the smaller C (stronger regularisation).
 *
 * @module
 */

import type { TaskSpec, Utterance } from "../corpus/types.ts";
import { type ConfusionMatrix, confusionMatrix, uarFromConfusion } from "../training/metrics.ts";
import { type FeatureNorm, standardiseGlobal, standardisePerSpeaker } from "./standardise.ts";
import { trainLinearSvm } from "./svm.ts";

/** The default C grid: 1e-4 … 1e1, one value per decade. */
export const DEFAULT_C_GRID: readonly number[] = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

/** Evaluation protocol of {@link runSvmBaseline}. */
export type SvmProtocol = "split" | "loso";

/** Reported once for every SVM trained (outer and inner folds alike). */
export interface SvmTrainEvent {
  /** Task name. */
  task: string;
  /** Where in the protocol: `split`, `loso:<speaker>`, `loso:<speaker>/inner:<k>`. */
  fold: string;
  /** The C the SVM was trained with. */
  c: number;
  /** Utterance ids it was trained on. */
  trainIds: string[];
  /** Utterance ids it predicted. */
  evalIds: string[];
}

/** Options of {@link runSvmBaseline}. */
export interface SvmBaselineOptions {
  /** Feature vector per utterance id (all of the same length). */
  features: Map<string, ArrayLike<number>>;
  /** The utterances to use; each needs an entry in `features`. */
  utterances: Utterance[];
  /** The tasks to evaluate; an utterance without a label for a task is left out of that task. */
  tasks: TaskSpec[];
  /** `split` (train/dev/test partitions) or `loso` (leave-one-speaker-out). */
  protocol: SvmProtocol;
  /** Standardisation scheme; default `global` (the paper's). */
  featureNorm?: FeatureNorm;
  /** A fixed C. Give either `c` or `cGrid`; with neither, {@link DEFAULT_C_GRID} is searched. */
  c?: number;
  /** C values to choose from by dev (or inner-CV) UAR. */
  cGrid?: readonly number[];
  /** `loso` with a grid: number of inner speaker folds; default one per training speaker. */
  innerFolds?: number;
  /** `split`: partition names; default `train` / `dev` / `test`. */
  partitions?: { train?: string; dev?: string; test?: string };
  /** libsvm stopping tolerance; default 1e-3. */
  tolerance?: number;
  /** Called for every SVM trained (for logging, and for tests of the protocol). */
  onTrain?: (event: SvmTrainEvent) => void;
}

/** Dev (or inner-CV) UAR of one C value. */
export interface CScore {
  /** The C value. */
  c: number;
  /** Its UAR on dev (split) or, for loso, the mean over outer folds of its inner-CV UAR. */
  uar: number;
}

/** One leave-one-speaker-out fold. */
export interface SvmFoldResult {
  /** The held-out speaker. */
  speaker: string;
  /** C used for this fold. */
  c: number;
  /** Inner-CV UAR at that C (NaN with a fixed C). */
  devUar: number;
  /** UAR on the held-out speaker alone (classes it lacks are left out of the mean). */
  uar: number;
  /** Number of held-out labelled utterances. */
  count: number;
}

/** Result of one task. */
export interface SvmTaskResult {
  /** Task name. */
  task: string;
  /** Class names of the task (indices of predictions and of the confusion matrix). */
  classes: string[];
  /** Held-out prediction per utterance id: the test partition (split) or all folds (loso). */
  predictions: Map<string, number>;
  /** Prediction per dev utterance id (split only; empty for loso). */
  devPredictions: Map<string, number>;
  /** UAR of `predictions`. */
  uar: number;
  /** Confusion matrix of `predictions`, `[true][predicted]`. */
  confusion: ConfusionMatrix;
  /** The C used (split), or the C chosen in most outer folds (loso; ties: smaller C). */
  c: number;
  /** Dev UAR at the chosen C (split), mean inner-CV UAR of the folds (loso); NaN if unknown. */
  devUar: number;
  /** UAR per grid value (empty with a fixed C, except split with a dev set: one entry). */
  cScores: CScore[];
  /** Per held-out speaker (loso only). */
  folds: SvmFoldResult[];
}

/** Result of {@link runSvmBaseline}. */
export interface SvmBaselineResult {
  /** The protocol that was run. */
  protocol: SvmProtocol;
  /** The standardisation that was used. */
  featureNorm: FeatureNorm;
  /** Feature dimension. */
  numFeatures: number;
  /** Results per task name, in the order of `tasks`. */
  tasks: Record<string, SvmTaskResult>;
}

/**
 * Runs the OS+SVM baseline on precomputed utterance features and returns, per task, the
 * held-out predictions, UAR, confusion matrix, chosen C and dev UAR. See the module doc for the
 * exact protocols. Throws a clear error for missing or malformed features, unknown labels, or
 * a protocol the data cannot support (e.g. `split` without a `train` partition).
 */
export async function runSvmBaseline(options: SvmBaselineOptions): Promise<SvmBaselineResult> {
  const norm: FeatureNorm = options.featureNorm ?? "global";
  if (!["global", "speaker", "none"].includes(norm)) {
    throw new Error(`runSvmBaseline: unknown featureNorm "${norm}"`);
  }
  if (options.protocol !== "split" && options.protocol !== "loso") {
    throw new Error(`runSvmBaseline: unknown protocol "${options.protocol}"`);
  }
  if (options.c !== undefined && options.cGrid !== undefined) {
    throw new Error("runSvmBaseline: give either c or cGrid, not both");
  }
  const grid = options.c !== undefined
    ? [options.c]
    : [...(options.cGrid ?? DEFAULT_C_GRID)].sort((a, b) => a - b);
  if (grid.length === 0) throw new Error("runSvmBaseline: empty C grid");
  for (const c of grid) {
    if (!(c > 0) || !Number.isFinite(c)) throw new Error(`runSvmBaseline: invalid C ${c}`);
  }
  const data = collectRows(options.features, options.utterances);
  const ctx: Context = {
    ...data,
    norm,
    tolerance: options.tolerance,
    onTrain: options.onTrain,
    speakerRows: norm === "speaker"
      ? standardisePerSpeaker(data.raw, data.utts.map((u) => u.speaker))
      : undefined,
  };
  const tasks: Record<string, SvmTaskResult> = {};
  for (const task of options.tasks) {
    const labels = taskLabels(data.utts, task);
    tasks[task.name] = options.protocol === "split"
      ? await runSplit(ctx, task, labels, grid, options.c !== undefined, options.partitions)
      : await runLoso(ctx, task, labels, grid, options.c !== undefined, options.innerFolds);
  }
  return { protocol: options.protocol, featureNorm: norm, numFeatures: data.dim, tasks };
}

interface Context {
  utts: Utterance[];
  raw: ArrayLike<number>[];
  dim: number;
  norm: FeatureNorm;
  speakerRows?: Float64Array[];
  tolerance?: number;
  onTrain?: (event: SvmTrainEvent) => void;
}

function collectRows(features: Map<string, ArrayLike<number>>, utts: Utterance[]) {
  if (utts.length === 0) throw new Error("runSvmBaseline: no utterances");
  const seen = new Set<string>();
  const missing: string[] = [];
  const raw: ArrayLike<number>[] = [];
  let dim = -1;
  for (const u of utts) {
    if (seen.has(u.id)) throw new Error(`runSvmBaseline: duplicate utterance id "${u.id}"`);
    seen.add(u.id);
    const f = features.get(u.id);
    if (!f) {
      missing.push(u.id);
      continue;
    }
    if (dim < 0) dim = f.length;
    if (f.length !== dim || dim === 0) {
      throw new Error(
        `runSvmBaseline: features of "${u.id}" have ${f.length} values, expected ${dim}`,
      );
    }
    for (let j = 0; j < f.length; j++) {
      if (!Number.isFinite(f[j])) {
        throw new Error(`runSvmBaseline: feature ${j} of "${u.id}" is ${f[j]}`);
      }
    }
    raw.push(f);
  }
  if (missing.length > 0) {
    throw new Error(
      `runSvmBaseline: no features for ${missing.length} of ${utts.length} utterances ` +
        `(e.g. ${missing.slice(0, 5).join(", ")})`,
    );
  }
  return { utts, raw, dim };
}

/** Class index per utterance for the task, −1 where unlabelled. */
function taskLabels(utts: Utterance[], task: TaskSpec): Int32Array {
  const y = new Int32Array(utts.length);
  let labelled = 0;
  utts.forEach((u, i) => {
    const v = u.labels[task.name];
    if (v === undefined || v === null || v < 0) {
      y[i] = -1;
      return;
    }
    if (!Number.isInteger(v) || v >= task.classes.length) {
      throw new Error(
        `runSvmBaseline: utterance "${u.id}" has label ${v} for task "${task.name}", ` +
          `which has ${task.classes.length} classes`,
      );
    }
    y[i] = v;
    labelled++;
  });
  if (labelled === 0) {
    throw new Error(`runSvmBaseline: no utterance is labelled for "${task.name}"`);
  }
  return y;
}

/** Trains on `trainIdx` at each C and returns the predictions for `evalIdx` per C. */
async function fitPredict(
  ctx: Context,
  task: string,
  fold: string,
  labels: Int32Array,
  trainIdx: number[],
  evalIdx: number[],
  cs: readonly number[],
): Promise<Int32Array[]> {
  let trainRows: ArrayLike<number>[];
  let evalRows: ArrayLike<number>[];
  if (ctx.norm === "speaker") {
    trainRows = trainIdx.map((i) => ctx.speakerRows![i]);
    evalRows = evalIdx.map((i) => ctx.speakerRows![i]);
  } else if (ctx.norm === "global") {
    const both = [...trainIdx, ...evalIdx].map((i) => ctx.raw[i]);
    const normed = standardiseGlobal(both, trainIdx.map((_, k) => k));
    trainRows = normed.slice(0, trainIdx.length);
    evalRows = normed.slice(trainIdx.length);
  } else {
    trainRows = trainIdx.map((i) => ctx.raw[i]);
    evalRows = evalIdx.map((i) => ctx.raw[i]);
  }
  const y = trainIdx.map((i) => labels[i]);
  const out: Int32Array[] = [];
  for (const c of cs) {
    ctx.onTrain?.({
      task,
      fold,
      c,
      trainIds: trainIdx.map((i) => ctx.utts[i].id),
      evalIds: evalIdx.map((i) => ctx.utts[i].id),
    });
    const model = await trainLinearSvm(trainRows, y, { c, tolerance: ctx.tolerance });
    try {
      out.push(model.predict(evalRows));
    } finally {
      model.free();
    }
  }
  return out;
}

function uarOf(labels: Int32Array, idx: number[], pred: ArrayLike<number>, k: number): number {
  return uarFromConfusion(confusionMatrix(idx.map((i) => labels[i]), pred, k));
}

/** Index of the best score; ties go to the earlier (smaller) C. */
function argmaxFirst(scores: number[]): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) {
    if (scores[i] > scores[best] || (Number.isNaN(scores[best]) && !Number.isNaN(scores[i]))) {
      best = i;
    }
  }
  return best;
}

async function runSplit(
  ctx: Context,
  task: TaskSpec,
  labels: Int32Array,
  grid: number[],
  fixedC: boolean,
  names: SvmBaselineOptions["partitions"],
): Promise<SvmTaskResult> {
  const trainName = names?.train ?? "train";
  const devName = names?.dev ?? "dev";
  const testName = names?.test ?? "test";
  const pick = (p: string) =>
    ctx.utts.flatMap((u, i) => (u.partition === p && labels[i] >= 0 ? [i] : []));
  const trainIdx = pick(trainName), devIdx = pick(devName), testIdx = pick(testName);
  const k = task.classes.length;
  if (trainIdx.length === 0) {
    throw new Error(`runSvmBaseline: no labelled "${trainName}" utterances for "${task.name}"`);
  }
  if (testIdx.length === 0) {
    throw new Error(`runSvmBaseline: no labelled "${testName}" utterances for "${task.name}"`);
  }
  if (!fixedC && devIdx.length === 0) {
    throw new Error(
      `runSvmBaseline: choosing C needs labelled "${devName}" utterances for "${task.name}"; ` +
        "give a fixed c instead",
    );
  }
  const cScores: CScore[] = [];
  let chosen = 0;
  let devPred: Int32Array | undefined;
  if (devIdx.length > 0) {
    const preds = await fitPredict(ctx, task.name, "split", labels, trainIdx, devIdx, grid);
    preds.forEach((p, g) => cScores.push({ c: grid[g], uar: uarOf(labels, devIdx, p, k) }));
    chosen = argmaxFirst(cScores.map((s) => s.uar));
    devPred = preds[chosen];
  }
  const c = grid[chosen];
  const [testPred] = await fitPredict(ctx, task.name, "split", labels, trainIdx, testIdx, [c]);
  const confusion = confusionMatrix(testIdx.map((i) => labels[i]), testPred, k);
  return {
    task: task.name,
    classes: [...task.classes],
    predictions: new Map(testIdx.map((i, n) => [ctx.utts[i].id, testPred[n]])),
    devPredictions: new Map(devIdx.map((i, n) => [ctx.utts[i].id, devPred![n]])),
    uar: uarFromConfusion(confusion),
    confusion,
    c,
    devUar: devIdx.length > 0 ? cScores[chosen].uar : NaN,
    cScores,
    folds: [],
  };
}

async function runLoso(
  ctx: Context,
  task: TaskSpec,
  labels: Int32Array,
  grid: number[],
  fixedC: boolean,
  innerFolds: number | undefined,
): Promise<SvmTaskResult> {
  const k = task.classes.length;
  const labelled = ctx.utts.flatMap((_, i) => (labels[i] >= 0 ? [i] : []));
  const speakers = [...new Set(labelled.map((i) => ctx.utts[i].speaker))].sort();
  if (speakers.length < 2) {
    throw new Error(
      `runSvmBaseline: leave-one-speaker-out needs >= 2 labelled speakers for "${task.name}", ` +
        `found ${speakers.length}`,
    );
  }
  const pooled = new Int32Array(ctx.utts.length).fill(-1);
  const folds: SvmFoldResult[] = [];
  const gridSums = new Float64Array(grid.length);
  for (const spk of speakers) {
    const evalIdx = labelled.filter((i) => ctx.utts[i].speaker === spk);
    const trainIdx = labelled.filter((i) => ctx.utts[i].speaker !== spk);
    let gi = 0;
    let devUar = NaN;
    if (!fixedC) {
      const scores = await innerScores(ctx, task, labels, trainIdx, grid, spk, innerFolds);
      scores.forEach((s, g) => gridSums[g] += s);
      gi = argmaxFirst(scores);
      devUar = scores[gi];
    }
    const c = grid[gi];
    const [pred] = await fitPredict(
      ctx,
      task.name,
      `loso:${spk}`,
      labels,
      trainIdx,
      evalIdx,
      [c],
    );
    evalIdx.forEach((i, n) => pooled[i] = pred[n]);
    folds.push({
      speaker: spk,
      c,
      devUar,
      uar: uarOf(labels, evalIdx, pred, k),
      count: evalIdx.length,
    });
  }
  const confusion = confusionMatrix(
    labelled.map((i) => labels[i]),
    labelled.map((i) => pooled[i]),
    k,
  );
  // Report the C most folds chose; with a fixed C all folds agree.
  const counts = grid.map((c) => folds.filter((f) => f.c === c).length);
  const c = grid[argmaxFirst(counts)];
  return {
    task: task.name,
    classes: [...task.classes],
    predictions: new Map(labelled.map((i) => [ctx.utts[i].id, pooled[i]])),
    devPredictions: new Map(),
    uar: uarFromConfusion(confusion),
    confusion,
    c,
    devUar: fixedC ? NaN : folds.reduce((a, f) => a + f.devUar, 0) / folds.length,
    cScores: fixedC ? [] : grid.map((c, g) => ({ c, uar: gridSums[g] / folds.length })),
    folds,
  };
}

/** Inner speaker-grouped CV on the outer training rows: pooled UAR per grid value. */
async function innerScores(
  ctx: Context,
  task: TaskSpec,
  labels: Int32Array,
  trainIdx: number[],
  grid: number[],
  outer: string,
  innerFolds: number | undefined,
): Promise<number[]> {
  const speakers = [...new Set(trainIdx.map((i) => ctx.utts[i].speaker))].sort();
  if (speakers.length < 2) {
    throw new Error(
      `runSvmBaseline: choosing C for fold "${outer}" of "${task.name}" needs >= 2 training ` +
        "speakers for the inner cross-validation; give a fixed c instead",
    );
  }
  const nFolds = Math.min(innerFolds ?? speakers.length, speakers.length);
  if (!(nFolds >= 2) || !Number.isInteger(nFolds)) {
    throw new Error(`runSvmBaseline: innerFolds must be an integer >= 2, got ${innerFolds}`);
  }
  const group = new Map(speakers.map((s, i) => [s, i % nFolds]));
  const pred = grid.map(() => new Int32Array(ctx.utts.length).fill(-1));
  for (let f = 0; f < nFolds; f++) {
    const evalIdx = trainIdx.filter((i) => group.get(ctx.utts[i].speaker) === f);
    const fitIdx = trainIdx.filter((i) => group.get(ctx.utts[i].speaker) !== f);
    const preds = await fitPredict(
      ctx,
      task.name,
      `loso:${outer}/inner:${f}`,
      labels,
      fitIdx,
      evalIdx,
      grid,
    );
    preds.forEach((p, g) => evalIdx.forEach((i, m) => pred[g][i] = p[m]));
  }
  return pred.map((p) => uarOf(labels, trainIdx, trainIdx.map((i) => p[i]), task.classes.length));
}
