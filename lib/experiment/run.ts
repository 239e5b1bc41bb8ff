/**
 * `runExperiment`: trains and evaluates the selected systems of Table 1 on a corpus, under the
 * fixed split or leave-one-speaker-out, over one or more seeds, and writes every output of the
 * run into `config.out`: results.json, table.md/csv, figures, models, logs, the load report and
 * run.json. Finished systems and finished model trainings are kept on disk, so re-running with
 * the same `out` resumes where it stopped.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { join } from "node:path";
import {
  type CorpusReport,
  corpusReport,
  fixedSplit,
  type Fold,
  formatCorpusReport,
  leaveOneSpeakerOut,
  loadCorpus,
  parseSessionSplit,
  samplePerPartition,
  sessionFolds,
  sessionOf,
  speakersOf,
  type Utterance,
} from "../corpus/mod.ts";
import { AudioCache } from "../frames/mod.ts";
import { initBackend } from "../model/backend.ts";
import type { ProgressMode } from "../training/progress.ts";
import { pathExists, readJsonIfExists, writeJsonAtomic } from "../util/atomic.ts";
import {
  type ExperimentConfig,
  resultFingerprint,
  SYSTEM_INFO,
  type SystemName,
} from "./config.ts";
import { corpusFeatures } from "./features.ts";
import { pickFigureUtterances, writeOutputs } from "./outputs.ts";
import type { ExperimentResults } from "./results.ts";
import {
  type FoldMembers,
  type SeedRun,
  summarise,
  systemCpuSeconds,
  type SystemRun,
} from "./summary.ts";
import { type RunContext, runNeural, runSvm } from "./systems.ts";

/** Options of {@link runExperiment}. */
export interface RunOptions {
  /** Receives log lines (also appended to `<out>/log.txt`). */
  log?: (line: string) => void;
  /** Training progress display. */
  progress?: ProgressMode;
  /** Git commit of the code, recorded in run.json (default: asked from `git` when allowed). */
  commit?: string | null;
}

/** What run.json records. */
export interface RunRecord {
  /** ISO start time. */
  started: string;
  /** ISO end time. */
  finished: string;
  /** Wall-clock seconds. */
  seconds: number;
  /** The resolved experiment. */
  config: ExperimentConfig;
  /** Backend really used. */
  backend: string;
  /** Device really used. */
  device: string;
  /**
   * Git commit of this sitting's code (null when unknown); every epoch record of a model names
   * the commit that trained it (`code`), so a study run over several sittings shows them all.
   */
  commit: string | null;
  /** Seeds run. */
  seeds: number[];
  /** Seconds per system: its models' training over every sitting (the SVM: its fits). */
  durations: Record<string, number>;
  /**
   * CPU seconds per neural system over the same epochs, all threads (null: the SVM, or some
   * epoch recorded without CPU time). On a shared machine the steadier measure of cost.
   */
  cpuDurations?: Record<string, number | null>;
  /** Runtime versions. */
  versions: { deno: string; v8: string; tfjs: string };
  /** The machine that ran the invocation (missing fields could not be read). */
  hardware?: Hardware;
  /** Utterances per fold and partition. */
  utterances: Record<string, { train: number; dev: number; test: number }>;
  /** Only for results collected from trials (`reproduce --collect`): what was collected. */
  trials?: {
    /** Trials in the plan. */
    planned: number;
    /** Trials with a result. */
    finished: number;
    /** Ids of the trials without a result (their systems are left out of the results). */
    missing: string[];
    /** Hosts the finished trials ran on. */
    hosts: string[];
  };
}

/** The utterances of Figure 2: two test utterances of the fixed split (none otherwise). */
export function figureUtterances(config: ExperimentConfig, folds: Fold[]): Utterance[] {
  return config.data.protocol === "split" ? pickFigureUtterances(folds[0].test) : [];
}

/** Utterances per fold and partition, as run.json records them. */
export function foldSizes(folds: Fold[]): RunRecord["utterances"] {
  return Object.fromEntries(
    folds.map((f) => [f.name, { train: f.train.length, dev: f.dev.length, test: f.test.length }]),
  );
}

/** Which utterances each fold scores (dev and test ids), for the per-fold results. */
export function foldMembers(folds: Fold[]): FoldMembers[] {
  return folds.map((f) => ({
    name: f.name,
    dev: f.dev.map((u) => u.id),
    test: f.test.map((u) => u.id),
  }));
}

/** Everything {@link runExperiment} returns (and has written). */
export interface ExperimentOutcome {
  /** The contents of results.json. */
  results: ExperimentResults;
  /** Per-system raw runs. */
  runs: Partial<Record<SystemName, SystemRun>>;
  /** The contents of run.json. */
  run: RunRecord;
  /** The folds that were run (one, `split`, under the fixed split). */
  folds: Fold[];
}

const text = new TextEncoder();

/** What run.json says about the machine. */
export interface Hardware {
  /** Operating system and architecture, e.g. `linux x86_64`. */
  platform: string;
  /** Logical cores the runtime reports. */
  cores: number;
  /** CPU model name (Linux: /proc/cpuinfo). */
  cpu?: string;
  /** Memory in GiB (Linux: /proc/meminfo). */
  memoryGiB?: number;
}

/** The machine, from what the runtime and (on Linux) /proc tell without extra permissions. */
async function hardware(): Promise<Hardware> {
  const h: Hardware = {
    platform: `${Deno.build.os} ${Deno.build.arch}`,
    cores: navigator.hardwareConcurrency,
  };
  const read = (f: string) => Deno.readTextFile(f).catch(() => "");
  h.cpu = /^model name\s*:\s*(.+)$/m.exec(await read("/proc/cpuinfo"))?.[1]?.trim();
  const kb = /^MemTotal:\s*(\d+) kB/m.exec(await read("/proc/meminfo"))?.[1];
  if (kb) h.memoryGiB = Math.round(Number(kb) / 1048576 * 10) / 10;
  return h;
}

/** The code's own files: a change to any of them changes what a run computes. */
const CODE_PATHS = ["lib", "scripts", "experiments", "mod.ts", "deno.json", "deno.lock"];

/**
 * The git commit of the working directory, with `+modified` appended when the code's own files
 * (lib, scripts, experiments, the module and its configuration) differ from it, when `git` may
 * be run; null otherwise.
 */
export async function gitCommit(): Promise<string | null> {
  try {
    const allowed = await Deno.permissions.query({ name: "run", command: "git" });
    if (allowed.state !== "granted") return null;
    const git = (args: string[]) => new Deno.Command("git", { args, stderr: "null" }).output();
    const out = await git(["rev-parse", "HEAD"]);
    if (!out.success) return null;
    const sha = new TextDecoder().decode(out.stdout).trim();
    const status = await git([
      "status",
      "--porcelain",
      "--untracked-files=no",
      "--",
      ...CODE_PATHS,
    ]);
    return status.success && status.stdout.length > 0 ? `${sha}+modified` : sha;
  } catch {
    return null;
  }
}

/**
 * The folds of the experiment's protocol: the fixed split (one fold), leave-one-speaker-out
 * (the next speaker is the dev set) or one fold per session.
 * @throws when a fold has no training or no test utterances
 */
export function foldsOf(config: ExperimentConfig, utterances: Utterance[]): Fold[] {
  const protocol = config.data.protocol;
  const folds = protocol === "loso"
    ? leaveOneSpeakerOut(utterances, 1)
    : protocol === "session-cv"
    ? sessionFolds(utterances)
    : [fixedSplit(utterances)];
  for (const f of folds) {
    if (f.train.length === 0 || f.test.length === 0) {
      throw new Error(`fold ${f.name}: empty train or test set (check the corpus partitions)`);
    }
  }
  return folds;
}

/** The utterances a run uses: all, or `limitPerPartition` per partition (per session for session-cv). */
export function sampleUtterances(config: ExperimentConfig, utterances: Utterance[]): Utterance[] {
  return config.data.protocol === "session-cv"
    ? samplePerPartition(utterances, config.data.limitPerPartition, (u) => `${sessionOf(u)}`)
    : samplePerPartition(utterances, config.data.limitPerPartition);
}

/** A run's loaded data and shared state ({@link prepareRun}). */
export interface PreparedRun {
  /** The run context: corpus (sampled), tasks, folds, backend, caches; no features yet. */
  ctx: RunContext;
  /** The corpus load report. */
  report: CorpusReport;
}

/**
 * Starts the backend, loads and samples the corpus and builds the folds: what every run, plan
 * and trial starts from. With `out`, the load report is written to `<out>/corpus-report.json`
 * (before the folds are built, so a protocol the corpus cannot support still leaves it). The
 * code's commit (`commit`, or asked from git when undefined) is logged and kept in the context,
 * so every record the run writes names the same one.
 */
export async function prepareRun(
  config: ExperimentConfig,
  log: (line: string) => void,
  progress: ProgressMode = "auto",
  out?: string,
  commit?: string | null,
): Promise<PreparedRun> {
  const code = commit !== undefined ? commit : await gitCommit();
  log(`code: commit ${code ?? "unknown (git not available)"}`);
  const backend = await initBackend(config.backend);
  log(`backend: ${backend.backend} (${backend.device})`);
  let corpus = await loadCorpus({
    corpus: config.data.corpus,
    data: config.data.root,
    tasks: config.data.tasks.length ? config.data.tasks : undefined,
    sessionSplit: config.data.sessions ? parseSessionSplit(config.data.sessions) : undefined,
    strict: config.data.strict,
  });
  const utterances = sampleUtterances(config, corpus.utterances);
  corpus = { ...corpus, utterances };
  // The full load report goes into the run folder: the log lists only the first skipped files.
  const report = corpusReport(corpus);
  const reportPath = out ? join(out, "corpus-report.json") : undefined;
  if (reportPath) await writeJsonAtomic(reportPath, report);
  log(formatCorpusReport(report, 10, reportPath ? `see ${reportPath}` : undefined));
  const folds = foldsOf(config, utterances);
  if (config.data.protocol !== "split") {
    // The report above lists the corpus's own partitions; say what this protocol uses instead.
    log(
      `protocol ${config.data.protocol}: ${folds.length} folds, which replace the partitions ` +
        "listed above (every utterance is tested once, in its fold; test UAR is pooled over the folds)",
    );
    const who = (us: Utterance[]) => speakersOf(us).join(" ") || "–";
    for (const f of folds) {
      log(
        `  fold ${f.name}: test ${f.test.length} (${who(f.test)}), dev ${f.dev.length} ` +
          `(${who(f.dev)}), train ${f.train.length}`,
      );
    }
  }
  const ctx: RunContext = {
    config,
    corpus,
    tasks: corpus.tasks,
    folds,
    backend,
    log,
    progress,
    audio: new AudioCache(),
    standardisation: new Map(),
    commit: code,
  };
  return { ctx, report };
}

/**
 * Extracts (or reads from the `<out>/features/` cache) the eGeMAPS features the OS systems
 * need and, when `report` is given, adds their failures to `<out>/corpus-report.json`.
 */
export async function addFeatures(
  ctx: RunContext,
  report: CorpusReport | undefined,
  out: string,
): Promise<void> {
  // As many files at once as training uses engines: both mean "the cores this run may use".
  ctx.features = await corpusFeatures(ctx.corpus.utterances, join(out, "features"), ctx.log, {
    workers: ctx.config.training.workers,
  });
  for (const s of ctx.features.skipped) ctx.log(`skipped for OS systems: ${s.file}: ${s.reason}`);
  if (report) {
    await writeJsonAtomic(join(out, "corpus-report.json"), {
      ...report,
      egemapsSkipped: ctx.features.skipped,
    });
  }
}

/**
 * The seeds of an earlier run of a system that this run can keep: all of them when the earlier
 * run has as many seeds as asked or more (the first `seeds`), the finished ones when it stopped
 * after some seeds (or was run with fewer), none when its settings differ or its seeds are not
 * 1, 2, … in order (then it is not a result of this experiment's seed loop).
 */
export function reusableSeeds(
  previous: SystemRun | undefined,
  fingerprint: string,
  seeds: number,
): SeedRun[] {
  if (!previous || previous.fingerprint !== fingerprint) return [];
  if (!previous.seeds.every((s, i) => s.seed === i + 1)) return [];
  return previous.seeds.slice(0, seeds);
}

/** "seed 3" or "seeds 1–2". */
function seedList(first: number, last: number): string {
  return first === last ? `seed ${first}` : `seeds ${first}–${last}`;
}

/**
 * A system's seeds finished earlier (kept from its result.json) and a prepared folder for the
 * seeds still to run.
 */
async function prepareSystem(
  ctx: RunContext,
  system: SystemName,
  fingerprint: string,
): Promise<{ kept: SeedRun[]; seconds: number }> {
  const { config, log } = ctx;
  const dir = join(config.out, "systems", system);
  const previous = config.force
    ? undefined
    : await readJsonIfExists<SystemRun>(join(dir, "result.json"));
  const kept = reusableSeeds(previous, fingerprint, config.training.seeds);
  const label = SYSTEM_INFO[system].label;
  if (kept.length === config.training.seeds) {
    log(`${label}: finished earlier, results kept (--force re-runs it)`);
  } else if (kept.length > 0) {
    log(
      `${label}: ${seedList(1, kept.length)} finished earlier, results kept; ${
        seedList(kept.length + 1, config.training.seeds)
      } to run`,
    );
  } else if (previous && !config.force) {
    log(`${label}: ${join(dir, "result.json")} has other settings or seeds; re-running it`);
  }
  // Partial work of an interrupted attempt is reused only under the same settings; a result.json
  // of the same settings also vouches for the folder (a run folder rebuilt from committed
  // results has result.json but no fingerprint.json yet).
  const stamp = join(dir, "fingerprint.json");
  const stale = (await readJsonIfExists<string>(stamp)) !== fingerprint && kept.length === 0;
  if (config.force || stale) await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  await writeJsonAtomic(stamp, fingerprint);
  if (config.training.seeds > 1) await adoptSingleSeedRun(dir, log);
  // The SVM's seconds are its fits; a neural system's are recomputed from its seeds' epochs.
  const seconds = system === "os-svm"
    ? (previous?.seconds ?? 0) * kept.length / Math.max(1, previous?.seeds.length ?? 1)
    : kept.reduce((sum, r) => sum + trainingSeconds(r), 0);
  return { kept, seconds };
}

/**
 * A study grown from one seed to several keeps its first sitting: a one-seed run keeps its
 * models directly in the system's folder, a several-seed run under `seed-N/`, so the models of
 * a one-seed run with the same settings (same fingerprint) move into `seed-1/` and are reused
 * (each model's own outcome.json and checkpoint still check that seed and spec agree).
 */
async function adoptSingleSeedRun(dir: string, log: (line: string) => void): Promise<void> {
  const seed1 = join(dir, "seed-1");
  if (await pathExists(seed1)) return;
  const entries: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.name !== "fingerprint.json" && e.name !== "result.json" && !/^seed-\d+$/.test(e.name)) {
      entries.push(e.name);
    }
  }
  if (entries.length === 0) return;
  await Deno.mkdir(seed1);
  for (const name of entries) await Deno.rename(join(dir, name), join(seed1, name));
  await Deno.remove(join(dir, "result.json")).catch(() => {});
  log(`  ${dir}: the one-seed run's models are seed 1 of this run (${entries.join(", ")})`);
}

/** Seconds a seed's models trained, summed over every sitting (from their epoch logs). */
function trainingSeconds(run: SeedRun): number {
  let s = 0;
  for (const h of Object.values(run.histories)) for (const e of h) s += e.seconds;
  return s;
}

/**
 * Runs the systems seed by seed: seed 1 of every system first, then seed 2, and so on, so that
 * a long study interrupted after any number of sittings already has a complete comparison of
 * all systems for the seeds it finished. A system's result.json is rewritten after each of its
 * seeds, so the finished seeds survive even where the model folders do not (a run folder rebuilt
 * from committed result.json files trains only the missing seeds); finished model trainings are
 * also kept on disk and reused on the next sitting.
 */
async function runSystems(
  ctx: RunContext,
  fingerprint: string,
): Promise<Partial<Record<SystemName, SystemRun>>> {
  const { config, log } = ctx;
  const seeds = config.training.seeds;
  const partial = new Map<SystemName, { seeds: SeedRun[]; seconds: number }>();
  for (const system of config.systems) {
    const { kept, seconds } = await prepareSystem(ctx, system, fingerprint);
    partial.set(system, { seeds: kept, seconds });
  }
  const result = (system: SystemName): SystemRun => {
    const p = partial.get(system)!;
    return { system, fingerprint, seconds: p.seconds, seeds: p.seeds };
  };
  for (let seed = 1; seed <= seeds; seed++) {
    for (const system of config.systems) {
      const p = partial.get(system)!;
      if (p.seeds.length >= seed) continue;
      const dir = join(config.out, "systems", system);
      const seedDir = seeds > 1 ? join(dir, `seed-${seed}`) : dir;
      log(`${SYSTEM_INFO[system].label}${seeds > 1 ? `, seed ${seed} of ${seeds}` : ""}:`);
      const t0 = performance.now();
      const run = system === "os-svm"
        ? await runSvm(ctx, seed)
        : await runNeural(ctx, system, seed, seedDir);
      p.seeds.push(run);
      // Neural systems: their models' training time over all sittings; the SVM: this fit.
      p.seconds += system === "os-svm" ? (performance.now() - t0) / 1000 : trainingSeconds(run);
      await writeJsonAtomic(join(dir, "result.json"), result(system));
      if (seed === seeds) {
        log(`${SYSTEM_INFO[system].label}: done, ${p.seconds.toFixed(0)} s of training`);
      }
    }
  }
  return Object.fromEntries(config.systems.map((s) => [s, result(s)]));
}

/**
 * Runs the experiment and writes all of its outputs under `config.out`. Systems already
 * finished with the same settings are loaded instead of re-run (unless `force`).
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
    const { ctx, report } = await prepareRun(config, log, options.progress, out, options.commit);
    const { corpus, folds, backend, commit } = ctx;
    if (config.systems.some((s) => SYSTEM_INFO[s].input !== "raw")) {
      await addFeatures(ctx, report, out);
    }
    const runs = await runSystems(ctx, fingerprint);
    const durations: Record<string, number> = {};
    const cpuDurations: Record<string, number | null> = {};
    for (const system of config.systems) {
      durations[system] = runs[system]!.seconds;
      cpuDurations[system] = systemCpuSeconds(runs[system]!);
    }
    const results = summarise(runs, corpus.tasks, {
      corpus: corpus.name,
      protocol: config.data.protocol,
      backend: backend.backend,
      seeds: config.training.seeds,
    }, foldMembers(folds));
    const run: RunRecord = {
      started: started.toISOString(),
      finished: new Date().toISOString(),
      seconds: (Date.now() - started.getTime()) / 1000,
      config,
      backend: backend.backend,
      device: backend.device,
      commit,
      seeds: Array.from({ length: config.training.seeds }, (_, i) => i + 1),
      durations,
      cpuDurations,
      versions: { deno: Deno.version.deno, v8: Deno.version.v8, tfjs: tf.version_core },
      hardware: await hardware(),
      utterances: foldSizes(folds),
    };
    const outcome: ExperimentOutcome = { results, runs, run, folds };
    // Figure 2 uses two test utterances of the fixed split.
    const figure = figureUtterances(config, folds);
    await writeOutputs(out, outcome, figure, log);
    return outcome;
  } finally {
    logFile.close();
  }
}
