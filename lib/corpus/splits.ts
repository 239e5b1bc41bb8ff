/**
 * Speaker-independent evaluation protocols over a list of utterances.
 * @module
 */
import type { Utterance } from "./types.ts";

/** One fold of a cross-validation. */
export interface Fold {
  /** Name of the fold, e.g. the held-out speaker. */
  name: string;
  /** Utterances to train on. */
  train: Utterance[];
  /** Utterances for model selection (empty if the protocol has none). */
  dev: Utterance[];
  /** Held-out utterances. */
  test: Utterance[];
}

/** Utterances of one partition. */
export function partition(utterances: Utterance[], name: string): Utterance[] {
  return utterances.filter((u) => u.partition === name);
}

/** Speakers in order of first appearance, sorted. */
export function speakersOf(utterances: Utterance[]): string[] {
  return [...new Set(utterances.map((u) => u.speaker))].sort();
}

/**
 * Leave-one-speaker-out folds: each speaker is the test set once. When `devSpeakers` > 0, that
 * many further speakers (the next ones in sorted order, cyclically) form the fold's dev set
 * for model selection; the rest train.
 */
export function leaveOneSpeakerOut(utterances: Utterance[], devSpeakers = 0): Fold[] {
  const speakers = speakersOf(utterances);
  if (speakers.length < 2 + devSpeakers) {
    throw new Error(
      `leave-one-speaker-out needs at least ${
        2 + devSpeakers
      } speakers, corpus has ${speakers.length}`,
    );
  }
  return speakers.map((held, k) => {
    const dev = new Set(
      Array.from({ length: devSpeakers }, (_, j) => speakers[(k + 1 + j) % speakers.length]),
    );
    return {
      name: held,
      test: utterances.filter((u) => u.speaker === held),
      dev: utterances.filter((u) => dev.has(u.speaker)),
      train: utterances.filter((u) => u.speaker !== held && !dev.has(u.speaker)),
    };
  });
}

/** The fixed split as a single fold (train / dev / test partitions). */
export function fixedSplit(utterances: Utterance[]): Fold {
  return {
    name: "split",
    train: partition(utterances, "train"),
    dev: partition(utterances, "dev"),
    test: partition(utterances, "test"),
  };
}
