/**
 * Native eGeMAPSv02 (extended Geneva Minimalistic Acoustic Parameter Set, Eyben et al. 2016)
 * feature extraction: 25 low-level descriptors at a 10 ms hop and 88 utterance functionals,
 * named and ordered as openSMILE 3.0 writes them. See docs/egemaps.md for the algorithms and
 * the measured parity with openSMILE.
 * @module
 */

import { fftOfSize } from "./fft.ts";
import {
  countPeaks,
  mean,
  nonZero,
  percentile,
  segments,
  segmentStats,
  slopes,
  smooth3,
  smooth3Lagged,
  stddevNorm,
} from "./functionals.ts";
import { EGEMAPS_FUNCTIONAL_NAMES, EGEMAPS_LLD_NAMES } from "./names.ts";
import { GEMAPS_SHS, ShsPitch, viterbiSmooth } from "./pitch.ts";
import { SpectralFeatures } from "./spectral.ts";
import { Formants, Harmonics, jitterShimmer } from "./voice.ts";

export { EGEMAPS_FUNCTIONAL_NAMES, EGEMAPS_LLD_NAMES };
export { EgemapsPool } from "./pool.ts";

/** Version of the extractor's output: bump it when a change alters any value (caches recompute). */
export const EGEMAPS_EXTRACTOR_VERSION = "1";

/** Frame-level descriptors of one utterance. */
export interface EgemapsLld {
  /** The 25 descriptor names (EGEMAPS_LLD_NAMES). */
  names: string[];
  /** Start time of each frame in seconds (10 ms hop, first frame at 0). */
  frameTimes: Float64Array;
  /** One row of 25 values per frame. */
  values: Float32Array[];
}

/** Utterance-level functionals. */
export interface EgemapsFunctionals {
  /** The 88 functional names (EGEMAPS_FUNCTIONAL_NAMES). */
  names: string[];
  /** The 88 values. */
  values: Float64Array;
}

/** Result of {@link extractEgemaps}. */
export interface EgemapsResult {
  /** Smoothed low-level descriptors. */
  lld: EgemapsLld;
  /** Functionals over the whole input. */
  functionals: EgemapsFunctionals;
}

/** Options of {@link extractEgemaps}. */
export interface EgemapsOptions {
  /**
   * Factor applied to the samples first. openSMILE divides 16-bit PCM by 32767 while readWav
   * divides by 32768, so the default 32768/32767 makes the input identical to openSMILE's.
   */
  inputGain?: number;
}

const HOP = 160;
const SR = 16000;

/** Number of frames openSMILE emits: every full frame plus one zero-padded partial frame. */
export function frameCount(nSamples: number, frameLen: number, hop: number): number {
  if (nSamples < frameLen) return nSamples > 0 ? 1 : 0;
  return Math.ceil((nSamples - frameLen) / hop) + 1;
}

function hamming(n: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = 0.54 - 0.46 * Math.cos((2 * Math.PI * i) / (n - 1));
  return w;
}

function gauss(n: number, sigma: number): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t = (i - (n - 1) / 2) / ((sigma * (n - 1)) / 2);
    w[i] = Math.exp(-0.5 * t * t);
  }
  return w;
}

// openSMILE casts the window coefficients to float32 before multiplying; double coefficients
// measured slightly closer to its output overall (the remaining differences are float32 FFT
// noise in ill-conditioned LPC frames), so they are kept.
const windows = {
  ham320: hamming(320),
  gau960: gauss(960, 0.4),
};

// Analysis objects hold only tables (and the flux memory, reset per utterance): build them once.
let analysers:
  | { spec: SpectralFeatures; formants: Formants; shs: ShsPitch; harm: Harmonics }
  | null = null;
function getAnalysers() {
  if (!analysers) {
    analysers = {
      spec: new SpectralFeatures(257, SR / 512),
      formants: new Formants(512, 320, SR),
      shs: new ShsPitch(513, SR / 1024, GEMAPS_SHS),
      harm: new Harmonics(513, SR / 1024),
    };
  }
  analysers.spec.reset();
  return analysers;
}

/**
 * Raw (unsmoothed) descriptors before the openSMILE selection and smoothing stages.
 * Exposed for tests and diagnostics.
 */
export interface RawDescriptors {
  /** Frames at the 60 ms analysis level (F0 and voice quality). */
  nA: number;
  /** Frames at the 20 ms analysis level (spectral, loudness, formants). */
  nB: number;
  /** Per 20 ms frame: loudness, alpha, hammarberg, slope0-500, slope500-1500, flux, mfcc1-4. */
  spectral: Float64Array[];
  /** Mean square of each raw 20 ms frame (for the equivalent sound level). */
  energy: Float64Array;
  /** Formant frequencies F1..F3 per 20 ms frame. */
  formantFreq: Float64Array[];
  /** Formant bandwidths F1..F3 per 20 ms frame. */
  formantBw: Float64Array[];
  /** Final F0 in Hz per 60 ms frame after Viterbi smoothing and the energy gate (0 = unvoiced). */
  f0: Float64Array;
  /** F0 in semitones above 27.5 Hz (0 = unvoiced). */
  f0st: Float64Array;
  /** Jitter, shimmer (dB), HNR, H1-H2, H1-A3, A1, A2, A3 per 60 ms frame. */
  voice: Float64Array[];
}

/** Computes the raw descriptors of a 16 kHz signal. */
export function rawDescriptors(x: Float64Array): RawDescriptors {
  const N = x.length;
  const nB = Math.floor((N - 320) / HOP) + 1;
  const nA = frameCount(N, 960, HOP);
  // ---- 20 ms Hamming level
  const fft512 = fftOfSize(512);
  const { spec, formants, shs, harm } = getAnalysers();
  const spectral: Float64Array[] = [];
  const energy = new Float64Array(nB);
  const formantFreq: Float64Array[] = [];
  const formantBw: Float64Array[] = [];
  const frame = new Float64Array(320);
  const mag = new Float64Array(257);
  for (let t = 0; t < nB; t++) {
    const s = t * HOP;
    let e = 0;
    for (let i = 0; i < 320; i++) {
      const v = s + i < N ? x[s + i] : 0;
      e += v * v;
      frame[i] = Math.fround(v * windows.ham320[i]);
    }
    energy[t] = e / 320;
    // symmetric zero padding as in openSMILE (matters for the phase used by the resampler)
    const { re, im } = fft512.complex(frame, 96);
    for (let k = 0; k <= 256; k++) mag[k] = Math.fround(Math.sqrt(re[k] * re[k] + im[k] * im[k]));
    const fr = formants.frame(re, im);
    formantFreq.push(fr.freq.slice(0, 3));
    formantBw.push(fr.bw.slice(0, 3));
    const out = new Float64Array(10);
    spec.frame(mag, out);
    spectral.push(out);
  }
  // ---- 60 ms Gaussian level
  const fft1024 = fftOfSize(1024);
  const nc = GEMAPS_SHS.nCandidates;
  const cand = { f0: new Float64Array(nA * nc), voicing: new Float64Array(nA * nc) };
  const rms = new Float64Array(nA);
  // float32 like openSMILE's data memory (and half the garbage)
  const mags: Float32Array[] = [];
  const frameA = new Float64Array(960);
  for (let t = 0; t < nA; t++) {
    const s = t * HOP;
    let e = 0;
    for (let i = 0; i < 960; i++) {
      const v = Math.fround((s + i < N ? x[s + i] : 0) * windows.gau960[i]);
      frameA[i] = v;
      e += v * v;
    }
    rms[t] = Math.sqrt(e / 960);
    const m = new Float32Array(513);
    const { re, im } = fft1024.complex(frameA, 32);
    for (let k = 0; k <= 512; k++) m[k] = Math.sqrt(re[k] * re[k] + im[k] * im[k]);
    mags.push(m);
    shs.detect(m, cand.f0, cand.voicing, t * nc);
  }
  const f0s = viterbiSmooth(cand, nA, nc, GEMAPS_SHS.voicingCutoff);
  const f0 = new Float64Array(nA);
  const f0st = new Float64Array(nA);
  for (let t = 0; t < nA; t++) {
    if (rms[t] > 0.001) {
      const f = Math.fround(f0s[t]);
      f0[t] = f;
      f0st[t] = f > 29.136 ? Math.fround(12 * Math.log2(f / 27.5)) : f > 0 ? 1 : 0;
    }
  }
  // ---- voice quality on the 60 ms level
  const js = jitterShimmer(x, f0, SR, 960, HOP);
  const voice: Float64Array[] = [];
  for (let t = 0; t < nA; t++) {
    const ff = t < nB ? formantFreq[t] : new Float64Array(3);
    const h = harm.frame(mags[t], f0[t], ff);
    voice.push(
      Float64Array.of(js.jitter[t], js.shimmer[t], h.hnr, h.h1h2, h.h1a3, ...h.amp),
    );
  }
  return { nA, nB, spectral, energy, formantFreq, formantBw, f0, f0st, voice };
}

const col = (rows: Float64Array[], j: number, n: number) => {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = rows[i][j];
  return out;
};

/**
 * Extracts eGeMAPSv02 LLDs and functionals from a mono 16 kHz signal in [-1, 1].
 * @param samples mono samples
 * @param sampleRate must be 16000 (resample first otherwise)
 */
export function extractEgemaps(
  samples: Float32Array,
  sampleRate: number,
  options: EgemapsOptions = {},
): EgemapsResult {
  if (sampleRate !== SR) {
    throw new RangeError(`eGeMAPS extraction needs 16000 Hz input, got ${sampleRate} Hz`);
  }
  if (samples.length < 320) {
    throw new RangeError(
      `input too short for eGeMAPS: ${samples.length} samples (at least 320 = 20 ms needed)`,
    );
  }
  const gain = options.inputGain ?? 32768 / 32767;
  const x = new Float64Array(samples.length);
  for (let i = 0; i < x.length; i++) x[i] = Math.fround(samples[i] * gain);
  const raw = rawDescriptors(x);
  const { nA, nB } = raw;
  // ---- LLD sets with openSMILE's smoothing
  const specSm: Float64Array[] = [];
  for (let j = 0; j < 10; j++) specSm.push(smooth3(col(raw.spectral, j, nB), false));
  // The F0 functionals see the contour as the lagged F0 level delivers it before its end-of-input
  // flush: the last two frames are missing.
  const nF = Math.max(1, nA - 2);
  const f0Sm = smooth3(raw.f0st.subarray(0, nF), true);
  const voiceRaw: Float64Array[] = [];
  for (let j = 0; j < 8; j++) voiceRaw.push(col(raw.voice, j, nA));
  const fFreq = [0, 1, 2].map((j) => col(raw.formantFreq, j, Math.min(nA, nB)));
  const fBw = [0, 1, 2].map((j) => col(raw.formantBw, j, Math.min(nA, nB)));
  const pad = (a: Float64Array) => {
    if (a.length === nA) return a;
    const o = new Float64Array(nA);
    o.set(a.subarray(0, nA));
    return o;
  };
  const fSet = [
    smooth3Lagged(raw.f0st, true),
    smooth3Lagged(voiceRaw[0], true),
    smooth3Lagged(voiceRaw[1], true),
    smooth3Lagged(voiceRaw[2], true),
    smooth3Lagged(voiceRaw[3], true),
    smooth3Lagged(voiceRaw[4], true),
    smooth3Lagged(pad(fFreq[0]), true),
    smooth3Lagged(pad(fBw[0]), true),
    smooth3Lagged(voiceRaw[5], true),
    smooth3Lagged(pad(fFreq[1]), true),
    smooth3Lagged(pad(fBw[1]), true),
    smooth3Lagged(voiceRaw[6], true),
    smooth3Lagged(pad(fFreq[2]), true),
    smooth3Lagged(pad(fBw[2]), true),
    smooth3Lagged(voiceRaw[7], true),
  ];
  const nL = Math.min(nA, nB);
  const frameTimes = new Float64Array(nL);
  const values: Float32Array[] = [];
  for (let t = 0; t < nL; t++) {
    frameTimes[t] = (t * HOP) / SR;
    const row = new Float32Array(25);
    for (let j = 0; j < 10; j++) row[j] = specSm[j][t];
    for (let j = 0; j < 15; j++) row[10 + j] = fSet[j][t];
    values.push(row);
  }
  // ---- functionals
  const out = new Float64Array(88);
  let k = 0;
  const T = HOP / SR;
  const f0nz = nonZero(f0Sm);
  const pctlBlock = (v: Float64Array, all: Float64Array) => {
    const sorted = Float64Array.from(v).sort();
    out[k++] = mean(v);
    out[k++] = stddevNorm(v, false);
    const p20 = percentile(sorted, 0.2);
    const p50 = percentile(sorted, 0.5);
    const p80 = percentile(sorted, 0.8);
    out[k++] = p20;
    out[k++] = p50;
    out[k++] = p80;
    out[k++] = Math.abs(p80 - p20);
    const sl = slopes(all, T);
    out[k++] = sl.meanRise;
    out[k++] = sl.sdRise;
    out[k++] = sl.meanFall;
    out[k++] = sl.sdFall;
  };
  pctlBlock(f0nz, f0nz);
  pctlBlock(specSm[0], specSm[0]);
  const meanSd = (v: Float64Array) => {
    out[k++] = mean(v);
    out[k++] = stddevNorm(v, false);
  };
  // spectral flux and MFCC over all frames
  for (const j of [5, 6, 7, 8, 9]) meanSd(specSm[j]);
  // voiced-only sets: voice quality and formants (formants gated by F0 before smoothing)
  // Like the F0 contour, the voiced / unvoiced selections are fed from the lagged F0 level and
  // lose its last two frames.
  const nV = Math.max(1, Math.min(nL, nA - 2));
  const gateF0 = Float64Array.from(raw.f0st.subarray(0, nL));
  const voicedGate = (a: Float64Array) => {
    const o = new Float64Array(nV);
    for (let t = 0; t < nV; t++) o[t] = gateF0[t] > 1e-6 ? a[t] : 0;
    return o;
  };
  const unvoicedGate = (a: Float64Array) => {
    const n = nV;
    const o = new Float64Array(n);
    for (let t = 0; t < n; t++) o[t] = t >= nL || gateF0[t] < 1e-6 ? a[t] : 0;
    return o;
  };
  const nz = (a: Float64Array) => nonZero(smooth3(a, true));
  const vq = [
    voiceRaw[0],
    voiceRaw[1],
    voiceRaw[2],
    voiceRaw[3],
    voiceRaw[4],
    voicedGate(fFreq[0]),
    voicedGate(fBw[0]),
    voiceRaw[5],
    voicedGate(fFreq[1]),
    voicedGate(fBw[1]),
    voiceRaw[6],
    voicedGate(fFreq[2]),
    voicedGate(fBw[2]),
    voiceRaw[7],
  ];
  for (const a of vq) meanSd(nz(a.subarray(0, nV)));
  const specRaw = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((j) => col(raw.spectral, j, nL));
  for (const j of [1, 2, 3, 4, 5, 6, 7, 8, 9]) meanSd(nz(voicedGate(specRaw[j])));
  for (const j of [1, 2, 3, 4, 5]) out[k++] = mean(nz(unvoicedGate(specRaw[j])));
  // temporal features
  out[k++] = countPeaks(specSm[0]) / (nB * T);
  const voiced = segmentStats(segments(f0Sm, (v) => v !== 0));
  const nVoiced = segments(f0Sm, (v) => v !== 0).length;
  out[k++] = nVoiced / (nF * T);
  out[k++] = voiced.mean * T;
  out[k++] = voiced.sd * T;
  const unv = segmentStats(segments(f0Sm, (v) => v === 0));
  out[k++] = unv.mean * T;
  out[k++] = unv.sd * T;
  const leq = mean(raw.energy);
  out[k++] = 10 * Math.log10(leq > 1e-12 ? leq : 1e-12);
  if (k !== 88) throw new Error(`internal error: ${k} functionals computed, expected 88`);
  return {
    lld: { names: [...EGEMAPS_LLD_NAMES], frameTimes, values },
    functionals: { names: [...EGEMAPS_FUNCTIONAL_NAMES], values: out },
  };
}
