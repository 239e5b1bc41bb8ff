/**
 * Data-parallel gradients over Web Workers.
 *
 * tfjs's multi-threaded wasm build cannot start under Deno, so a single tfjs engine uses one
 * core. Here each worker holds its own engine and model copy; a batch's rows are split
 * between them, each computes Σ rowWeight · CE over its rows and the weight gradients, and
 * the sums are added. With row weights that already include the batch normalisation (e.g.
 * 1/rows), the result equals the single-engine gradient up to dropout masks and float
 * rounding.
 *
 * @module
 */
import type { BackendName, ModelConfig, ModelInput } from "./types.ts";
import type { WorkerReply, WorkerRequest } from "./grad_worker.ts";
import { sliceRows } from "./model.ts";

/** Loss and summed gradients (in `getWeights()` order) of one batch. */
export interface ParallelResult {
  /** Σ over tasks and rows of rowWeight · cross-entropy. */
  loss: number;
  /** Gradients, one per weight in the model's `getWeights()` order. */
  grads: Float32Array[];
}

/** A pool of gradient workers for one model configuration. */
export class GradientWorkers {
  #workers: Worker[];
  /** Device description reported by each worker. */
  readonly devices: string[];

  private constructor(workers: Worker[], devices: string[]) {
    this.#workers = workers;
    this.devices = devices;
  }

  /** Starts `count` workers, each with its own backend and model built from `config`. */
  static async create(
    config: ModelConfig,
    count: number,
    backend: BackendName = "wasm",
  ): Promise<GradientWorkers> {
    if (!(Number.isInteger(count) && count >= 1)) {
      throw new Error(`GradientWorkers: worker count ${count} must be a positive integer`);
    }
    const url = new URL("./grad_worker.ts", import.meta.url).href;
    const workers = Array.from({ length: count }, () => new Worker(url, { type: "module" }));
    try {
      const devices = await Promise.all(
        workers.map((w) => call(w, { type: "init", config, backend })),
      );
      return new GradientWorkers(
        workers,
        devices.map((d) => (d.type === "ready" ? d.device : "?")),
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
   * Loss and gradients of a batch, its rows split across the workers.
   * @param weights current weights in `getWeights()` order
   * @param rowWeights per task, the weight of each row's cross-entropy (0 for unlabelled rows)
   */
  async gradients(
    config: ModelConfig,
    weights: Float32Array[],
    input: ModelInput,
    labels: Record<string, Int32Array>,
    rowWeights: Record<string, Float32Array>,
    dropoutSeed: number,
  ): Promise<ParallelResult> {
    const b = input.batchSize;
    const parts = Math.min(this.size, b);
    const jobs: Promise<WorkerReply>[] = [];
    for (let p = 0; p < parts; p++) {
      const r0 = Math.floor((p * b) / parts), r1 = Math.floor(((p + 1) * b) / parts);
      const sub = sliceRows(input, r0, r1, config);
      const pick = <T extends Int32Array | Float32Array>(rec: Record<string, T>) =>
        Object.fromEntries(Object.entries(rec).map(([k, v]) => [k, v.slice(r0, r1) as T]));
      jobs.push(call(this.#workers[p], {
        type: "step",
        weights,
        input: sub,
        labels: pick(labels),
        rowWeights: pick(rowWeights),
        dropoutSeed: dropoutSeed * 1009 + p,
      }));
    }
    const replies = await Promise.all(jobs);
    let loss = 0;
    let grads: Float32Array[] | undefined;
    for (const r of replies) {
      if (r.type !== "grads") throw new Error("GradientWorkers: unexpected reply");
      loss += r.loss;
      if (!grads) grads = r.grads;
      else {grads.forEach((g, i) => {
          for (let j = 0; j < g.length; j++) g[j] += r.grads[i][j];
        });}
    }
    return { loss, grads: grads! };
  }

  /** Stops the workers. */
  dispose(): void {
    this.#workers.forEach((w) => w.terminate());
    this.#workers = [];
  }
}

/** Sends one request and waits for the worker's reply (errors are rethrown here). */
function call(worker: Worker, msg: WorkerRequest): Promise<WorkerReply> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<WorkerReply>) => {
      if (e.data.type === "error") reject(new Error(`gradient worker failed: ${e.data.message}`));
      else resolve(e.data);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`gradient worker crashed: ${e.message}`));
    };
    worker.postMessage(msg);
  });
}
