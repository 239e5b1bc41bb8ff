/**
 * Window geometry of the framing stage: 40 ms windows every 10 ms, how many windows cover a
 * signal and how many samples a row of windows spans. The model's front-end uses the same
 * definitions ({@link spanSamples}), so a batch row and the model's framing never disagree.
 * @module
 */
import type { WindowSpec } from "./types.ts";

/**
 * Window geometry from durations: 40 ms windows every 10 ms at 16 kHz (640 / 160 samples) by
 * default, as in the paper.
 */
export function windowSpec(
  options: { sampleRate?: number; windowMs?: number; hopMs?: number } = {},
): WindowSpec {
  const sampleRate = options.sampleRate ?? 16000;
  const windowSamples = Math.round(((options.windowMs ?? 40) * sampleRate) / 1000);
  const hopSamples = Math.round(((options.hopMs ?? 10) * sampleRate) / 1000);
  if (windowSamples < 1 || hopSamples < 1) {
    throw new RangeError(`window ${options.windowMs} ms / hop ${options.hopMs} ms is too short`);
  }
  return { sampleRate, windowSamples, hopSamples };
}

/** The paper's geometry: 640-sample windows every 160 samples. */
export const PAPER_WINDOWS: WindowSpec = windowSpec();

/**
 * Number of windows covering `samples` samples: windows start every hop until the signal is
 * covered; the last one is zero-padded at the tail. At least one window.
 */
export function windowCount(samples: number, spec: WindowSpec = PAPER_WINDOWS): number {
  if (samples <= spec.windowSamples) return 1;
  return Math.ceil((samples - spec.windowSamples) / spec.hopSamples) + 1;
}

/**
 * Samples spanned by `windows` windows: (windows − 1) · hop + window. Takes any object with the
 * two lengths (a `WindowSpec`, or the model's front-end geometry).
 */
export function spanSamples(
  windows: number,
  spec: Pick<WindowSpec, "windowSamples" | "hopSamples"> = PAPER_WINDOWS,
): number {
  return (windows - 1) * spec.hopSamples + spec.windowSamples;
}
