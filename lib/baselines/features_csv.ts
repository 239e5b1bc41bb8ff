/**
 * Utterance-level feature tables as CSV: one row per utterance, the first column its id (or
 * file name), then one numeric column per feature. This reads openSMILE's functionals CSV
 * (`file,<88 names>`, file names like `03a01Fa.wav`) and writes/reads our own feature caches
 * in the same layout.
 *
 * @module
 */
import { writeFileAtomic } from "../util/atomic.ts";
import { csvCell, parseCsvRows } from "../util/csv.ts";

/** A feature table: feature names and one vector per utterance id. */
export interface FeatureTable {
  /** Feature (column) names, without the id column. */
  names: string[];
  /** Feature vector per utterance id, in file order. */
  features: Map<string, Float64Array>;
}

/** Turns a file-name cell (`wav/03a01Fa.wav`) into an utterance id (`03a01Fa`). */
export function idFromFileName(cell: string): string {
  const base = cell.replace(/^.*[\\/]/, "");
  return base.replace(/\.wav$/i, "");
}

/**
 * Parses a feature CSV. `source` names the file in error messages. Ids are taken from the
 * first column with any folder and `.wav` extension removed. Every value must be a finite
 * number; a duplicated id, a short row or a non-number is an error naming the line.
 */
export function parseFeatureCsv(text: string, source: string): FeatureTable {
  // One RFC 4180 reader for every CSV: names with commas or quotes (as the egemaps CLI writes
  // them) read back as written, and line numbers stay right across quoted line breaks.
  const rows = parseCsvRows(text.replace(/^\uFEFF/, ""), source);
  if (rows.length === 0) throw new Error(`${source}: empty feature CSV`);
  const header = rows[0].cells;
  if (header.length < 2) {
    throw new Error(`${source}: header has ${header.length} column(s); expected id + features`);
  }
  const names = header.slice(1).map((s) => s.trim());
  const features = new Map<string, Float64Array>();
  for (const { cells, line } of rows.slice(1)) {
    if (cells.length !== header.length) {
      throw new Error(
        `${source}:${line}: ${cells.length} columns, the header has ${header.length}`,
      );
    }
    const id = idFromFileName(cells[0].trim().replace(/^'(.*)'$/, "$1"));
    if (id === "") throw new Error(`${source}:${line}: empty id`);
    if (features.has(id)) throw new Error(`${source}:${line}: duplicate id "${id}"`);
    const v = new Float64Array(names.length);
    for (let j = 0; j < names.length; j++) {
      const cell = cells[j + 1].trim();
      const x = cell === "" ? NaN : Number(cell);
      if (!Number.isFinite(x)) {
        throw new Error(`${source}:${line}: column "${names[j]}" is "${cell}", not a number`);
      }
      v[j] = x;
    }
    features.set(id, v);
  }
  return { names, features };
}

/** Reads and parses a feature CSV file (see {@link parseFeatureCsv}). */
export async function readFeatureCsv(path: string): Promise<FeatureTable> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read feature CSV: ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  }
  return parseFeatureCsv(text, path);
}

/**
 * Formats a feature table as CSV (`id,<names>`). Numbers are written with JavaScript's
 * shortest round-trip formatting, so reading the file back gives the identical doubles.
 */
export function formatFeatureCsv(table: FeatureTable): string {
  const out = [["id", ...table.names].map(csvCell).join(",")];
  for (const [id, v] of table.features) {
    if (v.length !== table.names.length) {
      throw new Error(
        `formatFeatureCsv: "${id}" has ${v.length} values for ${table.names.length} names`,
      );
    }
    out.push(csvCell(id) + "," + Array.from(v, (x) => String(x)).join(","));
  }
  return out.join("\n") + "\n";
}

/** Writes a feature table as CSV, creating the parent folder; atomically via a temp file. */
export async function writeFeatureCsv(path: string, table: FeatureTable): Promise<void> {
  await writeFileAtomic(path, formatFeatureCsv(table));
}
