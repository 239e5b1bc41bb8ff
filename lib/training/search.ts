/**
 * Random search of the task weights w_m of the MTL objective on the development set (paper,
 * sec. 3.3: "The weights w_m are optimised by a random search").
 *
 * Trial t draws u_m ~ U(0, 1) from deriveSeed(seed, t) and rescales them to mean 1, so trials
 * stay on the scale of the default equal weights (all 1) and of the L2 term. Trial 0 is the
 * equal-weights baseline unless disabled, so the search can never select something worse on dev
 * than not searching.
 *
 * Like the epoch log of {@link train}, `trials.jsonl` is never appended to: it is emptied when a
 * search starts and rewritten whole after each trial from the trials of this call, which a
 * resumed search recomputes from the trial checkpoints (a finished trial's training returns at
 * once). It therefore lists only trials that the checkpoints back, never twice, and never a
 * stale trial of an earlier attempt.
 * @module
 */
import { writeFileAtomic } from "../util/atomic.ts";
import { deriveSeed, Random } from "../util/random.ts";
import { train, type TrainableModel, type TrainOptions, type TrainResult } from "./train.ts";

/** One trial of the search, as logged. */
export interface WeightTrial {
  /** 0-based trial number. */
  trial: number;
  /** Task weights used. */
  weights: Record<string, number>;
  /** Mean dev UAR of the trial's selected model (the search criterion). */
  devUar: number;
  /** Dev UAR per task. */
  devUarPerTask: Record<string, number>;
  /** Selected epoch of the trial. */
  bestEpoch: number;
  /**
   * Wall-clock seconds of the trial's epochs (training and dev evaluation), summed over the
   * epoch records, so a resumed trial reports the time it took rather than that of resuming.
   */
  seconds: number;
}

/** Task weights of trial `trial` (equal weights for trial 0 when `includeEqual`). */
export function sampleTaskWeights(
  tasks: string[],
  seed: number,
  trial: number,
  includeEqual = true,
): Record<string, number> {
  if (includeEqual && trial === 0) return Object.fromEntries(tasks.map((t) => [t, 1]));
  const rng = new Random(deriveSeed(seed, trial, 7));
  // A floor keeps every task in the objective: a weight of ~0 would silently turn MTL into STL.
  const u = tasks.map(() => 0.05 + 0.95 * rng.next());
  const mean = u.reduce((a, b) => a + b, 0) / u.length;
  return Object.fromEntries(tasks.map((t, i) => [t, u[i] / mean]));
}

/** Options of {@link searchTaskWeights}. */
export interface SearchOptions {
  /** Number of trials (including the equal-weights trial). */
  trials: number;
  /** Seed of the weight draws. */
  seed: number;
  /** Make trial 0 the equal-weights baseline (default true). */
  includeEqual?: boolean;
  /** JSON-lines file of one record per finished trial (emptied at start, rewritten per trial). */
  logPath?: string;
  /** Folder for per-trial checkpoints (`trial-<n>/`), making the search resumable. */
  checkpointDir?: string;
  /** Called after each trial. */
  onTrial?: (t: WeightTrial) => void | Promise<void>;
}

/** Result of a search: the trials, the best one, and its trained model. */
export interface SearchResult<M extends TrainableModel> {
  /** All trials in order. */
  trials: WeightTrial[];
  /** The trial with the highest mean dev UAR (first one on ties). */
  best: WeightTrial;
  /** The model of the best trial, holding its selected weights. */
  model: M;
  /** Training result of the best trial. */
  result: TrainResult;
}

/**
 * Trains one model per trial with sampled task weights and keeps the best on dev.
 * Every trial starts from `createModel()` (the same seed gives the same initial weights), so
 * trials differ only in their task weights.
 * @param createModel returns a fresh model; models of losing trials are disposed
 * @param trainOptions training settings (its `taskWeights`, `checkpointDir`, `dev` are per-trial;
 *   its `logPath` becomes `<checkpointDir>/trial-<n>/train-log.jsonl` with a checkpoint folder,
 *   else `<logPath without .jsonl>.trial-<n>.jsonl`, since each trial's training rewrites its log)
 */
export async function searchTaskWeights<M extends TrainableModel & { dispose(): void }>(
  createModel: () => M,
  trainOptions: TrainOptions,
  opts: SearchOptions,
): Promise<SearchResult<M>> {
  if (!trainOptions.dev) throw new Error("searchTaskWeights: a dev set is required");
  if (!(opts.trials >= 1)) {
    throw new Error(`searchTaskWeights: trials must be ≥ 1, got ${opts.trials}`);
  }
  const writeTrials = async (list: WeightTrial[]) => {
    if (!opts.logPath) return;
    const text = list.map((x) => JSON.stringify(x) + "\n").join("");
    await writeFileAtomic(opts.logPath, text);
  };
  // The trial log often lives in the checkpoint folder, which training would create only later.
  if (opts.checkpointDir) await Deno.mkdir(opts.checkpointDir, { recursive: true });
  // Lines of an earlier attempt go now; finished trials come back as they are recomputed.
  await writeTrials([]);
  const trials: WeightTrial[] = [];
  let best: { trial: WeightTrial; model: M; result: TrainResult } | undefined;
  for (let t = 0; t < opts.trials; t++) {
    const model = createModel();
    const tasks = model.config.tasks.map((x) => x.name);
    const weights = sampleTaskWeights(tasks, opts.seed, t, opts.includeEqual ?? true);
    const trialDir = opts.checkpointDir ? `${opts.checkpointDir}/trial-${t}` : undefined;
    let result: TrainResult;
    try {
      result = await train(model, {
        ...trainOptions,
        taskWeights: weights,
        checkpointDir: trialDir,
        logPath: trialLogPath(trainOptions.logPath, trialDir, t),
      });
    } catch (e) {
      model.dispose();
      throw e;
    }
    const record: WeightTrial = {
      trial: t,
      weights,
      devUar: result.bestDevUar,
      devUarPerTask: Object.fromEntries(
        Object.entries(result.dev?.tasks ?? {}).map(([k, v]) => [k, v.uar]),
      ),
      bestEpoch: result.bestEpoch,
      seconds: result.history.reduce((s, r) => s + r.seconds, 0),
    };
    trials.push(record);
    await writeTrials(trials);
    await opts.onTrial?.(record);
    const better = !best || record.devUar > best.trial.devUar ||
      (Number.isNaN(best.trial.devUar) && !Number.isNaN(record.devUar));
    if (better) {
      best?.model.dispose();
      best = { trial: record, model, result };
    } else {
      model.dispose();
    }
  }
  return { trials, best: best!.trial, model: best!.model, result: best!.result };
}

/**
 * The epoch log of trial `t`. Each trial needs its own file: training rewrites its log from its
 * own history, so a shared file would keep only the last trial's epochs.
 */
function trialLogPath(
  logPath: string | undefined,
  trialDir: string | undefined,
  t: number,
): string | undefined {
  if (!logPath) return undefined;
  // With checkpoints, the log sits next to the trial's checkpoint, which it must agree with.
  if (trialDir) return `${trialDir}/train-log.jsonl`;
  return logPath.endsWith(".jsonl")
    ? `${logPath.slice(0, -".jsonl".length)}.trial-${t}.jsonl`
    : `${logPath}.trial-${t}`;
}
