/**
 * Significance tests for comparing systems on the same test set.
 *
 * - {@link zTestOneTailed}: the paper's test. UARs are treated as proportions of N test
 *   utterances and compared with the two-proportion z-test using the pooled proportion:
 *   p̄ = (p_A + p_B) / 2, z = (p_A − p_B) / √(2 · p̄ · (1 − p̄) / N), one-tailed p = 1 − Φ(z).
 *   It ignores that both systems saw the same utterances, so it is conservative for correlated
 *   systems and anti-conservative for none; we report it because the paper does.
 * - {@link pairedBootstrap}: resamples the test utterances with replacement (the same draw for
 *   both systems), recomputes the UAR difference each time (averaged over seeds when given
 *   several runs), and reports the 95 % percentile interval and the one-sided p-value (share of
 *   resamples where B is not worse than A).
 * @module
 */
import * as ss from "simple-statistics";
import { uar } from "../training/metrics.ts";
import { Random } from "../util/random.ts";

/** Result of the paper's one-tailed z-test of A > B. */
export interface ZTestResult {
  /** z statistic. */
  z: number;
  /** One-tailed p-value of "A is better than B". */
  p: number;
}

/**
 * One-tailed two-proportion z-test that system A (UAR `a`) beats system B (UAR `b`) on `n`
 * test utterances (see the module documentation for the formula).
 */
export function zTestOneTailed(a: number, b: number, n: number): ZTestResult {
  if (!(n > 0)) throw new RangeError(`zTestOneTailed: n must be positive (got ${n})`);
  const pooled = (a + b) / 2;
  const se = Math.sqrt((2 * pooled * (1 - pooled)) / n);
  if (se === 0) {
    return { z: a > b ? Infinity : a < b ? -Infinity : 0, p: a > b ? 0 : a < b ? 1 : 0.5 };
  }
  const z = (a - b) / se;
  return { z, p: 1 - ss.cumulativeStdNormalProbability(z) };
}

/** Result of {@link pairedBootstrap}. */
export interface BootstrapResult {
  /** Observed UAR(A) − UAR(B). */
  difference: number;
  /** 2.5th percentile of the resampled differences. */
  low: number;
  /** 97.5th percentile of the resampled differences. */
  high: number;
  /** One-sided p-value: share of resamples with difference ≤ 0. */
  p: number;
  /** Resamples drawn. */
  resamples: number;
}

/**
 * Paired bootstrap of the UAR difference between two systems' predictions of the same
 * utterances. Utterances with a negative (missing) label are left out.
 *
 * Either argument may also be several runs of its system (seeds), each a prediction per
 * utterance in the same order: then the difference, on the data and on every resample, is the
 * mean UAR over A's runs minus the mean over B's runs, all scored on the same resampled
 * utterances. The interval is then that of the seed-averaged difference, where taking one seed
 * would leave out the others' evidence. One run each is the plain paired bootstrap.
 * @throws when a run's length differs from `truth`'s
 */
export function pairedBootstrap(
  truth: ArrayLike<number>,
  predA: ArrayLike<number> | ArrayLike<number>[],
  predB: ArrayLike<number> | ArrayLike<number>[],
  numClasses: number,
  options: { resamples?: number; seed?: number } = {},
): BootstrapResult {
  const runsOf = (p: ArrayLike<number> | ArrayLike<number>[]) =>
    Array.isArray(p) && p.length > 0 && typeof p[0] !== "number"
      ? p as ArrayLike<number>[]
      : [p as ArrayLike<number>];
  const runsA = runsOf(predA), runsB = runsOf(predB);
  for (const r of [...runsA, ...runsB]) {
    if (r.length !== truth.length) {
      throw new Error(`pairedBootstrap: ${r.length} predictions for ${truth.length} utterances`);
    }
  }
  const keep: number[] = [];
  for (let i = 0; i < truth.length; i++) if (truth[i] >= 0) keep.push(i);
  const n = keep.length;
  if (n === 0) throw new Error("pairedBootstrap: no labelled utterances");
  const resamples = options.resamples ?? 2000;
  const rng = new Random(options.seed ?? 1);
  const t = new Int32Array(n), pick = new Int32Array(n), p = new Int32Array(n);
  const meanUar = (runs: ArrayLike<number>[]) => {
    let sum = 0;
    for (const run of runs) {
      for (let j = 0; j < n; j++) p[j] = run[pick[j]];
      sum += uar(t, p, numClasses);
    }
    return sum / runs.length;
  };
  const diffs = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    for (let j = 0; j < n; j++) {
      pick[j] = keep[Math.floor(rng.next() * n)];
      t[j] = truth[pick[j]];
    }
    diffs[r] = meanUar(runsA) - meanUar(runsB);
  }
  const sorted = [...diffs].sort((x, y) => x - y);
  const observed = (runs: ArrayLike<number>[]) =>
    runs.reduce((sum, run) => sum + uar(truth, run, numClasses), 0) / runs.length;
  return {
    difference: observed(runsA) - observed(runsB),
    low: ss.quantileSorted(sorted, 0.025),
    high: ss.quantileSorted(sorted, 0.975),
    p: sorted.filter((d) => d <= 0).length / resamples,
    resamples,
  };
}

/** Mean and sample standard deviation (0 for a single value). */
export function meanStd(values: number[]): { mean: number; std: number; n: number } {
  if (values.length === 0) return { mean: NaN, std: NaN, n: 0 };
  return {
    mean: ss.mean(values),
    std: values.length > 1 ? ss.sampleStandardDeviation(values) : 0,
    n: values.length,
  };
}
