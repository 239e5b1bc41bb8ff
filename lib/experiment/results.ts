/**
 * The results of a `reproduce` run (results.json) and their rendering as Table 1
 * (table.md, table.csv), with the paper's published numbers beside ours for IEMOCAP.
 * @module
 */
import { REFERENCE_SYSTEM, SYSTEM_INFO, type SystemName } from "./config.ts";

/** Scores of one system on one task and one partition. */
export interface PartitionScore {
  /** UAR as a fraction (mean over seeds). */
  uar: number;
  /** Standard deviation of the UAR over seeds (0 with one seed). */
  uar_sd: number;
  /** UAR of each seed. */
  uar_per_seed: number[];
  /** Scored utterances. */
  n: number;
  /** Recall per class (first seed). */
  recall: Record<string, number>;
  /** Confusion matrix `[true][predicted]` (first seed). */
  confusion: number[][];
}

/** Test scores plus the comparison against e2e STL. */
export interface TestScore extends PartitionScore {
  /** One-tailed z-test p-value of this system > e2e STL (null for e2e STL itself or if absent). */
  p_vs_e2e_stl: number | null;
  /**
   * Paired bootstrap of UAR(this) − UAR(e2e STL) over the same test utterances; with seeds, of
   * the difference of the seed-mean UARs (every seed of both systems scored on each resample).
   */
  bootstrap_vs_e2e_stl: { difference: number; low: number; high: number; p: number } | null;
}

/** One fold's scores (mean over seeds), for protocols with several folds. */
export interface FoldScore {
  /** UAR on the fold's dev set (null where the system has no dev predictions, e.g. SVM LOSO). */
  dev_uar: number | null;
  /** UAR on the fold's test set. */
  test_uar: number;
  /** Scored test utterances of the fold. */
  n_test: number;
}

/** One system's scores on one task. */
export interface TaskScores {
  /** Development partition (under LOSO and session-cv: the folds' model-selection sets). */
  dev: PartitionScore;
  /** Test partition (under LOSO and session-cv: pooled held-out predictions of all folds). */
  test: TestScore;
  /** Per fold (LOSO, session-cv): fold name → its scores; absent under the fixed split. */
  folds?: Record<string, FoldScore>;
}

/** Contents of results.json. */
export interface ExperimentResults {
  /** Corpus name. */
  corpus: string;
  /** `split`, `loso` or `session-cv`. */
  protocol: string;
  /** tfjs backend the neural systems ran on. */
  backend: string;
  /** Number of seeds. */
  seeds: number;
  /** Task → class names. */
  tasks: Record<string, string[]>;
  /** System → task → scores. */
  systems: Partial<Record<SystemName, Record<string, TaskScores>>>;
}

/** Table 1 of Zhang, Wu & Schuller (2019): UAR in %, IEMOCAP, dev and test; ★ = p < .05. */
export const PAPER_TABLE1: Record<
  SystemName,
  Record<
    "arousal" | "valence" | "dominance",
    { dev: number; test: number; devStar?: boolean; testStar?: boolean }
  >
> = {
  "os-svm": {
    arousal: { dev: 52.1, test: 50.5 },
    valence: { dev: 50.5, test: 49.8 },
    dominance: { dev: 39.1, test: 48.7 },
  },
  "os-rnn": {
    arousal: { dev: 57.8, test: 53.1 },
    valence: { dev: 51.8, test: 51.0 },
    dominance: { dev: 56.4, test: 49.6 },
  },
  "e2e-stl": {
    arousal: { dev: 45.3, test: 45.1 },
    valence: { dev: 60.9, test: 60.1 },
    dominance: { dev: 50.9, test: 51.1 },
  },
  "e2e-stl-att": {
    arousal: { dev: 46.5, test: 45.4 },
    valence: { dev: 61.4, test: 60.7 },
    dominance: { dev: 51.4, test: 52.6 },
  },
  "e2e-mtl": {
    arousal: { dev: 46.2, test: 44.0 },
    valence: { dev: 64.6, test: 63.4 },
    dominance: { dev: 52.3, test: 53.9 },
  },
  "e2e-mtl-att": {
    arousal: { dev: 48.7, test: 48.5, devStar: true, testStar: true },
    valence: { dev: 66.2, test: 63.8, devStar: true, testStar: true },
    dominance: { dev: 53.4, test: 51.6 },
  },
};

const pct = (x: number) => (Number.isFinite(x) ? (100 * x).toFixed(1) : "–");

/**
 * OS+SVM has no random seed: its one fit gives every seed the same predictions, so an sd over
 * its seeds (0) would read as if seeds had been compared.
 */
const unseeded = (system: SystemName) => SYSTEM_INFO[system].input === "functionals";

function cell(score: PartitionScore | undefined, star: boolean, spread: boolean): string {
  if (!score) return "";
  const sd = spread && score.uar_per_seed.length > 1 ? ` ± ${pct(score.uar_sd)}` : "";
  return `${pct(score.uar)}${sd}${star ? " ★" : ""}`;
}

/** Whether a test score is significantly better than e2e STL (p < .05). */
function significant(s: TestScore | undefined): boolean {
  return s?.p_vs_e2e_stl !== null && s?.p_vs_e2e_stl !== undefined && s.p_vs_e2e_stl < 0.05;
}

/** Whether the paper's numbers go beside ours: IEMOCAP under its split or session-cv. */
function withPaper(results: ExperimentResults): boolean {
  return results.corpus === "iemocap" &&
    (results.protocol === "split" || results.protocol === "session-cv");
}

/** The folds of a multi-fold run's results, in order (empty under the fixed split). */
function foldNames(results: ExperimentResults): string[] {
  for (const byTask of Object.values(results.systems)) {
    for (const s of Object.values(byTask ?? {})) {
      // Sorted as numbers where they are: JS objects list integer-like keys ("10") before the
      // others ("03"), which put EMO-DB's speakers 10–16 before 03–09.
      if (s.folds) {
        return Object.keys(s.folds).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
      }
    }
  }
  return [];
}

/**
 * Test UAR per fold as Markdown (rows: system and task; columns: the folds, then pooled; for
 * IEMOCAP the paper's test UAR, from its 1–3 / 4 / 5 split, last). Empty without folds.
 */
export function foldTableMarkdown(results: ExperimentResults): string {
  const folds = foldNames(results);
  if (folds.length === 0) return "";
  const paper = withPaper(results);
  const header = ["method", "task", ...folds, "pooled", ...(paper ? ["paper (1–3/4/5)"] : [])];
  const lines = [
    `| ${header.join(" | ")} |`,
    `|${header.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`,
  ];
  for (
    const [system, byTask] of Object.entries(results.systems) as [
      SystemName,
      Record<string, TaskScores>,
    ][]
  ) {
    for (const [task, s] of Object.entries(byTask)) {
      const pub = paper
        ? (PAPER_TABLE1[system] as Record<string, { test: number }>)[task]
        : undefined;
      lines.push(
        `| ${
          [
            SYSTEM_INFO[system].label,
            task,
            ...folds.map((f) => (s.folds?.[f] ? pct(s.folds[f].test_uar) : "")),
            pct(s.test.uar),
            ...(paper ? [pub ? pub.test.toFixed(1) : ""] : []),
          ].join(" | ")
        } |`,
      );
    }
  }
  return lines.join("\n") + "\n";
}

/** Table 1's layout as rows of cells: header rows first. */
export function tableRows(results: ExperimentResults): string[][] {
  const tasks = Object.keys(results.tasks);
  const rows: string[][] = [];
  rows.push(["UAR [%]", ...tasks.flatMap((t) => [t, ""])]);
  rows.push(["methods", ...tasks.flatMap(() => ["dev", "test"])]);
  const paper = withPaper(results);
  for (
    const [system, byTask] of Object.entries(results.systems) as [
      SystemName,
      Record<string, TaskScores>,
    ][]
  ) {
    rows.push([
      SYSTEM_INFO[system].label,
      ...tasks.flatMap((t) => [
        cell(byTask[t]?.dev, false, !unseeded(system)),
        cell(byTask[t]?.test, significant(byTask[t]?.test), !unseeded(system)),
      ]),
    ]);
    if (paper) {
      const pub = PAPER_TABLE1[system] as Record<
        string,
        { dev: number; test: number; devStar?: boolean; testStar?: boolean }
      >;
      rows.push([
        `  (paper)`,
        ...tasks.flatMap((t) =>
          pub[t]
            ? [
              `${pub[t].dev.toFixed(1)}${pub[t].devStar ? " ★" : ""}`,
              `${pub[t].test.toFixed(1)}${pub[t].testStar ? " ★" : ""}`,
            ]
            : ["", ""]
        ),
      ]);
    }
  }
  return rows;
}

/** Table 1 as Markdown, with a legend. */
export function tableMarkdown(results: ExperimentResults): string {
  const rows = tableRows(results);
  const [top, second, ...body] = rows;
  const header = `| ${
    second.map((c, i) => (i === 0 ? "" : `${top[i] || top[i - 1]} ${c}`)).join(" | ")
  } |`;
  const sep = `|${second.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`;
  const lines = [
    header.replace("|  |", "| method |"),
    sep,
    ...body.map((r) => `| ${r.join(" | ")} |`),
  ];
  const seeds = results.seeds > 1
    ? ` Mean ± sd over ${results.seeds} seeds${
      Object.keys(results.systems).some((s) => unseeded(s as SystemName))
        ? " (OS+SVM has no random seed: one fit, the same for every seed, hence no sd)"
        : ""
    }.`
    : "";
  const protocol = results.protocol === "loso"
    ? "leave-one-speaker-out (test = pooled held-out predictions)"
    : results.protocol === "session-cv"
    ? "session cross-validation (each session the test set once, the session before it dev; " +
      "test = pooled held-out sessions)"
    : "fixed split";
  const folds = foldTableMarkdown(results);
  return [
    `UAR [%] on ${results.corpus}, ${protocol}, backend ${results.backend}.${seeds}`,
    "",
    ...lines,
    "",
    results.systems[REFERENCE_SYSTEM]
      ? "★: one-tailed z-test against e2e STL on the test partition, p < .05 (see docs/statistics.md)."
      : "No ★: e2e STL, the reference of the z-test, is not in this run.",
    ...(withPaper(results)
      ? [
        "(paper): Zhang, Wu & Schuller (ICASSP 2019), Table 1, where ★ marks p < .05 on dev and test" +
        (results.protocol === "session-cv"
          ? "; the paper used one split (train 1–3, dev 4, test 5), our fold Session5."
          : "."),
      ]
      : []),
    ...(folds
      ? [
        "",
        "Test UAR [%] per fold (mean over seeds) and pooled over folds:",
        "",
        folds.trimEnd(),
      ]
      : []),
  ].join("\n").trimEnd() + "\n";
}

/** Table 1 as CSV: one row per system and task with dev/test UAR, sd and p-value. */
export function tableCsv(results: ExperimentResults): string {
  const lines = [
    "system,task,dev_uar,dev_sd,test_uar,test_sd,n_test,p_vs_e2e_stl,significant,paper_dev,paper_test",
  ];
  for (
    const [system, byTask] of Object.entries(results.systems) as [
      SystemName,
      Record<string, TaskScores>,
    ][]
  ) {
    for (const [task, s] of Object.entries(byTask)) {
      const pub = results.corpus === "iemocap"
        ? (PAPER_TABLE1[system] as Record<string, { dev: number; test: number }>)[task]
        : undefined;
      lines.push([
        system,
        task,
        s.dev.uar.toFixed(4),
        s.dev.uar_sd.toFixed(4),
        s.test.uar.toFixed(4),
        s.test.uar_sd.toFixed(4),
        s.test.n,
        s.test.p_vs_e2e_stl === null ? "" : s.test.p_vs_e2e_stl.toFixed(4),
        significant(s.test) ? "yes" : "no",
        pub ? (pub.dev / 100).toFixed(3) : "",
        pub ? (pub.test / 100).toFixed(3) : "",
      ].join(","));
    }
  }
  return lines.join("\n") + "\n";
}

/** Table 1 as fixed-width text for the terminal. */
export function tableText(results: ExperimentResults): string {
  const rows = tableRows(results);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ")
  )
    .join("\n");
}
