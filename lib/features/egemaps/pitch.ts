/**
 * F0 by subharmonic summation (SHS) on an octave-scaled spectrum, followed by Viterbi smoothing
 * of the candidate tracks, as openSMILE's cSpecScale → cPitchShs → cPitchSmootherViterbi chain
 * in the GeMAPS configuration.
 * @module
 */

/** Parameters of the SHS pitch detector and its Viterbi smoother (GeMAPS values by default). */
export interface ShsOptions {
  /** Lowest frequency of the octave scale (Hz). */
  minF: number;
  /** Lowest accepted pitch candidate (Hz). */
  minPitch: number;
  /** Highest accepted pitch candidate (Hz). */
  maxPitch: number;
  /** Number of candidates kept per frame. */
  nCandidates: number;
  /** Harmonics summed. */
  nHarmonics: number;
  /** Weight decay per harmonic. */
  compressionFactor: number;
  /** Voicing probability threshold. */
  voicingCutoff: number;
}

/** GeMAPS v01b / eGeMAPS v02 settings. */
export const GEMAPS_SHS: ShsOptions = {
  minF: 25,
  minPitch: 55,
  maxPitch: 1000,
  nCandidates: 6,
  nHarmonics: 15,
  compressionFactor: 0.85,
  voicingCutoff: 0.7,
};

/** Per-frame SHS result: candidate frequencies (Hz) and voicing probabilities, best first. */
export interface PitchCandidates {
  /** Candidate frequencies, nCandidates per frame (0 = empty slot). */
  f0: Float64Array;
  /** Voicing probability of each candidate. */
  voicing: Float64Array;
}

/**
 * Octave-scale resampler plus SHS detector for one magnitude-spectrum size. Tables (spline
 * system, target grid, auditory weighting) are built once.
 */
export class ShsPitch {
  private readonly nMag: number;
  private readonly xt: Float64Array; // source positions on the log2 axis
  private readonly sigma: Float64Array;
  private readonly diff1: Float64Array;
  private readonly diff2: Float64Array;
  private readonly k: Int32Array;
  private readonly ca: Float64Array;
  private readonly cc: Float64Array;
  private readonly cd: Float64Array;
  private readonly audw: Float64Array;
  private readonly fmint: number;
  private readonly fstept: number;
  private readonly pointsPerOctave: number;
  private readonly y: Float64Array;
  private readonly y2: Float64Array;
  private readonly u: Float64Array;
  private readonly scaled: Float64Array;
  private readonly ss: Float64Array;
  private readonly shifts: Int32Array;
  private readonly opt: ShsOptions;
  private readonly cand: Float64Array;
  private readonly score: Float64Array;
  private readonly voice: Float64Array;

  /**
   * @param nMag number of magnitude bins (FFT size / 2 + 1)
   * @param binHz bin spacing in Hz
   * @param opt detector parameters
   */
  constructor(nMag: number, binHz: number, opt: ShsOptions = GEMAPS_SHS) {
    this.opt = opt;
    this.nMag = nMag;
    const maxF = binHz * (nMag - 1);
    const fminT = Math.log2(opt.minF);
    const fmaxT = Math.log2(maxF);
    const nT = nMag;
    const dT = (fmaxT - fminT) / (nT - 1);
    const xt = new Float64Array(nMag);
    for (let i = 1; i < nMag; i++) xt[i] = Math.log2(i * binHz);
    // openSMILE extrapolates the DC bin's position linearly from bins 1 and 2.
    xt[0] = 2 * xt[1] - xt[2];
    this.xt = xt;
    this.sigma = new Float64Array(nMag);
    this.diff1 = new Float64Array(nMag);
    this.diff2 = new Float64Array(nMag);
    for (let i = 1; i < nMag - 1; i++) {
      this.sigma[i] = (xt[i] - xt[i - 1]) / (xt[i + 1] - xt[i - 1]);
      this.diff1[i] = (xt[i + 1] - xt[i]) * (xt[i + 1] - xt[i - 1]);
      this.diff2[i] = (xt[i] - xt[i - 1]) * (xt[i + 1] - xt[i - 1]);
    }
    this.k = new Int32Array(nT);
    this.ca = new Float64Array(nT);
    this.cc = new Float64Array(nT);
    this.cd = new Float64Array(nT);
    let ku = 1;
    for (let i = 0; i < nT; i++) {
      const x = fminT + i * dT;
      while (ku < nMag && xt[ku] < x) ku++;
      if (ku >= nMag) ku = nMag - 1;
      const kl = ku - 1;
      const range = xt[ku] - xt[kl];
      const a = (xt[ku] - x) / range;
      const b = 1 - a;
      const r2 = (range * range) / 6;
      this.k[i] = kl;
      this.ca[i] = a;
      this.cc[i] = (a * a * a - a) * r2;
      this.cd[i] = (b * b * b - b) * r2;
    }
    // openSMILE keeps these scale parameters in float32 level metadata.
    const nOctaves = Math.fround(Math.log2(maxF / opt.minF));
    this.pointsPerOctave = Math.fround(nT / nOctaves);
    this.fmint = Math.fround(fminT);
    this.fstept = Math.fround((Math.fround(fmaxT) - this.fmint) / (nT - 1));
    const ppo = nT / Math.log2(maxF / opt.minF);
    const atanS = ppo * Math.log2(65 / 50) - 1;
    this.audw = new Float64Array(nT);
    for (let i = 0; i < nT; i++) {
      this.audw[i] = 0.5 + Math.atan((3 * (i + 1 - atanS)) / ppo) / Math.PI;
    }
    this.y = new Float64Array(nMag);
    this.y2 = new Float64Array(nMag);
    this.u = new Float64Array(nMag);
    this.scaled = new Float64Array(nT);
    this.ss = new Float64Array(nT);
    this.cand = new Float64Array(opt.nCandidates);
    this.score = new Float64Array(opt.nCandidates);
    this.voice = new Float64Array(opt.nCandidates);
    this.shifts = new Int32Array(opt.nHarmonics + 1);
    for (let h = 2; h <= opt.nHarmonics; h++) {
      this.shifts[h] = Math.floor(this.pointsPerOctave * Math.log2(h));
    }
  }

  /**
   * Candidates of one frame, written into `f0` / `voicing` at `offset` (nCandidates each).
   * @param mag linear magnitude spectrum (nMag bins)
   */
  detect(mag: ArrayLike<number>, f0: Float64Array, voicing: Float64Array, offset: number): void {
    const n = this.nMag;
    const y = this.y;
    for (let i = 0; i < n; i++) y[i] = mag[i];
    enhancePeaks(y, n);
    smoothSpectrum(y, n);
    this.spline(y);
    const nT = this.scaled.length;
    const out = this.scaled;
    for (let i = 0; i < nT; i++) {
      const k = this.k[i];
      const a = this.ca[i];
      let v = a * y[k] + (1 - a) * y[k + 1] + this.cc[i] * this.y2[k] + this.cd[i] * this.y2[k + 1];
      v = Math.fround(v);
      out[i] = v > 0 ? v * this.audw[i] : 0;
    }
    this.shs(out, f0, voicing, offset);
  }

  private spline(y: Float64Array): void {
    // Natural cubic spline second derivatives (both end derivatives "free").
    const n = this.nMag;
    const y2 = this.y2;
    const u = this.u;
    u[0] = 0;
    y2[0] = 0;
    for (let i = 1; i < n - 1; i++) {
      const sig = this.sigma[i];
      const p = 1 / (sig * y2[i - 1] + 2);
      y2[i] = (sig - 1) * p;
      const ut = (y[i + 1] - y[i]) / this.diff1[i] - (y[i] - y[i - 1]) / this.diff2[i];
      u[i] = p * (6 * ut - sig * u[i - 1]);
    }
    y2[n - 1] = 0;
    for (let j = n - 2; j >= 0; j--) y2[j] = y2[j] * y2[j + 1] + u[j];
  }

  private shs(inp: Float64Array, f0: Float64Array, voicing: Float64Array, offset: number): void {
    const opt = this.opt;
    const n = inp.length;
    const ss = this.ss;
    for (let j = 0; j < n; j++) ss[j] = inp[j];
    let scale = opt.compressionFactor;
    for (let h = 2; h <= opt.nHarmonics; h++) {
      const shift = this.shifts[h];
      for (let j = shift; j < n; j++) ss[j - shift] += inp[j] * scale;
      scale *= opt.compressionFactor;
    }
    let sum = 0;
    for (let j = 0; j < n; j++) {
      let v = ss[j] / opt.nHarmonics;
      if (v < 0) v = 0;
      v = Math.fround(v);
      ss[j] = v;
      sum += v;
    }
    const ssMean = sum / n;
    const nc = opt.nCandidates;
    const cand = this.cand.fill(0);
    const score = this.score.fill(0);
    const voice = this.voice.fill(0);
    let nCand = 0;
    // Every local maximum competes for the nc slots, ordered by score.
    for (let i = 1; i < n - 1; i++) {
      if (ss[i - 1] < ss[i] && ss[i] > ss[i + 1]) {
        for (let j = 0; j < nc; j++) {
          if (score[j] === 0 || score[j] < ss[i]) {
            for (let jj = nc - 1; jj > j; jj--) {
              score[jj] = score[jj - 1];
              cand[jj] = cand[jj - 1];
            }
            cand[j] = i;
            score[j] = ss[i];
            if (nCand < nc) nCand++;
            break;
          }
        }
      }
    }
    for (let i = 0; i < nCand; i++) {
      const j = cand[i];
      const x1 = Math.fround((j - 1) * this.fstept + this.fmint);
      const x2 = Math.fround(j * this.fstept + this.fmint);
      const x3 = Math.fround((j + 1) * this.fstept + this.fmint);
      const q = parabolaPeak(x1, ss[j - 1], x2, ss[j], x3, ss[j + 1]);
      cand[i] = Math.fround(Math.pow(2, q.x));
      score[i] = Math.fround(q.y);
      voice[i] = q.y > 0 && q.y > ssMean ? Math.fround(1 - ssMean / q.y) : 0;
    }
    // Drop candidates outside the pitch range, keeping the order of the rest.
    for (let i = 0; i < nc && nCand > 0; i++) {
      if (cand[i] > opt.maxPitch || cand[i] < opt.minPitch) {
        const orig = cand[i];
        let j = i + 1;
        for (; j < nc; j++) {
          cand[j - 1] = cand[j];
          voice[j - 1] = voice[j];
          score[j - 1] = score[j];
        }
        cand[j - 1] = 0;
        voice[j - 1] = 0;
        score[j - 1] = 0;
        if (orig > 0) {
          nCand--;
          i--;
        }
      }
    }
    let maxI = 0;
    for (let i = 1; i < nc; i++) if (score[i] > score[maxI]) maxI = i;
    if (maxI > 0) {
      [cand[0], cand[maxI]] = [cand[maxI], cand[0]];
      [voice[0], voice[maxI]] = [voice[maxI], voice[0]];
    }
    for (let i = 0; i < nc; i++) {
      f0[offset + i] = cand[i];
      voicing[offset + i] = voice[i];
    }
  }
}

/** Vertex of the parabola through three points (falls back to the highest point). */
export function parabolaPeak(
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  x3: number,
  y3: number,
): { x: number; y: number; a: number } {
  const den = x1 * x1 * x2 + x2 * x2 * x3 + x3 * x3 * x1 - x3 * x3 * x2 - x2 * x2 * x1 -
    x1 * x1 * x3;
  if (den !== 0) {
    const a = (y1 * x2 + y2 * x3 + y3 * x1 - y3 * x2 - y2 * x1 - y1 * x3) / den;
    const b = (x1 * x1 * y2 + x2 * x2 * y3 + x3 * x3 * y1 - x3 * x3 * y2 - x2 * x2 * y1 -
      x1 * x1 * y3) / den;
    const c = (x1 * x1 * x2 * y3 + x2 * x2 * x3 * y1 + x3 * x3 * x1 * y2 - x3 * x3 * x2 * y1 -
      x2 * x2 * x1 * y3 - x1 * x1 * x3 * y2) / den;
    if (a !== 0) {
      const x = -b / (2 * a);
      return { x, y: c - a * x * x, a };
    }
  }
  if (y1 > y2 && y1 > y3) return { x: x1, y: y1, a: 0 };
  if (y2 > y1 && y2 > y3) return { x: x2, y: y2, a: 0 };
  if (y3 > y1 && y3 > y2) return { x: x3, y: y3, a: 0 };
  return { x: x1, y: y1, a: 0 };
}

/** Zeroes the spectrum between peaks (keeping ±2 bins around each), as SHS pre-processing. */
function enhancePeaks(a: Float64Array, n: number): void {
  const pos: number[] = [];
  if (a[0] > a[1]) pos.push(0);
  for (let i = 1; i < n - 1; i++) if (a[i] > a[i - 1] && a[i] >= a[i + 1]) pos.push(i);
  if (a[n - 1] > a[n - 2]) pos.push(n - 1);
  if (pos.length === 1) {
    // openSMILE reads a second (absent, hence zero) peak position here.
    for (let j = 3; j < n; j++) a[j] = 0;
    return;
  }
  for (let i = 1; i < pos.length; i++) {
    for (let j = pos[i - 1] + 3; j <= pos[i] - 3; j++) a[j] = 0;
  }
}

/** In-place [1 2 1]/4 smoothing (last bin untouched). */
function smoothSpectrum(a: Float64Array, n: number): void {
  let prev = 0;
  for (let i = 0; i < n - 1; i++) {
    const ai = a[i];
    a[i] = (prev + 2 * ai + a[i + 1]) / 4;
    prev = ai;
  }
}

/** Viterbi weights of the pitch smoother (GeMAPS values). */
export interface ViterbiWeights {
  /** Local cost weight. */
  wLocal: number;
  /** Voiced-voiced transition weight (openSMILE also uses it for the delta term). */
  wTvv: number;
  /** Voiced/unvoiced transition cost. */
  wTvuv: number;
  /** Penalty for crossing the voicing threshold. */
  wThr: number;
  /** Frequency-range weight. */
  wRange: number;
}

/** GeMAPS smoother weights (wTvvd=5 in the config is overridden by wTvv inside openSMILE). */
export const GEMAPS_VITERBI: ViterbiWeights = {
  wLocal: 2,
  wTvv: 10,
  wTvuv: 10,
  wThr: 4,
  wRange: 1,
};

function rangeWeight(f: number): number {
  if (f > 0 && f < 100) return -f / 100 + 1;
  if (f >= 100 && f < 350) return 0;
  if (f >= 350 && f < 600) return (f - 350) / 250;
  if (f >= 600) return 1.2;
  return 2;
}

/**
 * Viterbi smoothing over candidate tracks plus an "unvoiced" state, with openSMILE's incremental
 * trellis (paths converge or are forced after `bufferLength` frames) so that decisions match it.
 * @returns smoothed F0 in Hz per frame (0 = unvoiced)
 */
export function viterbiSmooth(
  cand: PitchCandidates,
  nFrames: number,
  nCand: number,
  voiceThresh: number,
  w: ViterbiWeights = GEMAPS_VITERBI,
  bufferLength = 40,
): Float64Array {
  const nStates = nCand + 1;
  const uv = nStates - 1;
  const buflen = bufferLength;
  const out = new Float64Array(nFrames);
  const local = (s: number, t: number): number => {
    const base = t * nCand;
    if (s < uv) {
      let pv = cand.voicing[base + s];
      let thr = 0;
      if (pv < 0.01) pv = 0.01;
      if (pv > 1) pv = 1;
      if (pv < voiceThresh) thr = w.wThr;
      return (-Math.log(pv) + thr) * w.wLocal + rangeWeight(cand.f0[base + s]) * w.wRange;
    }
    for (let j = 0; j < nStates; j++) {
      // openSMILE also reads the slot after the last candidate here (a neighbouring field).
      const v = j < nCand ? cand.voicing[base + j] : 0;
      if (v >= voiceThresh) return w.wLocal * w.wThr;
    }
    return 0;
  };
  let lastChange = 1.0;
  // i: current state, j: previous state; lastChange carries over between evaluations.
  const trans = (i: number, j: number, tPrev: number, tCur: number): number => {
    if (i < uv && j < uv) {
      const f0 = cand.f0[tPrev * nCand + j];
      const f1 = cand.f0[tCur * nCand + i];
      if (f0 === 0 || f1 === 0) return 999;
      const r = Math.log(f1 / f0);
      const x = w.wTvv * Math.abs(r) + w.wTvv * Math.abs(r - lastChange);
      lastChange = r;
      return x;
    }
    if ((i === uv && j < uv) || (i < uv && j === uv)) {
      lastChange = 0;
      return w.wTvuv;
    }
    return 1;
  };
  let paths = [new Int32Array(nStates * buflen), new Int32Array(nStates * buflen)];
  let cost = new Float64Array(nStates);
  let costNew = new Float64Array(nStates);
  const bestPath = new Int32Array(buflen);
  let pathIdx = 0;
  let convIdx = -1;
  let rdIdx = 0;
  const emit = () => {
    while (rdIdx <= convIdx) {
      const s = bestPath[rdIdx % buflen];
      out[rdIdx] = s < uv ? cand.f0[rdIdx * nCand + s] : 0;
      rdIdx++;
    }
  };
  for (let t = 0; t < nFrames; t++) {
    if (pathIdx === 0) {
      convIdx = -1;
      for (let i = 0; i < nStates; i++) {
        cost[i] = local(i, t);
        paths[0][i * buflen] = i;
      }
    } else {
      const np = paths[1];
      const op = paths[0];
      for (let i = 0; i < nStates; i++) {
        let minState = 0;
        let minCost = trans(i, 0, t - 1, t) + cost[0];
        for (let j = 1; j < nStates; j++) {
          const c = trans(i, j, t - 1, t) + cost[j];
          if (c < minCost) {
            minState = j;
            minCost = c;
          }
        }
        costNew[i] = minCost + local(i, t);
        np.set(op.subarray(minState * buflen, (minState + 1) * buflen), i * buflen);
        np[i * buflen + (pathIdx % buflen)] = i;
      }
      [cost, costNew] = [costNew, cost];
      paths = [np, op];
    }
    pathIdx++;
    const p = paths[0];
    if (pathIdx - convIdx > buflen) {
      let minState = 0;
      for (let i = 1; i < nStates; i++) if (cost[i] < cost[minState]) minState = i;
      convIdx++;
      bestPath[convIdx % buflen] = p[minState * buflen + (convIdx % buflen)];
    } else {
      for (let n = convIdx + 1; n < pathIdx; n++) {
        const x = p[n % buflen];
        let match = true;
        for (let i = 1; i < nStates; i++) {
          if (p[i * buflen + (n % buflen)] !== x) {
            match = false;
            break;
          }
        }
        if (!match) break;
        convIdx++;
        bestPath[convIdx % buflen] = x;
      }
    }
    emit();
  }
  // End of input: follow the cheapest path for the frames still open.
  let minState = 0;
  for (let i = 1; i < nStates; i++) if (cost[i] < cost[minState]) minState = i;
  const p = paths[0];
  for (let i = convIdx + 1; i < pathIdx; i++) {
    convIdx++;
    bestPath[convIdx % buflen] = p[minState * buflen + (convIdx % buflen)];
  }
  emit();
  return out;
}
