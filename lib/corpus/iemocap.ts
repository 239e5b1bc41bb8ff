/**
 * IEMOCAP (`IEMOCAP_full_release/`): EmoEvaluation parsing, discretisation of the dimensional
 * ratings into low/mid/high, speakers and the session split.
 *
 * The tree may be made of symbolic links (Kaldi/ESPnet data preparation links sessions, files or
 * whole folders): `SessionN` folders and EmoEvaluation files reached through links are followed.
 * A dangling link or a link loop is reported in `skipped` by name, never a crash; a session folder
 * or EmoEvaluation file that is the same real folder or file as an earlier one, and an utterance id
 * seen before, are skipped naming the first, so no utterance is counted twice. Wav paths are built
 * from the ids and followed when the audio is read (`validateAudio` reports a broken one).
 * @module
 */
import { join } from "node:path";
import { checkPath } from "./manifest.ts";
import type { Corpus, SkippedItem, TaskSpec, Utterance } from "./types.ts";

/** The three levels every IEMOCAP dimension is discretised into (paper, after Metallinou et al.). */
export const LEVELS = ["low", "mid", "high"] as const;

/** IEMOCAP's categorical labels; `xxx` (no majority) is treated as unlabelled. */
export const IEMOCAP_EMOTIONS = [
  "neu",
  "hap",
  "exc",
  "sad",
  "ang",
  "fru",
  "fea",
  "sur",
  "dis",
  "oth",
] as const;

/** The four-class set most IEMOCAP papers use: happy merges `hap` and `exc`. */
export const IEMOCAP_EMOTIONS4 = ["neutral", "happy", "sad", "angry"] as const;
const TO_EMOTION4: Record<string, number> = { neu: 0, hap: 1, exc: 1, sad: 2, ang: 3 };

/** Tasks an IEMOCAP corpus provides. */
export const IEMOCAP_TASKS: TaskSpec[] = [
  { name: "arousal", classes: [...LEVELS] },
  { name: "valence", classes: [...LEVELS] },
  { name: "dominance", classes: [...LEVELS] },
  { name: "emotion", classes: [...IEMOCAP_EMOTIONS] },
  { name: "emotion4", classes: [...IEMOCAP_EMOTIONS4] },
];

/** One utterance line of an EmoEvaluation file. */
export interface EmoEvaluationEntry {
  /** Utterance id, e.g. `Ses01F_impro01_F000`. */
  id: string;
  /** Start time in the dialogue, seconds. */
  start: number;
  /** End time in the dialogue, seconds. */
  end: number;
  /** Categorical label (`neu`, `hap`, …, `xxx`). */
  emotion: string;
  /** Valence rating (first value of the bracket). */
  valence: number;
  /** Activation/arousal rating (second value). */
  arousal: number;
  /** Dominance rating (third value). */
  dominance: number;
}

/** A line that looked like an utterance line but could not be parsed. */
export interface ParseProblem {
  /** 1-based line number. */
  line: number;
  /** What is wrong. */
  reason: string;
}

const UTTERANCE_LINE =
  /^\[\s*([-+0-9.eE]+)\s*-\s*([-+0-9.eE]+)\s*\]\s+(\S+)\s+(\S+)\s+\[\s*([^,\]]+),\s*([^,\]]+),\s*([^,\]]+)\]\s*$/;

/**
 * Parses an EmoEvaluation file. Utterance lines look like
 * `[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]`, where the
 * bracket is **[valence, activation, dominance]**. Lines starting `C-`, `A-`, `%` and blank lines
 * are annotator details or headers, not utterances. Any other line starting with `[` that does
 * not match is reported as a problem.
 */
export function parseEmoEvaluation(text: string): {
  entries: EmoEvaluationEntry[];
  problems: ParseProblem[];
} {
  const entries: EmoEvaluationEntry[] = [];
  const problems: ParseProblem[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("%") || line.startsWith("C-") || line.startsWith("A-")) {
      continue;
    }
    if (!line.startsWith("[")) {
      problems.push({
        line: i + 1,
        reason: `unrecognised line: ${JSON.stringify(line.slice(0, 60))}`,
      });
      continue;
    }
    const m = UTTERANCE_LINE.exec(line);
    if (!m) {
      problems.push({
        line: i + 1,
        reason: `malformed utterance line: ${JSON.stringify(line.slice(0, 80))}`,
      });
      continue;
    }
    const nums = [m[1], m[2], m[5], m[6], m[7]].map(Number);
    if (nums.some((x) => Number.isNaN(x))) {
      problems.push({
        line: i + 1,
        reason: `non-numeric time or rating in ${JSON.stringify(line)}`,
      });
      continue;
    }
    entries.push({
      start: nums[0],
      end: nums[1],
      id: m[3],
      emotion: m[4],
      valence: nums[2],
      arousal: nums[3],
      dominance: nums[4],
    });
  }
  return { entries, problems };
}

/**
 * Discretises a 1–5 rating: low = [1, 2], mid = (2, 4), high = [4, 5]. Returns the level index
 * (0, 1, 2) or `null` for a value outside [1, 5] (the caller reports it).
 */
export function discretiseRating(value: number): number | null {
  if (!(value >= 1 && value <= 5)) return null;
  if (value <= 2) return 0;
  if (value < 4) return 1;
  return 2;
}

/** IEMOCAP speaker of an utterance id: session + gender letter of the id's last part. */
export function iemocapSpeaker(id: string): string {
  const m = /^Ses(\d+)[FM]_.*_([FM])\d+$/.exec(id);
  if (!m) throw new Error(`not an IEMOCAP utterance id: ${id}`);
  return `Ses${m[1]}${m[2]}`;
}

/** Which sessions form which partition. */
export interface SessionSplit {
  /** Sessions of the training partition (default 1–3). */
  train: number[];
  /** Sessions of the development partition (default 4). */
  dev: number[];
  /** Sessions of the test partition (default 5). */
  test: number[];
}

/** The split stated in the paper's text: train sessions 1–3, dev 4, test 5. */
export const PAPER_SESSION_SPLIT: SessionSplit = { train: [1, 2, 3], dev: [4], test: [5] };

/**
 * Parses a split such as `train=1,2,3;dev=4;test=5`.
 * @throws when a session is listed twice or a partition name is unknown
 */
export function parseSessionSplit(text: string): SessionSplit {
  const split: SessionSplit = { train: [], dev: [], test: [] };
  const seen = new Set<number>();
  for (const part of text.split(/[;\s]+/).filter(Boolean)) {
    const [name, list] = part.split("=");
    if (name !== "train" && name !== "dev" && name !== "test" || list === undefined) {
      throw new Error(
        `bad session split ${JSON.stringify(text)}: expected e.g. train=1,2,3;dev=4;test=5`,
      );
    }
    for (const s of list.split(",").filter(Boolean).map(Number)) {
      if (!Number.isInteger(s) || seen.has(s)) {
        throw new Error(
          `bad session split ${JSON.stringify(text)}: session ${s} invalid or repeated`,
        );
      }
      seen.add(s);
      split[name].push(s);
    }
  }
  return split;
}

/** Options of {@link loadIemocap}. */
export interface IemocapOptions {
  /** Session split (default: the paper's 1–3 / 4 / 5). */
  split?: SessionSplit;
  /** Corpus name to report (default `iemocap`; the example corpus uses `example`). */
  name?: string;
}

async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  return names.sort();
}

/**
 * Loads IEMOCAP's utterances and labels from `root` (the `IEMOCAP_full_release` folder).
 * Symbolic links are followed; broken ones are reported in `skipped` (see the module
 * documentation). Audio is not read here; see `validateAudio`.
 */
export async function loadIemocap(root: string, options: IemocapOptions = {}): Promise<Corpus> {
  const split = options.split ?? PAPER_SESSION_SPLIT;
  const partitionOf = new Map<number, string>();
  for (const p of ["train", "dev", "test"] as const) {
    for (const s of split[p]) partitionOf.set(s, p);
  }
  const utterances: Utterance[] = [];
  const skipped: SkippedItem[] = [];
  let sessions: string[];
  try {
    sessions = (await listDir(root)).filter((n) => /^Session\d+$/.test(n));
  } catch (e) {
    throw new Error(`IEMOCAP root ${root}: cannot read (${(e as Error).message})`);
  }
  if (sessions.length === 0) {
    throw new Error(
      `IEMOCAP root ${root}: no Session1…Session5 folders (is this IEMOCAP_full_release?)`,
    );
  }
  const seenFolders = new Map<string, string>();
  const seenFiles = new Map<string, string>();
  const seenIds = new Map<string, string>();
  for (const session of sessions) {
    const sessionNumber = Number(session.slice("Session".length));
    const sessionDir = join(root, session);
    const dir = await checkPath(sessionDir);
    if (!dir.ok || !dir.isDirectory) {
      skipped.push({ file: sessionDir, reason: dir.ok ? "not a folder" : dir.reason });
      continue;
    }
    const twin = seenFolders.get(dir.key);
    if (twin !== undefined) {
      skipped.push({ file: sessionDir, reason: `the same folder as ${twin} (${dir.real})` });
      continue;
    }
    seenFolders.set(dir.key, sessionDir);
    const evalDir = join(sessionDir, "dialog", "EmoEvaluation");
    let files: string[];
    try {
      files = (await listDir(evalDir)).filter((n) => n.endsWith(".txt") && !n.startsWith("."));
    } catch (e) {
      // Say why: a broken link names its target, a plain absence is the usual message.
      const check = await checkPath(evalDir);
      const reason = check.ok
        ? `cannot read EmoEvaluation folder (${(e as Error).message})`
        : check.reason === "file not found"
        ? "EmoEvaluation folder missing"
        : check.reason;
      skipped.push({ file: evalDir, reason });
      continue;
    }
    for (const f of files) {
      const file = join(evalDir, f);
      const dialog = f.slice(0, -4);
      const check = await checkPath(file);
      if (!check.ok || !check.isFile) {
        skipped.push({ file, reason: check.ok ? "not a file" : check.reason });
        continue;
      }
      const same = seenFiles.get(check.key);
      if (same !== undefined) {
        skipped.push({ file, reason: `the same file as ${same} (${check.real})` });
        continue;
      }
      seenFiles.set(check.key, file);
      let text: string;
      try {
        text = await Deno.readTextFile(file);
      } catch (e) {
        skipped.push({ file, reason: `cannot read (${(e as Error).message})` });
        continue;
      }
      const { entries, problems } = parseEmoEvaluation(text);
      for (const p of problems) skipped.push({ file: `${file}:${p.line}`, reason: p.reason });
      for (const e of entries) {
        const labels: Record<string, number> = {};
        for (const dim of ["arousal", "valence", "dominance"] as const) {
          const level = discretiseRating(e[dim]);
          if (level === null) {
            skipped.push({
              file: `${file} (${e.id})`,
              reason: `${dim} rating ${e[dim]} outside [1, 5]; ${dim} label left missing`,
            });
          } else labels[dim] = level;
        }
        const emo = IEMOCAP_EMOTIONS.indexOf(e.emotion as typeof IEMOCAP_EMOTIONS[number]);
        if (emo >= 0) labels.emotion = emo;
        if (e.emotion in TO_EMOTION4) labels.emotion4 = TO_EMOTION4[e.emotion];
        let speaker: string;
        try {
          speaker = iemocapSpeaker(e.id);
        } catch (err) {
          skipped.push({ file, reason: (err as Error).message });
          continue;
        }
        const earlier = seenIds.get(e.id);
        if (earlier !== undefined) {
          skipped.push({
            file: `${file} (${e.id})`,
            reason: `duplicate utterance id ${e.id}, first in ${earlier}`,
          });
          continue;
        }
        seenIds.set(e.id, file);
        utterances.push({
          id: e.id,
          path: join(sessionDir, "sentences", "wav", dialog, `${e.id}.wav`),
          speaker,
          partition: partitionOf.get(sessionNumber),
          labels,
          meta: {
            session: sessionNumber,
            dialog,
            emotion: e.emotion,
            valence: e.valence,
            arousal: e.arousal,
            dominance: e.dominance,
          },
        });
      }
    }
  }
  return { name: options.name ?? "iemocap", root, tasks: IEMOCAP_TASKS, utterances, skipped };
}
