/**
 * eGeMAPS extraction on every core: a fixed set of Web Workers, each running the same
 * {@link extractEgemaps} on whole signals. Extraction is per file and deterministic, so the
 * results equal the main thread's bit for bit whatever the number of workers; only the order in
 * which files finish changes, and callers that need an order await the promises in theirs.
 * @module
 */
// mod.ts re-exports this module: the names come from names.ts, and extractEgemaps is only
// called at run time, so the import cycle never reads an uninitialised binding.
import { type EgemapsOptions, type EgemapsResult, extractEgemaps } from "./mod.ts";
import { EGEMAPS_FUNCTIONAL_NAMES, EGEMAPS_LLD_NAMES } from "./names.ts";

/** One signal sent to a worker. */
export interface PoolRequest {
  /** Job number, echoed in the reply. */
  id: number;
  /** Mono samples (a copy of the caller's, transferred to the worker). */
  samples: Float32Array;
  /** Sample rate in Hz. */
  sampleRate: number;
  /** Options of {@link extractEgemaps}. */
  options: EgemapsOptions;
}

/** A worker's answer: the result in flat buffers, or the error's name and message. */
export type PoolReply =
  | {
    id: number;
    ok: true;
    frameTimes: Float64Array;
    lld: Float32Array;
    functionals: Float64Array;
  }
  | { id: number; ok: false; name: string; message: string };

const DIM = EGEMAPS_LLD_NAMES.length;

interface Job {
  request: PoolRequest;
  resolve: (r: EgemapsResult) => void;
  reject: (e: Error) => void;
}

/** Rebuilds the error a worker caught, keeping its class where it is a standard one. */
function rebuildError(name: string, message: string): Error {
  const Ctor = name === "RangeError" ? RangeError : name === "TypeError" ? TypeError : Error;
  const e = new Ctor(message);
  if (e.name !== name) e.name = name;
  return e;
}

function toResult(r: Extract<PoolReply, { ok: true }>): EgemapsResult {
  const frames = r.lld.length / DIM;
  return {
    lld: {
      names: [...EGEMAPS_LLD_NAMES],
      frameTimes: r.frameTimes,
      values: Array.from({ length: frames }, (_, i) => r.lld.subarray(i * DIM, (i + 1) * DIM)),
    },
    functionals: { names: [...EGEMAPS_FUNCTIONAL_NAMES], values: r.functionals },
  };
}

/**
 * Extracts eGeMAPS on `size` cores. With `size` 1 it runs on the calling thread and starts no
 * worker. Call {@link EgemapsPool.close} when done: live workers keep the process running.
 *
 * @example
 * ```ts
 * const pool = EgemapsPool.create(navigator.hardwareConcurrency);
 * try {
 *   const results = await Promise.all(signals.map((x) => pool.extract(x, 16000)));
 * } finally {
 *   pool.close();
 * }
 * ```
 */
export class EgemapsPool {
  /** Number of signals extracted at once (workers, or 1 on the calling thread). */
  readonly size: number;
  /**
   * Signals a caller should keep handed to the pool so that no worker waits for the caller's
   * reading, decoding and writing: two per worker, or 1 on the calling thread.
   */
  readonly inFlight: number;
  readonly #workers: Worker[];
  readonly #idle: Worker[];
  readonly #queue: Job[] = [];
  readonly #running = new Map<number, { job: Job; worker: Worker }>();
  #nextId = 0;
  #closed = false;

  private constructor(size: number, workers: Worker[]) {
    this.size = size;
    this.inFlight = workers.length > 0 ? 2 * size : 1;
    this.#workers = workers;
    this.#idle = [...workers];
    for (const w of workers) {
      w.onmessage = (e: MessageEvent<PoolReply>) => this.#finish(w, e.data);
      w.onerror = (e: ErrorEvent) => {
        e.preventDefault();
        this.#fail(w, new Error(`eGeMAPS worker failed: ${e.message}`));
      };
    }
  }

  /**
   * A pool of `size` extractors (default: every core the runtime reports).
   * @throws {RangeError} when `size` is not a positive integer
   */
  static create(size: number = navigator.hardwareConcurrency || 1): EgemapsPool {
    if (!(Number.isInteger(size) && size >= 1)) {
      throw new RangeError(`EgemapsPool: size ${size} must be a positive integer`);
    }
    if (size === 1) return new EgemapsPool(1, []);
    const url = new URL("./pool_worker.ts", import.meta.url).href;
    return new EgemapsPool(
      size,
      Array.from({ length: size }, () => new Worker(url, { type: "module" })),
    );
  }

  /**
   * The same result as {@link extractEgemaps}(samples, sampleRate, options), computed on a free
   * core. The worker gets a copy of `samples` (copying costs far less than extracting).
   */
  extract(
    samples: Float32Array,
    sampleRate: number,
    options: EgemapsOptions = {},
  ): Promise<EgemapsResult> {
    if (this.#closed) return Promise.reject(new Error("EgemapsPool: extract after close"));
    if (this.#workers.length === 0) {
      try {
        return Promise.resolve(extractEgemaps(samples, sampleRate, options));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({
        request: { id: this.#nextId++, samples: samples.slice(), sampleRate, options },
        resolve,
        reject,
      });
      this.#pump();
    });
  }

  /** Stops the workers; jobs not yet finished are rejected. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of this.#workers) w.terminate();
    const err = new Error("EgemapsPool: closed before the extraction finished");
    for (const { job } of this.#running.values()) job.reject(err);
    for (const job of this.#queue) job.reject(err);
    this.#running.clear();
    this.#queue.length = 0;
  }

  #pump(): void {
    while (this.#idle.length && this.#queue.length) {
      const worker = this.#idle.pop()!, job = this.#queue.shift()!;
      this.#running.set(job.request.id, { job, worker });
      worker.postMessage(job.request, [job.request.samples.buffer as ArrayBuffer]);
    }
  }

  #finish(worker: Worker, reply: PoolReply): void {
    const run = this.#running.get(reply.id);
    if (!run) return;
    this.#running.delete(reply.id);
    this.#idle.push(worker);
    if (reply.ok) run.job.resolve(toResult(reply));
    else run.job.reject(rebuildError(reply.name, reply.message));
    this.#pump();
  }

  /** A worker died outside a job's try/catch: its job fails, and so does the pool. */
  #fail(worker: Worker, err: Error): void {
    for (const [id, run] of this.#running) {
      if (run.worker === worker) {
        this.#running.delete(id);
        run.job.reject(err);
      }
    }
    this.close();
  }
}
