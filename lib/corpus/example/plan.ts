/**
 * Plans one session of the example corpus before any audio is made: its two speakers, two
 * dialogs, each utterance's labels (a balanced 3×3×3 design of levels), the evaluators'
 * EmoEvaluation lines, and timings.
 *
 * The level rule and the session split are IEMOCAP's (`../iemocap.ts`), so the generator and
 * the loader cannot disagree about what a label means.
 *
 * @module
 */

import { discretiseRating, LEVELS, PAPER_SESSION_SPLIT } from "../iemocap.ts";
import type { Random } from "../../util/random.ts";
import { EXAMPLE_SAMPLE_RATE, type SpeakerProfile } from "./voice.ts";

/** The three levels every dimension is discretised into (paper, Section 4.1). */
export type Level = (typeof LEVELS)[number];

/**
 * The level of a 1–5 rating by IEMOCAP's rule (low = [1, 2], mid = (2, 4), high = [4, 5]).
 *
 * @throws RangeError for a rating outside [1, 5]
 */
export function levelOf(rating: number): Level {
  const index = discretiseRating(rating);
  if (index === null) throw new RangeError(`levelOf: rating must be in [1, 5], got ${rating}`);
  return LEVELS[index];
}

/**
 * Partition of a session under the paper's split (sessions 1–3 train, 4 dev, 5 test), the split
 * the toolkit loads the example corpus with by default.
 *
 * @throws RangeError for a session the split does not list
 */
export function partitionOfSession(session: number): "train" | "dev" | "test" {
  for (const p of ["train", "dev", "test"] as const) {
    if (PAPER_SESSION_SPLIT[p].includes(session)) return p;
  }
  throw new RangeError(`partitionOfSession: session ${session} is in no partition`);
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

/** A planned session: utterances, the two voices, and each utterance's length in seconds. */
export interface SessionPlan {
  /** Utterances in dialog order. */
  utterances: ExampleUtterance[];
  /** The voices by gender letter. */
  speakers: Record<"F" | "M", SpeakerProfile>;
  /** Length of each utterance's audio, seconds (same order as `utterances`). */
  durations: number[];
}

const CATEGORY_NAMES: Record<string, string> = {
  neu: "Neutral",
  hap: "Happiness",
  sad: "Sadness",
  ang: "Anger",
  exc: "Excited",
  fru: "Frustration",
};

/** Categories an evaluator plausibly confuses with each one (the first is the likeliest). */
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

function mean(xs: number[]): number {
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Integer evaluator ratings whose mean falls in the wanted level (rejection sampling). */
function sampleRatings(level: Level, count: number, rng: Random): number[] {
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

/** The session's female and male voices. */
function drawSpeakers(ses: string, rng: Random): Record<"F" | "M", SpeakerProfile> {
  return {
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
}

/**
 * `count` level triples in random order. A full 3×3×3 design keeps every level of every
 * dimension at ≥ 1/3 per session and the dimensions independent; extra utterances are neutral
 * (mid, mid, mid) as in real dialogs.
 */
function shuffledDesign(count: number, rng: Random): [Level, Level, Level][] {
  const combos: [Level, Level, Level][] = [];
  for (const v of LEVELS) for (const a of LEVELS) for (const d of LEVELS) combos.push([v, a, d]);
  while (combos.length < count) combos.push(["mid", "mid", "mid"]);
  for (let i = combos.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [combos[i], combos[j]] = [combos[j], combos[i]];
  }
  return combos;
}

/** The annotator lines and labels of one utterance, given its planned levels. */
interface Labels {
  emotion: string;
  vv: number[];
  aa: number[];
  dd: number[];
  annotations: string[];
}

/**
 * Evaluator ratings and categories for one utterance, and its EmoEvaluation annotator lines:
 * three categorical evaluators, two or three dimensional ones, and the actor's self-assessment.
 */
function drawLabels(levels: [Level, Level, Level], gender: string, rng: Random): Labels {
  const [vl, al, dl] = levels;
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
  for (let k = 0; k < nEval; k++) {
    annotations.push(`A-E${ids[k]}:\tval ${vv[k]}; act ${aa[k]}; dom  ${dd[k]};\t()`);
  }
  const self = (r: number[]) => Math.min(5, Math.max(1, Math.round(mean(r) + rng.gauss())));
  annotations.push(`A-${gender}1:\tval ${self(vv)}; act ${self(aa)}; dom  ${self(dd)};\t()`);
  return { emotion, vv, aa, dd, annotations };
}

/**
 * Plans one session: speakers, dialogs, labels, annotator lines and timings.
 *
 * The order of the draws is part of the committed corpus's bytes.
 *
 * @param session session number 1–5
 * @param count utterances in the session
 * @param rng the session's stream (consumed)
 */
export function planSession(session: number, count: number, rng: Random): SessionPlan {
  const ses = `Ses0${session}`;
  const speakers = drawSpeakers(ses, rng);
  const design = shuffledDesign(count, rng);
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
      const { emotion, vv, aa, dd, annotations } = drawLabels(design[u], gender, rng);
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
