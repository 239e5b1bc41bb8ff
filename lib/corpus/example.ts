/**
 * A synthetic miniature corpus in the IEMOCAP release layout (`data.example/`).
 *
 * Every utterance is made by a small source-filter speech synthesiser whose prosody and voice
 * quality depend on the utterance's arousal, valence and dominance ratings, so the toolkit's
 * whole pipeline (parser → frames → model → evaluation) can run end to end, and learn something,
 * without the licensed IEMOCAP data. Everything is driven by a seeded PRNG: the same seed gives
 * the same bytes on every run.
 *
 * @module
 */

import wavefile from "wavefile";
import { join } from "node:path";

/** Sample rate of every generated file (IEMOCAP's rate). */
export const EXAMPLE_SAMPLE_RATE = 16000;

/** The seed `data.example/` is generated with. */
export const EXAMPLE_DEFAULT_SEED = 20190512;

/** The three levels every dimension is discretised into (paper, Section 4.1). */
export type Level = "low" | "mid" | "high";

const LEVELS: readonly Level[] = ["low", "mid", "high"];

/** A seeded pseudo-random generator: `next()` is uniform in [0, 1), `gauss()` standard normal. */
export interface Rng {
  /** Uniform number in [0, 1). */
  next(): number;
  /** Standard normal number. */
  gauss(): number;
  /** Uniform number in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
}

/**
 * Creates a mulberry32 generator (32-bit state, good enough for synthesis and fully
 * reproducible because it uses only 32-bit integer arithmetic).
 *
 * @param seed any integer; only its low 32 bits matter
 */
export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  let spare: number | undefined;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = (): number => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    // Box-Muller; 1 - u keeps the logarithm finite.
    const u = 1 - next();
    const w = next();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * w);
    return r * Math.cos(2 * Math.PI * w);
  };
  return {
    next,
    gauss,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (n) => Math.floor(next() * n),
  };
}

/** Mixes a seed with a stream number so every session gets an independent, stable stream. */
function deriveSeed(seed: number, stream: number): number {
  let h = (seed ^ Math.imul(stream + 1, 0x9e3779b9)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Discretises a 1–5 rating: low = [1, 2], mid = (2, 4), high = [4, 5]. */
export function levelOf(rating: number): Level {
  if (rating <= 2) return "low";
  if (rating >= 4) return "high";
  return "mid";
}

/** A synthetic speaker's voice. */
export interface SpeakerProfile {
  /** Speaker id as the toolkit derives it, e.g. `Ses01F`. */
  id: string;
  /** `F` or `M`. */
  gender: "F" | "M";
  /** Mean F0 in Hz at neutral arousal/dominance. */
  f0Hz: number;
  /** Factor applied to every formant frequency (vocal-tract length). */
  formantScale: number;
  /** Speaker-specific multiplier of syllable durations. */
  rate: number;
}

/** Everything {@link synthesizeUtterance} needs for one utterance. */
export interface UtteranceParams {
  /** Valence rating, 1 (negative) … 5 (positive). */
  valence: number;
  /** Arousal (IEMOCAP "activation") rating, 1 (calm) … 5 (excited). */
  arousal: number;
  /** Dominance rating, 1 (weak) … 5 (strong). */
  dominance: number;
  /** The voice. */
  speaker: SpeakerProfile;
  /** Length of the returned signal in seconds. */
  durationSec: number;
  /** Background noise level in dB re full scale (RMS). */
  noiseDb: number;
}

// Peterson & Barney (1952) adult male averages for F1–F3 (Hz): i, ɪ, ɛ, æ, ɑ, ʌ, ʊ, u, ɝ.
const VOWELS: readonly (readonly [number, number, number])[] = [
  [270, 2290, 3010],
  [390, 1990, 2550],
  [530, 1840, 2480],
  [660, 1720, 2410],
  [730, 1090, 2440],
  [640, 1190, 2390],
  [440, 1020, 2240],
  [300, 870, 2240],
  [490, 1350, 1690],
];

/** Front vowels (i, ɪ, ɛ, æ) with probability `frontProb`, otherwise a back/central one. */
function pickVowel(frontProb: number, rng: Rng): readonly number[] {
  return rng.next() < frontProb ? VOWELS[rng.int(4)] : VOWELS[4 + rng.int(VOWELS.length - 4)];
}

type Onset = "none" | "s" | "sh" | "f" | "stop" | "nasal";

/** Sample-level parameter tracks the renderer turns into a waveform. */
interface Tracks {
  f0: Float64Array;
  voice: Float64Array;
  fric: Float64Array;
  fricHz: Float64Array;
  formants: [Float64Array, Float64Array, Float64Array];
}

/** Raised-cosine ramp 0 → 1 over `len` samples, evaluated at `i`. */
function ramp(i: number, len: number): number {
  if (i >= len) return 1;
  return 0.5 - 0.5 * Math.cos((Math.PI * i) / len);
}

/**
 * Second-order digital resonator (Klatt 1980) with unity gain at DC; coefficients are
 * recomputed by the caller when the frequency moves.
 */
class Resonator {
  private y1 = 0;
  private y2 = 0;
  private a = 1;
  private b = 0;
  private c = 0;

  set(freq: number, bw: number): void {
    const t = 1 / EXAMPLE_SAMPLE_RATE;
    this.c = -Math.exp(-2 * Math.PI * bw * t);
    this.b = 2 * Math.exp(-Math.PI * bw * t) * Math.cos(2 * Math.PI * freq * t);
    this.a = 1 - this.b - this.c;
  }

  step(x: number): number {
    const y = this.a * x + this.b * this.y1 + this.c * this.y2;
    this.y2 = this.y1;
    this.y1 = y;
    return y;
  }
}

/** Rosenberg-type glottal flow: rising over `tp`, falling over `tn` (fractions of a period). */
function glottalFlow(phase: number, tp: number, tn: number): number {
  if (phase < tp) return 0.5 - 0.5 * Math.cos((Math.PI * phase) / tp);
  if (phase < tp + tn) return Math.cos((Math.PI * (phase - tp)) / (2 * tn));
  return 0;
}

/**
 * How the scaled ratings a, v, d (each in about [-1, 1]) drive the synthesis: each parameter is
 * `base + coefficient × value` (accent range and syllable-gain spread use `value + 1`, i.e.
 * 0 … 2), plus per-utterance Gaussian variation. Exported so the README is generated from the
 * numbers actually used.
 */
export const EXAMPLE_PROSODY = {
  /** Speech level in dBFS (RMS over active samples). */
  levelDb: { base: -27, arousal: 8, dominance: 6 },
  /** F0 level in semitones relative to the speaker's mean F0. */
  f0LevelSt: { arousal: 3.5, dominance: -3.5 },
  /** Height of pitch accents in semitones (per unit of `value + 1`). */
  accentSt: { base: 1, arousal: 1.5, dominance: 1.2 },
  /** F0 rise (positive) or fall across the utterance in semitones, plus a 35 % terminal part. */
  slopeSt: { valence: 7.5 },
  /** Intensity rise (positive) or fall across the utterance in dB, following the F0 contour. */
  intensitySlopeDb: { valence: 8 },
  /** Relative per-period F0 perturbation. */
  jitter: { base: 0.01, valence: -0.007 },
  /** Relative per-period amplitude perturbation. */
  shimmer: { base: 0.06, valence: -0.04 },
  /** Aspiration noise relative to the glottal pulse. */
  breath: { base: 0.25, valence: -0.25 },
  /** Relative F2/F3 shift (F1 moves 30 % of it). */
  formantShift: { valence: 0.12 },
  /** Probability of a front (high-F2) vowel in each syllable. */
  frontVowels: { base: 0.5, valence: 0.4 },
  /** Glottal closing phase as a fraction of the period (shorter = more high-frequency energy). */
  closeQ: { base: 0.15, arousal: -0.09 },
  /** Glottal opening phase as a fraction of the period (shorter = pressed voice). */
  openQ: { base: 0.45, dominance: -0.2 },
  /** Pole of the one-pole low-pass that adds spectral tilt. */
  tiltPole: { base: 0.45, arousal: -0.4 },
  /** log2 of the syllable-duration factor. */
  log2Duration: { arousal: -0.45, dominance: 0.5 },
  /** log2 of the pause-duration factor. */
  log2Pause: { arousal: -0.3, valence: -0.7 },
  /** Probability of an audible breath (low-level noise) in a pause between words. */
  pauseBreath: { base: 0.4, valence: -0.5 },
  /** Standard deviation of syllable-to-syllable gain in dB (per unit of `value + 1`). */
  syllableGainSdDb: { base: 0.5, dominance: 4.5 },
} as const;

/** A 1–5 rating to [-1, 1]: the mean of its level's centre (-1, 0, 1) and the scaled rating. */
function scaleRating(rating: number): number {
  return 0.5 * (LEVELS.indexOf(levelOf(rating)) - 1) + 0.25 * (rating - 3);
}

/**
 * Synthesises one utterance: a jittered, shimmered Rosenberg glottal pulse train (plus pulsed
 * aspiration noise) through a cascade of four formant resonators whose targets move from
 * syllable to syllable, noise-excited fricatives and stop bursts, pauses between words, and
 * a little background noise.
 *
 * How the ratings shape the signal (a, v, d are the ratings mapped to about [-1, 1]; the
 * coefficients are in {@link EXAMPLE_PROSODY}):
 * - arousal: loudness, F0 level, pitch-accent height, speaking rate, spectral tilt (abrupt
 *   glottal closure and less low-pass when high), pause length;
 * - valence: F0 and intensity contour shape (rising when positive, falling when negative),
 *   voice quality (breathiness, jitter, shimmer grow as valence falls), F2/F3 shift and vowel
 *   colour (front vowels when positive), longer pauses with audible breaths when negative;
 * - dominance: loudness, F0 level (lower when dominant), pitch-accent height,
 *   syllable-to-syllable intensity variation, longer syllables, pressed phonation.
 * Each effect also gets per-utterance random variation.
 *
 * @param params ratings, voice, duration and noise level
 * @param rng the random stream to draw from (consumed)
 * @returns mono samples in [-1, 1] at {@link EXAMPLE_SAMPLE_RATE}
 */
export function synthesizeUtterance(params: UtteranceParams, rng: Rng): Float32Array {
  const { speaker } = params;
  if (!(params.durationSec > 0.2 && params.durationSec < 30)) {
    throw new Error(
      `synthesizeUtterance: durationSec must be in (0.2, 30), got ${params.durationSec}`,
    );
  }
  for (
    const [name, r] of [["valence", params.valence], ["arousal", params.arousal], [
      "dominance",
      params.dominance,
    ]] as const
  ) {
    if (!(r >= 1 && r <= 5)) {
      throw new Error(`synthesizeUtterance: ${name} must be in [1, 5], got ${r}`);
    }
  }
  const fs = EXAMPLE_SAMPLE_RATE;
  const n = Math.round(params.durationSec * fs);
  // Ratings to [-1, 1]: half from the level (so the three classes are well apart, which a
  // 140-utterance corpus needs to be learnable), half from the exact rating, plus
  // per-utterance variation so the levels still overlap a little.
  const a = scaleRating(params.arousal) + 0.12 * rng.gauss();
  const v = scaleRating(params.valence) + 0.12 * rng.gauss();
  const d = scaleRating(params.dominance) + 0.12 * rng.gauss();

  const P = EXAMPLE_PROSODY;
  const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));
  const f0LevelSt = P.f0LevelSt.arousal * a + P.f0LevelSt.dominance * d + 0.8 * rng.gauss();
  const accentSt = Math.max(
    0.5,
    P.accentSt.base + P.accentSt.arousal * (a + 1) + P.accentSt.dominance * (d + 1) +
      0.5 * rng.gauss(),
  );
  const slopeSt = P.slopeSt.valence * v + 1.0 * rng.gauss();
  const intensitySlopeDb = P.intensitySlopeDb.valence * v + 1.0 * rng.gauss();
  const jitter = Math.max(0.002, P.jitter.base + P.jitter.valence * v + 0.0015 * rng.gauss());
  const shimmer = Math.max(0.01, P.shimmer.base + P.shimmer.valence * v + 0.01 * rng.gauss());
  const breath = Math.max(0.01, P.breath.base + P.breath.valence * v + 0.03 * rng.gauss());
  const formantShift = 1 + P.formantShift.valence * v + 0.01 * rng.gauss();
  const closeQ = clamp(P.closeQ.base + P.closeQ.arousal * a + 0.015 * rng.gauss(), 0.04, 0.3);
  const openQ = clamp(P.openQ.base + P.openQ.dominance * d + 0.02 * rng.gauss(), 0.22, 0.7);
  const tiltPole = clamp(P.tiltPole.base + P.tiltPole.arousal * a + 0.05 * rng.gauss(), 0, 0.85);
  const rate = speaker.rate *
    Math.pow(2, P.log2Duration.arousal * a + P.log2Duration.dominance * d + 0.08 * rng.gauss());
  const pauseScale = Math.pow(
    2,
    P.log2Pause.arousal * a + P.log2Pause.valence * v + 0.1 * rng.gauss(),
  );
  const pauseBreath = clamp(P.pauseBreath.base + P.pauseBreath.valence * v, 0, 1);
  const sylGainSd = Math.max(
    0.3,
    P.syllableGainSdDb.base + P.syllableGainSdDb.dominance * (d + 1) + 0.5 * rng.gauss(),
  );
  const levelDb = P.levelDb.base + P.levelDb.arousal * a + P.levelDb.dominance * d +
    1.2 * rng.gauss();

  const tracks: Tracks = {
    f0: new Float64Array(n),
    voice: new Float64Array(n),
    fric: new Float64Array(n),
    fricHz: new Float64Array(n).fill(4000),
    formants: [new Float64Array(n), new Float64Array(n), new Float64Array(n)],
  };
  const accents: { center: number; width: number; height: number }[] = [];

  // Lay out words and syllables until the utterance is full.
  const lead = Math.round(rng.uniform(0.04, 0.09) * fs);
  const tail = Math.round(rng.uniform(0.04, 0.08) * fs);
  let cursor = lead;
  // Vowel colour: positive speech favours spread front vowels (high F2), negative speech
  // rounded back ones (low F2), a large spectral-envelope cue on top of the formant shift.
  const frontProb = clamp(P.frontVowels.base + P.frontVowels.valence * v, 0.05, 0.95);
  let prevVowel: readonly number[] = pickVowel(frontProb, rng);
  let words = 0;
  while (true) {
    const nSyl = 1 + rng.int(3);
    const sylls: { onset: Onset; onsetLen: number; vowelLen: number; vowel: readonly number[] }[] =
      [];
    let wordLen = 0;
    for (let s = 0; s < nSyl; s++) {
      const r = rng.next();
      const onset: Onset = r < 0.3
        ? "none"
        : r < 0.45
        ? "s"
        : r < 0.55
        ? "sh"
        : r < 0.65
        ? "f"
        : r < 0.85
        ? "stop"
        : "nasal";
      const onsetLen = onset === "none" ? 0 : Math.round(rng.uniform(0.035, 0.07) * rate * fs);
      const vowelLen = Math.round(
        rng.uniform(0.08, 0.13) * rate * (s === 0 ? 1.25 : 1) * fs,
      );
      sylls.push({ onset, onsetLen, vowelLen, vowel: pickVowel(frontProb, rng) });
      wordLen += onsetLen + vowelLen;
    }
    const room = n - tail - cursor;
    // Drop syllables from the end of the last word so the utterance stays filled with speech.
    while (wordLen > room && sylls.length > 1) {
      const last = sylls.pop()!;
      wordLen -= last.onsetLen + last.vowelLen;
    }
    if (wordLen > room) {
      if (words > 0) break;
      // First word too long for a short utterance: squeeze it in rather than leave silence.
      const k = room / wordLen;
      for (const syl of sylls) {
        syl.onsetLen = Math.floor(syl.onsetLen * k);
        syl.vowelLen = Math.floor(syl.vowelLen * k);
      }
    }
    for (let s = 0; s < sylls.length; s++) {
      const syl = sylls[s];
      const gain = Math.pow(10, (sylGainSd * rng.gauss()) / 20);
      // Onset consonant.
      const o0 = cursor;
      const o1 = cursor + syl.onsetLen;
      const fricHz = syl.onset === "s"
        ? rng.uniform(4800, 6200)
        : syl.onset === "sh"
        ? rng.uniform(2500, 3300)
        : syl.onset === "f"
        ? rng.uniform(3500, 5500)
        : rng.uniform(1500, 3500);
      for (let i = o0; i < o1; i++) {
        const k = i - o0;
        const env = ramp(k, 80) * ramp(o1 - 1 - i, 80);
        if (syl.onset === "nasal") {
          tracks.voice[i] = 0.35 * gain * env;
          tracks.formants[0][i] = 280;
          tracks.formants[1][i] = 1300;
          tracks.formants[2][i] = 2500;
        } else if (syl.onset === "stop") {
          // Closure silence, then a short burst with aspiration.
          const burstStart = o0 + Math.floor(0.6 * syl.onsetLen);
          if (i >= burstStart) {
            tracks.fric[i] = 0.5 * gain * Math.exp(-(i - burstStart) / (0.012 * fs));
            tracks.fricHz[i] = fricHz;
          }
        } else {
          tracks.fric[i] = (syl.onset === "f" ? 0.12 : 0.3) * gain * env;
          tracks.fricHz[i] = fricHz;
        }
      }
      // Vowel nucleus with formant transitions from the previous vowel.
      const v0 = o1;
      const v1 = o1 + syl.vowelLen;
      const trans = Math.max(1, Math.round(0.04 * fs));
      for (let i = v0; i < v1; i++) {
        const k = i - v0;
        const w = ramp(k, trans);
        for (let f = 0; f < 3; f++) {
          tracks.formants[f][i] = prevVowel[f] + w * (syl.vowel[f] - prevVowel[f]);
        }
        tracks.voice[i] = gain * ramp(k, 200) * ramp(v1 - 1 - i, 240);
      }
      // Nasal onsets keep their own formants; fill the rest of the onset with the transition
      // start so the filters do not jump to zero.
      if (syl.onset !== "nasal") {
        for (let i = o0; i < o1; i++) {
          for (let f = 0; f < 3; f++) tracks.formants[f][i] = prevVowel[f];
        }
      }
      prevVowel = syl.vowel;
      const prominence = s === 0 ? rng.uniform(0.6, 1) : rng.uniform(0, 0.5);
      accents.push({ center: (v0 + v1) / 2, width: syl.vowelLen * 0.6, height: prominence });
      cursor = v1;
    }
    words++;
    const pause = Math.round(rng.uniform(0.04, 0.12) * pauseScale * fs);
    // Hesitant, negative speech breathes audibly between words: the low-level parts carry
    // valence information (as the paper's attention plots suggest for real speech).
    if (rng.next() < pauseBreath && cursor + pause < n) {
      const hz = rng.uniform(1400, 2200);
      for (let i = cursor; i < cursor + pause; i++) {
        const env = Math.sin((Math.PI * (i - cursor)) / pause);
        tracks.fric[i] = 0.1 * env * env;
        tracks.fricHz[i] = hz;
      }
    }
    cursor += pause;
    if (cursor >= n - tail) break;
  }
  // Formants outside speech hold the nearest value (keeps resonators stable).
  for (let f = 0; f < 3; f++) {
    const tr = tracks.formants[f];
    let last = VOWELS[5][f];
    for (let i = 0; i < n; i++) {
      if (tr[i] === 0) tr[i] = last;
      else last = tr[i];
    }
  }

  // F0 contour in semitones: level + valence-driven slope (steeper at the end) + accents.
  const baseHz = speaker.f0Hz;
  for (let i = 0; i < n; i++) {
    const x = i / n;
    let st = f0LevelSt + slopeSt * (x - 0.5) + 0.35 * slopeSt * Math.max(0, x - 0.7) / 0.3;
    for (const acc of accents) {
      const z = (i - acc.center) / acc.width;
      if (z > -3 && z < 3) st += accentSt * acc.height * Math.exp(-0.5 * z * z);
    }
    // Soft limits keep F0 in a human range (about -10 / +16 semitones around the speaker's).
    st = st > 0 ? 16 * Math.tanh(st / 16) : 10 * Math.tanh(st / 10);
    tracks.f0[i] = baseHz * Math.pow(2, st / 12);
  }

  // Render.
  const out = new Float32Array(n);
  const res = [new Resonator(), new Resonator(), new Resonator(), new Resonator()];
  const bws = [80, 100, 140, 220];
  const fric = new Resonator();
  const fricHp = new Resonator();
  const fScale = speaker.formantScale;
  const f4 = 3500 * fScale;
  res[3].set(f4, bws[3]);
  let phase = 0;
  let periodF0 = tracks.f0[0];
  let periodAmp = 1;
  let prevFlow = 0;
  let prevWhite = 0;
  let tilt = 0;
  const speech = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if ((i & 7) === 0) {
      for (let f = 0; f < 3; f++) {
        // Valence shifts F2/F3 (spread lips), F1 only slightly; arousal opens the jaw (F1 up).
        const shift = f === 0 ? 1 + 0.3 * (formantShift - 1) + 0.04 * a : formantShift;
        res[f].set(tracks.formants[f][i] * fScale * shift, bws[f] * (f === 0 ? 1 : fScale));
      }
      fric.set(tracks.fricHz[i], 0.25 * tracks.fricHz[i]);
      fricHp.set(tracks.fricHz[i] * 0.6, 2000);
    }
    phase += periodF0 / fs;
    if (phase >= 1) {
      phase -= 1;
      // A new glottal period: draw its jitter and shimmer.
      periodF0 = tracks.f0[i] * (1 + jitter * rng.gauss());
      periodAmp = Math.max(0.2, 1 + shimmer * rng.gauss());
    }
    const flow = glottalFlow(phase, openQ, closeQ);
    const dFlow = (flow - prevFlow) * periodAmp;
    prevFlow = flow;
    // Aspiration is differenced (high-frequency) noise, pulsed with the glottal flow.
    const white = rng.gauss();
    const aspiration = breath * (white - prevWhite) * (0.25 + flow) * 0.6;
    prevWhite = white;
    const src = tracks.voice[i] * (dFlow + aspiration);
    let y = src;
    for (let f = 0; f < 4; f++) y = res[f].step(y);
    // One-pole low-pass mixed in: a steeper spectral tilt for calm speech.
    tilt = (1 - tiltPole) * y + tiltPole * tilt;
    let s = tilt;
    const noise = rng.gauss();
    if (tracks.fric[i] > 0) {
      const hp = noise - fricHp.step(noise);
      s += tracks.fric[i] * fric.step(hp) * 0.02;
    } else {
      fric.step(0);
      fricHp.step(noise);
    }
    // The intensity contour follows the F0 contour: rising when positive, falling when negative.
    speech[i] = s * Math.pow(10, (intensitySlopeDb * (i / n - 0.5)) / 20);
  }

  // Scale speech to the target level measured over its active part.
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (tracks.voice[i] > 0.05 || tracks.fric[i] > 0.05) {
      sum += speech[i] * speech[i];
      count++;
    }
  }
  const rms = Math.sqrt(sum / Math.max(1, count)) || 1;
  const g = Math.pow(10, levelDb / 20) / rms;
  const noiseAmp = Math.pow(10, params.noiseDb / 20);
  let hum = 0;
  let peak = 0;
  for (let i = 0; i < n; i++) {
    // Slightly low-passed background noise, like a room.
    hum = 0.7 * hum + 0.3 * rng.gauss();
    const x = g * speech[i] + noiseAmp * hum * 1.8;
    speech[i] = x;
    peak = Math.max(peak, Math.abs(x));
  }
  const limit = peak > 0.95 ? 0.95 / peak : 1;
  for (let i = 0; i < n; i++) out[i] = speech[i] * limit;
  return out;
}

/** Converts [-1, 1] float samples to a 16-bit PCM mono wav file (with the wavefile package). */
function encodeWavBytes(samples: Float32Array, sampleRate = EXAMPLE_SAMPLE_RATE): Uint8Array {
  const pcm = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const x = Math.max(-1, Math.min(1, samples[i]));
    pcm[i] = Math.round(x * 32767);
  }
  const wav = new wavefile.WaveFile();
  wav.fromScratch(1, sampleRate, "16", pcm);
  return wav.toBuffer();
}

/** One utterance of the example corpus, as planned before synthesis. */
export interface ExampleUtterance {
  /** IEMOCAP-style id, e.g. `Ses01F_impro01_M003`. */
  id: string;
  /** Session number 1–5. */
  session: number;
  /** Dialog name, e.g. `Ses01F_impro01`. */
  dialog: string;
  /** Speaker id (session + gender), e.g. `Ses01M`. */
  speaker: string;
  /** Categorical code: neu, hap, sad, ang, exc, fru or xxx. */
  emotion: string;
  /** Mean evaluator valence rating. */
  valence: number;
  /** Mean evaluator activation (arousal) rating. */
  arousal: number;
  /** Mean evaluator dominance rating. */
  dominance: number;
  /** Start time in the dialog, seconds. */
  start: number;
  /** End time in the dialog, seconds. */
  end: number;
  /** The EmoEvaluation block lines after the summary line (annotator lines). */
  annotations: string[];
}

/** Options of {@link writeExampleCorpus}. */
export interface ExampleCorpusOptions {
  /** PRNG seed (default {@link EXAMPLE_DEFAULT_SEED}). */
  seed?: number;
  /** Sessions to write (default 1–5). README.md and SHA256SUMS are written only for all five. */
  sessions?: number[];
  /** Utterances per session, 27 or more (default 28). */
  utterancesPerSession?: number;
}

/** What {@link writeExampleCorpus} wrote. */
export interface ExampleCorpusSummary {
  /** Seed used. */
  seed: number;
  /** Every planned utterance of the written sessions. */
  utterances: ExampleUtterance[];
  /** Written files (relative to the corpus root, `/`-separated) and their SHA-256 hex digests. */
  files: { path: string; sha256: string; bytes: number }[];
}

const CATEGORY_NAMES: Record<string, string> = {
  neu: "Neutral",
  hap: "Happiness",
  sad: "Sadness",
  ang: "Anger",
  exc: "Excited",
  fru: "Frustration",
};

const NEIGHBOURS: Record<string, string[]> = {
  neu: ["sad", "fru", "hap"],
  hap: ["exc", "neu"],
  exc: ["hap", "neu"],
  ang: ["fru"],
  fru: ["ang", "neu", "sad"],
  sad: ["neu", "fru"],
};

/** The categorical emotion most consistent with the three levels. */
function mainCategory(v: Level, a: Level, d: Level): string {
  if (v === "low") {
    if (a === "high") return d === "low" ? "fru" : "ang";
    return a === "mid" ? "fru" : "sad";
  }
  if (v === "mid") return a === "high" ? "fru" : "neu";
  return a === "high" ? "exc" : "hap";
}

/** Integer evaluator ratings whose mean falls in the wanted level. */
function sampleRatings(level: Level, count: number, rng: Rng): number[] {
  const [lo, hi] = level === "low" ? [1, 2] : level === "mid" ? [2.3, 3.7] : [4, 5];
  for (;;) {
    const target = rng.uniform(lo, hi);
    const r: number[] = [];
    for (let k = 0; k < count; k++) {
      r.push(Math.min(5, Math.max(1, Math.round(target + 0.7 * rng.gauss()))));
    }
    if (levelOf(mean(r)) === level) return r;
  }
}

function mean(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Plans one session: speakers, dialogs, labels, annotator lines and timings. */
function planSession(
  session: number,
  count: number,
  rng: Rng,
): {
  utterances: ExampleUtterance[];
  speakers: Record<string, SpeakerProfile>;
  durations: number[];
} {
  const ses = `Ses0${session}`;
  const speakers: Record<string, SpeakerProfile> = {
    F: {
      id: `${ses}F`,
      gender: "F",
      f0Hz: rng.uniform(185, 235),
      formantScale: rng.uniform(1.12, 1.2),
      rate: rng.uniform(0.92, 1.08),
    },
    M: {
      id: `${ses}M`,
      gender: "M",
      f0Hz: rng.uniform(100, 135),
      formantScale: rng.uniform(0.96, 1.04),
      rate: rng.uniform(0.92, 1.08),
    },
  };
  // A full 3×3×3 design keeps every level of every dimension at ≥ 1/3 per session and the
  // dimensions independent; extra utterances are neutral (mid, mid, mid) as in real dialogs.
  const combos: [Level, Level, Level][] = [];
  for (const v of LEVELS) for (const a of LEVELS) for (const d of LEVELS) combos.push([v, a, d]);
  while (combos.length < count) combos.push(["mid", "mid", "mid"]);
  for (let i = combos.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [combos[i], combos[j]] = [combos[j], combos[i]];
  }
  const dialogs = [
    `${ses}F_impro0${((session + 1) % 7) + 1}`,
    `${ses}M_script0${((session - 1) % 3) + 1}_${1 + (session % 2)}`,
  ];
  const utterances: ExampleUtterance[] = [];
  const durations: number[] = [];
  const perDialog = Math.ceil(count / dialogs.length);
  for (let di = 0; di < dialogs.length; di++) {
    const dialog = dialogs[di];
    const counters: Record<string, number> = { F: 0, M: 0 };
    let time = rng.uniform(2, 8);
    const first = di * perDialog;
    const last = Math.min(count, first + perDialog);
    for (let u = first; u < last; u++) {
      // Turns mostly alternate between the two actors, as in a dialog.
      const gender = ((u - first) % 2 === 0) !== (rng.next() < 0.15) ? "F" : "M";
      const id = `${dialog}_${gender}${String(counters[gender]++).padStart(3, "0")}`;
      const [vl, al, dl] = combos[u];
      // Two evaluators give .5 means, three give thirds, as in the release.
      const nEval = rng.next() < 0.75 ? 2 : 3;
      const vv = sampleRatings(vl, nEval, rng);
      const aa = sampleRatings(al, nEval, rng);
      const dd = sampleRatings(dl, nEval, rng);
      // Evaluator ids like the release (E1…E6, ascending); each A-E line rates all three.
      const pool = [1, 2, 3, 4, 5, 6];
      const ids: number[] = [];
      while (ids.length < Math.max(3, nEval)) ids.push(pool.splice(rng.int(pool.length), 1)[0]);
      ids.sort((x, y) => x - y);
      const main = mainCategory(vl, al, dl);
      const cats: string[] = [];
      for (let k = 0; k < 3; k++) {
        cats.push(rng.next() < 0.78 ? main : NEIGHBOURS[main][rng.int(NEIGHBOURS[main].length)]);
      }
      const votes: Record<string, number> = {};
      for (const c of cats) votes[c] = (votes[c] ?? 0) + 1;
      const top = Object.entries(votes).sort((x, y) => y[1] - x[1])[0];
      const emotion = top[1] >= 2 ? top[0] : "xxx";
      const annotations: string[] = [];
      for (let k = 0; k < 3; k++) {
        const extra = rng.next() < 0.12 ? ` ${CATEGORY_NAMES[NEIGHBOURS[cats[k]][0]]};` : "";
        annotations.push(`C-E${ids[k]}:\t${CATEGORY_NAMES[cats[k]]};${extra}\t()`);
      }
      const selfCat = rng.next() < 0.6 ? main : NEIGHBOURS[main][0];
      annotations.push(`C-${gender}1:\t${CATEGORY_NAMES[selfCat]};\t()`);
      const evalIds = ids.slice(0, nEval);
      for (let k = 0; k < nEval; k++) {
        annotations.push(`A-E${evalIds[k]}:\tval ${vv[k]}; act ${aa[k]}; dom  ${dd[k]};\t()`);
      }
      const self = (r: number[]) => Math.min(5, Math.max(1, Math.round(mean(r) + rng.gauss())));
      annotations.push(`A-${gender}1:\tval ${self(vv)}; act ${self(aa)}; dom  ${self(dd)};\t()`);
      // Whole number of samples, so the summary times match the wav length exactly.
      const samples = Math.round(rng.uniform(0.62, 1.18) * EXAMPLE_SAMPLE_RATE);
      const durationSec = samples / EXAMPLE_SAMPLE_RATE;
      const start = Math.round(time * 10000) / 10000;
      const end = Math.round((start + durationSec) * 10000) / 10000;
      time = end + rng.uniform(0.3, 2.5);
      utterances.push({
        id,
        session,
        dialog,
        speaker: `${ses}${gender}`,
        emotion,
        valence: mean(vv),
        arousal: mean(aa),
        dominance: mean(dd),
        start,
        end,
        annotations,
      });
      durations.push(durationSec);
    }
  }
  return { utterances, speakers, durations };
}

/** Formats a rating the way the release does (`2.5000`). */
function fmt4(x: number): string {
  return x.toFixed(4);
}

/** The EmoEvaluation text of one dialog. */
export function renderEmoEvaluation(utterances: ExampleUtterance[]): string {
  const lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""];
  for (const u of utterances) {
    lines.push(
      `[${fmt4(u.start)} - ${fmt4(u.end)}]\t${u.id}\t${u.emotion}\t[${fmt4(u.valence)}, ${
        fmt4(u.arousal)
      }, ${fmt4(u.dominance)}]`,
    );
    lines.push(...u.annotations);
    lines.push("");
  }
  return lines.join("\n");
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Plans and synthesises sessions in memory. Each session draws from its own stream derived
 * from the seed, so one session can be regenerated alone with identical bytes.
 *
 * @returns per session: the planned utterances and each utterance's wav bytes (same order)
 */
export function generateExampleSession(
  session: number,
  options: { seed?: number; utterancesPerSession?: number } = {},
): { utterances: ExampleUtterance[]; wavs: Uint8Array[] } {
  const seed = options.seed ?? EXAMPLE_DEFAULT_SEED;
  const count = options.utterancesPerSession ?? 28;
  if (!Number.isInteger(session) || session < 1 || session > 5) {
    throw new Error(`generateExampleSession: session must be 1..5, got ${session}`);
  }
  if (!Number.isInteger(count) || count < 27) {
    throw new Error(`generateExampleSession: utterancesPerSession must be an integer ≥ 27`);
  }
  const rng = createRng(deriveSeed(seed, session));
  const plan = planSession(session, count, rng);
  const noiseDb = rng.uniform(-60, -52);
  const wavs = plan.utterances.map((u, i) => {
    const samples = synthesizeUtterance({
      valence: u.valence,
      arousal: u.arousal,
      dominance: u.dominance,
      speaker: plan.speakers[u.speaker.slice(-1)],
      durationSec: plan.durations[i],
      noiseDb,
    }, rng);
    return encodeWavBytes(samples);
  });
  return { utterances: plan.utterances, wavs };
}

/**
 * Writes the example corpus in the IEMOCAP layout under `dir`:
 * `SessionN/sentences/wav/<dialog>/<id>.wav` and `SessionN/dialog/EmoEvaluation/<dialog>.txt`;
 * when all five sessions are written, also `README.md` and `SHA256SUMS`.
 * Existing `SessionN/` folders of the written sessions are replaced.
 *
 * @param dir corpus root (created if missing)
 * @param options seed, sessions, utterances per session
 */
export async function writeExampleCorpus(
  dir: string,
  options: ExampleCorpusOptions = {},
): Promise<ExampleCorpusSummary> {
  const seed = options.seed ?? EXAMPLE_DEFAULT_SEED;
  const sessions = options.sessions ?? [1, 2, 3, 4, 5];
  const all: ExampleUtterance[] = [];
  const files: ExampleCorpusSummary["files"] = [];
  const write = async (rel: string, bytes: Uint8Array) => {
    const full = join(dir, ...rel.split("/"));
    await Deno.mkdir(join(full, ".."), { recursive: true });
    await Deno.writeFile(full, bytes);
    files.push({ path: rel, sha256: await sha256Hex(bytes), bytes: bytes.length });
  };
  for (const session of sessions) {
    const { utterances, wavs } = generateExampleSession(session, {
      seed,
      utterancesPerSession: options.utterancesPerSession,
    });
    await Deno.remove(join(dir, `Session${session}`), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    const byDialog = new Map<string, ExampleUtterance[]>();
    for (let i = 0; i < utterances.length; i++) {
      const u = utterances[i];
      await write(`Session${session}/sentences/wav/${u.dialog}/${u.id}.wav`, wavs[i]);
      if (!byDialog.has(u.dialog)) byDialog.set(u.dialog, []);
      byDialog.get(u.dialog)!.push(u);
    }
    for (const [dialog, us] of byDialog) {
      const text = new TextEncoder().encode(renderEmoEvaluation(us));
      await write(`Session${session}/dialog/EmoEvaluation/${dialog}.txt`, text);
    }
    all.push(...utterances);
  }
  const summary: ExampleCorpusSummary = { seed, utterances: all, files };
  const complete = [1, 2, 3, 4, 5].every((s) => sessions.includes(s));
  if (complete) {
    await write("README.md", new TextEncoder().encode(renderExampleReadme(summary)));
    files.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    const sums = files.map((f) => `${f.sha256}  ${f.path}\n`).join("");
    await Deno.writeTextFile(join(dir, "SHA256SUMS"), sums);
  }
  return summary;
}

/** Partition of a session, as the toolkit's IEMOCAP split uses it (paper, Section 4.1). */
export function partitionOfSession(session: number): "train" | "dev" | "test" {
  return session <= 3 ? "train" : session === 4 ? "dev" : "test";
}

/** Markdown table of per-session and per-partition counts, computed from the planned labels. */
export function countsTable(utterances: ExampleUtterance[]): string {
  const groups: [string, ExampleUtterance[]][] = [];
  for (let s = 1; s <= 5; s++) {
    const us = utterances.filter((u) => u.session === s);
    if (us.length) groups.push([`Session${s} (${partitionOfSession(s)})`, us]);
  }
  for (const p of ["train", "dev", "test"]) {
    const us = utterances.filter((u) => partitionOfSession(u.session) === p);
    if (us.length) groups.push([`**${p}**`, us]);
  }
  groups.push(["**all**", utterances]);
  const emotions = ["neu", "hap", "exc", "sad", "ang", "fru", "xxx"];
  const header = [
    "group",
    "utts",
    "F/M",
    "A low/mid/high",
    "V low/mid/high",
    "D low/mid/high",
    ...emotions,
    "seconds",
  ];
  const rows = [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
  ];
  for (const [name, us] of groups) {
    const lvl = (key: "arousal" | "valence" | "dominance") =>
      LEVELS.map((l) => us.filter((u) => levelOf(u[key]) === l).length).join("/");
    const f = us.filter((u) => u.speaker.endsWith("F")).length;
    const secs = us.reduce((s, u) => s + (u.end - u.start), 0);
    rows.push(
      `| ${
        [
          name,
          us.length,
          `${f}/${us.length - f}`,
          lvl("arousal"),
          lvl("valence"),
          lvl("dominance"),
          ...emotions.map((e) => us.filter((u) => u.emotion === e).length),
          secs.toFixed(1),
        ].join(" | ")
      } |`,
    );
  }
  return rows.join("\n");
}

/** Markdown table of {@link EXAMPLE_PROSODY}: which parameter each dimension drives, and how. */
function prosodyTable(): string {
  const P = EXAMPLE_PROSODY;
  const sign = (x: number) => (x >= 0 ? `+ ${x}` : `− ${-x}`);
  const rows: [string, string, string][] = [
    ["arousal", "speech level (dBFS)", `${P.levelDb.base} ${sign(P.levelDb.arousal)}·a`],
    ["arousal", "F0 level (semitones)", `${sign(P.f0LevelSt.arousal)}·a`],
    ["arousal", "pitch-accent height (st)", `${sign(P.accentSt.arousal)}·(a+1)`],
    ["arousal", "syllable duration (factor)", `2^(${P.log2Duration.arousal}·a)`],
    ["arousal", "pause duration (factor)", `2^(${P.log2Pause.arousal}·a)`],
    [
      "arousal",
      "glottal closing phase (spectral tilt)",
      `${P.closeQ.base} ${sign(P.closeQ.arousal)}·a of the period`,
    ],
    ["arousal", "extra low-pass pole (tilt)", `${P.tiltPole.base} ${sign(P.tiltPole.arousal)}·a`],
    [
      "valence",
      "F0 contour shape",
      `slope ${sign(P.slopeSt.valence)}·v st over the utterance, steeper in the last 30 %`,
    ],
    [
      "valence",
      "intensity contour (dB)",
      `slope ${sign(P.intensitySlopeDb.valence)}·v dB over the utterance`,
    ],
    ["valence", "pause duration (factor)", `2^(${P.log2Pause.valence}·v)`],
    [
      "valence",
      "audible breath in a pause (probability)",
      `${P.pauseBreath.base} ${sign(P.pauseBreath.valence)}·v`,
    ],
    ["valence", "aspiration (breathiness)", `${P.breath.base} ${sign(P.breath.valence)}·v`],
    ["valence", "jitter", `${P.jitter.base} ${sign(P.jitter.valence)}·v`],
    ["valence", "shimmer", `${P.shimmer.base} ${sign(P.shimmer.valence)}·v`],
    ["valence", "F2/F3 shift (factor)", `1 ${sign(P.formantShift.valence)}·v`],
    [
      "valence",
      "share of front (high-F2) vowels",
      `${P.frontVowels.base} ${sign(P.frontVowels.valence)}·v`,
    ],
    ["dominance", "speech level (dB)", `${sign(P.levelDb.dominance)}·d`],
    ["dominance", "F0 level (semitones)", `${sign(P.f0LevelSt.dominance)}·d`],
    ["dominance", "pitch-accent height (st)", `${sign(P.accentSt.dominance)}·(d+1)`],
    [
      "dominance",
      "syllable-to-syllable gain sd (dB)",
      `${P.syllableGainSdDb.base} ${sign(P.syllableGainSdDb.dominance)}·(d+1)`,
    ],
    ["dominance", "syllable duration (factor)", `2^(${P.log2Duration.dominance}·d)`],
    [
      "dominance",
      "glottal opening phase (pressed voice)",
      `${P.openQ.base} ${sign(P.openQ.dominance)}·d of the period`,
    ],
  ];
  return [
    "| dimension | parameter | value |",
    "|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** The `data.example/README.md` text. */
export function renderExampleReadme(summary: ExampleCorpusSummary): string {
  const totalBytes = summary.files.reduce((s, f) => s + f.bytes, 0);
  const boundary =
    summary.utterances.filter((u) =>
      [u.arousal, u.valence, u.dominance].some((x) => x === 2 || x === 4)
    ).length;
  return `# data.example — a synthetic miniature IEMOCAP

**The audio here is synthetic.** No recording of any person is included: every file was made by
\`lib/corpus/example.ts\`, a small source-filter speech synthesiser, so the toolkit can run its
whole pipeline (and \`deno task reproduce\`) without the licensed IEMOCAP release. Results on this
corpus say nothing about real emotion recognition.

Regenerate it (byte-identical; \`SHA256SUMS\` lists every file's digest):

\`\`\`sh
deno task make-example-data          # = deno run --allow-read --allow-write=data.example scripts/make-example-data.ts
\`\`\`

PRNG: mulberry32, seed **${summary.seed}**; each session draws from its own stream derived from the
seed, so one session can be regenerated alone.

## Layout (as \`IEMOCAP_full_release/\`)

\`\`\`
SessionN/sentences/wav/<dialog>/<utterance>.wav     16 kHz, mono, 16-bit PCM, 0.62–1.18 s
SessionN/dialog/EmoEvaluation/<dialog>.txt          labels, IEMOCAP EmoEvaluation format
\`\`\`

Each session has two dialogs (an \`impro\` and a \`script\` one) and two speakers, one female and
one male; the speaker is the session plus the gender letter of the utterance id's last part
(\`Ses01F_impro03_M002\` → \`Ses01M\`), not the letter in the dialog name. An EmoEvaluation file
starts with the header \`% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\` and a blank line;
each utterance block is the summary line
\`[start - end]<TAB>id<TAB>code<TAB>[valence, activation, dominance]\` followed by categorical
(\`C-E2:\\tNeutral;\\t()\`) and dimensional (\`A-E3:\\tval 3; act 2; dom  3;\\t()\`) annotator lines
and a blank line. The bracket is the mean of the \`A-E*\` (evaluator) lines, so ratings are
whole, .5 or thirds; the \`C-F1\`/\`A-M1\`-style self-assessment lines are not part of it.
Categorical codes (neu, hap, exc, sad, ang, fru, xxx = no majority) follow from the levels.
${boundary} utterances have a rating exactly on a boundary (2.0 → low, 4.0 → high).

## How the audio is made

A Rosenberg glottal pulse train with per-period jitter and shimmer, plus pulsed aspiration
noise, drives a cascade of four second-order formant resonators (Klatt-style). Words of 1–3
syllables are laid out with pauses; each syllable has an optional onset (noise-excited
fricative /s/, /ʃ/, /f/, a stop burst, or a nasal murmur) and a vowel whose Peterson–Barney
formant targets are approached with 40 ms transitions. Speakers differ in F0 (female
185–235 Hz, male 100–135 Hz), formant scaling (vocal-tract length) and speaking rate. A little
low-passed background noise (−60 to −52 dBFS per session) is added.

Each rating is mapped to a value in about [−1, 1] (a for arousal, v for valence, d for
dominance): half its level's centre (low −1, mid 0, high +1) plus half the scaled rating
(rating − 3) / 2, plus Gaussian variation (sd 0.12) per utterance, so the classes are well
apart but overlap a little. Every parameter also gets its own per-utterance variation. The
values (\`EXAMPLE_PROSODY\` in the code):

${prosodyTable()}

Labels follow a full 3×3×3 design of the low/mid/high levels per session (plus neutral
utterances), so the dimensions are independent and every class has about a third
(at least 9 of 28) of every session. The utterance length does not depend on the labels.

## Counts

Levels: low = [1, 2], mid = (2, 4), high = [4, 5]. Partitions: sessions 1–3 train, 4 dev, 5 test.

${countsTable(summary.utterances)}

Total size of the generated files: ${(totalBytes / 1e6).toFixed(2)} MB.
`;
}
