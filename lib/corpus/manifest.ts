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
 * optional `partition` and `id`; every other column is a task. A header `name[c1|c2|…]` fixes the
 * class order, otherwise the classes are the values of the accepted rows, sorted. An empty cell
 * means no label for that task. Without an `id` column the utterance id is the audio path relative
 * to the manifest's folder, normalised and without its extension (`./audio//a.wav` → `audio/a`),
 * so that the spelling of a path never changes an id.
 *
 * Paths are resolved against the folder of the manifest's real file: a manifest reached through a
 * symbolic link (`data/train.csv -> /corpora/x/manifest.csv`) reads its audio relative to
 * `/corpora/x/`, where the file was written, not relative to the link's folder; a note says so.
 *
 * What is checked on load. An error stops the load and names the manifest (and the line where one
 * applies), because what follows cannot be trusted; a skipped row is reported in `skipped` as
 * `file:line` with the reason; anything accepted with a change is reported in `notes`.
 * - Text: valid UTF-8 and every quote closed (errors; an unclosed quote is named by the line it
 *   opened on, since it would otherwise swallow every following row).
 * - Header: `path` and `speaker` present; no duplicate column or task name; task headers well
 *   formed, with distinct non-empty fixed classes; the requested tasks present (errors). A column
 *   without a name is ignored, with a note.
 * - Rows: as many cells as the header; non-empty path and speaker; a partition of `train`, `dev`,
 *   `test` or one of the spellings of {@link PARTITION_SPELLINGS} (mapped, one note per distinct
 *   spelling), anything else skipped; label values among the fixed classes; the audio path
 *   exists and is a file once symbolic links are followed (missing files, dangling links and link
 *   loops skipped); no second row for the same audio file under another spelling or through
 *   another link, and no repeated utterance id (skipped, naming the first line). Rows without a
 *   partition are in no split; one note counts them.
 * - Every row of the file ends up either as an utterance or in `skipped`, never dropped.
 *
 * The audio itself is decoded later, by `validateAudio`.
 * @module
 */
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import type { Corpus, SkippedItem, TaskSpec, Utterance } from "./types.ts";

export { type CsvRow, parseCsv, parseCsvRows } from "../util/csv.ts";
import { countLineBreaks, parseCsvRows } from "../util/csv.ts";

/** A path once symbolic links are followed: what it is, or why it cannot be used. */
export type PathCheck =
  | {
    /** The path leads somewhere. */
    ok: true;
    /** It is a regular file (after following links). */
    isFile: boolean;
    /** It is a folder (after following links). */
    isDirectory: boolean;
    /** Its real path: absolute, every link resolved. */
    real: string;
    /** Identifies the file: device and inode where the platform has them, else the real path. */
    key: string;
    /** The path itself is a symbolic link. */
    link: boolean;
  }
  | {
    /** The path cannot be used. */
    ok: false;
    /** Why: file not found, dangling symbolic link, symbolic link loop, cannot read. */
    reason: string;
  };

/**
 * Follows the symbolic links of `path` and says what it leads to. Never throws: a missing file, a
 * dangling link and a link loop (the operating system stops after a bounded number of links, so a
 * loop cannot hang) come back as reasons for the caller to report. Shared by the corpus loaders.
 */
export async function checkPath(path: string): Promise<PathCheck> {
  let link: boolean;
  try {
    link = (await Deno.lstat(path)).isSymlink;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return { ok: false, reason: "file not found" };
    return { ok: false, reason: `cannot read (${(e as Error).message})` };
  }
  const target = async () => {
    try {
      return await Deno.readLink(path);
    } catch {
      return "?";
    }
  };
  try {
    const st = await Deno.stat(path);
    const real = await Deno.realPath(path);
    const key = st.ino !== null && st.dev !== null ? `${st.dev}:${st.ino}` : real;
    return { ok: true, isFile: st.isFile, isDirectory: st.isDirectory, real, key, link };
  } catch (e) {
    if (e instanceof Deno.errors.FilesystemLoop) {
      return { ok: false, reason: `symbolic link loop (${path} -> ${await target()} -> …)` };
    }
    if (e instanceof Deno.errors.NotFound && link) {
      return {
        ok: false,
        reason: `dangling symbolic link (${path} -> ${await target()}, which does not exist)`,
      };
    }
    if (e instanceof Deno.errors.NotFound) return { ok: false, reason: "file not found" };
    return { ok: false, reason: `cannot read (${(e as Error).message})` };
  }
}

/** The partition names the toolkit's splits use. */
export type PartitionName = "train" | "dev" | "test";

/**
 * Accepted spellings of a partition value (compared after trimming and lower-casing) and the
 * partition each means: ESPnet's `valid`, Kaldi's `dev`, common `validation`/`val`/`devel`/
 * `development`, and `training`/`testing`. Every mapping applied is reported in `notes`.
 * `eval`/`evaluation` are deliberately not mapped: in Kaldi/ESPnet recipes they name held-out
 * test sets, in Hugging Face and many training scripts the validation set, so guessing would put
 * rows into the wrong split; such rows are skipped with a reason asking for `dev` or `test`.
 */
export const PARTITION_SPELLINGS: Readonly<Record<string, PartitionName>> = {
  train: "train",
  training: "train",
  dev: "dev",
  devel: "dev",
  development: "dev",
  valid: "dev",
  validation: "dev",
  val: "dev",
  test: "test",
  testing: "test",
};

const AMBIGUOUS_PARTITIONS = new Set(["eval", "evaluation"]);

const RESERVED = new Set(["path", "speaker", "partition", "id"]);

/** Options of {@link loadManifest}. */
export interface ManifestOptions {
  /** Only these task columns (default: every non-reserved column). */
  tasks?: string[];
  /** Corpus name to report (default `manifest`). */
  name?: string;
}

/** Runs `f` over `items` with at most `limit` calls in flight, keeping the order of results. */
async function mapLimited<T, R>(items: T[], limit: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const k = next++;
      out[k] = await f(items[k]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Decodes UTF-8 strictly; on failure names the first line with an invalid byte sequence. */
function decodeUtf8(bytes: Uint8Array, where: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    // A lenient decode marks the first invalid sequence with U+FFFD, which gives its line
    // (approximately, should the file also contain a genuine U+FFFD before it).
    const lenient = new TextDecoder("utf-8").decode(bytes);
    const at = lenient.indexOf("\uFFFD");
    const line = countLineBreaks(lenient.slice(0, Math.max(at, 0))) + 1;
    throw new Error(
      `${where}:${line}: not valid UTF-8 text (save the manifest as UTF-8; a lenient decode ` +
        `would merge distinct names such as speakers)`,
    );
  }
}

/**
 * Loads a corpus from a manifest CSV; the module documentation lists what is checked. The
 * manifest's real path is resolved first and audio paths are resolved against its folder, so a
 * manifest given through a symbolic link reads the audio next to the file it points to.
 * @throws an Error naming the manifest (and line) for an unreadable or non-UTF-8 file, an
 *   unclosed quote, a bad header or a requested task without a column
 */
export async function loadManifest(file: string, options: ManifestOptions = {}): Promise<Corpus> {
  const where = `manifest ${file}`;
  const self = await checkPath(file);
  if (!self.ok) throw new Error(`${where}: cannot read (${self.reason})`);
  if (!self.isFile) throw new Error(`${where}: not a file`);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(self.real);
  } catch (e) {
    throw new Error(`${where}: cannot read (${(e as Error).message})`);
  }
  const notes: SkippedItem[] = [];
  const base = dirname(self.real);
  // Also when only a folder above it is a link: the audio is looked up next to the real file.
  if (self.link || self.real !== resolve(file)) {
    notes.push({
      file,
      reason: `the manifest is ${self.real} (reached through a symbolic link); audio paths are ` +
        `resolved against ${base}`,
    });
  }
  const rows = parseCsvRows(decodeUtf8(bytes, where).replace(/^\uFEFF/, ""), where);
  if (rows.length === 0) throw new Error(`${where}: empty file`);
  const header = rows[0].cells.map((h) => h.trim());
  const headerLine = rows[0].line;
  const firstColumn = new Map<string, number>();
  header.forEach((h, k) => {
    if (h === "") return;
    const before = firstColumn.get(h);
    if (before !== undefined) {
      throw new Error(
        `${where}:${headerLine}: duplicate column '${h}' (columns ${before + 1} and ${k + 1})`,
      );
    }
    firstColumn.set(h, k);
  });
  const col = (name: string) => firstColumn.get(name) ?? -1;
  for (const required of ["path", "speaker"]) {
    if (col(required) < 0) {
      throw new Error(
        `${where}: missing required column '${required}' (header: ${header.join(",")})`,
      );
    }
  }
  const taskColumns: { index: number; name: string; fixed?: string[] }[] = [];
  header.forEach((h, index) => {
    if (h === "") {
      notes.push({
        file: `${file}:${headerLine}`,
        reason: `column ${index + 1} has no name; its cells are ignored`,
      });
      return;
    }
    if (RESERVED.has(h)) return;
    const m = /^([^[\]]+)(?:\[(.*)\])?$/.exec(h);
    if (!m) {
      throw new Error(
        `${where}:${headerLine}: column '${h}' is not a task header (expected name or ` +
          `name[class1|class2|…])`,
      );
    }
    const name = m[1].trim();
    if (RESERVED.has(name)) {
      throw new Error(`${where}:${headerLine}: column '${h}': '${name}' takes no class list`);
    }
    const twin = taskColumns.find((t) => t.name === name);
    if (twin) {
      throw new Error(
        `${where}:${headerLine}: duplicate task '${name}' (columns ${twin.index + 1} and ${
          index + 1
        })`,
      );
    }
    const fixed = m[2]?.split("|").map((c) => c.trim());
    if (fixed && (fixed.some((c) => c === "") || new Set(fixed).size !== fixed.length)) {
      throw new Error(
        `${where}:${headerLine}: column '${h}': the class list has an empty or repeated class`,
      );
    }
    taskColumns.push({ index, name, fixed });
  });
  const wanted = options.tasks ?? taskColumns.map((t) => t.name);
  for (const t of wanted) {
    if (!taskColumns.some((c) => c.name === t)) {
      throw new Error(
        `${where}: no column for task '${t}' (task columns: ${
          taskColumns.map((c) => c.name).join(", ") || "none"
        })`,
      );
    }
  }
  const used = taskColumns.filter((c) => wanted.includes(c.name));
  const skipped: SkippedItem[] = [];
  const skip = (line: number, reason: string) => skipped.push({ file: `${file}:${line}`, reason });

  // Pass 1: the checks that need only the row itself.
  interface Candidate {
    cells: string[];
    line: number;
    path: string;
    speaker: string;
    partition?: PartitionName;
    /** The partition cell as written. */
    rawPartition: string;
  }
  const candidates: Candidate[] = [];
  for (const { cells: raw, line } of rows.slice(1)) {
    const cells = raw.map((c) => c.trim());
    if (cells.length !== header.length) {
      skip(line, `${cells.length} cells, header has ${header.length}`);
      continue;
    }
    const rel = cells[col("path")];
    const speaker = cells[col("speaker")];
    if (!rel || !speaker) {
      skip(line, "empty path or speaker");
      continue;
    }
    let partition: PartitionName | undefined;
    const rawPartition = col("partition") >= 0 ? cells[col("partition")] : "";
    if (rawPartition !== "") {
      const lower = rawPartition.toLowerCase();
      // hasOwn, so that a value such as `constructor` is not looked up on the prototype.
      if (!Object.hasOwn(PARTITION_SPELLINGS, lower)) {
        skip(
          line,
          AMBIGUOUS_PARTITIONS.has(lower)
            ? `partition '${rawPartition}' is ambiguous (a test set in Kaldi/ESPnet, the ` +
              `validation set elsewhere); write dev or test`
            : `unknown partition '${rawPartition}' (accepted, in any case: ${
              Object.keys(PARTITION_SPELLINGS).join(", ")
            })`,
        );
        continue;
      }
      partition = PARTITION_SPELLINGS[lower];
    }
    let bad = "";
    for (const c of used) {
      const v = cells[c.index];
      if (v !== "" && c.fixed && !c.fixed.includes(v)) {
        bad = `value '${v}' of task ${c.name} is not one of ${c.fixed.join("|")}`;
        break;
      }
    }
    if (bad) {
      skip(line, bad);
      continue;
    }
    candidates.push({ cells, line, path: resolve(base, rel), speaker, partition, rawPartition });
  }

  // Pass 2: the audio files, with links followed, and duplicates under any spelling or link.
  const checks = await mapLimited(candidates, 16, (c) => checkPath(c.path));
  const accepted: (Candidate & { id: string })[] = [];
  const byFile = new Map<string, Candidate>();
  const byId = new Map<string, number>();
  for (const [k, c] of candidates.entries()) {
    const check = checks[k];
    if (!check.ok) {
      skip(c.line, `audio ${c.path}: ${check.reason}`);
      continue;
    }
    if (!check.isFile) {
      skip(c.line, `audio ${c.path}: not a file`);
      continue;
    }
    const first = byFile.get(check.key);
    if (first) {
      const split = first.partition !== c.partition
        ? `; it would be in ${first.partition ?? "no partition"} at line ${first.line} and in ${
          c.partition ?? "no partition"
        } here`
        : "";
      skip(
        c.line,
        `duplicate audio: ${c.cells[col("path")]} is the same file as ` +
          `${first.cells[col("path")]} at line ${first.line} (${check.real})${split}`,
      );
      continue;
    }
    const given = col("id") >= 0 ? c.cells[col("id")] : "";
    const id = given || derivedId(base, c.path);
    const firstLine = byId.get(id);
    if (firstLine !== undefined) {
      skip(c.line, `duplicate utterance id ${id} (first at line ${firstLine})`);
      continue;
    }
    byFile.set(check.key, c);
    byId.set(id, c.line);
    accepted.push({ ...c, id });
  }

  // Pass 3: classes from the accepted rows only, so a skipped row cannot add a phantom class.
  const tasks: TaskSpec[] = used.map((c) => ({
    name: c.name,
    classes: c.fixed ??
      [...new Set(accepted.map((r) => r.cells[c.index]).filter((v) => v !== ""))].sort(),
  }));
  const utterances: Utterance[] = accepted.map((r) => {
    const labels: Record<string, number> = {};
    used.forEach((c, k) => {
      const v = r.cells[c.index];
      if (v !== "") labels[c.name] = tasks[k].classes.indexOf(v);
    });
    return { id: r.id, path: r.path, speaker: r.speaker, partition: r.partition, labels };
  });
  // Notes count the accepted rows only: a mapping applied to a skipped row changed nothing.
  const mappings = new Map<string, { to: PartitionName; count: number; first: number }>();
  const noPartition = { count: 0, first: 0 };
  for (const r of accepted) {
    if (r.partition === undefined && col("partition") >= 0) {
      if (noPartition.count++ === 0) noPartition.first = r.line;
    } else if (r.partition !== undefined && r.rawPartition !== r.partition) {
      const m = mappings.get(r.rawPartition) ?? { to: r.partition, count: 0, first: r.line };
      m.count++;
      mappings.set(r.rawPartition, m);
    }
  }
  for (const [from, m] of mappings) {
    notes.push({
      file: `${file}:${m.first}`,
      reason: `partition '${from}' read as '${m.to}' (${m.count} row${
        m.count === 1 ? "" : "s"
      }, first at line ${m.first})`,
    });
  }
  if (noPartition.count > 0) {
    notes.push({
      file: `${file}:${noPartition.first}`,
      reason: `${noPartition.count} row${
        noPartition.count === 1 ? " has" : "s have"
      } an empty partition (first at line ${noPartition.first}); they are in no split`,
    });
  }
  return { name: options.name ?? "manifest", root: base, tasks, utterances, skipped, notes };
}

/**
 * The id of an utterance without an `id` cell: its normalised path relative to the manifest's
 * folder (the absolute path for audio outside it), `/`-separated, without the extension.
 */
function derivedId(base: string, path: string): string {
  const rel = relative(base, path);
  const outside = rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel);
  const stable = outside ? path : rel;
  return stable.split(sep).join("/").replace(/\.[^./]+$/, "");
}
