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

/** The session of an utterance (`meta.session`, set by the IEMOCAP-layout loader), if any. */
export function sessionOf(u: Utterance): number | undefined {
  const s = u.meta?.session;
  return typeof s === "number" && Number.isInteger(s) ? s : undefined;
}

/**
 * IEMOCAP's speaker-independent cross-validation, one fold per session: each session is the
 * test set once; the session before it (cyclically, in sorted order) is the fold's dev set for
 * model selection, and the remaining sessions train. With IEMOCAP's five sessions every fold
 * trains on three sessions, and the fold that tests session 5 is exactly the paper's split
 * (train 1–3, dev 4, test 5). Fold names are `Session<N>` (the test session). Sessions hold
 * disjoint speakers (two each in IEMOCAP), so no speaker is in two sets of a fold.
 * @throws when an utterance has no session, or there are fewer than three sessions
 */
export function sessionFolds(utterances: Utterance[]): Fold[] {
  const missing = utterances.find((u) => sessionOf(u) === undefined);
  if (missing) {
    throw new Error(
      `session-cv needs the session of every utterance (IEMOCAP layout: corpus iemocap or ` +
        `example); ${missing.id} has none`,
    );
  }
  const sessions = [...new Set(utterances.map((u) => sessionOf(u)!))].sort((a, b) => a - b);
  if (sessions.length < 3) {
    throw new Error(
      `session-cv needs at least 3 sessions (test, dev, train), corpus has ${sessions.length}`,
    );
  }
  return sessions.map((held, k) => {
    const dev = sessions[(k + sessions.length - 1) % sessions.length];
    return {
      name: `Session${held}`,
      test: utterances.filter((u) => sessionOf(u) === held),
      dev: utterances.filter((u) => sessionOf(u) === dev),
      train: utterances.filter((u) => sessionOf(u) !== held && sessionOf(u) !== dev),
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
 * keeps everything. `groupOf` names the group `n` counts in (default: the partition; the
 * session-cv protocol counts per session, so that every fold's test set gets `n`).
 */
export function samplePerPartition(
  utterances: Utterance[],
  n: number,
  groupOf: (u: Utterance) => string = (u) => u.partition ?? "none",
): Utterance[] {
  if (n <= 0) return utterances;
  const byPartition = new Map<string, Utterance[]>();
  for (const u of [...utterances].sort((a, b) => (a.id < b.id ? -1 : 1))) {
    const p = groupOf(u);
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
