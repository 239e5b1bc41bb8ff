/**
 * `runExperiment`: trains and evaluates the selected systems of Table 1 on a corpus, under the
 * fixed split or leave-one-speaker-out, over one or more seeds, and writes every output of a
 * run (results, tables, figures, models, logs). Finished systems and finished model trainings
 * are kept on disk, so re-running with the same `out` resumes where it stopped.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import {
  corpusReport,
  fixedSplit,
  type Fold,
  formatCorpusReport,
  leaveOneSpeakerOut,
  loadCorpus,
} from "../corpus/mod.ts";
import type { Corpus, TaskSpec, Utterance } from "../corpus/types.ts";
import {
  AudioCache,
  batches,
  computeStandardisation,
  featureStatistics,
  windowSpec,
} from "../frames/mod.ts";
import type { Standardisation } from "../frames/types.ts";
import { initBackend } from "../model/backend.ts";
import { defaultModelConfig, EmotionModel } from "../model/model.ts";
import { saveModel } from "../model/persist.ts";
import type { ModelConfig } from "../model/types.ts";
import { runSvmBaseline } from "../baselines/svm_baseline.ts";
import { writeFileAtomic } from "../training/checkpoint.ts";
import { evaluate, type Evaluation } from "../training/evaluate.ts";
import { countClasses } from "../training/loss.ts";
import type { ProgressMode } from "../training/progress.ts";
import { searchTaskWeights } from "../training/search.ts";
import { type EpochRecord, train, type TrainOptions } from "../training/train.ts";
import { confusionMatrix, perClassRecall, uar } from "../evaluation/metrics.ts";
import { meanStd, pairedBootstrap, zTestOneTailed } from "../evaluation/stats.ts";
import {
  type ExperimentConfig,
  REFERENCE_SYSTEM,
  resultFingerprint,
  SYSTEM_INFO,
  type SystemName,
} from "./config.ts";
import { type CorpusFeatures, corpusFeatures } from "./features.ts";
import type { ExperimentResults, PartitionScore, TaskScores, TestScore } from "./results.ts";

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
  /** Wall-clock seconds spent (this and earlier interrupted attempts are not summed). */
  seconds: number;
  /** One entry per seed. */
  seeds: SeedRun[];
}

/** Options of {@link runExperiment}. */
export interface RunOptions {
  /** Receives log lines (also appended to `<out>/log.txt`). */
  log?: (line: string) => void;
  /** Training progress display. */
  progress?: ProgressMode;
}

/** Everything {@link runExperiment} returns. */
export interface ExperimentOutcome {
  /** The contents of results.json. */
  results: ExperimentResults;
  /** Per-system raw runs. */
  runs: Partial<Record<SystemName, SystemRun>>;
  /** The contents of run.json. */
  run: Record<string, unknown>;
  /** The folds that were run (one, `split`, under the fixed split). */
  folds: Fold[];
}

const text = new TextEncoder();

async function writeJson(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, text.encode(JSON.stringify(value, null, 1) + "\n"));
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as T;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
}

/** Keeps at most `n` utterances per partition (the first by id), for smoke runs. */
function limitPartitions(utterances: Utterance[], n: number): Utterance[] {
  if (n <= 0) return utterances;
  const byPartition = new Map<string, Utterance[]>();
  for (const u of [...utterances].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const p = u.partition ?? "none";
    const list = byPartition.get(p) ?? [];
    // Round-robin over speakers keeps several speakers in a small subset.
    list.push(u);
    byPartition.set(p, list);
  }
  const out: Utterance[] = [];
  for (const list of byPartition.values()) {
    const bySpeaker = new Map<string, Utterance[]>();
    for (const u of list) bySpeaker.set(u.speaker, [...(bySpeaker.get(u.speaker) ?? []), u]);
    const queues = [...bySpeaker.values()];
    let taken = 0;
    for (let i = 0; taken < n && queues.some((q) => i < q.length); i++) {
      for (const q of queues) {
        if (taken < n && i < q.length) {
          out.push(q[i]);
          taken++;
        }
      }
    }
  }
  return out;
}

function predictionsOf(e: Evaluation, task: string): Predictions {
  const t = e.tasks[task];
  return { ids: t.ids, truth: t.truth, predictions: t.predictions };
}

function concatPredictions(parts: Predictions[]): Predictions {
  return {
    ids: parts.flatMap((p) => p.ids),
    truth: parts.flatMap((p) => p.truth),
    predictions: parts.flatMap((p) => p.predictions),
  };
}

/** Shared state of one run. */
interface Context {
  config: ExperimentConfig;
  corpus: Corpus;
  tasks: TaskSpec[];
  folds: Fold[];
  backend: string;
  device: string;
  log: (line: string) => void;
  progress: ProgressMode;
  audio: AudioCache;
  standardisation: Map<string, Standardisation>;
  features?: CorpusFeatures;
}

async function foldStandardisation(ctx: Context, fold: Fold): Promise<Standardisation> {
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

/** Trains one neural model on one fold and evaluates it on dev and test. */
async function trainOne(
  ctx: Context,
  job: {
    system: SystemName;
    name: string;
    tasks: TaskSpec[];
    fold: Fold;
    seed: number;
    dir: string;
  },
): Promise<{ dev: Evaluation; test: Evaluation; history: EpochRecord[] }> {
  const { config } = ctx;
  const info = SYSTEM_INFO[job.system];
  const outcomePath = join(job.dir, "outcome.json");
  const done = await readJson<{ dev: Evaluation; test: Evaluation; history: EpochRecord[] }>(
    outcomePath,
  );
  if (done) {
    ctx.log(`  ${job.name}: already trained (${outcomePath})`);
    return done;
  }
  await Deno.mkdir(job.dir, { recursive: true });
  const lld = info.input === "lld";
  const fold = job.fold;
  const keep = (list: Utterance[]) =>
    lld ? list.filter((u) => ctx.features!.functionals.has(u.id)) : list;
  const trainSet = keep(fold.train), devSet = keep(fold.dev), testSet = keep(fold.test);
  const modelConfig: ModelConfig = defaultModelConfig(job.tasks, {
    pooling: info.pooling,
    seed: job.seed,
    input: lld
      ? { kind: "features", dim: ctx.features!.lldDim }
      : { kind: "raw", windowSamples: 640, hopSamples: 160 },
    conv: {
      filters: config.model.filters,
      kernel: config.model.kernel,
      pool: 2,
      channelPool: config.model.filters >= 10 ? 10 : 2,
    },
    gru: { units: config.model.gruUnits, layers: 2 },
  });
  let batchOptions: Parameters<typeof batches>[2];
  let extras: Parameters<typeof saveModel>[2];
  if (lld) {
    const frames = await Promise.all(trainSet.map((u) => ctx.features!.loadLld(u)));
    const stats = featureStatistics(frames, ctx.features!.lldDim);
    batchOptions = {
      batchSize: config.batchSize,
      features: { dim: ctx.features!.lldDim, load: ctx.features!.loadLld, ...stats },
    };
    extras = {
      backend: ctx.backend,
      device: ctx.device,
      standardisation: { mean: Array.from(stats.mean), std: Array.from(stats.std) },
    };
  } else {
    const standardisation = await foldStandardisation(ctx, fold);
    batchOptions = {
      batchSize: config.batchSize,
      standardisation,
      read: ctx.audio.reader,
      window: windowSpec(),
    };
    extras = { backend: ctx.backend, device: ctx.device, standardisation, window: windowSpec() };
  }
  const trainOptions: TrainOptions = {
    train: (_epoch, seed) => batches(trainSet, job.tasks, { ...batchOptions, shuffle: true, seed }),
    dev: devSet.length ? () => batches(devSet, job.tasks, batchOptions) : undefined,
    epochs: config.epochs,
    patience: config.patience,
    learningRate: config.learningRate,
    l2: config.l2,
    classWeighting: config.classWeighting,
    classCounts: countClasses(trainSet, job.tasks),
    seed: job.seed,
    checkpointDir: job.dir,
    logPath: join(job.dir, "epochs.jsonl"),
    progress: ctx.progress,
    batchesPerEpoch: Math.ceil(trainSet.length / config.batchSize),
    backend: ctx.backend,
  };
  const t0 = performance.now();
  let model: EmotionModel;
  let history: EpochRecord[];
  let dev: Evaluation | undefined;
  if (info.multiTask && config.taskWeightTrials > 1 && devSet.length) {
    const search = await searchTaskWeights(() => EmotionModel.create(modelConfig), trainOptions, {
      trials: config.taskWeightTrials,
      seed: job.seed,
      checkpointDir: job.dir,
      logPath: join(job.dir, "trials.jsonl"),
      onTrial: (t) =>
        ctx.log(
          `  ${job.name} trial ${t.trial}: weights ${JSON.stringify(t.weights)} → dev UAR ${
            (100 * t.devUar).toFixed(1)
          } %`,
        ),
    });
    model = search.model;
    history = search.result.history;
    dev = search.result.dev;
  } else {
    model = EmotionModel.create(modelConfig);
    const result = await train(model, trainOptions);
    history = result.history;
    dev = result.dev;
  }
  try {
    dev ??= await evaluate(model, batches(devSet, job.tasks, batchOptions), job.tasks);
    const test = await evaluate(model, batches(testSet, job.tasks, batchOptions), job.tasks);
    const best = history.findLast((h) => h.best) ?? history.at(-1);
    ctx.log(
      `  ${job.name}: ${history.length} epochs in ${
        ((performance.now() - t0) / 1000).toFixed(0)
      } s, ` +
        `best epoch ${best?.epoch ?? "–"}; ` +
        job.tasks.map((t) =>
          `${t.name} dev ${(100 * dev!.tasks[t.name].uar).toFixed(1)} / test ${
            (100 * test.tasks[t.name].uar).toFixed(1)
          }`
        ).join(", "),
    );
    await saveModel(join(job.dir, "model"), model, {
      ...extras,
      training: {
        system: job.system,
        fold: fold.name,
        seed: job.seed,
        corpus: ctx.corpus.name,
        bestEpoch: best?.epoch,
      },
    });
    // Probabilities are dropped from the stored outcome: predictions are all the statistics need.
    const slim = (e: Evaluation): Evaluation => ({
      meanUar: e.meanUar,
      tasks: Object.fromEntries(
        Object.entries(e.tasks).map(([k, v]) => [k, { ...v, probabilities: [] }]),
      ),
    });
    const outcome = { dev: slim(dev), test: slim(test), history };
    await writeJson(outcomePath, outcome);
    return outcome;
  } finally {
    model.dispose();
  }
}

async function runNeural(
  ctx: Context,
  system: SystemName,
  seed: number,
  dir: string,
): Promise<SeedRun> {
  const info = SYSTEM_INFO[system];
  const groups = info.multiTask ? [ctx.tasks] : ctx.tasks.map((t) => [t]);
  const perTask: Record<string, { dev: Predictions[]; test: Predictions[] }> = {};
  for (const t of ctx.tasks) perTask[t.name] = { dev: [], test: [] };
  const histories: Record<string, EpochRecord[]> = {};
  for (const fold of ctx.folds) {
    for (const tasks of groups) {
      const name = `${info.multiTask ? "mtl" : tasks[0].name}${
        ctx.folds.length > 1 ? `-${fold.name}` : ""
      }`;
      const r = await trainOne(ctx, { system, name, tasks, fold, seed, dir: join(dir, name) });
      histories[name] = r.history;
      for (const t of tasks) {
        perTask[t.name].dev.push(predictionsOf(r.dev, t.name));
        perTask[t.name].test.push(predictionsOf(r.test, t.name));
      }
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

async function runSvm(ctx: Context, seed: number): Promise<SeedRun> {
  const features = ctx.features!.functionals;
  const utterances = ctx.corpus.utterances.filter((u) => features.has(u.id));
  const loso = ctx.config.protocol === "loso";
  const grid = ctx.config.svmCGrid;
  // Under LOSO the SVM trains on all other speakers and picks C by an inner speaker
  // cross-validation (3 folds) instead of spending a speaker on a dev set: the usual protocol
  // for static classifiers, and the one of the published openSMILE reference.
  const r = await runSvmBaseline({
    features,
    utterances,
    tasks: ctx.tasks,
    protocol: loso ? "loso" : "split",
    featureNorm: ctx.config.featureNorm,
    ...(grid.length === 1 ? { c: grid[0] } : { cGrid: grid, innerFolds: loso ? 3 : undefined }),
  });
  const tasks: SeedRun["tasks"] = {};
  for (const t of ctx.tasks) {
    const tr = r.tasks[t.name];
    const label = new Map(utterances.map((u) => [u.id, u.labels[t.name] ?? -1]));
    const toPred = (m: Map<string, number>): Predictions => {
      const ids = [...m.keys()];
      return {
        ids,
        truth: ids.map((id) => label.get(id)!),
        predictions: ids.map((id) => m.get(id)!),
      };
    };
    tasks[t.name] = { dev: toPred(tr.devPredictions), test: toPred(tr.predictions) };
    ctx.log(
      `  ${t.name}: C = ${tr.c}${loso ? " (most folds)" : ""}, dev ${(100 * tr.devUar).toFixed(1)}${
        loso ? " (inner CV)" : ""
      } / test ${(100 * tr.uar).toFixed(1)}`,
    );
  }
  return { seed, histories: {}, tasks };
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

/** Turns raw system runs into the scores and tests of results.json. */
export function summarise(
  runs: Partial<Record<SystemName, SystemRun>>,
  tasks: TaskSpec[],
  meta: { corpus: string; protocol: string; backend: string; seeds: number },
): ExperimentResults {
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
        const refPred = aligned(testRuns[0], refRuns[0]);
        if (refPred) {
          const b = pairedBootstrap(
            testRuns[0].truth,
            testRuns[0].predictions,
            refPred,
            t.classes.length,
            {
              resamples: 1000,
              seed: 7,
            },
          );
          test.bootstrap_vs_e2e_stl = {
            difference: b.difference,
            low: b.low,
            high: b.high,
            p: b.p,
          };
        }
      }
      byTask[t.name] = { dev, test };
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

/**
 * Runs the experiment and writes its outputs under `config.out`. Systems already finished with
 * the same settings are loaded instead of re-run (unless `force`).
 */
export async function runExperiment(
  config: ExperimentConfig,
  options: RunOptions = {},
): Promise<ExperimentOutcome> {
  const started = new Date();
  const out = config.out;
  await Deno.mkdir(join(out, "systems"), { recursive: true });
  const logFile = await Deno.open(join(out, "log.txt"), { append: true, create: true });
  const log = (line: string) => {
    (options.log ?? console.log)(line);
    logFile.writeSync(text.encode(`${new Date().toISOString()} ${line}\n`));
  };
  try {
    const fingerprint = resultFingerprint(config);
    const backendInfo = await initBackend(config.backend);
    log(`backend: ${backendInfo.backend} (${backendInfo.device})`);
    let corpus = await loadCorpus({
      corpus: config.corpus,
      data: config.data,
      tasks: config.tasks.length ? config.tasks : undefined,
      strict: config.strict,
    });
    const utterances = limitPartitions(corpus.utterances, config.limitPerPartition);
    corpus = { ...corpus, utterances };
    // The full load report goes into the run folder: the log lists only the first skipped files.
    const report = corpusReport(corpus);
    const reportPath = join(out, "corpus-report.json");
    await writeJson(reportPath, report);
    log(formatCorpusReport(report, 10, `see ${reportPath}`));
    const tasks = corpus.tasks;
    const folds = config.protocol === "loso"
      ? leaveOneSpeakerOut(utterances, 1)
      : [fixedSplit(utterances)];
    for (const f of folds) {
      if (f.train.length === 0 || f.test.length === 0) {
        throw new Error(`fold ${f.name}: empty train or test set (check the corpus partitions)`);
      }
    }
    const ctx: Context = {
      config,
      corpus,
      tasks,
      folds,
      backend: backendInfo.backend,
      device: backendInfo.device,
      log,
      progress: options.progress ?? "auto",
      audio: new AudioCache(),
      standardisation: new Map(),
    };
    if (config.systems.some((s) => SYSTEM_INFO[s].input !== "raw")) {
      ctx.features = await corpusFeatures(utterances, join(out, "features"), log);
      for (const s of ctx.features.skipped) log(`skipped for OS systems: ${s.file}: ${s.reason}`);
      await writeJson(reportPath, { ...report, egemapsSkipped: ctx.features.skipped });
    }
    const runs: Partial<Record<SystemName, SystemRun>> = {};
    const durations: Record<string, number> = {};
    for (const system of config.systems) {
      const dir = join(out, "systems", system);
      const resultPath = join(dir, "result.json");
      const previous = config.force ? undefined : await readJson<SystemRun>(resultPath);
      if (
        previous && previous.fingerprint === fingerprint && previous.seeds.length === config.seeds
      ) {
        log(`${SYSTEM_INFO[system].label}: finished earlier, results kept (--force re-runs it)`);
        runs[system] = previous;
        durations[system] = previous.seconds;
        continue;
      }
      // Partial work of an interrupted attempt is reused only under the same settings.
      const stamp = join(dir, "fingerprint.json");
      const stale = (await readJson<string>(stamp)) !== fingerprint;
      if (config.force || stale) await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.mkdir(dir, { recursive: true });
      await writeJson(stamp, fingerprint);
      log(`${SYSTEM_INFO[system].label}:`);
      const t0 = performance.now();
      const seeds: SeedRun[] = [];
      for (let seed = 1; seed <= config.seeds; seed++) {
        const seedDir = config.seeds > 1 ? join(dir, `seed-${seed}`) : dir;
        seeds.push(
          system === "os-svm"
            ? await runSvm(ctx, seed)
            : await runNeural(ctx, system, seed, seedDir),
        );
      }
      const run: SystemRun = {
        system,
        fingerprint,
        seconds: (performance.now() - t0) / 1000,
        seeds,
      };
      await writeJson(resultPath, run);
      runs[system] = run;
      durations[system] = run.seconds;
      log(`${SYSTEM_INFO[system].label}: done in ${run.seconds.toFixed(0)} s`);
    }
    const results = summarise(runs, tasks, {
      corpus: corpus.name,
      protocol: config.protocol,
      backend: backendInfo.backend,
      seeds: config.seeds,
    });
    const run = {
      started: started.toISOString(),
      finished: new Date().toISOString(),
      seconds: (Date.now() - started.getTime()) / 1000,
      config,
      backend: backendInfo.backend,
      device: backendInfo.device,
      seeds: Array.from({ length: config.seeds }, (_, i) => i + 1),
      durations,
      versions: { deno: Deno.version.deno, v8: Deno.version.v8, tfjs: tf.version_core },
      utterances: Object.fromEntries(
        folds.map((
          f,
        ) => [f.name, { train: f.train.length, dev: f.dev.length, test: f.test.length }]),
      ),
    };
    return { results, runs, run, folds };
  } finally {
    logFile.close();
  }
}
