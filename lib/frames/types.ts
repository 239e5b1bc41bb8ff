/**
 * Types of the framing stage: standardisation statistics, window geometry and batches.
 * @module
 */

/** Mean and standard deviation of raw samples over the training partition. */
export interface Standardisation {
  /** Mean of all training samples. */
  mean: number;
  /** Standard deviation of all training samples. */
  std: number;
}

/** Window geometry in samples (defaults: 640-sample windows every 160 samples at 16 kHz). */
export interface WindowSpec {
  /** Sample rate in Hz. */
  sampleRate: number;
  /** Window length in samples (40 ms at 16 kHz = 640). */
  windowSamples: number;
  /** Hop between window starts in samples (10 ms at 16 kHz = 160). */
  hopSamples: number;
}

/**
 * A batch of utterances for the end-to-end model.
 *
 * `signal` holds each utterance's standardised samples, zero-padded to `samplesPerRow`
 * = (windows − 1) · hop + window, row-major `[batchSize, samplesPerRow]`. Window `i` of row `b`
 * is `signal[b, i·hop : i·hop + window]`; windows at or beyond `lengths[b]` are padding.
 */
export interface Batch {
  /** Utterance ids, one per row. */
  ids: string[];
  /** Number of rows. */
  batchSize: number;
  /** Maximum number of windows over the rows. */
  windows: number;
  /** Samples per row: (windows − 1) · hop + window (raw input; 0 for feature input). */
  samplesPerRow: number;
  /** Standardised, zero-padded samples, `[batchSize, samplesPerRow]` row-major (raw input). */
  signal?: Float32Array;
  /**
   * Standardised frame-level features, `[batchSize, windows, featureDim]` row-major, zero on
   * padding (feature input, e.g. eGeMAPS LLDs for OS+RNN). Here a "window" is one feature frame.
   */
  features?: Float32Array;
  /** Values per feature frame (feature input only). */
  featureDim?: number;
  /** Real (non-padding) windows per row. */
  lengths: Int32Array;
  /** 1 for real windows, 0 for padding, `[batchSize, windows]` row-major. */
  mask: Float32Array;
  /** Class index per task and row; −1 where the utterance has no label for that task. */
  labels: Record<string, Int32Array>;
}
