/**
 * Random search of the task weights w_m of the MTL objective on the development set (paper,
 * sec. 3.3: "The weights w_m are optimised by a random search").
 *
 * Trial t draws u_m ~ U(0, 1) from deriveSeed(seed, t) and rescales them to mean 1, so trials
 * stay on the scale of the default equal weights (all 1) and of the L2 term. Trial 0 is the
 * equal-weights baseline unless disabled, so the search can never select something worse on dev
 * than not searching.
 * @module
 */
import { writeFileAtomic } from "./checkpoint.ts";
import { deriveSeed, SeededRandom } from "./rng.ts";
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
  /** Wall-clock seconds. */
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
  const rng = new SeededRandom(deriveSeed(seed, trial, 7));
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
  /** JSON-lines file holding one record per finished trial (rewritten after each trial). */
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
 * @param trainOptions training settings (its `taskWeights`, `checkpointDir`, `dev` are per-trial)
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
  const trials: WeightTrial[] = [];
  let best: { trial: WeightTrial; model: M; result: TrainResult } | undefined;
  for (let t = 0; t < opts.trials; t++) {
    const model = createModel();
    const tasks = model.config.tasks.map((x) => x.name);
    const weights = sampleTaskWeights(tasks, opts.seed, t, opts.includeEqual ?? true);
    const t0 = performance.now();
    const trialDir = opts.checkpointDir ? `${opts.checkpointDir}/trial-${t}` : undefined;
    let result: TrainResult;
    try {
      result = await train(model, {
        ...trainOptions,
        taskWeights: weights,
        checkpointDir: trialDir,
        // Each trial keeps its own epoch log next to its checkpoint.
        logPath: trialDir && trainOptions.logPath
          ? `${trialDir}/train-log.jsonl`
          : trainOptions.logPath,
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
      seconds: (performance.now() - t0) / 1000,
    };
    trials.push(record);
    if (opts.logPath) {
      // Rewritten whole, so a resumed search does not log its finished trials twice.
      const text = trials.map((x) => JSON.stringify(x)).join("\n") + "\n";
      await writeFileAtomic(opts.logPath, new TextEncoder().encode(text));
    }
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
