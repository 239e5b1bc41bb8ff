/**
 * Lays out an utterance's words, syllables and pauses as sample-level parameter tracks
 * (voicing, frication, formant targets) and pitch accents, which the synthesiser then renders.
 *
 * Every random draw here comes from the session's stream in a fixed order; that order is part
 * of the committed corpus's bytes.
 *
 * @module
 */

import type { Random } from "../../util/random.ts";
import { EXAMPLE_SAMPLE_RATE, type VoiceSettings } from "./voice.ts";

/** Sample-level parameter tracks the renderer turns into a waveform. */
export interface Tracks {
  /** F0 in Hz (filled by the synthesiser's contour step). */
  f0: Float64Array;
  /** Voicing amplitude. */
  voice: Float64Array;
  /** Frication-noise amplitude. */
  fric: Float64Array;
  /** Centre of the frication noise in Hz. */
  fricHz: Float64Array;
  /** F1–F3 targets in Hz (before speaker scaling). */
  formants: [Float64Array, Float64Array, Float64Array];
}

/** A pitch accent: a Gaussian bump of the F0 contour. */
export interface Accent {
  /** Centre in samples. */
  center: number;
  /** Standard deviation in samples. */
  width: number;
  /** Relative height (times the accent range). */
  height: number;
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

type Onset = "none" | "s" | "sh" | "f" | "stop" | "nasal";

interface Syllable {
  onset: Onset;
  onsetLen: number;
  vowelLen: number;
  vowel: readonly number[];
}

/** Raised-cosine ramp 0 → 1 over `len` samples, evaluated at `i`. */
export function ramp(i: number, len: number): number {
  if (i >= len) return 1;
  return 0.5 - 0.5 * Math.cos((Math.PI * i) / len);
}

/** Front vowels (i, ɪ, ɛ, æ) with probability `frontProb`, otherwise a back/central one. */
function pickVowel(frontProb: number, rng: Random): readonly number[] {
  return rng.next() < frontProb ? VOWELS[rng.int(4)] : VOWELS[4 + rng.int(VOWELS.length - 4)];
}

/** Onset consonant for a uniform draw `r`: a rough English onset distribution. */
function onsetOf(r: number): Onset {
  if (r < 0.3) return "none";
  if (r < 0.45) return "s";
  if (r < 0.55) return "sh";
  if (r < 0.65) return "f";
  if (r < 0.85) return "stop";
  return "nasal";
}

/** Draws a word of 1–3 syllables; the first syllable is stressed (longer vowel). */
function drawWord(voice: VoiceSettings, rng: Random): Syllable[] {
  const fs = EXAMPLE_SAMPLE_RATE;
  const nSyl = 1 + rng.int(3);
  const sylls: Syllable[] = [];
  for (let s = 0; s < nSyl; s++) {
    const onset = onsetOf(rng.next());
    const onsetLen = onset === "none" ? 0 : Math.round(rng.uniform(0.035, 0.07) * voice.rate * fs);
    const vowelLen = Math.round(rng.uniform(0.08, 0.13) * voice.rate * (s === 0 ? 1.25 : 1) * fs);
    sylls.push({ onset, onsetLen, vowelLen, vowel: pickVowel(voice.frontProb, rng) });
  }
  return sylls;
}

const wordLength = (sylls: Syllable[]) => sylls.reduce((t, s) => t + s.onsetLen + s.vowelLen, 0);

/**
 * Fits a word into `room` samples: drops syllables from its end so the utterance stays filled
 * with speech, and squeezes a first word that is still too long rather than leave silence.
 *
 * @returns false when the word does not fit and the utterance already has words (stop here)
 */
function fitWord(sylls: Syllable[], room: number, isFirst: boolean): boolean {
  let len = wordLength(sylls);
  while (len > room && sylls.length > 1) {
    const last = sylls.pop()!;
    len -= last.onsetLen + last.vowelLen;
  }
  if (len <= room) return true;
  if (!isFirst) return false;
  const k = room / len;
  for (const syl of sylls) {
    syl.onsetLen = Math.floor(syl.onsetLen * k);
    syl.vowelLen = Math.floor(syl.vowelLen * k);
  }
  return true;
}

/** Writes an onset consonant over [o0, o1): nasal murmur, stop closure + burst, or fricative. */
function writeOnset(
  tracks: Tracks,
  syl: Syllable,
  o0: number,
  gain: number,
  fricHz: number,
): void {
  const o1 = o0 + syl.onsetLen;
  for (let i = o0; i < o1; i++) {
    const env = ramp(i - o0, 80) * ramp(o1 - 1 - i, 80);
    if (syl.onset === "nasal") {
      tracks.voice[i] = 0.35 * gain * env;
      tracks.formants[0][i] = 280;
      tracks.formants[1][i] = 1300;
      tracks.formants[2][i] = 2500;
    } else if (syl.onset === "stop") {
      // Closure silence, then a short burst with aspiration.
      const burstStart = o0 + Math.floor(0.6 * syl.onsetLen);
      if (i >= burstStart) {
        tracks.fric[i] = 0.5 * gain * Math.exp(-(i - burstStart) / (0.012 * EXAMPLE_SAMPLE_RATE));
        tracks.fricHz[i] = fricHz;
      }
    } else {
      tracks.fric[i] = (syl.onset === "f" ? 0.12 : 0.3) * gain * env;
      tracks.fricHz[i] = fricHz;
    }
  }
}

/** Writes a vowel nucleus over [v0, v0 + vowelLen) with a 40 ms transition from `prev`. */
function writeVowel(
  tracks: Tracks,
  syl: Syllable,
  v0: number,
  gain: number,
  prev: readonly number[],
): void {
  const v1 = v0 + syl.vowelLen;
  const trans = Math.max(1, Math.round(0.04 * EXAMPLE_SAMPLE_RATE));
  for (let i = v0; i < v1; i++) {
    const k = i - v0;
    const w = ramp(k, trans);
    for (let f = 0; f < 3; f++) tracks.formants[f][i] = prev[f] + w * (syl.vowel[f] - prev[f]);
    tracks.voice[i] = gain * ramp(k, 200) * ramp(v1 - 1 - i, 240);
  }
  // Nasal onsets keep their own formants; fill the rest of the onset with the transition
  // start so the filters do not jump to zero.
  if (syl.onset !== "nasal") {
    for (let i = v0 - syl.onsetLen; i < v0; i++) {
      for (let f = 0; f < 3; f++) tracks.formants[f][i] = prev[f];
    }
  }
}

/** Frication centre for an onset (drawn for every syllable, used by fricatives and stops). */
function drawFricHz(onset: Onset, rng: Random): number {
  if (onset === "s") return rng.uniform(4800, 6200);
  if (onset === "sh") return rng.uniform(2500, 3300);
  if (onset === "f") return rng.uniform(3500, 5500);
  return rng.uniform(1500, 3500);
}

/**
 * A pause between words. Hesitant, negative speech breathes audibly between words: the
 * low-level parts carry valence information (as the paper's attention plots suggest for real
 * speech).
 *
 * @returns the pause length in samples
 */
function writePause(tracks: Tracks, cursor: number, voice: VoiceSettings, rng: Random): number {
  const n = tracks.voice.length;
  const pause = Math.round(rng.uniform(0.04, 0.12) * voice.pauseScale * EXAMPLE_SAMPLE_RATE);
  if (rng.next() < voice.pauseBreath && cursor + pause < n) {
    const hz = rng.uniform(1400, 2200);
    for (let i = cursor; i < cursor + pause; i++) {
      const env = Math.sin((Math.PI * (i - cursor)) / pause);
      tracks.fric[i] = 0.1 * env * env;
      tracks.fricHz[i] = hz;
    }
  }
  return pause;
}

/** Formants outside speech hold the nearest earlier value (keeps the resonators stable). */
function holdFormants(tracks: Tracks): void {
  for (let f = 0; f < 3; f++) {
    const tr = tracks.formants[f];
    let last = VOWELS[5][f];
    for (let i = 0; i < tr.length; i++) {
      if (tr[i] === 0) tr[i] = last;
      else last = tr[i];
    }
  }
}

/**
 * Lays out words until an utterance of `n` samples is full (between a short lead-in and tail
 * of silence).
 *
 * @param n utterance length in samples
 * @param voice the utterance's voice settings
 * @param rng the session's stream (consumed)
 * @returns the parameter tracks (F0 still zero) and the pitch accents, one per syllable
 */
export function layoutUtterance(
  n: number,
  voice: VoiceSettings,
  rng: Random,
): { tracks: Tracks; accents: Accent[] } {
  const fs = EXAMPLE_SAMPLE_RATE;
  const tracks: Tracks = {
    f0: new Float64Array(n),
    voice: new Float64Array(n),
    fric: new Float64Array(n),
    fricHz: new Float64Array(n).fill(4000),
    formants: [new Float64Array(n), new Float64Array(n), new Float64Array(n)],
  };
  const accents: Accent[] = [];
  const lead = Math.round(rng.uniform(0.04, 0.09) * fs);
  const tail = Math.round(rng.uniform(0.04, 0.08) * fs);
  let cursor = lead;
  let prevVowel = pickVowel(voice.frontProb, rng);
  for (let words = 0;; words++) {
    const sylls = drawWord(voice, rng);
    if (!fitWord(sylls, n - tail - cursor, words === 0)) break;
    for (let s = 0; s < sylls.length; s++) {
      const syl = sylls[s];
      const gain = Math.pow(10, (voice.sylGainSd * rng.gauss()) / 20);
      writeOnset(tracks, syl, cursor, gain, drawFricHz(syl.onset, rng));
      const v0 = cursor + syl.onsetLen;
      const v1 = v0 + syl.vowelLen;
      writeVowel(tracks, syl, v0, gain, prevVowel);
      prevVowel = syl.vowel;
      const prominence = s === 0 ? rng.uniform(0.6, 1) : rng.uniform(0, 0.5);
      accents.push({ center: (v0 + v1) / 2, width: syl.vowelLen * 0.6, height: prominence });
      cursor = v1;
    }
    cursor += writePause(tracks, cursor, voice, rng);
    if (cursor >= n - tail) break;
  }
  holdFormants(tracks);
  return { tracks, accents };
}
