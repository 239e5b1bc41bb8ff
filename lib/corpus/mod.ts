/**
 * Corpora: IEMOCAP, EMO-DB, the synthetic example corpus and any corpus described by a manifest
 * CSV, behind one abstraction (`Corpus`), with a load report.
 *
 * ```ts
 * const corpus = await loadCorpus({ corpus: "emodb", data: "../shared/data/emodb" });
 * console.log(formatCorpusReport(corpusReport(corpus)));
 * ```
 * @module
 */
import { fileURLToPath } from "node:url";
import { type LevelTable, loadEmodb } from "./emodb.ts";
import { loadIemocap, type SessionSplit } from "./iemocap.ts";
import { loadManifest } from "./manifest.ts";
import { validateAudio } from "./validate.ts";
import type { Corpus } from "./types.ts";

export type { Corpus, SkippedItem, TaskSpec, Utterance } from "./types.ts";
export {
  discretiseRating,
  type EmoEvaluationEntry,
  IEMOCAP_TASKS,
  iemocapSpeaker,
  PAPER_SESSION_SPLIT,
  parseEmoEvaluation,
  type ParseProblem,
  parseSessionSplit,
  type SessionSplit,
} from "./iemocap.ts";
export {
  EMODB_DEFAULT_LEVELS,
  EMODB_DEFAULT_SPLIT,
  EMODB_EMOTIONS,
  EMODB_TASKS,
  type EmodbEmotion,
  type EmodbName,
  type LevelTable,
  parseEmodbName,
} from "./emodb.ts";
export {
  type CsvRow,
  parseCsv,
  parseCsvRows,
  PARTITION_SPELLINGS,
  type PartitionName,
} from "./manifest.ts";
export { validateAudio, type ValidateOptions } from "./validate.ts";
export {
  fixedSplit,
  type Fold,
  leaveOneSpeakerOut,
  partition,
  samplePerPartition,
  sessionFolds,
  sessionOf,
  speakersOf,
} from "./splits.ts";
export {
  type CorpusReport,
  corpusReport,
  formatCorpusReport,
  type PartitionReport,
} from "./report.ts";

/** Corpus kinds {@link loadCorpus} knows. */
export type CorpusKind = "iemocap" | "emodb" | "manifest" | "example";

/** The bundled synthetic corpus (IEMOCAP layout). */
export const EXAMPLE_DATA_DIR: string = fileURLToPath(
  new URL("../../data.example", import.meta.url),
);

/** Options of {@link loadCorpus}. */
export interface LoadCorpusOptions {
  /** Which loader. */
  corpus: CorpusKind;
  /** Corpus root (IEMOCAP_full_release, EMO-DB folder) or manifest CSV; default for `example`. */
  data?: string;
  /** Keep only these tasks (default: all the corpus provides). */
  tasks?: string[];
  /** IEMOCAP/example session split. */
  sessionSplit?: SessionSplit;
  /** EMO-DB category → level table. */
  emodbLevels?: LevelTable;
  /** Decode every file to check it and measure it (default true). */
  validate?: boolean;
  /** Fail on the first bad file instead of reporting and skipping it. */
  strict?: boolean;
}

/**
 * Loads a corpus, checks its audio (bad files are reported in `skipped`, or thrown under
 * `strict`) and keeps the requested tasks.
 */
export async function loadCorpus(options: LoadCorpusOptions): Promise<Corpus> {
  const { corpus: kind } = options;
  const data = options.data ?? (kind === "example" ? EXAMPLE_DATA_DIR : undefined);
  if (!data) throw new Error(`--data is required for corpus '${kind}'`);
  let corpus: Corpus;
  switch (kind) {
    case "iemocap":
    case "example":
      corpus = await loadIemocap(data, { split: options.sessionSplit, name: kind });
      break;
    case "emodb":
      corpus = await loadEmodb(data, { levels: options.emodbLevels });
      break;
    case "manifest":
      corpus = await loadManifest(data, { tasks: options.tasks });
      break;
    default:
      throw new Error(`unknown corpus '${kind}' (expected iemocap, emodb, manifest or example)`);
  }
  if (options.strict && corpus.skipped.length) {
    const s = corpus.skipped[0];
    throw new Error(`${s.file}: ${s.reason}`);
  }
  if (options.tasks) corpus = selectTasks(corpus, options.tasks);
  if (options.validate ?? true) corpus = await validateAudio(corpus, { strict: options.strict });
  return corpus;
}

/** Keeps only the named tasks, in the given order. */
export function selectTasks(corpus: Corpus, names: string[]): Corpus {
  const tasks = names.map((n) => {
    const t = corpus.tasks.find((t) => t.name === n);
    if (!t) {
      throw new Error(
        `corpus ${corpus.name} has no task '${n}' (tasks: ${
          corpus.tasks.map((t) => t.name).join(", ")
        })`,
      );
    }
    return t;
  });
  const utterances = corpus.utterances.map((u) => ({
    ...u,
    labels: Object.fromEntries(Object.entries(u.labels).filter(([k]) => names.includes(k))),
  }));
  return { ...corpus, tasks, utterances };
}
