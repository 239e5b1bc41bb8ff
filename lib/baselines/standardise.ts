/**
 * Feature standardisation for utterance-level (functional) features.
 *
 * Two schemes are offered:
 * - `global`: one mean/std from the training rows, applied to every row (the paper's choice);
 * - `speaker`: every speaker's rows are standardised with that speaker's own mean/std, test
 *   speakers included (they use their own, unlabelled, features). This removes much of the
 *   speaker variation and is the usual protocol on EMO-DB.
 *
 * Statistics use the population standard deviation (divide by n). A feature whose standard
 * deviation is (numerically) zero is only centred: dividing by ~0 would turn rounding noise
 * into huge values, so its scale is taken as 1 and it becomes 0 everywhere in that group.
 *
 * @module
 */
import { Moments } from "../util/statistics.ts";

/** How features are standardised before the SVM. `none` leaves them as they are. */
export type FeatureNorm = "global" | "speaker" | "none";

/** Per-feature mean and scale (standard deviation, or 1 for zero-variance features). */
export interface FeatureStats {
  /** Mean of each feature. */
  mean: Float64Array;
  /** Divisor of each feature: its standard deviation, or 1 where that is ~0. */
  scale: Float64Array;
  /** True where the feature had zero variance (its scale was replaced by 1). */
  constant: Uint8Array;
  /** Number of rows the statistics were computed from. */
  count: number;
}

/**
 * Computes per-feature statistics of the given rows (all of the same length) with
 * {@link Moments}. A standard deviation at or below `1e-10 · max(1, |mean|)` counts as zero
 * variance.
 */
export function computeFeatureStats(rows: ArrayLike<number>[]): FeatureStats {
  if (rows.length === 0) throw new Error("computeFeatureStats: no rows");
  const d = rows[0].length;
  // One block of all rows: Moments then takes the exact two-pass route (mean, then squared
  // deviations), which keeps precision on features with large offsets (formants in Hz).
  const block = new Float64Array(rows.length * d);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.length !== d) {
      throw new Error(`computeFeatureStats: row ${i} has ${r.length} features, row 0 has ${d}`);
    }
    for (let j = 0; j < d; j++) block[i * d + j] = r[j];
  }
  const moments = new Moments(d).add(block);
  const mean = Float64Array.from(moments.mean);
  const sds = moments.std();
  const scale = new Float64Array(d);
  const constant = new Uint8Array(d);
  for (let j = 0; j < d; j++) {
    const sd = sds[j];
    if (!(sd > 1e-10 * Math.max(1, Math.abs(mean[j])))) {
      scale[j] = 1;
      constant[j] = 1;
    } else {
      scale[j] = sd;
    }
  }
  return { mean, scale, constant, count: rows.length };
}

/** Returns `(row − mean) / scale` as a new Float64Array. */
export function applyFeatureStats(row: ArrayLike<number>, stats: FeatureStats): Float64Array {
  const d = stats.mean.length;
  if (row.length !== d) {
    throw new Error(`applyFeatureStats: row has ${row.length} features, statistics have ${d}`);
  }
  const out = new Float64Array(d);
  for (let j = 0; j < d; j++) out[j] = (row[j] - stats.mean[j]) / stats.scale[j];
  return out;
}

/**
 * Standardises every row with the statistics of the rows selected by `fitRows` (indices into
 * `rows`), i.e. the training rows for global standardisation.
 */
export function standardiseGlobal(
  rows: ArrayLike<number>[],
  fitRows: ArrayLike<number>,
): Float64Array[] {
  const fit = Array.from(fitRows, (i) => rows[i]);
  const stats = computeFeatureStats(fit);
  return rows.map((r) => applyFeatureStats(r, stats));
}

/**
 * Standardises each speaker's rows with that speaker's own statistics. `speakers[i]` is the
 * speaker of `rows[i]`.
 */
export function standardisePerSpeaker(
  rows: ArrayLike<number>[],
  speakers: ArrayLike<string>,
): Float64Array[] {
  if (rows.length !== speakers.length) {
    throw new Error(`standardisePerSpeaker: ${rows.length} rows but ${speakers.length} speakers`);
  }
  const bySpeaker = new Map<string, number[]>();
  for (let i = 0; i < rows.length; i++) {
    const list = bySpeaker.get(speakers[i]);
    if (list) list.push(i);
    else bySpeaker.set(speakers[i], [i]);
  }
  const out = new Array<Float64Array>(rows.length);
  for (const idx of bySpeaker.values()) {
    const stats = computeFeatureStats(idx.map((i) => rows[i]));
    for (const i of idx) out[i] = applyFeatureStats(rows[i], stats);
  }
  return out;
}
