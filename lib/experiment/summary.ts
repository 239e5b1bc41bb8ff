/**
 * From raw predictions to the scores and tests of results.json: UAR per seed (mean ± sd),
 * per-class recall and confusion, the paper's one-tailed z-test and the paired bootstrap
 * against the reference system (e2e STL).
 * @module
 */
import type { TaskSpec } from "../corpus/types.ts";
import { confusionMatrix, perClassRecall, uar } from "../training/metrics.ts";
import {
  type BootstrapResult,
  meanStd,
  pairedBootstrap,
  zTestOneTailed,
} from "../evaluation/stats.ts";
import type { Evaluation } from "../training/evaluate.ts";
import type { EpochRecord } from "../training/train.ts";
import { REFERENCE_SYSTEM, type SystemName } from "./config.ts";
import type {
  ExperimentResults,
  FoldScore,
  PartitionScore,
  TaskScores,
  TestScore,
} from "./results.ts";

/** Predictions of one task on one set of utterances. */
export interface Predictions {
  /** Utterance ids. */
  ids: string[];
  /** True class indices (−1 = unlabelled). */
  truth: number[];
  /** Predicted class indices. */
  predictions: number[];
}

/** What one system produced for one seed. */
export interface SeedRun {
  /** The seed. */
  seed: number;
  /** Per task: dev and test predictions (pooled over folds under LOSO). */
  tasks: Record<string, { dev: Predictions; test: Predictions }>;
  /** Epoch histories of the neural models, by model name. */
  histories: Record<string, EpochRecord[]>;
}

/** A finished system, as stored in `systems/<name>/result.json`. */
export interface SystemRun {
  /** System name. */
  system: SystemName;
  /** Settings fingerprint the result belongs to. */
  fingerprint: string;
  /** Seconds spent: neural systems' epochs summed over every sitting; the SVM's fits. */
  seconds: number;
  /** One entry per seed. */
  seeds: SeedRun[];
}

/**
 * CPU seconds a neural system's models spent, summed over seeds, models and epochs (from
 * their epoch records, so over every sitting); null for the SVM, or when an epoch was recorded
 * without CPU time (models trained before epoch records carried it).
 */
export function systemCpuSeconds(run: SystemRun): number | null {
  let total = 0, epochs = 0;
  for (const seed of run.seeds) {
    for (const history of Object.values(seed.histories)) {
      for (const e of history) {
        if (e.cpuSeconds === undefined) return null;
        total += e.cpuSeconds;
        epochs++;
      }
    }
  }
  return epochs > 0 ? total : null;
}

/** The utterances one fold scores: its dev and test ids (for the per-fold results). */
export interface FoldMembers {
  /** Fold name. */
  name: string;
  /** Ids of its dev utterances. */
  dev: string[];
  /** Ids of its test utterances. */
  test: string[];
}

/** One task's predictions out of an evaluation. */
export function predictionsOf(e: Evaluation, task: string): Predictions {
  const t = e.tasks[task];
  return { ids: t.ids, truth: t.truth, predictions: t.predictions };
}

/** Pools predictions of several folds. */
export function concatPredictions(parts: Predictions[]): Predictions {
  return {
    ids: parts.flatMap((p) => p.ids),
    truth: parts.flatMap((p) => p.truth),
    predictions: parts.flatMap((p) => p.predictions),
  };
}

function scoreOf(runs: Predictions[], classes: string[]): PartitionScore {
  const uars = runs.map((p) => uar(p.truth, p.predictions, classes.length));
  const { mean, std } = meanStd(uars);
  const first = runs[0];
  const confusion = confusionMatrix(first.truth, first.predictions, classes.length);
  const recall = perClassRecall(confusion);
  return {
    uar: mean,
    uar_sd: std,
    uar_per_seed: uars,
    n: first.truth.filter((t) => t >= 0).length,
    recall: Object.fromEntries(classes.map((c, i) => [c, recall[i]])),
    confusion,
  };
}

/** Aligns B's predictions to A's utterance order (both cover the same utterances). */
function aligned(a: Predictions, b: Predictions): number[] | null {
  const index = new Map(b.ids.map((id, i) => [id, i]));
  const out: number[] = [];
  for (const id of a.ids) {
    const i = index.get(id);
    if (i === undefined) return null;
    out.push(b.predictions[i]);
  }
  return out;
}

/** The predictions of `p` whose utterance is in `ids`. */
function restrict(p: Predictions, ids: Set<string>): Predictions {
  const keep = p.ids.flatMap((id, i) => (ids.has(id) ? [i] : []));
  return {
    ids: keep.map((i) => p.ids[i]),
    truth: keep.map((i) => p.truth[i]),
    predictions: keep.map((i) => p.predictions[i]),
  };
}

/** Mean UAR over seeds of one fold's dev and test predictions. */
function foldScore(
  run: SystemRun,
  task: TaskSpec,
  fold: { dev: Set<string>; test: Set<string> },
): FoldScore {
  const k = task.classes.length;
  const mean = (ps: Predictions[]) => meanStd(ps.map((p) => uar(p.truth, p.predictions, k))).mean;
  const dev = run.seeds.map((s) => restrict(s.tasks[task.name].dev, fold.dev));
  const test = run.seeds.map((s) => restrict(s.tasks[task.name].test, fold.test));
  return {
    dev_uar: dev[0].ids.length ? mean(dev) : null,
    test_uar: mean(test),
    n_test: test[0].truth.filter((t) => t >= 0).length,
  };
}

/**
 * The paired bootstrap of results.json (1,000 resamples, seed 7) of test UAR(a) − UAR(b) on
 * one task, over every seed of both systems ({@link pairedBootstrap}); null when the two did
 * not predict the same test utterances, so that no paired test exists.
 */
export function bootstrapTest(a: SystemRun, b: SystemRun, task: TaskSpec): BootstrapResult | null {
  const first = a.seeds[0].tasks[task.name].test;
  // Every seed's predictions in the first run's utterance order.
  const order = (r: SystemRun) => r.seeds.map((s) => aligned(first, s.tasks[task.name].test));
  const ours = order(a), theirs = order(b);
  if (!ours.every((p) => p) || !theirs.every((p) => p)) return null;
  return pairedBootstrap(
    first.truth,
    ours as number[][],
    theirs as number[][],
    task.classes.length,
    { resamples: 1000, seed: 7 },
  );
}

/**
 * Turns raw system runs into the scores and tests of results.json. With `folds` (more than
 * one), every task's scores also hold each fold's dev and test UAR.
 */
export function summarise(
  runs: Partial<Record<SystemName, SystemRun>>,
  tasks: TaskSpec[],
  meta: { corpus: string; protocol: string; backend: string; seeds: number },
  folds: FoldMembers[] = [],
): ExperimentResults {
  const foldSets = folds.length > 1
    ? folds.map((f) => ({ name: f.name, dev: new Set(f.dev), test: new Set(f.test) }))
    : [];
  const systems: ExperimentResults["systems"] = {};
  const reference = runs[REFERENCE_SYSTEM];
  for (const [system, run] of Object.entries(runs) as [SystemName, SystemRun][]) {
    const byTask: Record<string, TaskScores> = {};
    for (const t of tasks) {
      const dev = scoreOf(run.seeds.map((s) => s.tasks[t.name].dev), t.classes);
      const testRuns = run.seeds.map((s) => s.tasks[t.name].test);
      const test: TestScore = {
        ...scoreOf(testRuns, t.classes),
        p_vs_e2e_stl: null,
        bootstrap_vs_e2e_stl: null,
      };
      if (reference && system !== REFERENCE_SYSTEM) {
        const refRuns = reference.seeds.map((s) => s.tasks[t.name].test);
        const refUar = meanStd(refRuns.map((p) =>
          uar(p.truth, p.predictions, t.classes.length)
        )).mean;
        test.p_vs_e2e_stl = zTestOneTailed(test.uar, refUar, test.n).p;
        const b = bootstrapTest(run, reference, t);
        if (b) {
          test.bootstrap_vs_e2e_stl = {
            difference: b.difference,
            low: b.low,
            high: b.high,
            p: b.p,
          };
        }
      }
      byTask[t.name] = { dev, test };
      if (foldSets.length) {
        byTask[t.name].folds = Object.fromEntries(
          foldSets.map((f) => [f.name, foldScore(run, t, f)]),
        );
      }
    }
    systems[system] = byTask;
  }
  return {
    corpus: meta.corpus,
    protocol: meta.protocol,
    backend: meta.backend,
    seeds: meta.seeds,
    tasks: Object.fromEntries(tasks.map((t) => [t.name, t.classes])),
    systems,
  };
}
