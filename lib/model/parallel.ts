/**
 * Data-parallel gradients over Web Workers.
 *
 * tfjs's multi-threaded wasm build cannot start under Deno, so a single tfjs engine uses one
 * core. Here each worker holds its own engine and model copy; a batch's rows are split
 * between them, each computes Σ_m w_m Σ_rows rowWeight · CE_m over its rows and the weight
 * gradients, and the sums are added. With row weights that already include the batch
 * normalisation (e.g. 1/rows, or `rowWeights()` of loss.ts over the whole batch), the result
 * equals the single-engine gradient up to float rounding and the dropout masks below.
 *
 * ## Dropout masks
 *
 * `tf.dropout` draws one uniform stream per call, in row-major order over the tensor it masks,
 * so a row's mask depends on the shape of the batch it is computed in. To keep the masks of the
 * single engine wherever that is possible, rows are split into *jobs* the same way
 * `EmotionModel.apply` splits a large batch:
 *
 * - When the single engine processes the batch in row groups (more than `maxWindowsPerPass`
 *   windows, see `rowGroups` in model.ts), each group is one job, computed from the same
 *   `sliceRows` sub-batch with the same seed `dropoutSeed + 7919 · group`. Masks, and so the
 *   objective, are then exactly those of the single engine.
 * - Otherwise (the whole batch in one pass) the rows are split into one job per worker,
 *   job p getting seed `dropoutSeed + 7919 · p` on its `sliceRows` sub-batch. Job 0's rows
 *   get the single engine's masks when job 0 holds a row as long as the batch's `windows`
 *   (then its sub-batch tensor is a prefix of the full one in row-major order); the other rows get different
 *   masks with the same keep probability, so the objective is the same in expectation only.
 *   This is exactly the single engine's row-group computation with groups = these jobs, and
 *   one engine draws these very masks when `apply` gets `dropoutJobs` = the worker count
 *   (`jobRanges` in model.ts is the one rule of both): that is how train() runs N workers' worth
 *   of jobs on webgpu, where one device serves every row.
 *
 * Jobs are never larger than one pass of the single engine, so no worker needs more memory
 * than the single engine does.
 *
 * ## Inference
 *
 * The same pool runs inference-mode forward passes ({@link GradientWorkers.infer} for one
 * batch's rows, {@link GradientWorkers.inferEach} for whole sub-batches), so evaluation and
 * prediction use every worker too. Rows are split into jobs as for gradients. Inference has no
 * dropout and a row's outputs do not depend on the other rows of its batch nor on padding
 * beyond its length, so the probabilities and attention are the single engine's: equal up to
 * float rounding in general, and bit for bit on the cpu and wasm backends at the paper's shapes
 * (tests/parallel_eval_test.ts measures it).
 *
 * Calls on one pool must not overlap (each worker handles one request at a time); a second
 * call while one runs is refused.
 *
 * @module
 */
import type { BackendName, ModelConfig, ModelInput } from "./types.ts";
import type { FrontEndOptions } from "./frontend.ts";
import type { GradJob, InferenceResult, WorkerReply, WorkerRequest } from "./grad_worker.ts";
import { jobRanges, rowGroupSeed, sliceRows } from "./model.ts";

export type { InferenceResult } from "./grad_worker.ts";

/** Loss parts and summed gradients (in `getWeights()` order) of one batch. */
export interface ParallelResult {
  /** Σ_m w_m Σ_rows rowWeight · cross-entropy_m (w_m = task weight, default 1). */
  loss: number;
  /** Per task, Σ_rows rowWeight · cross-entropy (not multiplied by the task weight). */
  perTask: Record<string, number>;
  /** Gradients, one per weight in the model's `getWeights()` order (zeros where unconnected). */
  grads: Float32Array[];
  /** Per weight, whether the loss depends on it at all (false: its gradient is undefined). */
  connected: boolean[];
}

/** Options of {@link GradientWorkers.create}. */
export interface GradientWorkersOptions {
  /** Front-end memory settings of the model being trained (EmotionModel.frontEndOptions). */
  frontEndOptions?: FrontEndOptions;
  /** Row-group threshold of the model being trained (EmotionModel.maxWindowsPerPass). */
  maxWindowsPerPass?: number;
}

/** Options of {@link GradientWorkers.gradients}. */
export interface GradientsOptions {
  /** w_m per task (default 1 each). */
  taskWeights?: Record<string, number>;
}

/** Name and shape of one model weight, as a worker's model lays them out. */
export interface WeightLayout {
  /** Weight name (`getWeights()` name). */
  name: string;
  /** Weight shape. */
  shape: number[];
}

/** Default of EmotionModel.maxWindowsPerPass (kept in step with model.ts). */
const DEFAULT_MAX_WINDOWS_PER_PASS = 16384;

/**
 * A pool of model workers for one model configuration: gradients for training, inference-mode
 * forward passes for evaluation and prediction.
 */
export class GradientWorkers {
  #workers: Worker[];
  #configKey: string;
  #failure: Error | undefined;
  #busy = false;
  /** Device description reported by each worker. */
  readonly devices: string[];
  /** The workers' weight layout (the order of `weights` and `grads`). */
  readonly layout: WeightLayout[];
  /** The workers' front-end memory settings (the served model's must be the same). */
  readonly frontEndOptions: FrontEndOptions;
  /** The workers' row-group threshold (the served model's must be the same). */
  readonly maxWindowsPerPass: number;

  private constructor(
    workers: Worker[],
    devices: string[],
    layout: WeightLayout[],
    config: ModelConfig,
    frontEndOptions: FrontEndOptions,
    maxWindowsPerPass: number,
  ) {
    this.#workers = workers;
    this.devices = devices;
    this.layout = layout;
    this.#configKey = JSON.stringify(config);
    this.frontEndOptions = frontEndOptions;
    this.maxWindowsPerPass = maxWindowsPerPass;
  }

  /** Starts `count` workers, each with its own backend and model built from `config`. */
  static async create(
    config: ModelConfig,
    count: number,
    backend: BackendName = "wasm",
    opts: GradientWorkersOptions = {},
  ): Promise<GradientWorkers> {
    if (!(Number.isInteger(count) && count >= 1)) {
      throw new Error(`GradientWorkers: worker count ${count} must be a positive integer`);
    }
    const maxWindowsPerPass = opts.maxWindowsPerPass ?? DEFAULT_MAX_WINDOWS_PER_PASS;
    const frontEndOptions = opts.frontEndOptions ?? {};
    const url = new URL("./grad_worker.ts", import.meta.url).href;
    const workers = Array.from({ length: count }, () => new Worker(url, { type: "module" }));
    try {
      const replies = await Promise.all(
        workers.map((w, i) =>
          call(w, i, {
            type: "init",
            config,
            backend,
            frontEndOptions,
            maxWindowsPerPass,
          })
        ),
      );
      const ready = replies.map((r) => {
        if (r.type !== "ready") throw new Error(`GradientWorkers: unexpected reply ${r.type}`);
        return r;
      });
      return new GradientWorkers(
        workers,
        ready.map((r) => r.device),
        ready[0].layout,
        config,
        frontEndOptions,
        maxWindowsPerPass,
      );
    } catch (e) {
      workers.forEach((w) => w.terminate());
      throw e;
    }
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Loss and gradients of a batch, its rows split across the workers (see the module
   * description for how rows are grouped and which dropout seeds they get). After a worker
   * has failed, the pool refuses further work: its workers may be out of step.
   * @param config the configuration the pool was created with
   * @param weights current weights in `getWeights()` order; sent to every worker first
   * @param rowWeights per task, the weight of each row's cross-entropy (0 for unlabelled rows)
   * @param dropoutSeed the seed the single engine would pass to `apply`
   */
  async gradients(
    config: ModelConfig,
    weights: Float32Array[],
    input: ModelInput,
    labels: Record<string, Int32Array>,
    rowWeights: Record<string, Float32Array>,
    dropoutSeed: number,
    opts: GradientsOptions = {},
  ): Promise<ParallelResult> {
    this.#check(config, weights);
    const ranges = this.#ranges(input);
    const pick = <T extends Int32Array | Float32Array>(
      rec: Record<string, T>,
      r0: number,
      r1: number,
    ) => Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, v.slice(r0, r1) as T]));
    const jobs: GradJob[] = ranges.map(([r0, r1], j) => ({
      input: sliceRows(input, r0, r1, config),
      labels: pick(labels, r0, r1),
      rowWeights: pick(rowWeights, r0, r1),
      dropoutSeed: rowGroupSeed(dropoutSeed, j),
    }));
    const perWorker = assign(jobs.map((j) => j.input), this.size, false);
    const replies = await this.#dispatch(perWorker.map((list) =>
      list.length === 0 ? undefined : {
        type: "step",
        weights,
        jobs: list.map((i) => jobs[i]),
        taskWeights: opts.taskWeights ?? {},
      }
    ));
    let loss = 0;
    const perTask: Record<string, number> = {};
    let grads: Float32Array[] | undefined;
    let connected: boolean[] | undefined;
    for (const r of replies) {
      if (r.type !== "grads") throw new Error(`GradientWorkers: unexpected reply ${r.type}`);
      loss += r.loss;
      for (const [k, v] of Object.entries(r.perTask)) perTask[k] = (perTask[k] ?? 0) + v;
      if (!grads) {
        grads = r.grads;
        connected = r.connected;
      } else {
        grads.forEach((g, i) => {
          const o = r.grads[i];
          for (let j = 0; j < g.length; j++) g[j] += o[j];
        });
        connected = connected!.map((c, i) => c || r.connected[i]);
      }
    }
    return { loss, perTask, grads: grads!, connected: connected! };
  }

  /**
   * Inference-mode class probabilities (and attention) of one batch, its rows split across the
   * workers as for {@link GradientWorkers.gradients}, returned in row order; the attention rows
   * span the batch's `windows`, 0 on padding, as one engine's `apply` gives them.
   * @param config the configuration the pool was created with
   * @param weights current weights in `getWeights()` order; sent to every worker that gets rows
   */
  async infer(
    config: ModelConfig,
    weights: Float32Array[],
    input: ModelInput,
  ): Promise<InferenceResult> {
    this.#check(config, weights);
    const ranges = this.#ranges(input);
    const parts = await this.#inferJobs(
      weights,
      ranges.map(([r0, r1]) => sliceRows(input, r0, r1, config)),
    );
    // Back in row order; each job's attention spans its own trimmed window count, so every row
    // is padded back to the batch's.
    const probabilities: Record<string, Float32Array> = {};
    for (const t of config.tasks) {
      const k = t.classes.length;
      const all = new Float32Array(input.batchSize * k);
      parts.forEach((p, j) => all.set(p.probabilities[t.name], ranges[j][0] * k));
      probabilities[t.name] = all;
    }
    if (!parts[0].attention) return { probabilities };
    const attention: Record<string, Float32Array> = {};
    for (const t of config.tasks) {
      const all = new Float32Array(input.batchSize * input.windows);
      parts.forEach((p, j) => {
        const [r0, r1] = ranges[j];
        const a = p.attention![t.name], w = a.length / (r1 - r0);
        for (let r = r0; r < r1; r++) {
          all.set(a.subarray((r - r0) * w, (r - r0 + 1) * w), r * input.windows);
        }
      });
      attention[t.name] = all;
    }
    return { probabilities, attention };
  }

  /**
   * Inference-mode outputs of several sub-batches, each computed whole by one worker (longest
   * first, to the least loaded worker), returned in the order given. For many small inputs,
   * e.g. one utterance each: every output is then exactly what one engine gives for that input.
   * @param config the configuration the pool was created with
   * @param weights current weights in `getWeights()` order; sent to every worker that gets inputs
   */
  async inferEach(
    config: ModelConfig,
    weights: Float32Array[],
    inputs: ModelInput[],
  ): Promise<InferenceResult[]> {
    this.#check(config, weights);
    if (inputs.length === 0) return [];
    return await this.#inferJobs(weights, inputs);
  }

  async #inferJobs(weights: Float32Array[], inputs: ModelInput[]): Promise<InferenceResult[]> {
    const perWorker = assign(inputs, this.size, true);
    const replies = await this.#dispatch(
      perWorker.map((list) =>
        list.length === 0
          ? undefined
          : { type: "infer", weights, inputs: list.map((i) => inputs[i]) }
      ),
    );
    const results = new Array<InferenceResult>(inputs.length);
    let next = 0;
    perWorker.forEach((list) => {
      if (list.length === 0) return;
      const r = replies[next++];
      if (r.type !== "outputs" || r.outputs.length !== list.length) {
        throw new Error(`GradientWorkers: unexpected reply ${r.type}`);
      }
      list.forEach((i, j) => (results[i] = r.outputs[j]));
    });
    return results;
  }

  /** Refuses work on a failed or disposed pool, another configuration or a wrong weight count. */
  #check(config: ModelConfig, weights: Float32Array[]): void {
    if (this.#failure) {
      throw new Error(`GradientWorkers: pool is unusable after an earlier failure`, {
        cause: this.#failure,
      });
    }
    if (this.#workers.length === 0) throw new Error("GradientWorkers: pool was disposed");
    if (JSON.stringify(config) !== this.#configKey) {
      throw new Error("GradientWorkers: config differs from the one the workers were built with");
    }
    if (weights.length !== this.layout.length) {
      throw new Error(
        `GradientWorkers: ${weights.length} weight arrays for ${this.layout.length} weights`,
      );
    }
  }

  /** The row ranges a batch is split into (see the module description). */
  #ranges(input: ModelInput): [number, number][] {
    return jobRanges(input, this.maxWindowsPerPass, this.size);
  }

  /**
   * Sends request i to worker i (none where undefined) and waits for all replies, in worker
   * order. A failing worker marks the pool unusable: the others may still be busy with this
   * call, and their late replies would be taken for the next call's.
   */
  async #dispatch(requests: (WorkerRequest | undefined)[]): Promise<WorkerReply[]> {
    if (this.#busy) {
      throw new Error("GradientWorkers: a call is still running; calls on a pool must not overlap");
    }
    this.#busy = true;
    try {
      const pending: Promise<WorkerReply>[] = [];
      requests.forEach((msg, i) => {
        if (msg) pending.push(call(this.#workers[i], i, msg));
      });
      return await Promise.all(pending);
    } catch (e) {
      this.#failure = e as Error;
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  /** Stops the workers. */
  dispose(): void {
    this.#workers.forEach((w) => w.terminate());
    this.#workers = [];
  }
}

/**
 * Assignment of inputs to `workers` workers (indices per worker), each to the least loaded one
 * (the lowest index on ties); cost ≈ rows × windows of the trimmed sub-batch. `longestFirst`
 * takes them by decreasing cost (LPT), else in the order given. Gradients keep the order
 * given: which worker sums which job fixes the float rounding of a training step.
 */
function assign(inputs: ModelInput[], workers: number, longestFirst: boolean): number[][] {
  const perWorker: number[][] = Array.from({ length: workers }, () => []);
  const load = new Array<number>(workers).fill(0);
  const cost = (i: number) => inputs[i].batchSize * inputs[i].windows;
  const order = inputs.map((_, i) => i);
  if (longestFirst) order.sort((a, b) => cost(b) - cost(a) || a - b);
  for (const i of order) {
    let w = 0;
    for (let k = 1; k < load.length; k++) if (load[k] < load[w]) w = k;
    perWorker[w].push(i);
    load[w] += cost(i);
  }
  return perWorker;
}

/** Sends one request and waits for the worker's reply (errors are rethrown here). */
function call(worker: Worker, index: number, msg: WorkerRequest): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      if (e.data.type === "error") {
        reject(new Error(`gradient worker ${index} failed: ${e.data.message}`));
      } else resolve(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`gradient worker ${index} crashed: ${e.message}`));
    };
    worker.onmessageerror = () => {
      reject(new Error(`gradient worker ${index} sent a message that could not be read`));
    };
    worker.postMessage(msg);
  });
}
