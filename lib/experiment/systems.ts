/**
 * How each system of Table 1 is run on the folds of an experiment: the neural systems train one
 * model per task (STL) or one for all tasks (MTL) per fold through `trainModel`; OS+SVM fits the
 * linear SVM on the eGeMAPS functionals.
 * @module
 */
import { join } from "node:path";
import type { Corpus, TaskSpec, Utterance } from "../corpus/types.ts";
import type { Fold } from "../corpus/splits.ts";
import type { AudioCache } from "../frames/mod.ts";
import type { Standardisation } from "../frames/types.ts";
import { computeStandardisation } from "../frames/mod.ts";
import { runSvmBaseline } from "../baselines/svm_baseline.ts";
import type { ProgressMode } from "../training/progress.ts";
import { type ModelSpec, trainModel } from "../training/train_model.ts";
import type { EpochRecord } from "../training/train.ts";
import { type ExperimentConfig, SYSTEM_INFO, type SystemName } from "./config.ts";
import type { CorpusFeatures } from "./features.ts";
import { concatPredictions, type Predictions, predictionsOf, type SeedRun } from "./summary.ts";

/** Shared state of one run. */
export interface RunContext {
  /** The resolved experiment. */
  config: ExperimentConfig;
  /** The loaded (and, for smoke runs, sampled) corpus. */
  corpus: Corpus;
  /** The experiment's tasks. */
  tasks: TaskSpec[];
  /** Folds of the protocol. */
  folds: Fold[];
  /** Backend and device in use. */
  backend: { backend: string; device: string };
  /** Log sink. */
  log: (line: string) => void;
  /** Training progress display. */
  progress: ProgressMode;
  /** Decoded audio, shared by every model. */
  audio: AudioCache;
  /** Raw-audio standardisation per fold (computed once per fold). */
  standardisation: Map<string, Standardisation>;
  /** eGeMAPS features, when an OS system runs. */
  features?: CorpusFeatures;
  /**
   * Git commit of the code of this sitting (null when unknown), recorded in every epoch record
   * (a study run over several sittings may span commits) and in run.json, plan.json and each
   * trial's result.json.
   */
  commit: string | null;
}

async function foldStandardisation(ctx: RunContext, fold: Fold): Promise<Standardisation> {
  let s = ctx.standardisation.get(fold.name);
  if (!s) {
    s = await computeStandardisation(fold.train, ctx.audio.reader);
    ctx.standardisation.set(fold.name, s);
    ctx.log(
      `standardisation (${fold.name}): mean ${s.mean.toExponential(3)}, std ${
        s.std.toExponential(3)
      }`,
    );
  }
  return s;
}

/** The model spec of a neural system for a task group and seed, from the experiment. */
export function modelSpecFor(
  config: ExperimentConfig,
  system: SystemName,
  tasks: TaskSpec[],
  seed: number,
): ModelSpec {
  const info = SYSTEM_INFO[system];
  if (info.input === "functionals") throw new Error(`${system} is not a neural system`);
  const t = config.training;
  return {
    tasks,
    pooling: info.pooling!,
    input: info.input === "lld" ? "features" : "raw",
    network: structuredClone(config.model),
    training: {
      epochs: t.epochs,
      patience: t.patience,
      batchSize: t.batchSize,
      learningRate: t.learningRate,
      l2: t.l2,
      classWeighting: t.classWeighting,
      taskWeightTrials: info.multiTask ? t.taskWeightTrials : 1,
      // One engine keeps the spec (and outcome.json) of earlier runs unchanged.
      ...(t.workers > 1 ? { workers: t.workers } : {}),
    },
    seed,
  };
}

/** One model of a neural system: a task group (one task for STL, all for MTL) on one fold. */
export interface ModelUnit {
  /** The fold it trains and is evaluated on. */
  fold: Fold;
  /** Its tasks. */
  tasks: TaskSpec[];
  /** Its folder and history name: `mtl` or the task, plus `-<fold>` when there are several folds. */
  name: string;
}

/** The models a neural system trains per seed, in training order: fold by fold, group by group. */
export function modelUnits(system: SystemName, tasks: TaskSpec[], folds: Fold[]): ModelUnit[] {
  const info = SYSTEM_INFO[system];
  if (info.input === "functionals") throw new Error(`${system} is not a neural system`);
  const groups = info.multiTask ? [tasks] : tasks.map((t) => [t]);
  return folds.flatMap((fold) =>
    groups.map((group) => ({
      fold,
      tasks: group,
      name: `${info.multiTask ? "mtl" : group[0].name}${folds.length > 1 ? `-${fold.name}` : ""}`,
    }))
  );
}

/** What one trained model gives its seed's run: its history and its tasks' predictions. */
export interface UnitRun {
  /** The unit's name ({@link ModelUnit}). */
  name: string;
  /** Epoch records of the selected training. */
  history: EpochRecord[];
  /** Per task of the unit: dev and test predictions on the unit's fold. */
  tasks: Record<string, { dev: Predictions; test: Predictions }>;
}

/**
 * Trains (or loads, when `dir` holds the finished training) one model of a neural system
 * through `trainModel`, the one training path.
 */
export async function trainUnit(
  ctx: RunContext,
  system: SystemName,
  seed: number,
  unit: ModelUnit,
  dir: string,
): Promise<UnitRun> {
  const lld = SYSTEM_INFO[system].input === "lld";
  // OS+RNN sees only utterances whose eGeMAPS extraction succeeded.
  const keep = (list: Utterance[]) =>
    lld ? list.filter((u) => ctx.features!.functionals.has(u.id)) : list;
  const { fold, tasks, name } = unit;
  const used: Fold = {
    ...fold,
    train: keep(fold.train),
    dev: keep(fold.dev),
    test: keep(fold.test),
  };
  const spec = modelSpecFor(ctx.config, system, tasks, seed);
  const r = await trainModel(spec, used, {
    dir,
    read: ctx.audio.reader,
    standardisation: lld ? undefined : await foldStandardisation(ctx, fold),
    features: lld ? { dim: ctx.features!.lldDim, load: ctx.features!.loadLld } : undefined,
    backend: ctx.backend,
    progress: ctx.progress,
    log: (line) => ctx.log(`  ${name}: ${line}`),
    // The resolved experiment travels with every model, so a model folder says how it was made.
    describe: { system, corpus: ctx.corpus.name, experiment: ctx.config },
    code: ctx.commit ?? undefined,
    checkpointAbove: ctx.config.checkpointAbove,
  });
  if (r.reused) ctx.log(`  ${name}: already trained (${join(dir, "outcome.json")})`);
  r.model.dispose();
  return {
    name,
    history: r.history,
    tasks: Object.fromEntries(
      tasks.map((
        t,
      ) => [t.name, { dev: predictionsOf(r.dev, t.name), test: predictionsOf(r.test, t.name) }]),
    ),
  };
}

/**
 * One seed's run of a neural system from its units' runs (in {@link modelUnits} order): per
 * task the dev and test predictions pooled over folds, and every model's history.
 */
export function assembleSeedRun(seed: number, tasks: TaskSpec[], units: UnitRun[]): SeedRun {
  const perTask: Record<string, { dev: Predictions[]; test: Predictions[] }> = {};
  for (const t of tasks) perTask[t.name] = { dev: [], test: [] };
  const histories: Record<string, EpochRecord[]> = {};
  for (const u of units) {
    histories[u.name] = u.history;
    for (const [task, p] of Object.entries(u.tasks)) {
      perTask[task].dev.push(p.dev);
      perTask[task].test.push(p.test);
    }
  }
  return {
    seed,
    histories,
    tasks: Object.fromEntries(
      Object.entries(perTask).map((
        [k, v],
      ) => [k, { dev: concatPredictions(v.dev), test: concatPredictions(v.test) }]),
    ),
  };
}

/** Runs one neural system for one seed over every fold and task group. */
export async function runNeural(
  ctx: RunContext,
  system: SystemName,
  seed: number,
  dir: string,
): Promise<SeedRun> {
  const units: UnitRun[] = [];
  for (const unit of modelUnits(system, ctx.tasks, ctx.folds)) {
    units.push(await trainUnit(ctx, system, seed, unit, join(dir, unit.name)));
  }
  return assembleSeedRun(seed, ctx.tasks, units);
}

/** Runs OS+SVM (deterministic: the seed only labels the run). */
export async function runSvm(ctx: RunContext, seed: number): Promise<SeedRun> {
  const features = ctx.features!.functionals;
  const has = (u: Utterance) => features.has(u.id);
  const grid = ctx.config.baselines.svmCGrid;
  const fixedC = grid.length === 1 ? { c: grid[0] } : { cGrid: grid };
  if (ctx.config.data.protocol === "session-cv") {
    // One split per fold (its train, dev and test sessions), C chosen on the fold's dev session
    // as for the neural systems; predictions pooled over folds in fold order.
    const parts: Record<string, { dev: Predictions[]; test: Predictions[] }> = {};
    for (const t of ctx.tasks) parts[t.name] = { dev: [], test: [] };
    for (const fold of ctx.folds) {
      const utterances = (["train", "dev", "test"] as const).flatMap((p) =>
        fold[p].filter(has).map((u) => ({ ...u, partition: p }))
      );
      const r = await runSvmBaseline({
        features,
        utterances,
        tasks: ctx.tasks,
        protocol: "split",
        featureNorm: ctx.config.baselines.featureNorm,
        ...fixedC,
      });
      for (const t of ctx.tasks) {
        const p = svmPredictions(utterances, t.name, r.tasks[t.name]);
        parts[t.name].dev.push(p.dev);
        parts[t.name].test.push(p.test);
        const tr = r.tasks[t.name];
        ctx.log(
          `  ${t.name} (${fold.name}): C = ${tr.c}, dev ${(100 * tr.devUar).toFixed(1)} / test ${
            (100 * tr.uar).toFixed(1)
          }`,
        );
      }
    }
    const tasks: SeedRun["tasks"] = {};
    for (const t of ctx.tasks) {
      tasks[t.name] = {
        dev: concatPredictions(parts[t.name].dev),
        test: concatPredictions(parts[t.name].test),
      };
    }
    return { seed, histories: {}, tasks };
  }
  const utterances = ctx.corpus.utterances.filter(has);
  const loso = ctx.config.data.protocol === "loso";
  // Under LOSO the SVM trains on all other speakers and picks C by an inner speaker
  // cross-validation (3 folds) instead of spending a speaker on a dev set: the usual protocol
  // for static classifiers, and the one of the published openSMILE reference.
  const r = await runSvmBaseline({
    features,
    utterances,
    tasks: ctx.tasks,
    protocol: loso ? "loso" : "split",
    featureNorm: ctx.config.baselines.featureNorm,
    ...(grid.length === 1 ? { c: grid[0] } : { cGrid: grid, innerFolds: loso ? 3 : undefined }),
  });
  const tasks: SeedRun["tasks"] = {};
  for (const t of ctx.tasks) {
    const tr = r.tasks[t.name];
    tasks[t.name] = svmPredictions(utterances, t.name, tr);
    ctx.log(
      `  ${t.name}: C = ${tr.c}${loso ? " (most folds)" : ""}, dev ${(100 * tr.devUar).toFixed(1)}${
        loso ? " (inner CV)" : ""
      } / test ${(100 * tr.uar).toFixed(1)}`,
    );
  }
  return { seed, histories: {}, tasks };
}

/** An SVM task result's dev and test predictions, with the truth from the utterances' labels. */
function svmPredictions(
  utterances: Utterance[],
  task: string,
  tr: { devPredictions: Map<string, number>; predictions: Map<string, number> },
): { dev: Predictions; test: Predictions } {
  const label = new Map(utterances.map((u) => [u.id, u.labels[task] ?? -1]));
  const toPred = (m: Map<string, number>): Predictions => {
    const ids = [...m.keys()];
    return {
      ids,
      truth: ids.map((id) => label.get(id)!),
      predictions: ids.map((id) => m.get(id)!),
    };
  };
  return { dev: toPred(tr.devPredictions), test: toPred(tr.predictions) };
}
