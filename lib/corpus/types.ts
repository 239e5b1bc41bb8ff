/**
 * The corpus abstraction shared by every loader (IEMOCAP, EMO-DB, manifest CSV).
 *
 * A corpus is a list of utterances, each with an audio file, a speaker, a partition and
 * labels for named categorical tasks. Labels are class indices into the task's ordered
 * class list; a task missing from `labels` means the utterance has no label for it.
 *
 * @module
 */

/** A categorical prediction task: a name and its ordered class names. */
export interface TaskSpec {
  /** Task name, e.g. `arousal`, `valence`, `dominance`, `emotion`. */
  name: string;
  /** Ordered class names, e.g. `["low", "mid", "high"]`. */
  classes: string[];
}

/** One utterance of a corpus. */
export interface Utterance {
  /** Unique id within the corpus, e.g. `Ses01F_impro01_F000` or `03a01Fa`. */
  id: string;
  /** Absolute or corpus-relative path of the wav file (resolved by the loader). */
  path: string;
  /** Speaker id; speaker-independent splits and per-speaker normalisation use it. */
  speaker: string;
  /** Partition name (`train`, `dev`, `test`), or undefined when the corpus defines none. */
  partition?: string;
  /** Class index per task name; a task absent here is unlabelled for this utterance. */
  labels: Record<string, number>;
  /** Length in samples at 16 kHz after padding; set once the audio has been validated. */
  samples?: number;
  /** True when the audio was shorter than one window and was zero-padded. */
  padded?: boolean;
  /** Optional extra information (IEMOCAP session, raw dimensional ratings, EMO-DB text …). */
  meta?: Record<string, string | number>;
}

/** A file or line the loader could not use, with the reason. */
export interface SkippedItem {
  /** The file (and line, where relevant) that was skipped. */
  file: string;
  /** Why it was skipped. */
  reason: string;
}

/** A loaded corpus. */
export interface Corpus {
  /** Corpus name (`iemocap`, `emodb`, `manifest`, `example`). */
  name: string;
  /** Root folder it was read from. */
  root: string;
  /** The tasks this corpus provides labels for. */
  tasks: TaskSpec[];
  /** All usable utterances. */
  utterances: Utterance[];
  /** Items that were reported and skipped while loading. */
  skipped: SkippedItem[];
  /**
   * Things the loader accepted but changed or repaired, each named by file (and line): e.g. a
   * WAV whose data size was a streaming placeholder, or a partition value mapped to another.
   * Shown in the load report so that nothing is changed silently.
   */
  notes?: SkippedItem[];
}
