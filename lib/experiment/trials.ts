/**
 * A study as independent trials, for a scheduler (Slurm job arrays, Kubernetes Indexed Jobs):
 * `reproduce --plan` writes `trials.jsonl` (one line per training or fit) and `plan.json` (the
 * resolved experiment and what the trials were planned from); `reproduce --trial I` runs line
 * I alone into `trials/<id>/`; `reproduce --collect` builds results.json, the tables and the
 * figures from the finished trials — the same results as one `reproduce` process.
 *
 * A trial is one `trainModel` call of a neural system (system × task group × fold × seed; an
 * MTL task-weight search stays inside its trial, because `trainModel` runs the search and picks
 * the best trial on dev) or the OS+SVM fit (every fold and task in one fit, done once: the SVM
 * is deterministic and the single-process run gives every seed the same predictions). The code
 * that trains is the single-process code: {@link trainUnit} and {@link runSvm}.
 *
 * Layout of `DIR`:
 *
 * - `plan.json`, `trials.jsonl`, `corpus-report.json`, `log.txt` (plan and collect);
 * - `trials/<id>/`: the model's `trainModel` folder (checkpoints, `epochs.jsonl`, `model/`,
 *   `outcome.json`), `log.txt`, `result.json` (written last, atomically: a finished trial) and,
 *   while it runs, `lock` (created exclusively; see {@link acquireLock});
 * - `features/`: the eGeMAPS cache the OS trials share (content-addressed; concurrent writers
 *   write identical files atomically);
 * - after `--collect`: results.json, table.md/csv, figures, attention.svg/png, run.json.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { dirname, join } from "node:path";
import type { TaskSpec, Utterance } from "../corpus/types.ts";
import type { Fold } from "../corpus/splits.ts";
import { initBackend } from "../model/backend.ts";
import type { ProgressMode } from "../training/progress.ts";
import type { EpochRecord } from "../training/train.ts";
import {
  readJsonIfExists,
  temporaryName,
  writeFileAtomic,
  writeJsonAtomic,
} from "../util/atomic.ts";
import {
  type ExperimentConfig,
  resultFingerprint,
  SYSTEM_INFO,
  type SystemName,
} from "./config.ts";
import { writeOutputs } from "./outputs.ts";
import {
  addFeatures,
  figureUtterances,
  foldMembers,
  foldSizes,
  prepareRun,
  type RunRecord,
} from "./run.ts";
import type { ExperimentResults } from "./results.ts";
import {
  type FoldMembers,
  type Predictions,
  summarise,
  systemCpuSeconds,
  type SystemRun,
} from "./summary.ts";
import {
  assembleSeedRun,
  modelSpecFor,
  modelUnits,
  type RunContext,
  runSvm,
  trainUnit,
} from "./systems.ts";

/** Version of plan.json, trials.jsonl and result.json. */
export const PLAN_FORMAT = 1;

/** One line of trials.jsonl: one independent training (or the SVM fit). */
export interface TrialSpec {
  /** 0-based line number (the `--trial` index). */
  index: number;
  /**
   * Stable id: readable prefix plus 12 hex digits of the SHA-256 of everything that defines the
   * trial (system, tasks, fold and its utterance ids, seed, model spec or SVM settings, data
   * settings, backend). Its folder is `trials/<id>/`.
   */
  id: string;
  /** The system. */
  system: SystemName;
  /** Its task or task set. */
  tasks: string[];
  /** The fold; null for the OS+SVM fit, which covers every fold. */
  fold: string | null;
  /** The seed; null for the OS+SVM fit, which is deterministic and serves every seed. */
  seed: number | null;
  /** The model's name in the single-process layout (`mtl`, a task, `-<fold>`); `svm` for OS+SVM. */
  name: string;
  /** MTL task-weight search trials run inside this training (1: equal weights). */
  taskWeightTrials: number;
}

/** What plan.json holds. */
export interface Plan {
  /** {@link PLAN_FORMAT}. */
  format: number;
  /** ISO time of `--plan`. */
  created: string;
  /** Git commit of the code that planned (null when unknown). */
  commit: string | null;
  /** The resolved experiment. */
  config: ExperimentConfig;
  /** The settings fingerprint (as in systems/<name>/result.json of a single-process run). */
  fingerprint: string;
  /** Corpus name. */
  corpus: string;
  /** The experiment's tasks and their classes. */
  tasks: TaskSpec[];
  /** Utterances per fold and partition. */
  utterances: RunRecord["utterances"];
  /** Every fold's dev and test ids (per-fold results). */
  folds: FoldMembers[];
  /** The utterances of Figure 2 (fixed split only). */
  figure: Utterance[];
  /** Number of lines of trials.jsonl. */
  trials: number;
}

/** What `trials/<id>/result.json` holds. */
export interface TrialResult {
  /** {@link PLAN_FORMAT}. */
  format: number;
  /** The trial's id. */
  id: string;
  /** The trial. */
  trial: TrialSpec;
  /** Backend and device really used. */
  backend: string;
  /** Device really used. */
  device: string;
  /** Host it ran on. */
  host: string;
  /** Git commit of the code that ran it (null when unknown). */
  commit: string | null;
  /** ISO start and end time. */
  started: string;
  /** ISO end time. */
  finished: string;
  /** Seconds: the model's epochs over every sitting (neural) or the fit's wall time (SVM). */
  seconds: number;
  /** Epoch history of the model, by its name (empty for OS+SVM). */
  histories: Record<string, EpochRecord[]>;
  /** Per task: dev and test predictions (the fold's; all folds' for OS+SVM). */
  tasks: Record<string, { dev: Predictions; test: Predictions }>;
  /** eGeMAPS extraction failures (OS trials only). */
  egemapsSkipped?: { file: string; reason: string }[];
}

const encoder = new TextEncoder();

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Hash of which utterances a fold trains, selects and tests on. */
async function foldHash(fold: Fold): Promise<string> {
  const ids = (list: Utterance[]) => list.map((u) => u.id);
  return await sha256Hex(
    JSON.stringify({ train: ids(fold.train), dev: ids(fold.dev), test: ids(fold.test) }),
  );
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");

/**
 * The trials of an experiment, in the order of a single-process run: seed by seed, system by
 * system, fold by fold, task group by task group; the OS+SVM fit once, at seed 1's place.
 */
export async function planTrials(ctx: RunContext): Promise<TrialSpec[]> {
  const { config, tasks, folds } = ctx;
  const { data } = config;
  const common = {
    data: {
      corpus: data.corpus,
      tasks: data.tasks,
      sessions: data.sessions ?? null,
      protocol: data.protocol,
      limitPerPartition: data.limitPerPartition,
    },
    backend: config.backend,
  };
  const hashes = new Map<string, string>();
  for (const f of folds) hashes.set(f.name, await foldHash(f));
  const trials: TrialSpec[] = [];
  const add = async (
    t: Omit<TrialSpec, "index" | "id">,
    defines: Record<string, unknown>,
    slug: string,
  ) => {
    const hash = await sha256Hex(JSON.stringify({ format: PLAN_FORMAT, ...t, ...defines }));
    trials.push({ index: trials.length, id: `${safe(slug)}-${hash.slice(0, 12)}`, ...t });
  };
  for (let seed = 1; seed <= config.training.seeds; seed++) {
    for (const system of config.systems) {
      if (SYSTEM_INFO[system].input === "functionals") {
        if (seed > 1) continue;
        await add(
          {
            system,
            tasks: tasks.map((t) => t.name),
            fold: null,
            seed: null,
            name: "svm",
            taskWeightTrials: 1,
          },
          {
            ...common,
            taskSpecs: tasks,
            baselines: config.baselines,
            folds: folds.map((f) => hashes.get(f.name)),
          },
          system,
        );
        continue;
      }
      for (const unit of modelUnits(system, tasks, folds)) {
        const spec = modelSpecFor(config, system, unit.tasks, seed);
        await add(
          {
            system,
            tasks: unit.tasks.map((t) => t.name),
            fold: unit.fold.name,
            seed,
            name: unit.name,
            taskWeightTrials: spec.training.taskWeightTrials,
          },
          { ...common, spec, foldData: hashes.get(unit.fold.name) },
          `${system}-${unit.name}-s${seed}`,
        );
      }
    }
  }
  return trials;
}

/** Paths of a run folder's plan files. */
function planPaths(out: string) {
  return {
    plan: join(out, "plan.json"),
    trials: join(out, "trials.jsonl"),
    trialDir: (id: string) => join(out, "trials", id),
  };
}

/** A log function that also appends to `file`; close it with the returned `close`. */
async function fileLog(
  file: string,
  sink: (line: string) => void,
): Promise<{ log: (line: string) => void; close: () => void }> {
  await Deno.mkdir(dirname(file), { recursive: true });
  const f = await Deno.open(file, { append: true, create: true });
  return {
    log: (line) => {
      sink(line);
      f.writeSync(encoder.encode(`${new Date().toISOString()} ${line}\n`));
    },
    close: () => f.close(),
  };
}

/** Options of {@link writePlan}, {@link runTrial} and {@link collectTrials}. */
export interface TrialOptions {
  /** Receives log lines (also appended to the run's or trial's log.txt). */
  log?: (line: string) => void;
  /** Training progress display (trials). */
  progress?: ProgressMode;
  /** Git commit to record (default: asked from `git` when allowed). */
  commit?: string | null;
}

/**
 * `reproduce --plan`: loads the corpus, builds the folds and writes `plan.json`,
 * `trials.jsonl` and `corpus-report.json` into `config.out`. Planning again with the same
 * experiment writes the same lines; trials already finished are kept (their ids still match).
 */
export async function writePlan(
  config: ExperimentConfig,
  options: TrialOptions = {},
): Promise<{ plan: Plan; trials: TrialSpec[] }> {
  const out = config.out;
  await Deno.mkdir(out, { recursive: true });
  const { log, close } = await fileLog(join(out, "log.txt"), options.log ?? console.log);
  try {
    const { ctx } = await prepareRun(config, log, "none", out, options.commit);
    const trials = await planTrials(ctx);
    const plan: Plan = {
      format: PLAN_FORMAT,
      created: new Date().toISOString(),
      commit: ctx.commit,
      config,
      fingerprint: resultFingerprint(config),
      corpus: ctx.corpus.name,
      tasks: ctx.tasks,
      utterances: foldSizes(ctx.folds),
      folds: foldMembers(ctx.folds),
      figure: figureUtterances(config, ctx.folds),
      trials: trials.length,
    };
    const paths = planPaths(out);
    const lines = trials.map((t) => JSON.stringify(t)).join("\n") + "\n";
    const before = await Deno.readTextFile(paths.trials).catch(() => undefined);
    if (before !== undefined && before !== lines) {
      log(
        `plan: ${paths.trials} changes (${before.split("\n").filter(Boolean).length} → ` +
          `${trials.length} trials); results of trials that are no longer planned stay in trials/`,
      );
    }
    await writeJsonAtomic(paths.plan, plan);
    await writeFileAtomic(paths.trials, lines);
    log(`plan: ${trials.length} trials in ${paths.trials}`);
    return { plan, trials };
  } finally {
    close();
  }
}

/** Reads plan.json and trials.jsonl of a run folder. */
export async function readPlan(out: string): Promise<{ plan: Plan; trials: TrialSpec[] }> {
  const paths = planPaths(out);
  const plan = await readJsonIfExists<Plan>(paths.plan);
  if (!plan) {
    throw new Error(`${paths.plan}: no plan (run reproduce --plan --out ${out} first)`);
  }
  if (plan.format !== PLAN_FORMAT) {
    throw new Error(
      `${paths.plan}: format ${plan.format}, this code reads ${PLAN_FORMAT}; plan again`,
    );
  }
  let text: string;
  try {
    text = await Deno.readTextFile(paths.trials);
  } catch (e) {
    throw new Error(`${paths.trials}: cannot read (${(e as Error).message})`);
  }
  const trials = text.split("\n").filter((l) => l.trim()).map((l, i) => {
    try {
      return JSON.parse(l) as TrialSpec;
    } catch (e) {
      throw new Error(`${paths.trials}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
  });
  if (trials.length !== plan.trials) {
    throw new Error(
      `${paths.trials} has ${trials.length} lines, ${paths.plan} says ${plan.trials}; plan again`,
    );
  }
  // The folder is where it is now (a shared file system may mount it elsewhere than at --plan).
  return { plan: { ...plan, config: { ...plan.config, out } }, trials };
}

/** A finished trial's result, or undefined (absent, or of another trial). */
async function finishedResult(out: string, t: TrialSpec): Promise<TrialResult | undefined> {
  const path = join(planPaths(out).trialDir(t.id), "result.json");
  let r: TrialResult | undefined;
  try {
    r = await readJsonIfExists<TrialResult>(path);
  } catch {
    return undefined; // unreadable: treat as not finished (it is rewritten atomically)
  }
  return r && r.id === t.id && r.format === PLAN_FORMAT ? r : undefined;
}

// ---------------------------------------------------------------------------------------------
// Locks: one process per trial.

/** What a trial's `lock` file holds. */
export interface LockInfo {
  /** Random token of the holder. */
  token: string;
  /** Host of the holder. */
  host: string;
  /** Process id of the holder. */
  pid: number;
  /** Slurm job of the holder (`SLURM_JOB_ID`), if any. */
  job: string | null;
  /** ISO time it was taken. */
  started: string;
  /** ISO time of the holder's last heartbeat. */
  heartbeat: string;
}

/** Thrown when another live process holds a trial's lock. */
export class TrialBusyError extends Error {
  /** The lock file. */
  readonly lockPath: string;
  /** Creates the error for the lock at `lockPath`. */
  constructor(message: string, lockPath: string) {
    super(message);
    this.name = "TrialBusyError";
    this.lockPath = lockPath;
  }
}

/** How often a lock holder refreshes its heartbeat. */
export const LOCK_HEARTBEAT_MS = 60_000;
/** A lock whose heartbeat is older than this is taken as abandoned. */
export const LOCK_STALE_MS = 10 * 60_000;

function envOf(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

let cachedHost: string | undefined;
/**
 * This machine's host name: `Deno.hostname()` (with --allow-sys=hostname), else `$HOSTNAME`,
 * else /etc/hostname, else "unknown".
 */
export async function hostName(): Promise<string> {
  if (cachedHost) return cachedHost;
  try {
    cachedHost = Deno.hostname();
  } catch {
    cachedHost = envOf("HOSTNAME") ||
      (await Deno.readTextFile("/etc/hostname").catch(() => "")).trim() || "unknown";
  }
  return cachedHost;
}

async function readLock(path: string): Promise<LockInfo | null | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    return null;
  }
  try {
    const v = JSON.parse(text) as LockInfo;
    return typeof v?.token === "string" ? v : null;
  } catch {
    return null; // being written by its creator
  }
}

/**
 * Why a lock is abandoned, or undefined while its holder may be alive. (Whether a process id
 * is alive cannot be asked without --allow-all or --allow-run, so a holder killed with SIGKILL
 * is recognised by its heartbeat, or by its Slurm job id when Slurm requeues the job.)
 */
function staleReason(info: LockInfo, now: number): string | undefined {
  const job = envOf("SLURM_JOB_ID");
  if (job && info.job === job && info.pid !== Deno.pid) {
    return `left by an earlier run of this Slurm job ${job} (requeued)`;
  }
  const age = now - Date.parse(info.heartbeat);
  if (!(age <= LOCK_STALE_MS)) {
    return `no heartbeat for ${Math.round(age / 60_000)} min (holder ${info.host} pid ${info.pid})`;
  }
}

/** A held lock; {@link Lock.release} removes it. */
export interface Lock {
  /** The lock file. */
  path: string;
  /** What it holds. */
  info: LockInfo;
  /** Stops the heartbeat and removes the file if it is still this holder's. */
  release(): Promise<void>;
}

async function createLock(path: string, info: LockInfo): Promise<boolean> {
  let f: Deno.FsFile;
  try {
    f = await Deno.open(path, { write: true, createNew: true });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw new Error(`${path}: cannot create lock (${(e as Error).message})`);
  }
  try {
    const bytes = encoder.encode(JSON.stringify(info) + "\n");
    let written = 0;
    while (written < bytes.length) written += await f.write(bytes.subarray(written));
    await f.syncData();
  } finally {
    f.close();
  }
  return true;
}

/**
 * Takes the lock file `path`, created exclusively (`createNew`, i.e. O_EXCL, which NFS v3+
 * and the usual cluster file systems honour). The holder rewrites its heartbeat every
 * {@link LOCK_HEARTBEAT_MS}; SIGINT and SIGTERM (Ctrl-C, `scancel`, a time limit, a
 * Kubernetes eviction) release it before the trial exits. A lock is taken over only when
 * abandoned: its Slurm job is this (requeued) job, or its heartbeat is older than
 * {@link LOCK_STALE_MS}; the take-over renames it aside and checks that it moved the lock it
 * judged, so two processes never both hold it.
 * @throws {TrialBusyError} naming the holder when another live process holds it
 */
export async function acquireLock(
  path: string,
  log: (line: string) => void = () => {},
): Promise<Lock> {
  const now = new Date().toISOString();
  const info: LockInfo = {
    token: crypto.randomUUID(),
    host: await hostName(),
    pid: Deno.pid,
    job: envOf("SLURM_JOB_ID") ?? null,
    started: now,
    heartbeat: now,
  };
  const busy = (other: LockInfo | null) =>
    new TrialBusyError(
      other
        ? `in progress elsewhere: ${path} is held by ${other.host} pid ${other.pid}` +
          `${other.job ? ` (Slurm job ${other.job})` : ""} since ${other.started}, ` +
          `last heartbeat ${other.heartbeat}. If that process is gone, delete ${path} ` +
          `(or wait ${LOCK_STALE_MS / 60_000} min after its last heartbeat) and run again.`
        : `in progress elsewhere: ${path} is being created by another process`,
      path,
    );
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createLock(path, info)) return startHeartbeat(path, info, log);
    const other = await readLock(path);
    if (other === undefined) continue; // released meanwhile
    if (other === null) throw busy(null);
    const why = staleReason(other, Date.now());
    if (!why) throw busy(other);
    log(`lock ${path}: ${why}; taking it over`);
    const aside = temporaryName(`${path}.stale`);
    try {
      await Deno.rename(path, aside);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    const moved = await readLock(aside);
    if (moved?.token !== other.token) {
      // Another process took it over first and we moved its fresh lock: put it back.
      await Deno.link(aside, path).catch(() => {});
      await Deno.remove(aside).catch(() => {});
      throw busy(moved ?? null);
    }
    await Deno.remove(aside).catch(() => {});
  }
  throw busy(await readLock(path) ?? null);
}

function startHeartbeat(path: string, info: LockInfo, log: (line: string) => void): Lock {
  let warned = false;
  let beating: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    beating = beating.then(async () => {
      const current = await readLock(path);
      if (current?.token === info.token) {
        info.heartbeat = new Date().toISOString();
        await writeJsonAtomic(path, info).catch(() => {});
      } else if (!warned) {
        warned = true;
        log(`warning: lock ${path} is no longer this process's (taken over or deleted)`);
      }
    });
  }, LOCK_HEARTBEAT_MS);
  Deno.unrefTimer(timer);
  return {
    path,
    info,
    release: async () => {
      clearInterval(timer);
      await beating;
      const current = await readLock(path);
      if (current?.token === info.token) await Deno.remove(path).catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Running one trial.

/** What {@link runTrial} did. */
export interface TrialOutcome {
  /** The trial. */
  trial: TrialSpec;
  /** `ran`: trained now; `finished-earlier`: its result was there, nothing was run. */
  status: "ran" | "finished-earlier";
  /** Its result. */
  result: TrialResult;
}

/** Seconds of training in epoch histories. */
function historySeconds(histories: Record<string, EpochRecord[]>): number {
  let s = 0;
  for (const h of Object.values(histories)) for (const e of h) s += e.seconds;
  return s;
}

/**
 * `reproduce --trial I`: runs line `index` of `<out>/trials.jsonl` into `<out>/trials/<id>/`
 * (resuming from its checkpoint), writing `result.json` atomically when done. A finished trial
 * is not run again. The corpus is loaded and the trial re-planned from plan.json's experiment:
 * if its id differs from the plan's (the corpus or the code changed), it refuses to run.
 * @throws {TrialBusyError} when another process is running the trial
 */
export async function runTrial(
  out: string,
  index: number,
  options: TrialOptions = {},
): Promise<TrialOutcome> {
  const { plan, trials } = await readPlan(out);
  if (!Number.isInteger(index) || index < 0 || index >= trials.length) {
    throw new Error(
      `trial ${index} out of range: ${join(out, "trials.jsonl")} has ${trials.length} trials ` +
        `(0…${trials.length - 1})`,
    );
  }
  const trial = trials[index];
  const sink = options.log ?? console.log;
  const earlier = await finishedResult(out, trial);
  if (earlier) {
    sink(`trial ${index} (${trial.id}): finished earlier, nothing to do`);
    return { trial, status: "finished-earlier", result: earlier };
  }
  const dir = planPaths(out).trialDir(trial.id);
  await Deno.mkdir(dir, { recursive: true });
  const { log, close } = await fileLog(join(dir, "log.txt"), sink);
  let lock: Lock;
  try {
    lock = await acquireLock(join(dir, "lock"), log);
  } catch (e) {
    close();
    throw e;
  }
  // Ctrl-C, and the SIGTERM Slurm and Kubernetes send before killing: leave no lock behind.
  const signals: Deno.Signal[] = [];
  const stopOn = (signal: Deno.Signal, code: number) => () => {
    log(`trial ${index}: ${signal}; releasing ${lock.path} (a rerun resumes from the checkpoint)`);
    lock.release().finally(() => Deno.exit(code));
  };
  const handlers = new Map<Deno.Signal, () => void>([
    ["SIGINT", stopOn("SIGINT", 130)],
    ["SIGTERM", stopOn("SIGTERM", 143)],
  ]);
  for (const [signal, handler] of handlers) {
    try {
      Deno.addSignalListener(signal, handler);
      signals.push(signal);
    } catch { /* signals unavailable (e.g. Windows) */ }
  }
  try {
    const done = await finishedResult(out, trial); // finished while we waited for the lock
    if (done) {
      log(`trial ${index} (${trial.id}): finished earlier, nothing to do`);
      return { trial, status: "finished-earlier", result: done };
    }
    const started = new Date();
    log(
      `trial ${index} of ${trials.length}: ${trial.id} (${SYSTEM_INFO[trial.system].label}, ` +
        `${trial.tasks.join("+")}, fold ${trial.fold ?? "all"}, seed ${trial.seed ?? "all"})`,
    );
    const { ctx } = await prepareRun(
      plan.config,
      log,
      options.progress ?? "auto",
      undefined,
      options.commit,
    );
    const again = (await planTrials(ctx))[index];
    if (!again || again.id !== trial.id) {
      throw new Error(
        `trial ${index}: planned as ${trial.id}, but the corpus and code here give ` +
          `${again?.id ?? "no such trial"} (the corpus, its folds or the code changed since ` +
          `--plan); plan again`,
      );
    }
    const os = SYSTEM_INFO[trial.system].input !== "raw";
    if (os) await addFeatures(ctx, undefined, out);
    let tasks: TrialResult["tasks"];
    let histories: TrialResult["histories"] = {};
    let seconds: number;
    if (trial.seed === null) {
      const t0 = performance.now();
      tasks = (await runSvm(ctx, 1)).tasks;
      seconds = (performance.now() - t0) / 1000;
    } else {
      const unit = modelUnits(trial.system, ctx.tasks, ctx.folds).find((u) =>
        u.name === trial.name
      )!;
      const r = await trainUnit(ctx, trial.system, trial.seed, unit, dir);
      tasks = r.tasks;
      histories = { [r.name]: r.history };
      seconds = historySeconds(histories);
    }
    const result: TrialResult = {
      format: PLAN_FORMAT,
      id: trial.id,
      trial,
      backend: ctx.backend.backend,
      device: ctx.backend.device,
      host: await hostName(),
      commit: ctx.commit,
      started: started.toISOString(),
      finished: new Date().toISOString(),
      seconds,
      histories,
      tasks,
      ...(os ? { egemapsSkipped: ctx.features!.skipped } : {}),
    };
    await writeJsonAtomic(join(dir, "result.json"), result);
    log(`trial ${index} (${trial.id}): done, ${seconds.toFixed(0)} s`);
    return { trial, status: "ran", result };
  } finally {
    for (const signal of signals) Deno.removeSignalListener(signal, handlers.get(signal)!);
    await lock.release();
    close();
  }
}

/**
 * The trial index a scheduler gives this process: `SLURM_ARRAY_TASK_ID` (Slurm job arrays),
 * else `JOB_COMPLETION_INDEX` (Kubernetes Indexed Jobs).
 * @throws when neither is set or the value is not an index
 */
export function trialIndexFromEnv(): number {
  for (const name of ["SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"]) {
    const v = envOf(name);
    if (v === undefined || v === "") continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name}=${v} is not a trial index`);
    return n;
  }
  throw new Error(
    "--trial without an index needs SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX in the environment",
  );
}

// ---------------------------------------------------------------------------------------------
// Collecting.

/** What {@link collectTrials} built. */
export interface CollectOutcome {
  /** results.json (the systems whose every trial finished); undefined when none did. */
  results?: ExperimentResults;
  /** The assembled system runs. */
  runs: Partial<Record<SystemName, SystemRun>>;
  /** run.json; undefined when nothing was written. */
  run?: RunRecord;
  /** Trials without a result. */
  missing: TrialSpec[];
  /** All planned trials. */
  trials: TrialSpec[];
}

/**
 * `reproduce --collect`: builds results.json, table.md/csv, the figures and run.json in `out`
 * from the finished trials, exactly as one `reproduce` process with the same experiment would
 * (the same assembly and summary code). Systems with a missing trial are left out and their
 * trials listed in `missing` (and in run.json's `trials.missing`); with no complete system
 * nothing is written.
 */
export async function collectTrials(
  out: string,
  options: TrialOptions = {},
): Promise<CollectOutcome> {
  const { plan, trials } = await readPlan(out);
  const { log, close } = await fileLog(join(out, "log.txt"), options.log ?? console.log);
  try {
    const config = plan.config;
    const done = new Map<string, TrialResult>();
    const missing: TrialSpec[] = [];
    for (const t of trials) {
      const r = await finishedResult(out, t);
      if (r) done.set(t.id, r);
      else missing.push(t);
    }
    log(`collect: ${done.size} of ${trials.length} trials finished`);
    const seeds = config.training.seeds;
    const runs: Partial<Record<SystemName, SystemRun>> = {};
    const folderOf = new Map<string, string>();
    for (const system of config.systems) {
      const mine = trials.filter((t) => t.system === system);
      if (mine.some((t) => !done.has(t.id))) {
        log(`collect: ${SYSTEM_INFO[system].label} incomplete, left out`);
        continue;
      }
      const results = mine.map((t) => done.get(t.id)!);
      const seconds = results.reduce((a, r) => a + r.seconds, 0);
      if (SYSTEM_INFO[system].input === "functionals") {
        const tasks = results[0].tasks;
        runs[system] = {
          system,
          fingerprint: plan.fingerprint,
          seconds,
          seeds: Array.from({ length: seeds }, (_, k) => ({ seed: k + 1, histories: {}, tasks })),
        };
        continue;
      }
      const seedRuns = [];
      for (let seed = 1; seed <= seeds; seed++) {
        const units = results.filter((r) => r.trial.seed === seed).map((r) => {
          folderOf.set(`${system}/${seed}/${r.trial.name}`, planPaths(out).trialDir(r.id));
          return { name: r.trial.name, history: r.histories[r.trial.name], tasks: r.tasks };
        });
        seedRuns.push(assembleSeedRun(seed, plan.tasks, units));
      }
      runs[system] = { system, fingerprint: plan.fingerprint, seconds, seeds: seedRuns };
    }
    if (Object.keys(runs).length === 0) {
      log("collect: no system has all of its trials; nothing written");
      return { runs, missing, trials };
    }
    const used = [...done.values()].filter((r) => runs[r.trial.system]);
    const backends = [...new Set(used.map((r) => r.backend))];
    if (backends.length > 1) {
      log(`warning: the trials ran on different backends (${backends.join(", ")})`);
    }
    const results = summarise(runs, plan.tasks, {
      corpus: plan.corpus,
      protocol: config.data.protocol,
      backend: backends.join("+"),
      seeds,
    }, plan.folds);
    const durations: Record<string, number> = {};
    const cpuDurations: Record<string, number | null> = {};
    for (const s of Object.keys(runs) as SystemName[]) {
      durations[s] = runs[s]!.seconds;
      cpuDurations[s] = systemCpuSeconds(runs[s]!);
    }
    const finished = new Date();
    const run: RunRecord = {
      started: plan.created,
      finished: finished.toISOString(),
      seconds: (finished.getTime() - Date.parse(plan.created)) / 1000,
      config,
      backend: backends.join("+"),
      device: [...new Set(used.map((r) => r.device))].join("; "),
      commit: plan.commit,
      seeds: Array.from({ length: seeds }, (_, i) => i + 1),
      durations,
      cpuDurations,
      versions: { deno: Deno.version.deno, v8: Deno.version.v8, tfjs: tf.version_core },
      utterances: plan.utterances,
      trials: {
        planned: trials.length,
        finished: done.size,
        missing: missing.map((t) => t.id),
        hosts: [...new Set([...done.values()].map((r) => r.host))].sort(),
      },
    };
    const skipped = used.find((r) => r.egemapsSkipped)?.egemapsSkipped;
    if (skipped) {
      const reportPath = join(out, "corpus-report.json");
      const report = await readJsonIfExists<Record<string, unknown>>(reportPath);
      if (report) await writeJsonAtomic(reportPath, { ...report, egemapsSkipped: skipped });
    }
    // Figure 2 runs the saved attention models (on the experiment's backend).
    if (plan.figure.length) await initBackend(config.backend);
    await writeOutputs(
      out,
      { results, runs, run },
      plan.figure,
      log,
      (system, seed, _n, name) =>
        folderOf.get(`${system}/${seed}/${name}`) ?? join(out, "trials", "missing"),
    );
    if (missing.length) log(`collect: ${missing.length} trials missing`);
    return { results, runs, run, missing, trials };
  } finally {
    close();
  }
}
