/**
 * Any other corpus, described by a manifest CSV:
 *
 * ```csv
 * path,speaker,partition,emotion,arousal[low|mid|high]
 * audio/a.wav,spk1,train,happy,high
 * audio/b.wav,spk2,test,sad,
 * ```
 *
 * Required columns: `path` (relative to the manifest's folder, or absolute) and `speaker`;
 * optional `partition`; every other column is a task. A header `name[c1|c2|…]` fixes the class
 * order, otherwise classes are sorted. An empty cell means no label for that task.
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { Corpus, SkippedItem, TaskSpec, Utterance } from "./types.ts";

/**
 * Parses CSV text (RFC 4180: quoted fields, doubled quotes, CRLF) into rows of cells.
 * Blank lines are dropped.
 */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += c;
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      if (row.length > 1 || row[0] !== "") rows.push(row);
      row = [];
      cell = "";
    } else cell += c;
  }
  row.push(cell);
  if (row.length > 1 || row[0] !== "") rows.push(row);
  return rows;
}

const RESERVED = new Set(["path", "speaker", "partition", "id"]);

/** Options of {@link loadManifest}. */
export interface ManifestOptions {
  /** Only these task columns (default: every non-reserved column). */
  tasks?: string[];
  /** Corpus name to report (default `manifest`). */
  name?: string;
}

/**
 * Loads a corpus from a manifest CSV. Missing files are reported and skipped (the audio check
 * happens later, in `validateAudio`); a missing required column is an error naming the file.
 */
export async function loadManifest(file: string, options: ManifestOptions = {}): Promise<Corpus> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new Error(`manifest ${file}: cannot read (${(e as Error).message})`);
  }
  const rows = parseCsv(text.replace(/^\uFEFF/, ""));
  if (rows.length === 0) throw new Error(`manifest ${file}: empty file`);
  const header = rows[0].map((h) => h.trim());
  const col = (name: string) => header.indexOf(name);
  for (const required of ["path", "speaker"]) {
    if (col(required) < 0) {
      throw new Error(
        `manifest ${file}: missing required column '${required}' (header: ${header.join(",")})`,
      );
    }
  }
  const taskColumns: { index: number; name: string; fixed?: string[] }[] = [];
  header.forEach((h, index) => {
    const m = /^([^[\]]+)(?:\[(.*)\])?$/.exec(h);
    if (!m || RESERVED.has(m[1])) return;
    taskColumns.push({ index, name: m[1], fixed: m[2]?.split("|").map((c) => c.trim()) });
  });
  const wanted = options.tasks ?? taskColumns.map((t) => t.name);
  for (const t of wanted) {
    if (!taskColumns.some((c) => c.name === t)) {
      throw new Error(
        `manifest ${file}: no column for task '${t}' (task columns: ${
          taskColumns.map((c) => c.name).join(", ") || "none"
        })`,
      );
    }
  }
  const used = taskColumns.filter((c) => wanted.includes(c.name));
  const base = dirname(resolve(file));
  const skipped: SkippedItem[] = [];
  const body = rows.slice(1).map((r, i) => ({ cells: r.map((c) => c.trim()), line: i + 2 }));
  const tasks: TaskSpec[] = used.map((c) => {
    const values = new Set(body.map((r) => r.cells[c.index] ?? "").filter((v) => v !== ""));
    return { name: c.name, classes: c.fixed ?? [...values].sort() };
  });
  const utterances: Utterance[] = [];
  const ids = new Set<string>();
  for (const { cells, line } of body) {
    const where = `${file}:${line}`;
    if (cells.length !== header.length) {
      skipped.push({ file: where, reason: `${cells.length} cells, header has ${header.length}` });
      continue;
    }
    const rel = cells[col("path")];
    const speaker = cells[col("speaker")];
    if (!rel || !speaker) {
      skipped.push({ file: where, reason: "empty path or speaker" });
      continue;
    }
    const path = isAbsolute(rel) ? rel : join(base, rel);
    const id = col("id") >= 0 && cells[col("id")] ? cells[col("id")] : rel.replace(/\.[^./]+$/, "");
    if (ids.has(id)) {
      skipped.push({ file: where, reason: `duplicate utterance id ${id}` });
      continue;
    }
    const labels: Record<string, number> = {};
    let bad = "";
    used.forEach((c, k) => {
      const v = cells[c.index];
      if (v === "") return;
      const idx = tasks[k].classes.indexOf(v);
      if (idx < 0) {
        bad = `value '${v}' of task ${c.name} is not one of ${tasks[k].classes.join("|")}`;
      } else labels[c.name] = idx;
    });
    if (bad) {
      skipped.push({ file: where, reason: bad });
      continue;
    }
    const partition = col("partition") >= 0 ? cells[col("partition")] || undefined : undefined;
    ids.add(id);
    utterances.push({ id, path, speaker, partition, labels });
  }
  return { name: options.name ?? "manifest", root: base, tasks, utterances, skipped };
}
