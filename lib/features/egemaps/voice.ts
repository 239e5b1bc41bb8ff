/**
 * Voice-quality and formant descriptors of eGeMAPS: ACF-based HNR, harmonic differences
 * H1–H2 and H1–A3 and formant amplitudes (openSMILE cHarmonics), LPC formants (cSpecResample →
 * cLpc → cFormantLpc) and period-level jitter / shimmer (cPitchJitter).
 * @module
 */

import { fftOfSize } from "./fft.ts";
import { parabolaPeak } from "./pitch.ts";
import { createResampleKernel, type ResampleKernel } from "./simd.ts";

/** Harmonic-based descriptors of one voiced frame. */
export interface HarmonicFeatures {
  /** ACF harmonics-to-noise ratio (dB); 0 when unvoiced. */
  hnr: number;
  /** H1–H2 (dB). */
  h1h2: number;
  /** H1–A3 (dB). */
  h1a3: number;
  /** F1..F3 amplitude relative to H1 (dB). */
  amp: [number, number, number];
}

const N_HARM = 100;

/** Harmonic analysis on the 60 ms Gaussian-window magnitude spectrum. */
export class Harmonics {
  private readonly nBins: number;
  private readonly binHz: number;
  private readonly acfSeq: Float64Array;
  private readonly acf: Float64Array;
  private readonly hBin = new Int32Array(N_HARM);
  private readonly hFreq = new Float64Array(N_HARM);
  private readonly hMag = new Float64Array(N_HARM);
  private readonly hMagI = new Float64Array(N_HARM);
  private readonly hRel = new Float64Array(N_HARM);

  /**
   * @param nBins magnitude bins (FFT size / 2 + 1)
   * @param binHz bin spacing (Hz)
   */
  constructor(nBins: number, binHz: number) {
    this.nBins = nBins;
    this.binHz = binHz;
    const n = (nBins - 1) * 2;
    this.acfSeq = new Float64Array(n);
    this.acf = new Float64Array(nBins);
  }

  private freqToBin(freq: number, startBin: number): number {
    // first bin above freq (searching from startBin), then the nearer of it and its left
    // neighbour; 0 when freq lies beyond the spectrum
    const df = this.binHz;
    let b = Math.floor(freq / df) + 1;
    while (b > startBin && (b - 1) * df > freq) b--;
    while (b * df <= freq) b++;
    if (b < startBin) b = startBin;
    if (b >= this.nBins) return 0;
    const fb = b * df;
    return fb - freq > freq - (b - 1) * df ? b - 1 : b;
  }

  /**
   * Descriptors of one frame.
   * @param mag magnitude spectrum
   * @param f0 smoothed F0 in Hz (0 = unvoiced)
   * @param formants formant centre frequencies F1..F3 (Hz)
   */
  frame(mag: ArrayLike<number>, f0: number, formants: ArrayLike<number>): HarmonicFeatures {
    if (!(f0 > 0)) return { hnr: 0, h1h2: 0, h1a3: 0, amp: [-201, -201, -201] };
    const hnr = this.acfHnr(mag, f0);
    const nb = this.nBins;
    const df = this.binHz;
    const isPeak = (k: number) => {
      if (k >= nb || k < 0) return false;
      if (k + 1 < nb) return k > 0 ? mag[k] > mag[k - 1] && mag[k] > mag[k + 1] : mag[0] > mag[1];
      return k > 0 && mag[k] > mag[k - 1];
    };
    let lastBin = this.freqToBin(0.5 * f0, 1);
    const firstBin = this.freqToBin(0.5 * f0, lastBin);
    const { hBin, hFreq, hMag, hMagI, hRel } = this;
    for (let i = 0; i < N_HARM; i++) {
      const candBin = this.freqToBin((i + 1) * f0, lastBin);
      hRel[i] = -201;
      let peak = -1;
      if (isPeak(candBin)) peak = candBin;
      else {
        let l = candBin - 1;
        let r = candBin + 1;
        const lower = this.freqToBin((i + 0.5) * f0, lastBin);
        const upper = this.freqToBin((i + 1.5) * f0, candBin);
        while ((l >= lower || r <= upper) && peak === -1) {
          if (r <= upper) {
            if (isPeak(r)) {
              peak = r;
              break;
            }
            r++;
          }
          if (l >= lower) {
            if (isPeak(l)) {
              peak = l;
              break;
            }
            l--;
          }
        }
      }
      if (peak >= firstBin && peak < nb - 1) {
        hBin[i] = peak;
        hMag[i] = mag[peak];
        const q = parabolaPeak(
          (peak - 1) * df,
          mag[peak - 1],
          peak * df,
          mag[peak],
          (peak + 1) * df,
          mag[peak + 1],
        );
        hFreq[i] = Math.fround(q.x);
        hMagI[i] = Math.fround(q.y);
      } else {
        hBin[i] = candBin;
        hFreq[i] = 0;
        hMag[i] = 0;
        hMagI[i] = 0;
      }
      lastBin = candBin;
    }
    // magnitudes relative to the first harmonic; duplicates of the previous bin are dropped
    const m0 = hMag[0];
    const rel = m0 !== 0;
    const lm0 = rel ? Math.log10(m0) : 0;
    hRel[0] = 0;
    for (let i = 1; i < N_HARM; i++) {
      if (rel) {
        if (hMagI[i] > 0) hRel[i] = Math.max(Math.fround(20 * (Math.log10(hMagI[i]) - lm0)), -200);
        else hRel[i] = -200;
      } else hRel[i] = -201;
      if (hBin[i] === hBin[i - 1]) {
        hBin[i] = 0;
        hFreq[i] = 0;
        hMag[i] = 0;
        hMagI[i] = 0;
        hRel[i] = -201;
      }
    }
    const clip = (v: number) => Math.max(-201, Math.min(201, v));
    // openSMILE parses "H1" / "H2" as harmonic array indices 1 and 2, i.e. the 2nd and 3rd
    // harmonics (index 0 is F0); we keep that definition for parity.
    const h1h2 = clip(hRel[1] - hRel[2]);
    const fIdx = [-1, -1, -1];
    for (let f = 0; f < 3; f++) {
      const fl = Math.fround(0.8 * formants[f]);
      const fr = Math.fround(1.2 * formants[f]);
      let best = -1;
      let bestMag = 0;
      for (let h = 0; h < N_HARM; h++) {
        if (hFreq[h] >= fl && hFreq[h] <= fr && hMag[h] > bestMag) {
          best = h;
          bestMag = hMag[h];
        }
      }
      fIdx[f] = best;
    }
    const h1a3 = fIdx[2] >= 0 ? clip(hRel[1] - hRel[fIdx[2]]) : clip(hRel[1] - 201);
    const amp: [number, number, number] = [0, 0, 0];
    for (let f = 0; f < 3; f++) amp[f] = fIdx[f] >= 0 ? hRel[fIdx[f]] : 0;
    return { hnr, h1h2, h1a3, amp };
  }

  private acfHnr(mag: ArrayLike<number>, f0: number): number {
    const nb = this.nBins;
    const n = (nb - 1) * 2;
    const seq = this.acfSeq;
    // power spectrum mirrored to a full symmetric sequence; half its (real) DFT is the ACF
    seq[0] = mag[0] * mag[0];
    seq[n / 2] = mag[nb - 1] * mag[nb - 1];
    for (let k = 1; k < n / 2; k++) {
      const p = mag[k] * mag[k];
      seq[k] = p;
      seq[n - k] = p;
    }
    const { re } = fftOfSize(n).complex(seq, 0);
    const a = this.acf;
    for (let i = 0; i < nb; i++) a[i] = Math.abs(0.5 * re[i]) / nb;
    const fs = (nb - 1) * this.binHz * 2;
    const bin = Math.floor(fs / Math.fround(f0));
    if (bin <= 0) return 0;
    const isPk = (k: number) => {
      if (k >= nb || k < 0) return false;
      if (k + 1 < nb) return k > 0 ? a[k] > a[k - 1] && a[k] > a[k + 1] : a[0] > a[1];
      return k > 0 && a[k] > a[k - 1];
    };
    let peak = -1;
    if (isPk(bin)) peak = bin;
    else {
      for (let o = 1; bin - o > 0 || bin + o < nb - 1; o++) {
        if (bin - o > 0 && isPk(bin - o)) {
          peak = bin - o;
          break;
        }
        if (bin + o < nb - 1 && isPk(bin + o)) {
          peak = bin + o;
          break;
        }
      }
      if (peak < 0) {
        if (bin >= nb) peak = 0;
        else if (a[0] > a[bin] && a[nb - 1] <= a[bin]) peak = 0;
        else if (a[0] <= a[bin] && a[nb - 1] > a[bin]) peak = nb - 1;
        else if (a[0] > a[bin] && a[nb - 1] > a[bin]) peak = bin < nb / 2 ? 0 : nb - 1;
        else peak = bin;
      }
    }
    if (peak <= 0) return 0;
    let h = a[0] - a[peak];
    h = h === 0 ? 10e10 : a[peak] / h;
    if (h > 10e10) return 10 * Math.log10(10e10);
    if (h < 10e-10) return 10 * Math.log10(10e-10);
    return Math.fround(10 * Math.log10(h));
  }
}

/**
 * LPC formants of one 20 ms frame: the zero-padded frame's spectrum is resampled to 11 kHz by a
 * truncated inverse DFT, an order-11 autocorrelation LPC is fitted and the polynomial roots give
 * formant frequencies and bandwidths (openSMILE's coefficient layout is kept).
 */
export class Formants {
  private readonly nOut: number;
  private readonly kMax: number;
  private readonly nIn: number;
  // float32 layout shared with the SIMD kernel: cos rows, sin rows, a[k], b[k], accumulators
  private readonly mem: Float32Array;
  private readonly cosOff: number;
  private readonly sinOff: number;
  private readonly aOff: number;
  private readonly bOff: number;
  private readonly accOff: number;
  private readonly kernel: ResampleKernel | null;
  private readonly x: Float64Array;
  private readonly rBuf = new Float64Array(12);
  private readonly aBuf = new Float64Array(11);
  private readonly coefBuf = new Float64Array(12);
  private readonly hBuf = new Float64Array(121);
  private readonly zBuf = new Float64Array(22);
  private readonly freqBuf = new Float64Array(5);
  private readonly bwBuf = new Float64Array(5);
  private readonly fsOut: number;
  private readonly order = 11;

  /**
   * @param fftSize FFT size of the frame spectrum
   * @param frameLen frame length in samples before zero padding
   * @param sampleRate input rate (Hz)
   * @param targetRate resampling target (Hz)
   * @param useSimd use the WebAssembly SIMD kernel when available (same results, faster)
   */
  constructor(
    fftSize: number,
    frameLen: number,
    sampleRate: number,
    targetRate = 11000,
    useSimd = true,
  ) {
    const ratio = targetRate / sampleRate;
    const lastOverCur = frameLen / fftSize;
    this.nOut = Math.round(fftSize * ratio * lastOverCur);
    const newRatio = this.nOut / (fftSize * lastOverCur);
    const nd = fftSize * newRatio;
    this.fsOut = sampleRate * newRatio;
    this.nIn = fftSize;
    // openSMILE limits the kept bins to min(#fft values, #output samples), rounded down to even.
    let kMax = Math.min(fftSize, this.nOut);
    if (kMax & 1) kMax--;
    this.kMax = kMax;
    const nk = kMax / 2;
    const nOut = this.nOut;
    const floats = 2 * nk * nOut + 2 * nk + nOut;
    this.kernel = useSimd && nOut % 4 === 0 ? createResampleKernel(floats) : null;
    this.mem = this.kernel ? this.kernel.f32 : new Float32Array(floats);
    this.cosOff = 0;
    this.sinOff = nk * nOut;
    this.aOff = 2 * nk * nOut;
    this.bOff = this.aOff + nk;
    this.accOff = this.bOff + nk;
    for (let i = 0; i < nOut; i++) {
      for (let k = 1; k < nk; k++) {
        const arg = (2 * Math.PI * k * i) / nd;
        this.mem[this.cosOff + k * nOut + i] = Math.cos(arg);
        this.mem[this.sinOff + k * nOut + i] = Math.sin(arg);
      }
    }
    this.x = new Float64Array(nOut);
  }

  /**
   * Formant frequencies and bandwidths (5 each, ascending, 0 = none); the returned arrays are
   * reused by the next call.
   * @param re real part of the frame's FFT
   * @param im imaginary part of the frame's FFT (e^{-i} convention)
   */
  frame(re: Float64Array, im: Float64Array): { freq: Float64Array; bw: Float64Array } {
    const nk = this.kMax / 2;
    const x = this.x;
    const f = Math.fround;
    const scale = f(this.nIn / 2);
    // openSMILE works in float32 here; the order-11 root finding is sensitive to it, so every
    // accumulation is rounded the same way.
    const m = this.mem;
    const { aOff, bOff, accOff, cosOff, sinOff } = this;
    for (let k = 1; k < nk; k++) {
      m[aOff + k] = re[k];
      // fft4g's sine part has the opposite sign to the e^{-i} convention used here
      m[bOff + k] = -im[k];
    }
    const nOut = this.nOut;
    m.fill(f(re[0]), accOff, accOff + nOut);
    if (this.kernel) this.kernel.run(aOff, bOff, cosOff, sinOff, accOff, nk, nOut);
    else {
      // k-major loops over rows of the (k, i) tables: each output still sums its terms in
      // ascending k, so the float32 rounding sequence is unchanged.
      for (let k = 1; k < nk; k++) {
        const a = m[aOff + k];
        const b = m[bOff + k];
        const cr = cosOff + k * nOut;
        const sr = sinOff + k * nOut;
        for (let i = 0; i < nOut; i++) {
          const v = f(m[accOff + i] + f(a * m[cr + i]));
          m[accOff + i] = v + f(b * m[sr + i]);
        }
      }
    }
    const acc = m.subarray(accOff, accOff + nOut);
    for (let i = 0; i < nOut; i++) x[i] = f(acc[i] / scale);
    const p = this.order;
    const r = this.rBuf;
    for (let lag = 0; lag <= p; lag++) {
      let s = 0;
      for (let i = lag; i < x.length; i++) s = f(s + f(x[i] * x[i - lag]));
      r[lag] = s;
    }
    const a = levinson(r, p, this.aBuf);
    const freq = this.freqBuf.fill(0);
    const bw = this.bwBuf.fill(0);
    if (!a) return { freq, bw };
    // polynomial with openSMILE's coefficient order: x^p - Σ a_k x^(p-k)
    const coef = this.coefBuf;
    for (let i = 0; i < p; i++) coef[i] = -a[p - 1 - i];
    coef[p] = 1;
    const roots = polyRoots(coef, this.hBuf, this.zBuf);
    if (!roots) return { freq, bw };
    const T = 1 / this.fsOut;
    const fLow = 50;
    const fHigh = 5450;
    let nF = 0;
    for (let i = 0; i < roots.length / 2 && nF < 5; i++) {
      let zr = roots[2 * i];
      let zi = roots[2 * i + 1];
      const mag = Math.hypot(zr, zi);
      if (mag > 1) {
        // reflect into the unit circle: 1 / conj(z)
        const d = zr * zr + zi * zi;
        zr = zr / d;
        zi = zi / d;
      }
      if (zi < 0) continue;
      const f = Math.abs(Math.atan2(zi, zr)) / (2 * Math.PI * T);
      if (f >= fLow && f <= fHigh) {
        bw[nF] = -Math.log(Math.hypot(zr, zi)) / (Math.PI * T);
        freq[nF] = f;
        nF++;
      }
    }
    for (let i = 0; i < nF; i++) {
      for (let j = i + 1; j < nF; j++) {
        if (freq[j] < freq[i]) {
          [freq[i], freq[j]] = [freq[j], freq[i]];
          [bw[i], bw[j]] = [bw[j], bw[i]];
        }
      }
    }
    return { freq, bw };
  }
}

/** Levinson–Durbin recursion; returns a with A(z) = 1 + Σ a_k z^-k, or null for silence. */
export function levinson(
  r: Float64Array,
  p: number,
  out?: Float64Array,
): Float64Array | null {
  // float32 arithmetic throughout, as openSMILE's FLOAT_DMEM implementation
  const f = Math.fround;
  if (r[0] === 0) return null;
  const a = out ? out.fill(0) : new Float64Array(p);
  let e = f(r[0]);
  for (let m = 1; m <= p; m++) {
    let sum = f(r[m]);
    for (let i = 1; i < m; i++) sum = f(sum + f(a[i - 1] * r[m - i]));
    const k = f(f(-1 / e) * sum);
    a[m - 1] = k;
    const half = m >> 1;
    for (let i = 1; i <= half; i++) {
      const t = a[i - 1];
      a[i - 1] = f(a[i - 1] + f(k * a[m - i - 1]));
      if (i < half || (m & 1) === 1) a[m - i - 1] = f(a[m - i - 1] + f(k * t));
    }
    e = f(e * f(1 - f(k * k)));
    if (e === 0) break;
  }
  return a;
}

/**
 * Complex roots of Σ c_i x^i (c[n] ≠ 0) as eigenvalues of the balanced companion matrix (Francis
 * double-shift QR, as in GSL / openSMILE). Returns [re0, im0, re1, im1, …] or null.
 */
export function polyRoots(
  c: Float64Array,
  hWork?: Float64Array,
  zOut?: Float64Array,
): Float64Array | null {
  const n = c.length - 1;
  const h = hWork ? hWork.fill(0) : new Float64Array(n * n);
  const at = (i: number, j: number) => (i - 1) * n + (j - 1); // 1-based
  for (let i = 1; i < n; i++) h[i * n + (i - 1)] = 1;
  for (let i = 0; i < n; i++) h[i * n + (n - 1)] = -c[i] / c[n];
  balance(h, n);
  const z = zOut ? zOut.fill(0) : new Float64Array(2 * n);
  let N = n;
  let t = 0;
  let iter = 0;
  const EPS = 2.220446049250313e-16;
  let x = 0, y = 0, w = 0, p = 0, q = 0, r = 0, s = 0, zz = 0;
  while (N > 0) {
    let e: number;
    for (e = N; e >= 2; e--) {
      const a1 = Math.abs(h[at(e, e - 1)]);
      const a2 = Math.abs(h[at(e - 1, e - 1)]);
      const a3 = Math.abs(h[at(e, e)]);
      if (a1 <= EPS * (a2 + a3)) break;
    }
    x = h[at(N, N)];
    if (e === N) {
      z[2 * (N - 1)] = x + t;
      z[2 * (N - 1) + 1] = 0;
      N--;
      iter = 0;
      continue;
    }
    y = h[at(N - 1, N - 1)];
    w = h[at(N - 1, N)] * h[at(N, N - 1)];
    if (e === N - 1) {
      p = (y - x) / 2;
      q = p * p + w;
      y = Math.sqrt(Math.abs(q));
      x += t;
      if (q > 0) {
        if (p < 0) y = -y;
        y += p;
        z[2 * (N - 1)] = x - w / y;
        z[2 * (N - 1) + 1] = 0;
        z[2 * (N - 2)] = x + y;
        z[2 * (N - 2) + 1] = 0;
      } else {
        z[2 * (N - 1)] = x + p;
        z[2 * (N - 1) + 1] = -y;
        z[2 * (N - 2)] = x + p;
        z[2 * (N - 2) + 1] = y;
      }
      N -= 2;
      iter = 0;
      continue;
    }
    if (iter === 70) return null;
    if (iter % 10 === 0 && iter > 0) {
      t += x;
      for (let i = 1; i <= N; i++) h[at(i, i)] -= x;
      s = Math.abs(h[at(N, N - 1)]) + Math.abs(h[at(N - 1, N - 2)]);
      y = 0.75 * s;
      x = y;
      w = -0.4375 * s * s;
    }
    iter++;
    let m: number;
    for (m = N - 2; m >= e; m--) {
      zz = h[at(m, m)];
      r = x - zz;
      s = y - zz;
      p = h[at(m, m + 1)] + (r * s - w) / h[at(m + 1, m)];
      q = h[at(m + 1, m + 1)] - zz - r - s;
      r = h[at(m + 2, m + 1)];
      s = Math.abs(p) + Math.abs(q) + Math.abs(r);
      p /= s;
      q /= s;
      r /= s;
      if (m === e) break;
      const a1 = Math.abs(h[at(m, m - 1)]);
      const a2 = Math.abs(h[at(m - 1, m - 1)]);
      const a3 = Math.abs(h[at(m + 1, m + 1)]);
      if (a1 * (Math.abs(q) + Math.abs(r)) <= EPS * Math.abs(p) * (a2 + a3)) break;
    }
    for (let i = m + 2; i <= N; i++) h[at(i, i - 2)] = 0;
    for (let i = m + 3; i <= N; i++) h[at(i, i - 3)] = 0;
    for (let k = m; k <= N - 1; k++) {
      const notLast = k !== N - 1;
      if (k !== m) {
        p = h[at(k, k - 1)];
        q = h[at(k + 1, k - 1)];
        r = notLast ? h[at(k + 2, k - 1)] : 0;
        x = Math.abs(p) + Math.abs(q) + Math.abs(r);
        if (x === 0) continue;
        p /= x;
        q /= x;
        r /= x;
      }
      s = Math.sqrt(p * p + q * q + r * r);
      if (p < 0) s = -s;
      if (k !== m) h[at(k, k - 1)] = -s * x;
      else if (e !== m) h[at(k, k - 1)] *= -1;
      p += s;
      zz = r / s;
      y = q / s;
      x = p / s;
      r /= p;
      q /= p;
      for (let j = k; j <= N; j++) {
        p = h[at(k, j)] + q * h[at(k + 1, j)];
        if (notLast) {
          p += r * h[at(k + 2, j)];
          h[at(k + 2, j)] -= p * zz;
        }
        h[at(k + 1, j)] -= p * y;
        h[at(k, j)] -= p * x;
      }
      const jEnd = k + 3 < N ? k + 3 : N;
      for (let i = e; i <= jEnd; i++) {
        p = x * h[at(i, k)] + y * h[at(i, k + 1)];
        if (notLast) {
          p += zz * h[at(i, k + 2)];
          h[at(i, k + 2)] -= p * r;
        }
        h[at(i, k + 1)] -= p * q;
        h[at(i, k)] -= p;
      }
    }
  }
  return z;
}

function balance(m: Float64Array, n: number): void {
  const RADIX = 2;
  const RADIX2 = 4;
  let converged = false;
  const C = (i: number, j: number) => i * n + j;
  while (!converged) {
    converged = true;
    for (let i = 0; i < n; i++) {
      let col: number;
      if (i !== n - 1) col = Math.abs(m[C(i + 1, i)]);
      else {
        col = 0;
        for (let j = 0; j < n - 1; j++) col += Math.abs(m[C(j, n - 1)]);
      }
      let row: number;
      if (i === 0) row = Math.abs(m[C(0, n - 1)]);
      else if (i === n - 1) row = Math.abs(m[C(i, i - 1)]);
      else row = Math.abs(m[C(i, i - 1)]) + Math.abs(m[C(i, n - 1)]);
      if (col === 0 || row === 0) continue;
      let g = 1;
      let lim = row / RADIX;
      const sum = col + row;
      while (col < lim) {
        g *= RADIX;
        col *= RADIX2;
      }
      lim = row * RADIX;
      while (col > lim) {
        g /= RADIX;
        col /= RADIX2;
      }
      if (row + col < 0.95 * sum * g) {
        converged = false;
        const inv = 1 / g;
        if (i === 0) m[C(0, n - 1)] *= inv;
        else {
          m[C(i, i - 1)] *= inv;
          m[C(i, n - 1)] *= inv;
        }
        if (i === n - 1) { for (let j = 0; j < n; j++) m[C(j, i)] *= g; }
        else m[C(i + 1, i)] *= g;
      }
    }
  }
}

/**
 * Jitter (local, relative to the mean period) and shimmer (local, dB) per F0 frame by
 * cross-correlation period matching on the waveform, carrying openSMILE's streaming state
 * (read position, leftover samples, last period) from frame to frame.
 */
export function jitterShimmer(
  x: Float64Array,
  f0: Float64Array,
  sampleRate: number,
  frameLen: number,
  hop: number,
): { jitter: Float64Array; shimmer: Float64Array } {
  const nF = f0.length;
  const jitter = new Float64Array(nF);
  const shimmer = new Float64Array(nF);
  const T = 1 / sampleRate;
  let lastIdx = 0;
  let lastMis = 0;
  let lastT0 = 0;
  let lastJitter = 0;
  let lastShimmer = 0;
  // reads past the end of the signal see zeros (openSMILE pads the last frames)
  const xp = new Float64Array(x.length + 2 * frameLen + 4 * hop);
  xp.set(x);
  for (let t = 0; t < nF; t++) {
    const F0 = Math.fround(f0[t]);
    const startV = t * hop;
    const toRead0 = hop + lastMis;
    let toRead = toRead0;
    let T0f = 0, T0minF = 0, T0maxF = 0;
    if (F0 > 0) {
      const Tf = 1 / F0 / T;
      T0f = Math.round(Tf);
      T0minF = Math.floor(0.9 * Tf);
      T0maxF = Math.ceil(1.1 * Tf);
      const twoPP = 2 * T0maxF + 2;
      if (toRead < twoPP) toRead = twoPP;
    }
    let maxRead = lastMis + frameLen;
    if (toRead > maxRead) toRead = maxRead;
    if (startV - lastMis !== lastIdx) {
      lastIdx = startV;
      if (toRead > frameLen) toRead = frameLen;
      if (maxRead > frameLen) maxRead = frameLen;
    }
    const base = lastIdx;
    const nT = toRead;
    let nPeriods = 0, nLocal = 0, avgPeriod = 0, jit = 0, avgAmp = 0, avgAmpDiff = 0;
    let lastPeriod = 0;
    if (F0 > 0) {
      const nc = T0maxF - T0minF + 1;
      const cc = new Float64Array(nc);
      let start = 0;
      while (start < nT - 2 * T0maxF - 1) {
        for (let tf = T0minF; tf <= T0maxF; tf++) cc[tf - T0minF] = xcorr(xp, base + start, tf);
        let maxI = -1;
        let mx = 0;
        for (let i = 1; i < T0maxF - T0minF - 1; i++) {
          if (cc[i - 1] < cc[i] && cc[i] > cc[i + 1]) {
            if (maxI === -1 || cc[i] > mx) {
              maxI = i;
              mx = cc[i];
            }
          }
        }
        const os = start;
        if (maxI >= 0) {
          const pp = T0minF + maxI;
          start += pp;
          const a0 = peakToPeak(xp, base + os, pp);
          const a1 = peakToPeak(xp, base + start, pp);
          const ad = Math.abs(a0 - a1);
          const q = parabolaPeak(maxI - 1, cc[maxI - 1], maxI, cc[maxI], maxI + 1, cc[maxI + 1]);
          if (q.y > 0.5) {
            const period = Math.fround(Math.abs(T0minF + q.x) * T);
            avgPeriod += period;
            nPeriods++;
            if (lastT0 > 0) {
              const diff = Math.abs(lastT0 - period);
              jit += diff;
              nLocal++;
            }
            lastT0 = period;
            avgAmp += (a0 + a1) / 2;
            avgAmpDiff += ad;
          }
        } else start += T0f;
        if (start < toRead0 - 1) lastPeriod = start;
      }
      lastMis = toRead0 - lastPeriod;
    } else {
      lastPeriod = toRead0;
      lastMis = 0;
      lastT0 = 0;
      lastJitter = 0;
      lastShimmer = 0;
    }
    lastIdx += lastPeriod;
    if (nPeriods > 0 && nLocal > 0 && F0 > 0) lastJitter = jit / nLocal / (avgPeriod / nPeriods);
    if (nPeriods > 0 && nLocal > 0 && F0 > 0) {
      if (lastJitter > 1) lastJitter = 1;
      jitter[t] = lastJitter;
    } else if (nPeriods === 0 && F0 > 0) {
      if (lastJitter > 1) lastJitter = 1;
      jitter[t] = lastJitter;
    } else jitter[t] = 0;
    if (nPeriods > 0 && F0 > 0) lastShimmer = avgAmp > 0 ? avgAmpDiff / avgAmp : 0;
    if (F0 > 0 && nPeriods >= 0) {
      if (lastShimmer > 1) lastShimmer = 1;
      const v = lastShimmer + 1;
      shimmer[t] = v > 10e-50 ? 20 * Math.log10(v) : -1000;
    } else shimmer[t] = 0;
  }
  return { jitter, shimmer };
}

function xcorr(x: Float64Array, s: number, n: number): number {
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[s + i];
    my += x[s + n + i];
  }
  mx /= n;
  my /= n;
  let c = 0;
  let nx = 0;
  let ny = 0;
  for (let i = 0; i < n; i++) {
    const a = x[s + i] - mx;
    const b = x[s + n + i] - my;
    c += a * b;
    nx += a * a;
    ny += b * b;
  }
  return c / (Math.sqrt(nx) * Math.sqrt(ny));
}

function peakToPeak(x: Float64Array, s: number, n: number): number {
  let mx = x[s + 1];
  let mn = mx;
  for (let i = 1; i < n - 1; i++) {
    const v = x[s + i];
    if (v > mx) mx = v;
    if (v < mn) mn = v;
  }
  return mx - mn;
}
