/**
 * Training of one model: Adam on Σ_m w_m CE_m + λ L2 (paper eq. 5), model selection and early
 * stopping on the development UAR (mean over tasks for MTL), per-epoch atomic checkpoints that
 * let an interrupted run resume to exactly the result of an uninterrupted one, progress display
 * and a JSON-lines epoch log.
 *
 * The epoch log is never appended to: it is rewritten whole (atomically) from the history held
 * in the loop state, at the start of a run and after each epoch's checkpoint. So it always lists
 * exactly the epochs of the checkpoint it sits next to: a kill between the checkpoint and the
 * log leaves it one epoch short until the resumed run rewrites it, never one epoch long, and a
 * fresh start (no checkpoint, a deleted one, or `resume: false`) clears the records of an
 * earlier attempt.
 *
 * Randomness is positional: epoch e's shuffling seed is deriveSeed(seed, e) and the dropout seed
 * of batch b is deriveSeed(seed, e, b, 1). Resuming at an epoch boundary thus replays exactly
 * the same random choices.
 *
 * With `workers ≥ 2` each step's loss and gradients come from that many Web Workers, each with
 * its own tfjs engine (one core each; see model/parallel.ts), the batch's rows split between
 * them; this thread adds the L2 term and applies the same Adam update. Row and class weights
 * are normalised over the whole batch before the split, so the objective is the single-engine
 * one; only dropout masks may differ (parallel.ts says exactly where) and float rounding. The
 * per-epoch dev evaluation then runs on the same workers; its scores are the single engine's
 * (inference has no dropout), so model selection does not depend on the worker count. On webgpu
 * no workers start ({@link workerPoolSize}): the one engine draws the N workers' dropout masks
 * itself (`dropoutJobs` of the model's `apply`) and so trains to the same objective.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TaskSpec } from "../corpus/types.ts";
import type { Batch } from "../frames/types.ts";
import { registerGradients } from "../model/gradients.ts";
import type { EmotionModel } from "../model/model.ts";
import { GradientWorkers } from "../model/parallel.ts";
import type { FrontEndOptions } from "../model/frontend.ts";
import type { BackendName, ModelConfig } from "../model/types.ts";
import { Adam, type AdamState } from "./adam.ts";
import { encodeCheckpoint, readCheckpointFile, type StoredArray } from "./checkpoint.ts";
import {
  type ApplicableModel,
  type BatchIterable,
  batchToInput,
  evaluate,
  type Evaluation,
  meanFinite,
} from "./evaluate.ts";
import { type ClassWeighting, classWeightsFor, l2Penalty, objective, rowWeights } from "./loss.ts";
import { createProgress, type ProgressMode, type ProgressReporter } from "./progress.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import { deriveSeed } from "../util/random.ts";

// tfjs-core's Node build ships no gradients; the model stage registers its own (idempotent).
registerGradients();

/** What training needs from a model (EmotionModel satisfies it). */
export interface TrainableModel extends ApplicableModel {
  /** The model's configuration (tasks, seed …). */
  readonly config: ModelConfig;
  /** Variables the optimiser updates. */
  trainableVariables(): tf.Variable[];
  /** Named weights, for snapshots and checkpoints. */
  getWeights(): { name: string; tensor: tf.Tensor }[];
  /** Restores named weights (values are copied). */
  setWeights(weights: { name: string; tensor: tf.Tensor }[]): void;
}

/** Produces the training batches of one epoch; `seed` is that epoch's shuffling seed. */
export type EpochBatches = (epoch: number, seed: number) => BatchIterable;

/** User + system CPU microseconds of this process (all threads), where the runtime has them. */
function cpuMicros(): number | undefined {
  const p = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } })
    .process;
  const u = p?.cpuUsage?.();
  return u ? u.user + u.system : undefined;
}

/** Options of {@link train}. */
export interface TrainOptions {
  /** Training batches per epoch (shuffle them with the given seed). */
  train: EpochBatches;
  /** Development batches for model selection and early stopping (none: keep the last epoch). */
  dev?: () => BatchIterable;
  /** Maximum number of epochs. */
  epochs: number;
  /** Adam step size (paper: 1e-4). */
  learningRate?: number;
  /** λ of the L2 term over weight matrices (default 0). */
  l2?: number;
  /** Class weighting of the cross-entropy (default none). */
  classWeighting?: ClassWeighting;
  /** Training label counts per task and class (needed for balanced weighting). */
  classCounts?: Record<string, number[]>;
  /** w_m per task (default 1 each). */
  taskWeights?: Record<string, number>;
  /** Stop after this many epochs without a better dev UAR (default: never). */
  patience?: number;
  /** Tasks whose mean dev UAR selects the model (default: all tasks of the model). */
  selectionTasks?: string[];
  /** Run seed for shuffling and dropout (default: the model config's seed). */
  seed?: number;
  /** Folder for `checkpoint.ckpt`; enables checkpointing and resuming. */
  checkpointDir?: string;
  /** Resume from an existing checkpoint in `checkpointDir` (default true). */
  resume?: boolean;
  /**
   * JSON-lines file holding one record per epoch of this run's history (the checkpoint's, when
   * resuming); rewritten whole at the start and after every epoch, so earlier content is lost.
   */
  logPath?: string;
  /** Progress output (default auto) or a custom reporter. */
  progress?: ProgressMode | ProgressReporter;
  /** Batches per epoch, for the progress bar's ETA before the first epoch has finished. */
  batchesPerEpoch?: number;
  /** Name of the backend in use, for logs and checkpoints (default tf.getBackend()). */
  backend?: string;
  /** Version of the code (e.g. its git commit), recorded in every epoch record. */
  code?: string;
  /** Called after each epoch's checkpoint is written (an exception here aborts training). */
  onEpochEnd?: (record: EpochRecord) => void | Promise<void>;
  /**
   * Engines computing the gradients (default 1: this thread's engine). With N ≥ 2, N Web
   * Workers on this thread's backend (started once per call, before the first step) split
   * each batch's rows; needs --allow-read for the workers' code. Needs an EmotionModel-shaped
   * model (`trainableVariables()` = `getWeights()` in order). A failing worker ends the run
   * with an error; the checkpoint of the last finished epoch stays as it was. The per-epoch
   * dev evaluation uses the same workers. On webgpu ({@link workerPoolSize}) this thread's
   * engine computes all N workers' jobs in one pass, with their dropout masks.
   */
  workers?: number;
  /**
   * An already started pool (see {@link startWorkerPool}) to use instead of starting one; its
   * size must equal `workers` (default: its size) and it must be built for this model's
   * configuration and memory settings. train() does not dispose it, so one pool can serve
   * several trainings and the evaluations after them (trainModel does so).
   */
  pool?: GradientWorkers;
}

/** One epoch's record, as written to the JSON-lines log. */
export interface EpochRecord {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training objective over the epoch's batches. */
  loss: number;
  /** Mean unweighted cross-entropy per task. */
  taskLoss: Record<string, number>;
  /** Mean λ·R term. */
  l2: number;
  /** Dev UAR per task (absent without a dev set). */
  devUar?: Record<string, number>;
  /** Mean dev UAR over the selection tasks. */
  devMeanUar?: number;
  /** Whether this epoch became the selected (best) model. */
  best: boolean;
  /** Training windows per second. */
  windowsPerSecond: number;
  /** Wall-clock seconds of the epoch (training and dev evaluation). */
  seconds: number;
  /**
   * CPU seconds this process spent in the epoch, all threads (its gradient workers included),
   * where the runtime reports them: unlike `seconds` it does not grow while the machine is busy
   * with other jobs or the run is paused.
   */
  cpuSeconds?: number;
  /** tfjs backend. */
  backend: string;
  /** Batches in the epoch. */
  batches: number;
  /**
   * Version of the code that trained this epoch ({@link TrainOptions.code}): a training resumed
   * under other code says which epochs which code trained.
   */
  code?: string;
}

/** Outcome of {@link train}. The model holds the selected (best) weights afterwards. */
export interface TrainResult {
  /** 1-based epoch whose weights were kept (0 when no epoch ran). */
  bestEpoch: number;
  /** Mean dev UAR of the kept model (NaN without a dev set). */
  bestDevUar: number;
  /** Dev evaluation of the kept model (absent without a dev set). */
  dev?: Evaluation;
  /** All epoch records, including those of an earlier interrupted run. */
  history: EpochRecord[];
  /** Whether early stopping ended training before `epochs`. */
  stoppedEarly: boolean;
  /** Epoch this call started at (0 = fresh, > 0 = resumed from a checkpoint). */
  resumedFromEpoch: number;
}

/** Mutable loop state, checkpointed every epoch. */
interface LoopState {
  nextEpoch: number;
  bestMetric: number;
  bestEpoch: number;
  epochsSinceBest: number;
  stopped: boolean;
  history: EpochRecord[];
  bestDev?: Evaluation;
  batchesPerEpoch?: number;
}

const CHECKPOINT_FORMAT = "emo-e2e-checkpoint";
const CHECKPOINT_VERSION = 1;

/** Name of the checkpoint file inside `checkpointDir`. */
export const CHECKPOINT_FILE = "checkpoint.ckpt";

/** Reads weights out as plain arrays (copies). */
export async function snapshotWeights(
  model: Pick<TrainableModel, "getWeights">,
  group = "weights",
): Promise<StoredArray[]> {
  const weights = model.getWeights();
  for (const w of weights) {
    if (w.tensor.dtype !== "int32" && w.tensor.dtype !== "float32") {
      throw new Error(`weight ${w.name} has unsupported dtype ${w.tensor.dtype}`);
    }
  }
  // All reads in flight at once: on a GPU one wait for the device instead of one per weight.
  const data = await Promise.all(weights.map((w) => w.tensor.data()));
  return weights.map((w, i) => {
    const dtype = w.tensor.dtype === "int32" ? "int32" : "float32";
    return {
      group,
      name: w.name,
      shape: w.tensor.shape.slice(),
      dtype,
      values: dtype === "int32" ? Int32Array.from(data[i]) : Float32Array.from(data[i]),
    };
  });
}

/** Writes stored arrays back into the model's weights. */
export function restoreWeights(model: Pick<TrainableModel, "setWeights">, arrays: StoredArray[]) {
  const tensors = arrays.map((a) => ({
    name: a.name,
    tensor: tf.tensor(a.values, a.shape, a.dtype),
  }));
  try {
    model.setWeights(tensors);
  } finally {
    for (const t of tensors) t.tensor.dispose();
  }
}

/** The settings a checkpoint must agree on before a run may resume from it. */
function fingerprint(model: TrainableModel, opts: TrainOptions, seed: number): string {
  return JSON.stringify({
    config: model.config,
    learningRate: opts.learningRate ?? 1e-4,
    l2: opts.l2 ?? 0,
    classWeighting: opts.classWeighting ?? "none",
    taskWeights: opts.taskWeights ?? {},
    seed,
  });
}

/**
 * Trains `model` in place and leaves it holding the selected weights.
 * @throws on a checkpoint from a different configuration (names the file)
 */
export async function train(model: TrainableModel, opts: TrainOptions): Promise<TrainResult> {
  const tasks: TaskSpec[] = model.config.tasks;
  const seed = opts.seed ?? model.config.seed;
  const backend = opts.backend ?? tf.getBackend();
  const selection = opts.selectionTasks ?? tasks.map((t) => t.name);
  for (const s of selection) {
    if (!tasks.some((t) => t.name === s)) {
      throw new Error(`train: selection task ${s} is not a model task`);
    }
  }
  const classWeights = classWeightsFor(opts.classWeighting ?? "none", tasks, opts.classCounts);
  const workerCount = opts.workers ?? opts.pool?.size ?? 1;
  if (!(Number.isInteger(workerCount) && workerCount >= 1)) {
    throw new Error(`train: workers ${opts.workers} must be a positive integer`);
  }
  if (opts.pool && (opts.pool.size !== workerCount || workerCount < 2)) {
    throw new Error(
      `train: the given pool has ${opts.pool.size} workers, but workers is ${workerCount}` +
        (workerCount < 2 ? " (one engine needs no pool)" : ""),
    );
  }
  const vars = model.trainableVariables();
  // The L2 term's gradient is added inside the update (Adam's `l2`), not by the backward pass.
  const adam = new Adam(vars, { learningRate: opts.learningRate ?? 1e-4, l2: opts.l2 ?? 0 });
  const reporter = typeof opts.progress === "object"
    ? opts.progress
    : createProgress(opts.progress ?? "auto");
  const fp = fingerprint(model, opts, seed);
  const ckptPath = opts.checkpointDir ? `${opts.checkpointDir}/${CHECKPOINT_FILE}` : undefined;

  let state: LoopState = {
    nextEpoch: 0,
    bestMetric: -Infinity,
    bestEpoch: 0,
    epochsSinceBest: 0,
    stopped: false,
    history: [],
  };
  let best: StoredArray[] | undefined;
  let pool: GradientWorkers | undefined;

  try {
    if (ckptPath) {
      await Deno.mkdir(opts.checkpointDir!, { recursive: true });
      const ck = opts.resume === false ? undefined : await readCheckpointFile(ckptPath);
      if (ck) {
        const h = ck.header as {
          format: string;
          version: number;
          fingerprint: string;
          state: LoopState;
          adamStep: number;
        };
        if (h.format !== CHECKPOINT_FORMAT || h.version !== CHECKPOINT_VERSION) {
          throw new Error(`${ckptPath}: unsupported checkpoint format ${h.format} v${h.version}`);
        }
        if (h.fingerprint !== fp) {
          throw new Error(
            `${ckptPath}: checkpoint was written with a different model configuration or ` +
              `training settings; use another --out folder or delete it to start afresh`,
          );
        }
        state = h.state;
        state.bestMetric = state.bestMetric ?? -Infinity; // JSON turns -Infinity into null
        restoreWeights(model, ck.arrays.filter((a) => a.group === "weights"));
        const bestArrays = ck.arrays.filter((a) => a.group === "best");
        best = bestArrays.length > 0 ? bestArrays : undefined;
        const moments = (g: string) =>
          ck.arrays.filter((a) => a.group === g).map((a) => ({
            name: a.name,
            shape: a.shape,
            values: a.values as Float32Array,
          }));
        const adamState: AdamState = {
          step: h.adamStep,
          m: moments("adam_m"),
          v: moments("adam_v"),
        };
        adam.setState(adamState);
        reporter.epochDone(
          `resuming from ${ckptPath} after epoch ${state.nextEpoch}` +
            (state.stopped ? " (training had already stopped early)" : ""),
        );
      }
    }
    // Whatever an earlier attempt left in the log, it now says what the checkpoint says.
    if (opts.logPath) await writeEpochLog(opts.logPath, state.history);
    const resumedFromEpoch = state.nextEpoch;
    // Started only when there are epochs left, and before the first epoch's clock starts.
    if (opts.pool) {
      pool = opts.pool;
      checkPool(model, vars, pool);
    } else if (
      workerPoolSize(workerCount) > 0 && state.nextEpoch < opts.epochs && !state.stopped
    ) {
      pool = await startWorkers(model, vars, workerCount);
    }
    const runStart = performance.now();
    let batchesThisRun = 0;

    for (let epoch = state.nextEpoch; epoch < opts.epochs && !state.stopped; epoch++) {
      const t0 = performance.now(), cpu0 = cpuMicros();
      let batches = 0, windows = 0, lossSum = 0, l2Sum = 0;
      const taskSums: Record<string, number> = Object.fromEntries(tasks.map((t) => [t.name, 0]));
      const perEpoch = state.batchesPerEpoch ?? opts.batchesPerEpoch;
      // A step's loss numbers are read back while the next step is issued (see step), so
      // they are added up one step late; the last step's before the epoch's clock stops.
      let steps = 0, doneWindows = 0;
      const account = (parts: StepLoss, stepWindows: number) => {
        steps++;
        doneWindows += stepWindows;
        lossSum += parts.total + parts.l2;
        l2Sum += parts.l2;
        for (const t of tasks) taskSums[t.name] += parts.perTask[t.name];
        const elapsed = (performance.now() - t0) / 1000;
        const perBatch = (performance.now() - runStart) / 1000 / batchesThisRun;
        const remaining = perEpoch === undefined
          ? undefined
          : Math.max(perEpoch - steps, 0) + (opts.epochs - epoch - 1) * perEpoch;
        reporter.update({
          epoch: epoch + 1,
          epochs: opts.epochs,
          batch: steps,
          batches: perEpoch,
          loss: lossSum / steps,
          windowsPerSecond: doneWindows / Math.max(elapsed, 1e-9),
          etaSeconds: remaining === undefined ? undefined : remaining * perBatch,
        });
      };
      let pending: { loss: Promise<StepLoss>; windows: number } | undefined;
      for await (const batch of opts.train(epoch, deriveSeed(seed, epoch))) {
        const stepOptions = {
          dropoutSeed: deriveSeed(seed, epoch, batches, 1),
          dropoutJobs: workerCount,
          classWeights,
          taskWeights: opts.taskWeights,
          l2: opts.l2 ?? 0,
        };
        let issued: Promise<StepLoss>;
        if (!pool) issued = step(model, adam, vars, batch, stepOptions);
        else {
          try {
            issued = Promise.resolve(
              await parallelStep(model, pool, adam, vars, batch, stepOptions),
            );
          } catch (e) {
            throw new Error(
              `train: epoch ${epoch + 1}, batch ${batches + 1}: ${(e as Error).message}` +
                (ckptPath ? ` (${ckptPath} still holds epoch ${state.nextEpoch})` : ""),
              { cause: e },
            );
          }
        }
        // Awaited below; this only keeps its failure from going unhandled if a later step
        // throws first.
        issued.catch(() => {});
        batches++;
        batchesThisRun++;
        let stepWindows = 0;
        for (let i = 0; i < batch.batchSize; i++) stepWindows += batch.lengths[i];
        windows += stepWindows;
        if (pending) account(await pending.loss, pending.windows);
        pending = { loss: issued, windows: stepWindows };
      }
      if (pending) account(await pending.loss, pending.windows);
      if (batches === 0) throw new Error(`train: epoch ${epoch + 1} produced no training batches`);
      state.batchesPerEpoch = batches;
      const trainSeconds = (performance.now() - t0) / 1000;

      let dev: Evaluation | undefined;
      let metric = NaN;
      if (opts.dev) {
        try {
          dev = await evaluate(model, opts.dev(), tasks, { workers: pool });
        } catch (e) {
          if (!pool) throw e;
          throw new Error(
            `train: epoch ${epoch + 1}, dev evaluation: ${(e as Error).message}` +
              (ckptPath ? ` (${ckptPath} still holds epoch ${state.nextEpoch})` : ""),
            { cause: e },
          );
        }
        metric = meanFinite(selection.map((s) => dev!.tasks[s].uar));
      }
      // Without a dev set the latest epoch is always "best", i.e. the last weights are kept.
      const improved = opts.dev ? metric > state.bestMetric : true;
      if (improved) {
        state.bestMetric = opts.dev ? metric : NaN;
        state.bestEpoch = epoch + 1;
        state.epochsSinceBest = 0;
        state.bestDev = dev;
        best = await snapshotWeights(model, "best");
      } else {
        state.epochsSinceBest++;
        if (opts.patience !== undefined && state.epochsSinceBest >= opts.patience) {
          state.stopped = true;
        }
      }
      const record: EpochRecord = {
        epoch: epoch + 1,
        loss: lossSum / batches,
        taskLoss: Object.fromEntries(tasks.map((t) => [t.name, taskSums[t.name] / batches])),
        l2: l2Sum / batches,
        devUar: dev
          ? Object.fromEntries(Object.entries(dev.tasks).map(([k, v]) => [k, v.uar]))
          : undefined,
        devMeanUar: dev ? metric : undefined,
        best: improved,
        windowsPerSecond: windows / trainSeconds,
        seconds: (performance.now() - t0) / 1000,
        cpuSeconds: cpu0 === undefined ? undefined : (cpuMicros()! - cpu0) / 1e6,
        backend,
        batches,
        ...(opts.code ? { code: opts.code } : {}),
      };
      state.history.push(record);
      state.nextEpoch = epoch + 1;
      if (ckptPath) await writeCheckpoint(ckptPath, model, adam, state, best, fp);
      // After the checkpoint: a kill in between leaves the log short, which resuming repairs.
      if (opts.logPath) await writeEpochLog(opts.logPath, state.history);
      const devText = dev
        ? ` | dev UAR ${
          selection.map((s) => `${s} ${(dev!.tasks[s].uar * 100).toFixed(1)}%`).join(", ")
        }`
        : "";
      reporter.epochDone(
        `epoch ${epoch + 1}/${opts.epochs} loss ${record.loss.toFixed(4)}${devText}` +
          `${improved && opts.dev ? " *best*" : ""} (${record.seconds.toFixed(1)} s)`,
      );
      await opts.onEpochEnd?.(record);
    }

    if (best) restoreWeights(model, best);
    return {
      bestEpoch: state.bestEpoch,
      bestDevUar: opts.dev ? state.bestMetric : NaN,
      dev: state.bestDev,
      history: state.history,
      stoppedEarly: state.stopped,
      resumedFromEpoch,
    };
  } finally {
    if (pool !== opts.pool) pool?.dispose();
    adam.dispose();
    await reporter.stop();
  }
}

/** Scalar parts of one step's objective. */
interface StepLoss {
  /** Σ_m w_m CE_m, without the L2 term. */
  total: number;
  perTask: Record<string, number>;
  /**
   * The L2 term's value λ · ½ Σ W² at the weights before the step, for the log (its gradient λW
   * is added by Adam: AdamOptions.l2); 0 without one.
   */
  l2: number;
}

/**
 * λ · ½ Σ W², the objective's L2 term, at the current weights: its value only, for the loss
 * log (its gradient λW is added by Adam; see AdamOptions.l2).
 */
async function l2Value(vars: tf.Variable[], lambda: number): Promise<number> {
  const t = l2Term(vars, lambda);
  if (!t) return 0;
  try {
    return (await t.data())[0];
  } finally {
    t.dispose();
  }
}

/** The L2 term λ · ½ Σ W² as a scalar tensor at the current weights; undefined for λ ≤ 0. */
function l2Term(vars: tf.Variable[], lambda: number): tf.Scalar | undefined {
  return lambda > 0 ? tf.tidy(() => tf.mul(l2Penalty(vars), lambda) as tf.Scalar) : undefined;
}

/**
 * Issues one optimisation step on one batch and starts reading back its loss numbers in one
 * transfer, without waiting for them. The loop awaits them only after issuing the next step:
 * on a GPU, reading them here would leave the device idle while the host prepares each next
 * step (tfjs's bookkeeping, uploads, our task tables), where now the two overlap. The values
 * are those of awaiting at once: the same operations in the same order.
 */
function step(
  model: TrainableModel,
  adam: Adam,
  vars: tf.Variable[],
  batch: Batch,
  o: StepOptions,
): Promise<StepLoss> {
  const input = batchToInput(batch);
  // Before the update: the term's value at the weights the step starts from.
  const l2 = l2Term(vars, o.l2);
  let kept: Record<string, tf.Scalar> | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(input, {
      training: true,
      dropoutSeed: o.dropoutSeed,
      dropoutJobs: o.dropoutJobs,
    });
    const obj = objective(out.logits, batch.labels, {
      taskWeights: o.taskWeights,
      classWeights: o.classWeights,
    });
    obj.l2.dispose();
    kept = {};
    for (const [k, v] of Object.entries(obj.perTask)) kept[k] = tf.keep(v);
    return obj.total;
  }, vars);
  let numbers: tf.Tensor1D;
  const names = Object.keys(kept!);
  try {
    adam.apply(vars.map((v) => grads[v.name]));
    numbers = tf.stack([value, ...names.map((k) => kept![k]), ...(l2 ? [l2] : [])]) as tf.Tensor1D;
  } finally {
    value.dispose();
    tf.dispose(Object.values(grads));
    if (kept) tf.dispose(Object.values(kept));
    l2?.dispose();
  }
  return (numbers.data() as Promise<Float32Array>).then((d) => ({
    total: d[0],
    perTask: Object.fromEntries(names.map((k, i) => [k, d[1 + i]])),
    l2: l2 ? d[1 + names.length] : 0,
  })).finally(() => numbers.dispose());
}

/** What {@link step} and {@link parallelStep} need besides the batch. */
interface StepOptions {
  dropoutSeed: number;
  /**
   * Dropout jobs of one engine's step (`training.workers`; see {@link workerPoolSize}); a pool
   * splits the rows into its own jobs.
   */
  dropoutJobs: number;
  /** λ of the L2 term (0: none). */
  l2: number;
  classWeights: Record<string, number[]>;
  taskWeights?: Record<string, number>;
}

/** Memory settings of an EmotionModel that the workers must share (see startWorkerPool). */
export interface WorkerMemorySettings {
  /** EmotionModel.frontEndOptions (default {}). */
  frontEndOptions?: FrontEndOptions;
  /** EmotionModel.maxWindowsPerPass (default the model's default). */
  maxWindowsPerPass?: number;
}

/**
 * How many Web Workers `workers` training engines take on `backend` (default the active one):
 * `workers` on wasm, cpu and tensorflow (0 for one: this thread's engine), 0 on webgpu. There
 * one device serves every row, and N workers would be N devices sharing one GPU, each step's
 * gradients read back to the host and added there; instead this thread's engine runs the N
 * workers' jobs in one pass with their dropout masks (`dropoutJobs`), so a study trains to the
 * same objective, and the same fingerprint, as on N wasm workers. trainModel, train and
 * `deno task bench` all ask here.
 */
export function workerPoolSize(workers: number, backend: string = tf.getBackend()): number {
  return backend === "webgpu" || workers < 2 ? 0 : workers;
}

/**
 * Starts `count` model workers (Web Workers, one tfjs engine each) for models of `config` on
 * this thread's backend: a pool for {@link TrainOptions.pool} and for evaluate()'s `workers`.
 * `memory` must be the memory settings of the model it will serve (an EmotionModel's are
 * `{}` and 16,384 unless changed), so that each sub-batch runs as it would in that model.
 * Needs --allow-read for the workers' code. Dispose it when done.
 */
export async function startWorkerPool(
  config: ModelConfig,
  count: number,
  memory: WorkerMemorySettings = {},
): Promise<GradientWorkers> {
  const backend = tf.getBackend();
  const known: BackendName[] = ["cpu", "wasm", "webgpu", "tensorflow"];
  if (!known.includes(backend as BackendName)) {
    throw new Error(`workers cannot run on backend ${backend}`);
  }
  return await GradientWorkers.create(config, count, backend as BackendName, {
    frontEndOptions: memory.frontEndOptions,
    maxWindowsPerPass: memory.maxWindowsPerPass,
  });
}

/** The model's memory settings (EmotionModel's; none for other models). */
function memoryOf(model: TrainableModel): WorkerMemorySettings {
  const m = model as Partial<Pick<EmotionModel, "frontEndOptions" | "maxWindowsPerPass">>;
  return { frontEndOptions: m.frontEndOptions, maxWindowsPerPass: m.maxWindowsPerPass };
}

/**
 * Starts the gradient workers for `model` on this thread's backend, after checking that their
 * weight layout is the model's (weights travel as bare arrays, matched by position).
 */
async function startWorkers(
  model: TrainableModel,
  vars: tf.Variable[],
  count: number,
): Promise<GradientWorkers> {
  checkVariables(model, vars);
  // The workers copy the model's memory settings so that each sub-batch runs as it would here.
  const pool = await startWorkerPool(model.config, count, memoryOf(model));
  try {
    checkPool(model, vars, pool);
  } catch (e) {
    pool.dispose();
    throw e;
  }
  return pool;
}

function checkVariables(model: TrainableModel, vars: tf.Variable[]): void {
  const own = model.getWeights();
  if (own.length !== vars.length || own.some((w, i) => w.tensor !== vars[i])) {
    throw new Error(
      "train: workers need a model whose trainableVariables() are its getWeights() in order",
    );
  }
}

/** Refuses a pool whose weight layout or memory settings are not the model's. */
function checkPool(model: TrainableModel, vars: tf.Variable[], pool: GradientWorkers): void {
  checkVariables(model, vars);
  const own = model.getWeights();
  const mismatch = pool.layout.length !== own.length ||
    pool.layout.some((l, i) =>
      l.name !== own[i].name || !tf.util.arraysEqual(l.shape, own[i].tensor.shape)
    );
  if (mismatch) {
    throw new Error("train: the workers' model has a different weight layout than the model");
  }
  // Row grouping decides the dropout masks (parallel.ts): the workers must group as the model.
  const mem = memoryOf(model);
  if (
    JSON.stringify(mem.frontEndOptions ?? {}) !== JSON.stringify(pool.frontEndOptions) ||
    (mem.maxWindowsPerPass !== undefined && mem.maxWindowsPerPass !== pool.maxWindowsPerPass)
  ) {
    throw new Error("train: the pool's memory settings differ from the model's");
  }
}

/**
 * {@link step} with the loss and cross-entropy gradients computed by the workers: row weights
 * (class weights normalised over the whole batch) are computed here and split with the rows,
 * the workers get the current weights with every request, and the same Adam update (which adds
 * the L2 term's gradient) follows.
 */
async function parallelStep(
  model: TrainableModel,
  pool: GradientWorkers,
  adam: Adam,
  vars: tf.Variable[],
  batch: Batch,
  o: StepOptions,
): Promise<StepLoss> {
  const l2 = await l2Value(vars, o.l2);
  const input = batchToInput(batch);
  const tasks = model.config.tasks;
  const rw: Record<string, Float32Array> = {};
  for (const t of tasks) {
    const y = batch.labels[t.name];
    if (!y) throw new Error(`objective: batch has no labels for task ${t.name}`);
    rw[t.name] = rowWeights(y, o.classWeights[t.name]);
  }
  const weights = await Promise.all(vars.map(async (v) => (await v.data()) as Float32Array));
  const res = await pool.gradients(model.config, weights, input, batch.labels, rw, o.dropoutSeed, {
    taskWeights: o.taskWeights,
  });
  const tensors: tf.Tensor[] = [];
  try {
    const grads = vars.map((v, i) => {
      const fromLoss = res.connected[i] ? tf.tensor(res.grads[i], v.shape) : undefined;
      if (fromLoss) tensors.push(fromLoss);
      return fromLoss;
    });
    adam.apply(grads);
    const perTask: Record<string, number> = {};
    for (const t of tasks) perTask[t.name] = res.perTask[t.name] ?? 0;
    return { total: res.loss, perTask, l2 };
  } finally {
    tf.dispose(tensors);
  }
}

/** Replaces the epoch log with one JSON line per record (all or nothing). */
async function writeEpochLog(path: string, history: EpochRecord[]): Promise<void> {
  const text = history.map((r) => JSON.stringify(r) + "\n").join("");
  await writeFileAtomic(path, text);
}

async function writeCheckpoint(
  path: string,
  model: TrainableModel,
  adam: Adam,
  state: LoopState,
  best: StoredArray[] | undefined,
  fp: string,
): Promise<void> {
  const a = await adam.getState();
  const moments = (group: string, list: AdamState["m"]): StoredArray[] =>
    list.map((x) => ({ group, name: x.name, shape: x.shape, dtype: "float32", values: x.values }));
  const arrays = [
    ...(await snapshotWeights(model, "weights")),
    ...(best ?? []),
    ...moments("adam_m", a.m),
    ...moments("adam_v", a.v),
  ];
  const header = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    fingerprint: fp,
    adamStep: a.step,
    // Randomness is positional (seed, epoch, batch), so the next epoch index is the RNG state.
    rng: { kind: "positional", nextEpoch: state.nextEpoch },
    state,
  };
  await writeFileAtomic(path, encodeCheckpoint(header, arrays));
}
