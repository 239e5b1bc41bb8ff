/**
 * Contour smoothing and the statistical functionals used by eGeMAPS (openSMILE cContourSmoother,
 * cFunctionalMoments, cFunctionalPercentiles, cFunctionalPeaks2, cFunctionalSegments).
 * @module
 */

/**
 * 3-point moving average. With `skipZeros`, zero frames stay zero and zeros are left out of
 * their neighbours' averages (openSMILE "sma3nz"); the end frames are repeated outwards.
 */
export function smooth3(x: ArrayLike<number>, skipZeros: boolean): Float64Array {
  const n = x.length;
  const y = new Float64Array(n);
  // openSMILE repeats the first and last frame beyond the contour's ends.
  const at = (i: number) => x[i < 0 ? 0 : i >= n ? n - 1 : i];
  for (let i = 0; i < n; i++) {
    if (skipZeros) {
      if (x[i] === 0) continue;
      let s = x[i];
      let c = 1;
      const a = at(i - 1);
      const b = at(i + 1);
      if (a !== 0) {
        s += a;
        c++;
      }
      if (b !== 0) {
        s += b;
        c++;
      }
      y[i] = s / c;
    } else y[i] = (at(i - 1) + x[i] + at(i + 1)) / 3;
  }
  return y;
}

/**
 * {@link smooth3} as openSMILE's lagged F0-synchronous LLD levels flush it at the end of input:
 * the last two frames are the unsmoothed values of the frames before them, and smoothing stops
 * two frames early.
 */
export function smooth3Lagged(x: ArrayLike<number>, skipZeros: boolean): Float64Array {
  const n = x.length;
  if (n < 4) return smooth3(x, skipZeros);
  const y = new Float64Array(n);
  y.set(smooth3(Array.prototype.slice.call(x, 0, n - 2), skipZeros));
  y[n - 2] = x[n - 3];
  y[n - 1] = x[n - 2];
  return y;
}

/** Non-zero elements of a contour. */
export function nonZero(x: ArrayLike<number>): Float64Array {
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) n++;
  const out = new Float64Array(n);
  let j = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== 0) out[j++] = x[i];
  return out;
}

/** Arithmetic mean (0 for an empty contour). */
export function mean(x: ArrayLike<number>): number {
  if (x.length === 0) return 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i];
  return s / x.length;
}

/** Soft limit used by openSMILE for ratios: linear up to ±limit1, then a tanh knee. */
export function ratioLimit(x: number, limit1 = 10, excess = 20): number {
  const tanh = (v: number) => 2 / (1 + Math.exp(-2 * v)) - 1;
  if (x > limit1) return tanh((Math.sqrt(x - limit1 + 1) - 1) / (excess * 0.5)) * excess + limit1;
  if (x < -limit1) {
    return tanh(-(Math.sqrt(-(x + limit1) + 1) - 1) / (excess * 0.5)) * excess - limit1;
  }
  return x;
}

/**
 * Coefficient of variation (population standard deviation / signed mean).
 * @param limit apply openSMILE's soft ratio limit (eGeMAPS v02 sets); else divide by 1 at mean 0
 */
export function stddevNorm(x: ArrayLike<number>, limit: boolean): number {
  const n = x.length;
  if (n === 0) return 0;
  const m = mean(x);
  let m2 = 0;
  for (let i = 0; i < n; i++) m2 += (x[i] - m) * (x[i] - m);
  m2 /= n;
  if (!(m2 > 0)) return 0;
  const sd = Math.sqrt(m2);
  if (limit) return m !== 0 ? ratioLimit(sd / m) : 20;
  return sd / (m === 0 ? 1 : m);
}

/** Linearly interpolated percentile at p·(N−1) of ascending-sorted data. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return 0;
  const idx = p * (n - 1);
  let i1 = Math.floor(idx);
  let i2 = Math.ceil(idx);
  i1 = Math.min(Math.max(i1, 0), n - 1);
  i2 = Math.min(Math.max(i2, 0), n - 1);
  if (i1 === i2) return sorted[i1];
  return sorted[i1] * (i2 - idx) + sorted[i2] * (idx - i1);
}

interface Extremum {
  max: boolean;
  y: number;
  x: number;
}

/**
 * Peak picking of openSMILE's Peaks2 functional: local extrema thinned by a minimum rise/fall
 * of `relThresh`·range and forced to alternate.
 */
export function findExtrema(x: ArrayLike<number>, relThresh = 0.1): Extremum[] {
  const n = x.length;
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = 0; i < n; i++) {
    if (x[i] < mn) mn = x[i];
    if (x[i] > mx) mx = x[i];
  }
  const thr = relThresh * (mx - mn);
  const below = (d: number) => d < thr;
  let list: Extremum[] = [];
  for (let i = 2; i < n - 2; i++) {
    if (x[i] > x[i - 1] && x[i] > x[i + 1]) list.push({ max: true, y: x[i], x: i });
    else if (x[i] < x[i - 1] && x[i] < x[i + 1]) list.push({ max: false, y: x[i], x: i });
  }
  // step 2a: drop maxima without sufficient rise, keeping the higher of competing maxima
  const removed = new Set<Extremum>();
  let lastVal = x[0];
  let lastMin = x[0];
  let lastMax = x[0];
  let minFlag = false;
  let lastMaxEl: Extremum | null = null;
  for (const el of list) {
    if (el.max) {
      if (below(Math.abs(el.y - lastVal))) {
        if (below(el.y - lastMin)) removed.add(el);
        else {
          if (el.y > lastMax * 1.05) {
            if (lastMaxEl !== null) removed.add(lastMaxEl);
            lastMax = el.y;
            lastMaxEl = el;
          } else if (minFlag) {
            lastMax = el.y;
            lastMaxEl = el;
          } else removed.add(el);
          minFlag = false;
        }
      } else {
        minFlag = false;
        lastMax = el.y;
        lastMaxEl = el;
      }
    } else if (!below(Math.abs(el.y - lastVal))) {
      minFlag = true;
      lastMin = el.y;
    }
    lastVal = el.y;
  }
  list = list.filter((e) => !removed.has(e));
  // step 2b: drop minima that are not deep enough below the preceding maximum
  lastMax = x[0];
  list = list.filter((el) => {
    if (!el.max) return !below(lastMax - el.y);
    lastMax = el.y;
    return true;
  });
  // step 3: enforce alternation, keeping the more extreme of consecutive equal types
  const out: Extremum[] = [];
  let prevType: boolean | null = null;
  for (const el of list) {
    if (prevType === null || prevType !== el.max) {
      out.push(el);
      prevType = el.max;
    } else {
      const last = out[out.length - 1];
      if (el.max ? el.y > last.y : el.y < last.y) out[out.length - 1] = el;
    }
  }
  return out;
}

/** Mean and standard deviation of rising and falling slopes between extrema (units per second). */
export function slopes(
  x: ArrayLike<number>,
  period: number,
): { meanRise: number; sdRise: number; meanFall: number; sdFall: number } {
  const n = x.length;
  const res = { meanRise: 0, sdRise: 0, meanFall: 0, sdFall: 0 };
  if (n === 0) return res;
  const ext = findExtrema(x);
  const rise: number[] = [];
  const fall: number[] = [];
  let lastMax = x[0];
  let lastMaxPos = 0;
  let lastMin = x[0];
  let lastMinPos = 0;
  let lastIsMax = -1;
  for (const el of ext) {
    if (!el.max) {
      lastMin = el.y;
      lastMinPos = el.x;
      if (lastMinPos - lastMaxPos > 0) {
        fall.push((lastMax - lastMin) / ((lastMinPos - lastMaxPos) * period));
        lastIsMax = 0;
      }
    } else {
      lastMax = el.y;
      lastMaxPos = el.x;
      if (lastMaxPos - lastMinPos > 0) {
        rise.push((lastMax - lastMin) / ((lastMaxPos - lastMinPos) * period));
        lastIsMax = 1;
      }
    }
  }
  // the end of the contour closes the last slope (only the mean sees it, as in openSMILE)
  let extraRise: number | null = null;
  let extraFall: number | null = null;
  if (lastIsMax === 1) {
    if (n - 1 - lastMaxPos > 0) extraFall = (x[n - 1] - lastMax) / ((n - 1 - lastMaxPos) * period);
  } else if (lastIsMax === 0) {
    if (n - 1 - lastMinPos > 0) extraRise = (x[n - 1] - lastMin) / ((n - 1 - lastMinPos) * period);
  } else {
    const s = (x[n - 1] - x[0]) / n;
    if (s > 0) extraRise = s;
    else if (s < 0) extraFall = s;
  }
  const stats = (v: number[], extra: number | null) => {
    const all = extra === null ? v : [...v, extra];
    const cnt = all.length;
    if (cnt === 0) return { m: 0, sd: 0 };
    let m = 0;
    for (const s of all) m += s;
    if (cnt > 1) m /= cnt;
    let sd = 0;
    for (const s of v) sd += (s - m) * (s - m);
    if (cnt > 1) sd /= cnt;
    return { m, sd: sd > 0 ? Math.sqrt(sd) : 0 };
  };
  const r = stats(rise, extraRise);
  const f = stats(fall, extraFall);
  res.meanRise = r.m;
  res.sdRise = r.sd;
  res.meanFall = f.m;
  res.sdFall = f.sd;
  return res;
}

/** Number of peaks of a contour after Peaks2 thinning. */
export function countPeaks(x: ArrayLike<number>): number {
  return findExtrema(x).filter((e) => e.max).length;
}

/**
 * Segment lengths (in frames, openSMILE's off-by-one included) of runs where `inside(value)`
 * holds for at least `minLen` frames, tolerating gaps shorter than `pauseMinLen`.
 */
export function segments(
  x: ArrayLike<number>,
  inside: (v: number) => boolean,
  minLen = 3,
  pauseMinLen = 2,
): number[] {
  const lens: number[] = [];
  let segStartIndex = 0;
  let state = 0;
  let segStart = 0;
  let segEnd = 0;
  const n = x.length;
  let i = 0;
  for (; i < n; i++) {
    if (inside(x[i])) {
      if (state === 1) {
        segEnd = 0;
        segStart++;
        if (segStart >= minLen) {
          segStart = 0;
          state = 2;
        }
      } else if (state === 0) {
        segStart++;
        segStartIndex = i;
        state = 1;
      } else segEnd = 0;
    } else {
      if (state === 2) {
        segStart = 0;
        segEnd++;
        if (segEnd >= pauseMinLen) {
          state = 0;
          lens.push(i - segEnd - segStartIndex);
          segEnd = 0;
        }
      } else if (state === 1) {
        segEnd++;
        if (segEnd >= pauseMinLen) {
          state = 0;
          segEnd = 0;
          segStart = 0;
        }
      }
    }
  }
  if (state === 2) {
    segEnd++;
    lens.push(i - segEnd - segStartIndex);
  }
  return lens;
}

/** Mean and population standard deviation of segment lengths (0 / 0 when none). */
export function segmentStats(lens: number[]): { mean: number; sd: number } {
  const k = lens.length;
  if (k === 0) return { mean: 0, sd: 0 };
  let m = 0;
  for (const l of lens) m += l;
  if (k > 1) m /= k;
  if (k < 2) return { mean: m, sd: 0 };
  let v = 0;
  for (const l of lens) v += (l - m) * (l - m);
  return { mean: m, sd: Math.sqrt(v / k) };
}
