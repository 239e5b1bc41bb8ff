/**
 * Numerically stable per-dimension mean and standard deviation, the one routine behind every
 * standardisation in the toolkit (raw audio, LLD frames, utterance functionals).
 *
 * Each block of values is summarised with two passes (mean, then squared deviations), and
 * blocks are merged with Chan et al.'s pairwise update. Unlike the one-pass Σx² − n·mean²
 * formula this keeps full precision for features with a large offset relative to their spread
 * (formant frequencies in Hz, loudness in dB), and it stays exact to rounding over hours of
 * audio because every accumulation is in float64.
 *
 * @example
 * ```ts
 * import { Moments } from "./statistics.ts";
 * const m = new Moments(2);           // two interleaved dimensions
 * m.add(new Float32Array([1, 10, 3, 30]));
 * m.mean;                             // Float64Array [2, 20]
 * m.std();                            // population standard deviations [1, 10]
 * ```
 * @module
 */

/** Running count, mean and sum of squared deviations per dimension (Chan's merge). */
export class Moments {
  /** Dimensions per row. */
  readonly dim: number;
  /** Rows seen so far. */
  count = 0;
  /** Mean per dimension. */
  readonly mean: Float64Array;
  /** Sum of squared deviations from the mean per dimension. */
  readonly m2: Float64Array;

  /** Starts empty moments over `dim` interleaved dimensions. */
  constructor(dim = 1) {
    if (!(Number.isInteger(dim) && dim >= 1)) throw new Error(`Moments: bad dimension ${dim}`);
    this.dim = dim;
    this.mean = new Float64Array(dim);
    this.m2 = new Float64Array(dim);
  }

  /**
   * Adds a block of rows, flattened row-major (`rows × dim` values).
   * @throws when the length is not a multiple of `dim`
   */
  add(values: ArrayLike<number>): this {
    const d = this.dim;
    if (values.length % d !== 0) {
      throw new Error(`Moments.add: ${values.length} values are not rows of ${d}`);
    }
    const n = values.length / d;
    if (n === 0) return this;
    const blockMean = new Float64Array(d);
    for (let i = 0; i < values.length; i++) blockMean[i % d] += values[i];
    for (let j = 0; j < d; j++) blockMean[j] /= n;
    const blockM2 = new Float64Array(d);
    for (let i = 0; i < values.length; i++) {
      const diff = values[i] - blockMean[i % d];
      blockM2[i % d] += diff * diff;
    }
    const total = this.count + n;
    for (let j = 0; j < d; j++) {
      const delta = blockMean[j] - this.mean[j];
      this.mean[j] += delta * (n / total);
      this.m2[j] += blockM2[j] + delta * delta * (this.count * n / total);
    }
    this.count = total;
    return this;
  }

  /** Adds one row given as its own array (length `dim`). */
  addRow(row: ArrayLike<number>): this {
    if (row.length !== this.dim) {
      throw new Error(`Moments.addRow: row has ${row.length} values, expected ${this.dim}`);
    }
    return this.add(row);
  }

  /** Population standard deviation per dimension (divide by the count). */
  std(): Float64Array {
    if (this.count === 0) throw new Error("Moments.std: no values");
    return this.m2.map((v) => Math.sqrt(Math.max(0, v) / this.count));
  }
}
