/**
 * What a synthetic voice is and how an utterance's ratings set it: the speaker profile, the
 * prosody coefficients ({@link EXAMPLE_PROSODY}) and the per-utterance settings drawn from them.
 *
 * @module
 */

import { discretiseRating } from "../iemocap.ts";
import type { Random } from "../../util/random.ts";

/** Sample rate of every generated file (IEMOCAP's rate). */
export const EXAMPLE_SAMPLE_RATE = 16000;

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

/** Everything `synthesizeUtterance` needs for one utterance. */
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

/** One utterance's voice settings, drawn from its ratings by {@link drawVoiceSettings}. */
export interface VoiceSettings {
  /** Scaled arousal, about [-1, 1]. */
  a: number;
  /** Scaled valence, about [-1, 1]. */
  v: number;
  /** Scaled dominance, about [-1, 1]. */
  d: number;
  /** F0 level in semitones around the speaker's mean. */
  f0LevelSt: number;
  /** Pitch-accent height in semitones. */
  accentSt: number;
  /** F0 slope across the utterance in semitones. */
  slopeSt: number;
  /** Intensity slope across the utterance in dB. */
  intensitySlopeDb: number;
  /** Relative per-period F0 perturbation. */
  jitter: number;
  /** Relative per-period amplitude perturbation. */
  shimmer: number;
  /** Aspiration noise relative to the glottal pulse. */
  breath: number;
  /** F2/F3 factor. */
  formantShift: number;
  /** Glottal closing phase (fraction of the period). */
  closeQ: number;
  /** Glottal opening phase (fraction of the period). */
  openQ: number;
  /** Pole of the tilt low-pass. */
  tiltPole: number;
  /** Syllable-duration factor (speaker rate included). */
  rate: number;
  /** Pause-duration factor. */
  pauseScale: number;
  /** Probability of an audible breath in a pause. */
  pauseBreath: number;
  /** Syllable-to-syllable gain sd in dB. */
  sylGainSd: number;
  /** Speech level in dBFS. */
  levelDb: number;
  /** Probability of a front vowel per syllable. */
  frontProb: number;
}

const clamp = (x: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, x));

/**
 * A 1–5 rating to [-1, 1]: the mean of its level's centre (-1, 0, 1) and the scaled rating.
 * Half comes from the level so the three classes are well apart, which a 140-utterance corpus
 * needs to be learnable.
 */
function scaleRating(rating: number): number {
  // Ratings are checked to lie in [1, 5] before this, so the level index is never null.
  return 0.5 * (discretiseRating(rating)! - 1) + 0.25 * (rating - 3);
}

/**
 * Draws one utterance's voice settings from its ratings and the speaker's rate.
 *
 * The order of the draws below is part of the committed corpus's bytes: reordering them changes
 * every later number of the session's stream.
 *
 * @param params the utterance's ratings and speaker
 * @param rng the session's stream (consumed)
 */
export function drawVoiceSettings(params: UtteranceParams, rng: Random): VoiceSettings {
  const P = EXAMPLE_PROSODY;
  // Per-utterance variation on the scaled ratings so the levels still overlap a little.
  const a = scaleRating(params.arousal) + 0.12 * rng.gauss();
  const v = scaleRating(params.valence) + 0.12 * rng.gauss();
  const d = scaleRating(params.dominance) + 0.12 * rng.gauss();
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
  const rate = params.speaker.rate *
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
  // Vowel colour: positive speech favours spread front vowels (high F2), negative speech
  // rounded back ones (low F2), a large spectral-envelope cue on top of the formant shift.
  const frontProb = clamp(P.frontVowels.base + P.frontVowels.valence * v, 0.05, 0.95);
  return {
    a,
    v,
    d,
    f0LevelSt,
    accentSt,
    slopeSt,
    intensitySlopeDb,
    jitter,
    shimmer,
    breath,
    formantShift,
    closeQ,
    openQ,
    tiltPole,
    rate,
    pauseScale,
    pauseBreath,
    sylGainSd,
    levelDb,
    frontProb,
  };
}
