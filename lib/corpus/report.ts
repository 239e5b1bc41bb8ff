/**
 * The load report of a corpus: utterances per partition and class, duration, skipped files.
 * @module
 */
import type { Corpus } from "./types.ts";

/** Counts of one partition. */
export interface PartitionReport {
  /** Utterances. */
  n: number;
  /** Total duration in seconds (after padding of very short files). */
  seconds: number;
  /** Utterances per class, per task. */
  classes: Record<string, Record<string, number>>;
}

/** The machine-readable load report (`deno task corpus --json`). */
export interface CorpusReport {
  /** Corpus name. */
  corpus: string;
  /** Usable utterances. */
  utterances: number;
  /** Per partition (`none` for utterances without one). */
  partitions: Record<string, PartitionReport>;
  /** Speakers per partition. */
  speakers: Record<string, string[]>;
  /** Files shorter than one 40 ms window that were zero-padded. */
  padded: number;
  /** Total seconds over all partitions. */
  seconds: number;
  /** Skipped files and lines with reasons. */
  skipped: { file: string; reason: string }[];
  /** Files and lines that were accepted with a change or repair, with what was done. */
  notes: { file: string; reason: string }[];
}

const SAMPLE_RATE = 16000;

/** Builds the load report of a corpus (durations need `validateAudio` to have run). */
export function corpusReport(corpus: Corpus): CorpusReport {
  const partitions: Record<string, PartitionReport> = {};
  const speakers: Record<string, Set<string>> = {};
  let padded = 0, seconds = 0;
  for (const u of corpus.utterances) {
    const p = u.partition ?? "none";
    const r = partitions[p] ??= {
      n: 0,
      seconds: 0,
      classes: Object.fromEntries(
        corpus.tasks.map((t) => [t.name, Object.fromEntries(t.classes.map((c) => [c, 0]))]),
      ),
    };
    r.n++;
    const s = (u.samples ?? 0) / SAMPLE_RATE;
    r.seconds += s;
    seconds += s;
    if (u.padded) padded++;
    (speakers[p] ??= new Set()).add(u.speaker);
    for (const t of corpus.tasks) {
      const k = u.labels[t.name];
      if (k !== undefined) r.classes[t.name][t.classes[k]]++;
    }
  }
  for (const r of Object.values(partitions)) r.seconds = Math.round(r.seconds * 1000) / 1000;
  return {
    corpus: corpus.name,
    utterances: corpus.utterances.length,
    partitions,
    speakers: Object.fromEntries(Object.entries(speakers).map(([p, s]) => [p, [...s].sort()])),
    padded,
    seconds: Math.round(seconds * 1000) / 1000,
    skipped: corpus.skipped,
    notes: corpus.notes ?? [],
  };
}

function hms(seconds: number): string {
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60);
  const s = (seconds % 60).toFixed(1);
  return h > 0 ? `${h} h ${m} min` : m > 0 ? `${m} min ${s} s` : `${s} s`;
}

/**
 * Renders the load report as text for the terminal.
 * @param maxSkipped skipped files and notes listed before the rest are only counted
 * @param moreHint where the full lists are, named on the "… and N more" lines (by default the
 *   `--json` option of the corpus task); e.g. the path of a written JSON report
 */
export function formatCorpusReport(
  report: CorpusReport,
  maxSkipped = 20,
  moreHint?: string,
): string {
  const out: string[] = [];
  out.push(
    `corpus ${report.corpus}: ${report.utterances} utterances, ${hms(report.seconds)}` +
      (report.padded ? `, ${report.padded} shorter than one window (zero-padded)` : ""),
  );
  const order = ["train", "dev", "test"];
  const names = Object.keys(report.partitions).sort((a, b) =>
    (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b)
  );
  for (const p of names) {
    const r = report.partitions[p];
    out.push(
      `  ${p.padEnd(6)} ${String(r.n).padStart(6)} utterances  ${
        hms(r.seconds).padStart(12)
      }  speakers: ${report.speakers[p].join(" ")}`,
    );
    for (const [task, counts] of Object.entries(r.classes)) {
      const cells = Object.entries(counts).map(([c, n]) => `${c} ${n}`).join(", ");
      out.push(`         ${task}: ${cells}`);
    }
  }
  if (report.skipped.length) {
    out.push(`skipped ${report.skipped.length}:`);
    for (const s of report.skipped.slice(0, maxSkipped)) out.push(`  ${s.file}: ${s.reason}`);
    if (report.skipped.length > maxSkipped) {
      out.push(`  … and ${report.skipped.length - maxSkipped} more (${moreHint ?? "see --json"})`);
    }
  } else out.push("skipped: none");
  if (report.notes.length) {
    out.push(`notes ${report.notes.length}:`);
    for (const s of report.notes.slice(0, maxSkipped)) out.push(`  ${s.file}: ${s.reason}`);
    if (report.notes.length > maxSkipped) {
      out.push(
        `  … and ${report.notes.length - maxSkipped} more (${
          moreHint ?? "see the JSON load report"
        })`,
      );
    }
  }
  return out.join("\n");
}
