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

/**
 * Keeps at most `n` utterances per partition for smoke runs and quick looks: utterances sorted
 * by id, taken round-robin over speakers so a small subset still has several speakers. `n ≤ 0`
 * keeps everything.
 */
export function samplePerPartition(utterances: Utterance[], n: number): Utterance[] {
  if (n <= 0) return utterances;
  const byPartition = new Map<string, Utterance[]>();
  for (const u of [...utterances].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const p = u.partition ?? "none";
    const list = byPartition.get(p) ?? [];
    list.push(u);
    byPartition.set(p, list);
  }
  const out: Utterance[] = [];
  for (const list of byPartition.values()) {
    const bySpeaker = new Map<string, Utterance[]>();
    for (const u of list) bySpeaker.set(u.speaker, [...(bySpeaker.get(u.speaker) ?? []), u]);
    const queues = [...bySpeaker.values()];
    let taken = 0;
    for (let i = 0; taken < n && queues.some((q) => i < q.length); i++) {
      for (const q of queues) {
        if (taken < n && i < q.length) {
          out.push(q[i]);
          taken++;
        }
      }
    }
  }
  return out;
}
