/**
 * Frame-level spectral descriptors of eGeMAPS computed from the 20 ms Hamming magnitude
 * spectrum: loudness (mel bands → equal-loudness weighting → cube-root compression), MFCC 1–4,
 * alpha ratio, Hammarberg index, spectral slopes 0–500 / 500–1500 Hz and spectral flux.
 * @module
 */

const mel = (f: number) => (f > 0 ? 1127 * Math.log(1 + f / 700) : 0);
const melInv = (m: number) => 700 * (Math.exp(m / 1127) - 1);

/**
 * Triangular mel filterbank in openSMILE's cMelspec layout: every FFT bin between the low and
 * high cut-off feeds the falling slope of one band and the rising slope of the next.
 */
export class MelBank {
  /** Number of bands. */
  readonly nBands: number;
  /** Centre frequency of each band (Hz). */
  readonly centres: Float64Array;
  private readonly chan: Int32Array;
  private readonly coef: Float64Array;
  private readonly lo: number;
  private readonly hi: number;

  /**
   * @param nBins magnitude bins (FFT size / 2 + 1)
   * @param binHz bin spacing (Hz)
   * @param nBands number of mel bands
   * @param loHz lower cut-off (Hz)
   * @param hiHz upper cut-off (Hz)
   */
  constructor(nBins: number, binHz: number, nBands: number, loHz: number, hiHz: number) {
    this.nBands = nBands;
    const loM = Math.fround(mel(loHz));
    const hiM = Math.fround(mel(hiHz));
    this.lo = Math.round(loHz / binHz);
    this.hi = Math.min(Math.round(hiHz / binHz), nBins);
    const bw = Math.fround((hiM - loM) / (nBands + 1));
    const cfs = new Float64Array(nBands + 2);
    for (let m = 0; m <= nBands + 1; m++) cfs[m] = Math.fround(loM + m * bw);
    this.centres = new Float64Array(nBands);
    for (let m = 1; m <= nBands; m++) this.centres[m - 1] = melInv(cfs[m]);
    this.chan = new Int32Array(nBins);
    let m = 0;
    for (let n = 0; n < nBins; n++) {
      if (n <= this.lo || n >= this.hi) this.chan[n] = -3;
      else {
        const fm = Math.fround(mel(Math.fround(n * binHz)));
        while (cfs[m] < fm) {
          if (m > nBands) break;
          m++;
        }
        this.chan[n] = m - 2;
      }
    }
    this.coef = new Float64Array(nBins);
    m = 0;
    for (let n = this.lo; n < this.hi; n++) {
      const fm = Math.fround(mel(Math.fround(n * binHz)));
      while (fm > cfs[m + 1] && m <= nBands) m++;
      this.coef[n] = Math.fround((cfs[m + 1] - fm) / (cfs[m + 1] - cfs[m]));
    }
  }

  /**
   * Band energies from a power spectrum.
   * @param power |X|² per bin
   * @param out receives nBands values
   */
  apply(power: Float64Array, out: Float64Array): void {
    out.fill(0);
    const nb = this.nBands;
    for (let n = this.lo; n < this.hi; n++) {
      const m = this.chan[n];
      if (m > -2) {
        const a = power[n] * this.coef[n];
        if (m > -1) out[m] += a;
        if (m < nb - 1) out[m + 1] += power[n] - a;
      }
    }
  }
}

/** Hermansky (1990) equal-loudness curve, scaled as in openSMILE's PLP component. */
export function equalLoudness(f: number): number {
  const w = 2 * Math.PI * f;
  const w2 = w * w;
  const c = w2 + 6300000;
  return (1e32 * ((w2 + 56.8e6) * w2 * w2)) / (c * c * (w2 + 0.38e9) * (w2 * w2 * w2 * w + 1.7e31));
}

/** Spectral descriptors for one frame size; holds its filterbanks and flux memory. */
export class SpectralFeatures {
  private readonly bank: MelBank;
  private readonly eql: Float64Array;
  private readonly dct: Float64Array; // 4 × nBands
  private readonly lifter: Float64Array;
  private readonly bands: Float64Array;
  private readonly power: Float64Array;
  private readonly logP: Float64Array;
  private readonly binHz: number;
  private readonly nBins: number;
  private prev: Float64Array | null = null;
  private readonly fluxBins: number;

  /**
   * @param nBins magnitude bins (FFT size / 2 + 1)
   * @param binHz bin spacing (Hz)
   */
  constructor(nBins: number, binHz: number) {
    this.nBins = nBins;
    this.binHz = binHz;
    this.bank = new MelBank(nBins, binHz, 26, 20, 8000);
    this.eql = this.bank.centres.map(equalLoudness);
    const nb = 26;
    this.dct = new Float64Array(4 * nb);
    this.lifter = new Float64Array(4);
    for (let i = 1; i <= 4; i++) {
      for (let m = 0; m < nb; m++) {
        this.dct[(i - 1) * nb + m] = Math.cos(((Math.PI * i) / nb) * (m + 0.5));
      }
      this.lifter[i - 1] = 1 + (22 / 2) * Math.sin((Math.PI * i) / 22);
    }
    this.bands = new Float64Array(nb);
    this.power = new Float64Array(nBins);
    this.logP = new Float64Array(nBins);
    // Flux covers bins whose frequency is below 5 kHz.
    let up = 0;
    for (let i = 0; i < nBins; i++) if (5000 > i * binHz) up = i;
    this.fluxBins = up + 1;
  }

  /** Forgets the previous frame (flux of the next frame is 0). */
  reset(): void {
    this.prev = null;
  }

  /**
   * Computes the descriptors of one frame into `out`:
   * [loudness, alphaRatio, hammarberg, slope0-500, slope500-1500, flux, mfcc1..4].
   * @param mag magnitude spectrum (nBins)
   */
  frame(mag: Float64Array, out: Float64Array): void {
    const n = this.nBins;
    const P = this.power;
    for (let i = 0; i < n; i++) P[i] = mag[i] * mag[i];
    // loudness: mel bands → equal-loudness weighting → power law 0.33 → mean over bands
    const B = this.bands;
    this.bank.apply(P, B);
    const nb = B.length;
    let loud = 0;
    for (let m = 0; m < nb; m++) {
      const v = Math.fround(B[m]);
      loud += Math.pow(Math.max(v, 1e-8) * this.eql[m], 0.33);
    }
    out[0] = loud / nb;
    // spectral band measures on the power spectrum up to 5 kHz
    const df = this.binHz;
    let s01 = 0;
    let s15 = 0;
    let max02 = 0;
    let max25 = 0;
    for (let j = 0; j < n; j++) {
      const f = j * df;
      if (f > 5000) break;
      if (f < 1000) s01 += P[j];
      else s15 += P[j];
      if (f < 2000) {
        if (P[j] > max02) max02 = P[j];
      } else if (P[j] > max25) max25 = P[j];
    }
    const floorP = 1e-14;
    out[1] = s01 > 0
      ? (s15 > floorP ? 10 * Math.log10(s15 / s01) : 10 * (Math.log10(floorP) - Math.log10(s01)))
      : 0;
    out[2] = max25 > 0
      ? (max02 > floorP
        ? 10 * Math.log10(max02 / max25)
        : 10 * (Math.log10(floorP) - Math.log10(max25)))
      : 0;
    const L = this.logP;
    for (let j = 0; j < n; j++) L[j] = P[j] <= floorP ? -140 : 10 * Math.log10(P[j]);
    out[3] = this.slope(L, 0, 500);
    out[4] = this.slope(L, 500, 1500);
    // flux: RMS difference of magnitudes to the previous frame
    const nf = this.fluxBins;
    if (this.prev === null) {
      this.prev = new Float64Array(nf);
      out[5] = 0;
    } else {
      let acc = 0;
      for (let j = 0; j < nf; j++) {
        const d = mag[j] - this.prev[j];
        acc += d * d;
      }
      const fl = acc / nf;
      out[5] = fl > 0 ? Math.sqrt(fl) : 0;
    }
    for (let j = 0; j < nf; j++) this.prev[j] = mag[j];
    // MFCC (HTK scaling of the 16-bit range, log floor 1, DCT-II, sinusoidal lifter 22)
    const s = 32767 * 32767;
    const factor = Math.sqrt(2 / nb);
    for (let m = 0; m < nb; m++) {
      const v = Math.fround(B[m]) * s;
      B[m] = v < 1 ? 0 : Math.log(v);
    }
    for (let i = 0; i < 4; i++) {
      let acc = 0;
      for (let m = 0; m < nb; m++) acc += B[m] * this.dct[i * nb + m];
      out[6 + i] = acc * this.lifter[i] * factor;
    }
  }

  /** Least-squares slope (dB/Hz) of the log power spectrum between two band edges. */
  private slope(L: Float64Array, loHz: number, hiHz: number): number {
    const df = this.binHz;
    const n = this.nBins;
    // band edges mapped to bins as openSMILE does (first bin above lo, last bin at/below hi)
    let ii = 0;
    for (; ii < n; ii++) if (ii * df > loHz) break;
    let wL = ii < n && ii > 0 ? (ii * df - loHz) / df : 1;
    let iL = Math.max(ii - 1, 0);
    for (ii = 0; ii < n; ii++) if (ii * df >= hiHz) break;
    let wR = ii < n && ii > 0 ? (hiHz - (ii - 1) * df) / df : 1;
    let iR = ii < n && ii * df === hiHz ? ii : ii - 1;
    if (iR >= n) iR = n - 1;
    if (wL === 0) wL = 1;
    if (wR === 0) wR = 1;
    const nInd = iR - iL;
    let sf = iL * df * wL;
    let s2f = sf * sf;
    let sumA = iL * df * wL * L[iL];
    let sumB = wL * L[iL];
    for (let i = iL + 1; i < iR; i++) {
      const f = i * df;
      s2f += f * f;
      sf += f;
      sumA += f * L[i];
      sumB += L[i];
    }
    const fR = iR * df;
    s2f += fR * wR * fR * wR;
    sf += fR * wR;
    sumA += fR * wR * L[iR];
    sumB += wR * L[iR];
    iL = 0;
    const deno = nInd * s2f - sf * sf;
    return deno !== 0 ? (nInd * sumA - sf * sumB) / deno : 0;
  }
}
