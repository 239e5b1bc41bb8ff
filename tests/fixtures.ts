/**
 * Fixtures shared by the training tests: a tiny raw-audio model configuration and hand-built
 * batches whose arousal class sets a sine's frequency, so a few steps can learn it.
 * @module
 */
import type { TaskSpec } from "../lib/corpus/types.ts";
import type { Batch } from "../lib/frames/types.ts";
import { defaultModelConfig } from "../lib/model/model.ts";
import type { ModelConfig } from "../lib/model/types.ts";

/** Window and hop of the tiny model, in samples. */
export const WIN = 64, HOP = 16;

/** A binary and a 3-class task. */
export const TASKS: TaskSpec[] = [
  { name: "arousal", classes: ["low", "high"] },
  { name: "valence", classes: ["neg", "neu", "pos"] },
];

/** A tiny attention MTL model (4 filters of width 8, one GRU of 8), seconds to train on cpu. */
export function tinyConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return defaultModelConfig(TASKS, {
    pooling: "attention",
    input: { kind: "raw", windowSamples: WIN, hopSamples: HOP },
    conv: { filters: 4, kernel: 8, pool: 2, channelPool: 2 },
    gru: { units: 8, layers: 1 },
    dropoutKeep: 0.9,
    seed: 7,
    ...overrides,
  });
}

/**
 * A batch: row r is a sine of frequency `freqs[arousal[r]]` (cycles per sample) with
 * `windows[r]` real windows and zero padding after them; −1 labels are missing.
 */
export function sineBatch(
  ids: string[],
  arousal: number[],
  valence: number[],
  windows: number[],
  freqs: [number, number] = [0.05, 0.35],
): Batch {
  const nw = Math.max(...windows);
  const per = (nw - 1) * HOP + WIN;
  const signal = new Float32Array(ids.length * per);
  const mask = new Float32Array(ids.length * nw);
  for (let r = 0; r < ids.length; r++) {
    const n = (windows[r] - 1) * HOP + WIN;
    const f = arousal[r] === 1 ? freqs[1] : freqs[0];
    for (let i = 0; i < n; i++) signal[r * per + i] = Math.sin(2 * Math.PI * f * i + r);
    mask.fill(1, r * nw, r * nw + windows[r]);
  }
  return {
    ids,
    batchSize: ids.length,
    windows: nw,
    samplesPerRow: per,
    signal,
    lengths: Int32Array.from(windows),
    mask,
    labels: { arousal: Int32Array.from(arousal), valence: Int32Array.from(valence) },
  };
}

/**
 * Two rows at the paper's framing (640-sample windows every 160): `sin(i / period)` over the
 * whole row, `windows` and `windows − shorter` real windows, every task in `tasks` labelled
 * `labels`. The webgpu tests' batch, whose values do not matter, only its shape.
 */
export function twoRowBatch(
  windows: number,
  tasks: string[],
  opts: { period?: number; shorter?: number; labels?: [number, number] } = {},
): Batch {
  const { period = 7, shorter = 1, labels = [0, 1] } = opts;
  const samples = (windows - 1) * 160 + 640;
  return {
    ids: ["a", "b"],
    batchSize: 2,
    windows,
    samplesPerRow: samples,
    signal: Float32Array.from({ length: 2 * samples }, (_, i) => Math.sin(i / period)),
    lengths: Int32Array.of(windows, windows - shorter),
    mask: new Float32Array(2 * windows).fill(1),
    labels: Object.fromEntries(tasks.map((t) => [t, Int32Array.of(...labels)])),
  };
}
