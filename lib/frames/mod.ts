/**
 * Frames and batches: training-set standardisation, 40 ms / 10 ms windows, and length-bucketed,
 * deterministically shuffled batches with padding masks.
 *
 * Audio is read per batch through a bounded cache, so a 12-hour corpus is never held in memory
 * as float32 at once.
 * @module
 */
import { readWav } from "../audio/mod.ts";
import type { TaskSpec, Utterance } from "../corpus/types.ts";
import { Random } from "../util/random.ts";
import { Moments } from "../util/statistics.ts";
import type { Batch, Standardisation, WindowSpec } from "./types.ts";
import { PAPER_WINDOWS, spanSamples, windowCount } from "./windows.ts";

export type { Batch, Standardisation, WindowSpec } from "./types.ts";
// Earlier stages' types that this stage's signatures use.
export type { TaskSpec, Utterance } from "../corpus/mod.ts";
export { PAPER_WINDOWS, spanSamples, windowCount, windowSpec } from "./windows.ts";

/**
 * Cuts a signal into windows, `[windows, windowSamples]` row-major, the tail zero-padded.
 * (The model frames batches itself; this is the reference layout for tests and plots.)
 */
export function frameSignal(samples: Float32Array, spec: WindowSpec = PAPER_WINDOWS): Float32Array {
  const n = windowCount(samples.length, spec);
  const out = new Float32Array(n * spec.windowSamples);
  for (let i = 0; i < n; i++) {
    const start = i * spec.hopSamples;
    const chunk = samples.subarray(start, Math.min(samples.length, start + spec.windowSamples));
    out.set(chunk, i * spec.windowSamples);
  }
  return out;
}

/** Reads an utterance's samples (16 kHz mono); `readWav` by default. */
export type AudioReader = (u: Utterance) => Promise<Float32Array>;

const defaultReader: AudioReader = async (u) => (await readWav(u.path)).samples;

/**
 * Mean and standard deviation of all samples of the given (training) utterances, accumulated
 * one file at a time with {@link Moments} (two passes per file, Chan's merge across files). The
 * paper applies these "online" to every partition.
 */
export async function computeStandardisation(
  utterances: Utterance[],
  read: AudioReader = defaultReader,
): Promise<Standardisation> {
  const moments = new Moments(1);
  for (const u of utterances) moments.add(await read(u));
  if (moments.count === 0) throw new Error("computeStandardisation: no training samples");
  const mean = moments.mean[0];
  const std = moments.std()[0];
  if (!(std > 0)) throw new Error("computeStandardisation: training audio is constant (std 0)");
  return { mean, std };
}

/** Applies standardisation: (x − mean) / std. */
export function standardise(samples: Float32Array, s: Standardisation): Float32Array {
  const out = new Float32Array(samples.length);
  const inv = 1 / s.std;
  for (let i = 0; i < samples.length; i++) out[i] = (samples[i] - s.mean) * inv;
  return out;
}

/**
 * A least-recently-used cache of decoded audio, bounded in bytes (default 256 MiB), so epochs
 * after the first avoid decoding without holding a whole corpus in memory.
 */
export class AudioCache {
  #map = new Map<string, Float32Array>();
  #bytes = 0;
  readonly #maxBytes: number;
  readonly #read: AudioReader;

  /**
   * Creates an empty cache.
   * @param maxBytes cache size limit
   * @param read how to read an utterance on a miss
   */
  constructor(maxBytes = 256 * 2 ** 20, read: AudioReader = defaultReader) {
    this.#maxBytes = maxBytes;
    this.#read = read;
  }

  /** Bytes currently held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The utterance's samples, from the cache or freshly read. */
  async get(u: Utterance): Promise<Float32Array> {
    const hit = this.#map.get(u.path);
    if (hit) {
      this.#map.delete(u.path);
      this.#map.set(u.path, hit);
      return hit;
    }
    const x = await this.#read(u);
    if (x.byteLength <= this.#maxBytes) {
      this.#map.set(u.path, x);
      this.#bytes += x.byteLength;
      for (const [k, v] of this.#map) {
        if (this.#bytes <= this.#maxBytes) break;
        this.#map.delete(k);
        this.#bytes -= v.byteLength;
      }
    }
    return x;
  }

  /** A reader backed by this cache. */
  get reader(): AudioReader {
    return (u) => this.get(u);
  }
}

/** Frame-level features of an utterance: `frames × dim` values, row-major. */
export interface FeatureSource {
  /** Values per frame. */
  dim: number;
  /** Loads an utterance's feature frames. */
  load(u: Utterance): Promise<Float32Array>;
  /** Per-dimension mean for standardisation (training statistics). */
  mean: Float32Array;
  /** Per-dimension standard deviation. */
  std: Float32Array;
}

/** Options of {@link batches} and {@link planBatches}. */
export interface BatchOptions {
  /** Utterances per batch. */
  batchSize: number;
  /** Seed of the shuffling; pass a different one per epoch. */
  seed?: number;
  /** Shuffle (training) or keep a fixed length-sorted order (evaluation). Default false. */
  shuffle?: boolean;
  /**
   * Batches are formed within pools of this many batches sorted by length, so padding stays
   * small while the order stays random (default 20; 1 disables bucketing).
   */
  bucketBatches?: number;
  /** Window geometry for raw input (default 640 / 160). */
  window?: WindowSpec;
  /** Raw input: training-set sample statistics. */
  standardisation?: Standardisation;
  /** Raw input: where audio comes from (default: readWav through a fresh 256 MiB cache). */
  read?: AudioReader;
  /** Feature input instead of raw audio. */
  features?: FeatureSource;
}

function shuffleInPlace<T>(items: T[], rng: Random): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
}

/**
 * Decides which utterances go into which batch, in order. With `shuffle`, utterances are
 * shuffled, grouped into pools of `bucketBatches` batches, sorted by length within each pool and
 * cut into batches whose order is shuffled again; without it, all utterances are sorted by
 * length. Lengths come from `Utterance.samples` (set by `validateAudio`).
 */
export function planBatches(utterances: Utterance[], options: BatchOptions): Utterance[][] {
  const size = options.batchSize;
  if (!(size >= 1)) throw new RangeError(`batchSize must be ≥ 1 (got ${size})`);
  const length = (u: Utterance) => u.samples ?? 0;
  const byLength = (a: Utterance, b: Utterance) => length(a) - length(b) || (a.id < b.id ? -1 : 1);
  const items = [...utterances];
  const out: Utterance[][] = [];
  if (!options.shuffle) {
    items.sort(byLength);
    for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
    return out;
  }
  const rng = new Random(options.seed ?? 0);
  shuffleInPlace(items, rng);
  const pool = size * Math.max(1, options.bucketBatches ?? 20);
  for (let p = 0; p < items.length; p += pool) {
    const chunk = items.slice(p, p + pool).sort(byLength);
    for (let i = 0; i < chunk.length; i += size) out.push(chunk.slice(i, i + size));
  }
  shuffleInPlace(out, rng);
  return out;
}

function labelsOf(group: Utterance[], tasks: TaskSpec[]): Record<string, Int32Array> {
  return Object.fromEntries(
    tasks.map((t) => [t.name, Int32Array.from(group, (u) => u.labels[t.name] ?? -1)]),
  );
}

/** Assembles one raw-audio batch from decoded samples (standardised here, zero-padded). */
export function assembleRawBatch(
  group: Utterance[],
  signals: Float32Array[],
  tasks: TaskSpec[],
  standardisation: Standardisation,
  spec: WindowSpec = PAPER_WINDOWS,
): Batch {
  const lengths = Int32Array.from(signals, (x) => windowCount(x.length, spec));
  const windows = Math.max(...lengths);
  const samplesPerRow = spanSamples(windows, spec);
  const signal = new Float32Array(group.length * samplesPerRow);
  const mask = new Float32Array(group.length * windows);
  const inv = 1 / standardisation.std;
  signals.forEach((x, b) => {
    const row = b * samplesPerRow;
    for (let i = 0; i < x.length; i++) signal[row + i] = (x[i] - standardisation.mean) * inv;
    mask.fill(1, b * windows, b * windows + lengths[b]);
  });
  return {
    ids: group.map((u) => u.id),
    batchSize: group.length,
    windows,
    samplesPerRow,
    signal,
    lengths,
    mask,
    labels: labelsOf(group, tasks),
  };
}

/** Assembles one feature batch (standardised per dimension, zero on padding). */
export function assembleFeatureBatch(
  group: Utterance[],
  frames: Float32Array[],
  tasks: TaskSpec[],
  source: Pick<FeatureSource, "dim" | "mean" | "std">,
): Batch {
  const { dim, mean, std } = source;
  const lengths = Int32Array.from(frames, (f) => Math.max(1, f.length / dim));
  const windows = Math.max(...lengths);
  const features = new Float32Array(group.length * windows * dim);
  const mask = new Float32Array(group.length * windows);
  frames.forEach((f, b) => {
    const base = b * windows * dim;
    for (let i = 0; i < f.length; i++) {
      const d = i % dim;
      features[base + i] = std[d] > 0 ? (f[i] - mean[d]) / std[d] : 0;
    }
    mask.fill(1, b * windows, b * windows + lengths[b]);
  });
  return {
    ids: group.map((u) => u.id),
    batchSize: group.length,
    windows,
    samplesPerRow: 0,
    features,
    featureDim: dim,
    lengths,
    mask,
    labels: labelsOf(group, tasks),
  };
}

/**
 * Yields batches in the order of {@link planBatches}, reading audio (or features) only for the
 * batch being assembled.
 */
export async function* batches(
  utterances: Utterance[],
  tasks: TaskSpec[],
  options: BatchOptions,
): AsyncGenerator<Batch> {
  const plan = planBatches(utterances, options);
  if (options.features) {
    const src = options.features;
    for (const group of plan) {
      const frames = await Promise.all(group.map((u) => src.load(u)));
      yield assembleFeatureBatch(group, frames, tasks, src);
    }
    return;
  }
  if (!options.standardisation) {
    throw new Error("batches: raw input needs training-set standardisation statistics");
  }
  const read = options.read ?? new AudioCache().reader;
  for (const group of plan) {
    const signals = await Promise.all(group.map(read));
    yield assembleRawBatch(group, signals, tasks, options.standardisation, options.window);
  }
}

/**
 * Per-dimension mean and (population) standard deviation of `frames × dim` arrays (training
 * features), with {@link Moments}: LLDs with a large offset against their spread (formants in
 * Hz, loudness) keep full precision, which the one-pass Σx² − n·mean² formula loses.
 */
export function featureStatistics(
  arrays: Float32Array[],
  dim: number,
): { mean: Float32Array; std: Float32Array } {
  const moments = new Moments(dim);
  for (const a of arrays) moments.add(a);
  if (moments.count === 0) throw new Error("featureStatistics: no frames");
  return { mean: Float32Array.from(moments.mean), std: Float32Array.from(moments.std()) };
}
