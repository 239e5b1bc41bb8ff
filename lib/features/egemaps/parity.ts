/**
 * Comparison of native eGeMAPS output with openSMILE reference CSVs (functionals.csv and
 * lld/<name>.csv as written by SMILExtract -csvoutput / -lldcsvoutput).
 * @module
 */
import { EGEMAPS_FUNCTIONAL_NAMES, EGEMAPS_LLD_NAMES, extractEgemaps } from "./mod.ts";

/** Reference data of one file. */
export interface ReferenceFile {
  /** Wav file name (e.g. 03a01Fa.wav). */
  file: string;
  /** The 88 reference functionals. */
  functionals: Float64Array;
  /** Reference LLD rows (25 values each). */
  lld: Float64Array[];
}

/** Per-feature agreement. */
export interface FeatureParity {
  /** Feature name. */
  name: string;
  /** Pearson correlation (NaN when a side is constant). */
  r: number;
  /** Median of |ours − ref| / max(|ref|, ε). */
  medRelErr: number;
}

/** Result of {@link compareToReference}. */
export interface ParityReport {
  /** Number of files compared. */
  files: number;
  /** Files whose LLD frame count equals openSMILE's. */
  frameCountsEqual: number;
  /** Files whose LLD frame count is within ±1 of openSMILE's. */
  frameCountsWithin1: number;
  /** Per functional. */
  functionals: FeatureParity[];
  /** Per LLD (over all frames of all files). */
  lld: FeatureParity[];
}

function parseCsv(text: string): string[][] {
  const sep = text.includes(";") && !text.split("\n")[0].includes(",") ? ";" : ",";
  return text.trim().split(/\r?\n/).map((l) => l.split(sep));
}

/**
 * Reads the reference set.
 * @param dir folder with functionals.csv and lld/
 * @param limit use only the first `limit` files
 */
export async function readReference(dir: string, limit?: number): Promise<ReferenceFile[]> {
  const rows = parseCsv(await Deno.readTextFile(`${dir}/functionals.csv`));
  const header = rows[0];
  const idx = EGEMAPS_FUNCTIONAL_NAMES.map((n) => header.indexOf(n));
  const missing = EGEMAPS_FUNCTIONAL_NAMES.filter((_, i) => idx[i] < 0);
  if (missing.length) {
    throw new Error(`${dir}/functionals.csv lacks columns: ${missing.join(", ")}`);
  }
  const out: ReferenceFile[] = [];
  for (const row of rows.slice(1, limit !== undefined ? limit + 1 : undefined)) {
    const file = row[0].replace(/^'|'$/g, "");
    const functionals = Float64Array.from(idx, (i) => Number(row[i]));
    const name = file.replace(/\.wav$/, "");
    const l = parseCsv(await Deno.readTextFile(`${dir}/lld/${name}.csv`));
    const lh = l[0];
    const li = EGEMAPS_LLD_NAMES.map((n) => lh.indexOf(n));
    if (li.some((i) => i < 0)) throw new Error(`${dir}/lld/${name}.csv lacks LLD columns`);
    const lld = l.slice(1).map((r) => Float64Array.from(li, (i) => Number(r[i])));
    out.push({ file, functionals, lld });
  }
  return out;
}

/** Pearson correlation of two equal-length series. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma;
    const db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return sab / Math.sqrt(saa * sbb);
}

function median(v: number[]): number {
  if (v.length === 0) return NaN;
  const s = [...v].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const relErr = (ours: number, ref: number) => Math.abs(ours - ref) / Math.max(Math.abs(ref), 1e-9);

/**
 * Runs the extractor on every reference file and compares.
 * @param ref reference data
 * @param load returns the 16 kHz samples of a reference file
 */
export async function compareToReference(
  ref: ReferenceFile[],
  load: (file: string) => Promise<Float32Array>,
): Promise<ParityReport> {
  const ours: Float64Array[] = [];
  const lldOurs: number[][] = EGEMAPS_LLD_NAMES.map(() => []);
  const lldRef: number[][] = EGEMAPS_LLD_NAMES.map(() => []);
  let eq = 0;
  let within = 0;
  for (const r of ref) {
    const res = extractEgemaps(await load(r.file), 16000);
    ours.push(res.functionals.values);
    const n = Math.min(res.lld.values.length, r.lld.length);
    if (res.lld.values.length === r.lld.length) eq++;
    if (Math.abs(res.lld.values.length - r.lld.length) <= 1) within++;
    for (let t = 0; t < n; t++) {
      for (let j = 0; j < 25; j++) {
        lldOurs[j].push(res.lld.values[t][j]);
        lldRef[j].push(r.lld[t][j]);
      }
    }
  }
  const functionals = EGEMAPS_FUNCTIONAL_NAMES.map((name, j) => {
    const a = ours.map((v) => v[j]);
    const b = ref.map((v) => v.functionals[j]);
    return { name, r: pearson(a, b), medRelErr: median(a.map((x, i) => relErr(x, b[i]))) };
  });
  const lld = EGEMAPS_LLD_NAMES.map((name, j) => ({
    name,
    r: pearson(lldOurs[j], lldRef[j]),
    medRelErr: median(lldOurs[j].map((x, i) => relErr(x, lldRef[j][i]))),
  }));
  return { files: ref.length, frameCountsEqual: eq, frameCountsWithin1: within, functionals, lld };
}
