/**
 * EMO-DB (Berlin Database of Emotional Speech): labels from file names, the binary arousal and
 * valence tasks of the literature, 3-level A/V/D from a documented category table, and the
 * default speaker-independent split.
 *
 * The `wav/` folder may be a farm of symbolic links, as Kaldi/ESPnet data preparation makes:
 * links to files are followed; a dangling link, a link loop or a `.wav` name that is not a file
 * is reported in `skipped` by name, and a second name for the same audio file (two links to one
 * file, or a link to a file that is also listed) is skipped as a duplicate naming the first, so
 * one recording is never counted twice. `wav/` is not walked into subfolders.
 * @module
 */
import { join } from "node:path";
import { checkPath } from "./manifest.ts";
import type { Corpus, SkippedItem, TaskSpec, Utterance } from "./types.ts";

/** The seven emotions, in the order used for the `emotion` task. */
export const EMODB_EMOTIONS = [
  "anger",
  "boredom",
  "disgust",
  "fear",
  "happiness",
  "sadness",
  "neutral",
] as const;

/** An EMO-DB emotion name. */
export type EmodbEmotion = typeof EMODB_EMOTIONS[number];

/** File-name letter (German initial) → emotion. */
export const EMODB_LETTERS: Record<string, EmodbEmotion> = {
  W: "anger", // Wut
  L: "boredom", // Langeweile
  E: "disgust", // Ekel
  A: "fear", // Angst
  F: "happiness", // Freude
  T: "sadness", // Trauer
  N: "neutral",
};

/** Level (0 = low, 1 = mid, 2 = high) of arousal, valence and dominance per emotion. */
export type LevelTable = Record<
  EmodbEmotion,
  { arousal: number; valence: number; dominance: number }
>;

/**
 * Default category → level table. It follows the signs of published pleasure–arousal–dominance
 * ratings of these emotion words (Russell & Mehrabian, 1977), with |rating| < 0.2 as mid: anger
 * is aroused, unpleasant and dominant; fear aroused, unpleasant and submissive; boredom and
 * sadness calm, unpleasant and submissive; happiness aroused, pleasant and dominant; disgust
 * aroused and unpleasant with mid dominance; neutral is mid on all three. It is a convention, not
 * an annotation: EMO-DB has no dimensional ratings. Override it with `levels`.
 */
export const EMODB_DEFAULT_LEVELS: LevelTable = {
  anger: { arousal: 2, valence: 0, dominance: 2 },
  boredom: { arousal: 0, valence: 0, dominance: 0 },
  disgust: { arousal: 2, valence: 0, dominance: 1 },
  fear: { arousal: 2, valence: 0, dominance: 0 },
  happiness: { arousal: 2, valence: 2, dominance: 2 },
  sadness: { arousal: 0, valence: 0, dominance: 0 },
  neutral: { arousal: 1, valence: 1, dominance: 1 },
};

/** High-arousal emotions of the binary arousal task (anger, fear, happiness vs the rest). */
const AROUSAL2_HIGH = new Set<EmodbEmotion>(["anger", "fear", "happiness"]);
/** Positive emotions of the binary valence task (happiness, neutral vs the rest). */
const VALENCE2_POSITIVE = new Set<EmodbEmotion>(["happiness", "neutral"]);

/** Tasks an EMO-DB corpus provides. */
export const EMODB_TASKS: TaskSpec[] = [
  { name: "emotion", classes: [...EMODB_EMOTIONS] },
  { name: "arousal2", classes: ["low", "high"] },
  { name: "valence2", classes: ["negative", "positive"] },
  { name: "arousal", classes: ["low", "mid", "high"] },
  { name: "valence", classes: ["low", "mid", "high"] },
  { name: "dominance", classes: ["low", "mid", "high"] },
];

/** Default speaker-independent split: train 03 08 09 11 12 14, dev 10 13, test 15 16. */
export const EMODB_DEFAULT_SPLIT: Record<string, string[]> = {
  train: ["03", "08", "09", "11", "12", "14"],
  dev: ["10", "13"],
  test: ["15", "16"],
};

/** What an EMO-DB file name encodes. */
export interface EmodbName {
  /** Speaker, two digits. */
  speaker: string;
  /** Text code, e.g. `a01`. */
  text: string;
  /** Emotion. */
  emotion: EmodbEmotion;
  /** Version letter. */
  version: string;
}

/** Parses a file name like `03a01Fa.wav`; returns `null` if it is not one. */
export function parseEmodbName(fileName: string): EmodbName | null {
  const m = /^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])\.wav$/.exec(fileName);
  if (!m) return null;
  return { speaker: m[1], text: m[2], emotion: EMODB_LETTERS[m[3]], version: m[4] };
}

/** Options of {@link loadEmodb}. */
export interface EmodbOptions {
  /** Category → level table for the 3-level tasks (default {@link EMODB_DEFAULT_LEVELS}). */
  levels?: LevelTable;
  /** Partition → speakers (default {@link EMODB_DEFAULT_SPLIT}). */
  split?: Record<string, string[]>;
}

/**
 * Loads EMO-DB from `root` (a folder with `wav/`, as ../shared/data/emodb). Symbolic links in
 * `wav/` are followed; the module documentation says what is skipped and why.
 */
export async function loadEmodb(root: string, options: EmodbOptions = {}): Promise<Corpus> {
  const levels = options.levels ?? EMODB_DEFAULT_LEVELS;
  const split = options.split ?? EMODB_DEFAULT_SPLIT;
  const partitionOf = new Map<string, string>();
  for (const [p, speakers] of Object.entries(split)) {
    for (const s of speakers) partitionOf.set(s, p);
  }
  const wavDir = join(root, "wav");
  const names: string[] = [];
  try {
    // Every entry, links included: readDir reports a link as neither file nor folder, and
    // keeping only `isFile` entries would drop a whole symlink farm without a word.
    for await (const e of Deno.readDir(wavDir)) names.push(e.name);
  } catch (e) {
    throw new Error(`EMO-DB root ${root}: cannot read ${wavDir} (${(e as Error).message})`);
  }
  names.sort();
  const utterances: Utterance[] = [];
  const skipped: SkippedItem[] = [];
  const firstName = new Map<string, string>();
  for (const name of names) {
    if (!name.toLowerCase().endsWith(".wav")) continue;
    const file = join(wavDir, name);
    const check = await checkPath(file);
    if (!check.ok) {
      skipped.push({ file, reason: check.reason });
      continue;
    }
    if (!check.isFile) {
      skipped.push({ file, reason: check.isDirectory ? "is a folder" : "not a regular file" });
      continue;
    }
    const parsed = parseEmodbName(name);
    if (!parsed) {
      skipped.push({
        file,
        reason: "file name does not follow EMO-DB's <speaker><text><emotion><version>.wav",
      });
      continue;
    }
    const first = firstName.get(check.key);
    if (first !== undefined) {
      skipped.push({
        file,
        reason: `duplicate audio: the same file as ${first} (${check.real})`,
      });
      continue;
    }
    firstName.set(check.key, name);
    const e = parsed.emotion;
    const level = levels[e];
    utterances.push({
      id: name.slice(0, -4),
      path: file,
      speaker: parsed.speaker,
      partition: partitionOf.get(parsed.speaker),
      labels: {
        emotion: EMODB_EMOTIONS.indexOf(e),
        arousal2: AROUSAL2_HIGH.has(e) ? 1 : 0,
        valence2: VALENCE2_POSITIVE.has(e) ? 1 : 0,
        arousal: level.arousal,
        valence: level.valence,
        dominance: level.dominance,
      },
      meta: { text: parsed.text, emotion: e, version: parsed.version },
    });
  }
  if (utterances.length === 0) {
    throw new Error(`EMO-DB root ${root}: no EMO-DB wav files in ${wavDir}`);
  }
  return { name: "emodb", root, tasks: EMODB_TASKS, utterances, skipped };
}
