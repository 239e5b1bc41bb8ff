/**
 * The example corpus's source-filter speech synthesiser: voice settings from the ratings
 * (`voice.ts`), words laid out as parameter tracks (`layout.ts`), then an F0 contour, a glottal
 * source through formant resonators, and level scaling with background noise (here).
 *
 * Every random draw comes from the session's stream in a fixed order; that order is part of the
 * committed corpus's bytes.
 *
 * @module
 */

import type { Random } from "../../util/random.ts";
import { type Accent, layoutUtterance, type Tracks } from "./layout.ts";
import {
  drawVoiceSettings,
  EXAMPLE_SAMPLE_RATE,
  type SpeakerProfile,
  type UtteranceParams,
  type VoiceSettings,
} from "./voice.ts";

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

/** Throws on a duration or rating the synthesiser is not made for. */
function checkParams(params: UtteranceParams): void {
  if (!(params.durationSec > 0.2 && params.durationSec < 30)) {
    throw new Error(
      `synthesizeUtterance: durationSec must be in (0.2, 30), got ${params.durationSec}`,
    );
  }
  const ratings = [
    ["valence", params.valence],
    ["arousal", params.arousal],
    ["dominance", params.dominance],
  ] as const;
  for (const [name, r] of ratings) {
    if (!(r >= 1 && r <= 5)) {
      throw new Error(`synthesizeUtterance: ${name} must be in [1, 5], got ${r}`);
    }
  }
}

/**
 * Fills `tracks.f0`: level + valence-driven slope (steeper in the last 30 %) + pitch accents, in
 * semitones around the speaker's mean F0.
 */
function writeF0Contour(tracks: Tracks, accents: Accent[], voice: VoiceSettings, f0Hz: number) {
  const n = tracks.f0.length;
  const { f0LevelSt, slopeSt, accentSt } = voice;
  for (let i = 0; i < n; i++) {
    const x = i / n;
    let st = f0LevelSt + slopeSt * (x - 0.5) + 0.35 * slopeSt * Math.max(0, x - 0.7) / 0.3;
    for (const acc of accents) {
      const z = (i - acc.center) / acc.width;
      if (z > -3 && z < 3) st += accentSt * acc.height * Math.exp(-0.5 * z * z);
    }
    // Soft limits keep F0 in a human range (about -10 / +16 semitones around the speaker's).
    st = st > 0 ? 16 * Math.tanh(st / 16) : 10 * Math.tanh(st / 10);
    tracks.f0[i] = f0Hz * Math.pow(2, st / 12);
  }
}

/**
 * Renders the tracks: a jittered, shimmered glottal pulse train plus pulsed aspiration through
 * four cascaded formant resonators and a tilt low-pass, plus band-passed frication noise, with
 * the valence-driven intensity contour applied. Not yet level-scaled.
 */
function renderSpeech(
  tracks: Tracks,
  voice: VoiceSettings,
  speaker: SpeakerProfile,
  rng: Random,
): Float64Array {
  const fs = EXAMPLE_SAMPLE_RATE;
  const n = tracks.f0.length;
  const { a, formantShift, jitter, shimmer, breath, openQ, closeQ, tiltPole } = voice;
  const res = [new Resonator(), new Resonator(), new Resonator(), new Resonator()];
  const bws = [80, 100, 140, 220];
  const fric = new Resonator();
  const fricHp = new Resonator();
  const fScale = speaker.formantScale;
  res[3].set(3500 * fScale, bws[3]);
  let phase = 0;
  let periodF0 = tracks.f0[0];
  let periodAmp = 1;
  let prevFlow = 0;
  let prevWhite = 0;
  let tilt = 0;
  const speech = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Filter coefficients every 8 samples: smooth enough, and an eighth of the cost.
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
    let y = tracks.voice[i] * (dFlow + aspiration);
    for (let f = 0; f < 4; f++) y = res[f].step(y);
    // One-pole low-pass mixed in: a steeper spectral tilt for calm speech.
    tilt = (1 - tiltPole) * y + tiltPole * tilt;
    let s = tilt;
    const noise = rng.gauss();
    if (tracks.fric[i] > 0) {
      const hp = noise - fricHp.step(noise);
      s += tracks.fric[i] * fric.step(hp) * 0.02;
    } else {
      // Keep both filters running so frication starts from their settled state.
      fric.step(0);
      fricHp.step(noise);
    }
    // The intensity contour follows the F0 contour: rising when positive, falling when negative.
    speech[i] = s * Math.pow(10, (voice.intensitySlopeDb * (i / n - 0.5)) / 20);
  }
  return speech;
}

/**
 * Scales speech to `levelDb` measured over its active part (so pauses do not lower the level),
 * adds slightly low-passed background noise, like a room, and limits the peak to 0.95.
 */
function finishSignal(
  speech: Float64Array,
  tracks: Tracks,
  levelDb: number,
  noiseDb: number,
  rng: Random,
): Float32Array {
  const n = speech.length;
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
  const noiseAmp = Math.pow(10, noiseDb / 20);
  let hum = 0;
  let peak = 0;
  for (let i = 0; i < n; i++) {
    hum = 0.7 * hum + 0.3 * rng.gauss();
    const x = g * speech[i] + noiseAmp * hum * 1.8;
    speech[i] = x;
    peak = Math.max(peak, Math.abs(x));
  }
  const limit = peak > 0.95 ? 0.95 / peak : 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = speech[i] * limit;
  return out;
}

/**
 * Synthesises one utterance: a jittered, shimmered Rosenberg glottal pulse train (plus pulsed
 * aspiration noise) through a cascade of four formant resonators whose targets move from
 * syllable to syllable, noise-excited fricatives and stop bursts, pauses between words, and
 * a little background noise.
 *
 * How the ratings shape the signal (a, v, d are the ratings mapped to about [-1, 1]; the
 * coefficients are in `EXAMPLE_PROSODY`):
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
export function synthesizeUtterance(params: UtteranceParams, rng: Random): Float32Array {
  checkParams(params);
  const n = Math.round(params.durationSec * EXAMPLE_SAMPLE_RATE);
  const voice = drawVoiceSettings(params, rng);
  const { tracks, accents } = layoutUtterance(n, voice, rng);
  writeF0Contour(tracks, accents, voice, params.speaker.f0Hz);
  const speech = renderSpeech(tracks, voice, params.speaker, rng);
  return finishSignal(speech, tracks, voice.levelDb, params.noiseDb, rng);
}
