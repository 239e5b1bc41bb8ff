/**
 * Native eGeMAPSv02 feature extraction.
 *
 *   deno task egemaps <wav files or folders…> --out features.csv [--lld-dir DIR] [--strict]
 *
 * Writes one CSV row per file (`file,<88 openSMILE functional names>`) and, with --lld-dir,
 * one `<dir>/<name>.csv` per file with `file,frameTime,<25 LLD names>`. Folders are searched
 * recursively for .wav files. Unreadable or unsuitable files are reported on stderr (file and
 * reason) and skipped; with --strict the first bad file ends the run with exit code 1.
 * @module
 */
import { parseArgs } from "node:util";
import { readWav } from "../lib/audio/mod.ts";
import {
  EGEMAPS_FUNCTIONAL_NAMES,
  EGEMAPS_LLD_NAMES,
  extractEgemaps,
} from "../lib/features/egemaps/mod.ts";

const USAGE =
  "usage: deno task egemaps <wav files or folders…> --out features.csv [--lld-dir DIR] [--strict]";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    out: { type: "string", short: "o" },
    "lld-dir": { type: "string" },
    strict: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (!values.out || positionals.length === 0) {
  console.error(USAGE);
  Deno.exit(2);
}

/** Collects .wav files from the arguments (folders recursively, sorted). */
async function collect(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  const walk = async (dir: string) => {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(dir)) entries.push(e);
    entries.sort((a, b) => a.name.localeCompare(b.name));
    for (const e of entries) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile && e.name.toLowerCase().endsWith(".wav")) files.push(p);
    }
  };
  for (const p of paths) {
    let info: Deno.FileInfo | null = null;
    try {
      info = await Deno.stat(p);
    } catch {
      // left to the per-file loop, which reports it like any other bad file
    }
    if (info?.isDirectory) await walk(p.replace(/\/+$/, ""));
    else files.push(p);
  }
  return files;
}

const baseName = (p: string) => p.split(/[\\/]/).pop()!;
// 7 significant digits: the precision of the float32 values openSMILE writes
const num = (v: number) => (Number.isFinite(v) ? String(Number(v.toPrecision(7))) : "0");

let files: string[];
try {
  files = await collect(positionals);
} catch (err) {
  console.error((err as Error).message);
  Deno.exit(1);
}
if (files.length === 0) {
  console.error("no .wav files found in the given paths");
  Deno.exit(1);
}
const lldDir = values["lld-dir"];
if (lldDir) await Deno.mkdir(lldDir, { recursive: true });

const rows: string[] = [["file", ...EGEMAPS_FUNCTIONAL_NAMES].join(",")];
let bad = 0;
let extractMs = 0;
const t0 = performance.now();
for (const path of files) {
  const name = baseName(path);
  try {
    const audio = await readWav(path, { minSamples: 0 });
    const t = performance.now();
    const res = extractEgemaps(audio.samples, audio.sampleRate);
    extractMs += performance.now() - t;
    rows.push([name, ...Array.from(res.functionals.values, num)].join(","));
    if (lldDir) {
      const lines = [["file", "frameTime", ...EGEMAPS_LLD_NAMES].join(",")];
      res.lld.values.forEach((row, i) => {
        lines.push([name, res.lld.frameTimes[i].toFixed(6), ...Array.from(row, num)].join(","));
      });
      await Deno.writeTextFile(
        `${lldDir}/${name.replace(/\.wav$/i, "")}.csv`,
        lines.join("\n") + "\n",
      );
    }
  } catch (err) {
    bad++;
    const msg = (err as Error).message;
    const reason = msg.startsWith(path) ? msg.slice(path.length + 2) : msg;
    if (values.strict) {
      console.error(`${path}: ${reason} (--strict: stopping)`);
      Deno.exit(1);
    }
    console.error(`${path}: skipped: ${reason}`);
  }
}
await Deno.writeTextFile(values.out, rows.join("\n") + "\n");
const total = performance.now() - t0;
const ok = files.length - bad;
console.error(
  `${ok} file(s) → ${values.out}${bad ? ` (${bad} skipped)` : ""}; ` +
    `${(total / 1000).toFixed(2)} s elapsed, ${(total / Math.max(ok, 1)).toFixed(1)} ms/file ` +
    `(feature extraction alone ${(extractMs / Math.max(ok, 1)).toFixed(1)} ms/file)`,
);
