/**
 * Native eGeMAPSv02 feature extraction.
 *
 *   deno task egemaps <wav files or folders…> --out features.csv [--lld-dir DIR] [--strict]
 *
 * Writes one CSV row per file (`file,<88 openSMILE functional names>`) and, with --lld-dir,
 * one CSV per file with `file,frameTime,<25 LLD names>`. `--help` states the rules: how folders
 * are walked (symbolic links followed, loops reported), how rows and LLD files are named, the
 * zero-padding of short audio (the same as `deno task reproduce`) and the exit codes.
 * @module
 */
import { basename, dirname, join, normalize, resolve } from "node:path";
import { parseCommandLine } from "../lib/util/cli.ts";
import { csvCell } from "../lib/util/csv.ts";
import { AudioFileError, MIN_SAMPLES, readWav, TARGET_SAMPLE_RATE } from "../lib/audio/mod.ts";
import {
  EGEMAPS_FUNCTIONAL_NAMES,
  EGEMAPS_LLD_NAMES,
  EgemapsPool,
} from "../lib/features/egemaps/mod.ts";
import { writeFileAtomic } from "../lib/util/atomic.ts";

const USAGE =
  "usage: deno task egemaps <wav files or folders…> --out features.csv [--lld-dir DIR] [--strict]\n" +
  "       [--workers N]";

const WINDOW_MS = (1000 * MIN_SAMPLES) / TARGET_SAMPLE_RATE;

const HELP = `${USAGE}

Native eGeMAPSv02: one CSV row per file (file,<88 openSMILE functional names>) in --out and,
with --lld-dir, one CSV per file (file,frameTime,<25 LLD names>).

Inputs      Folders are searched recursively for *.wav (any case). Symbolic links to files and
            folders are followed; a link that leads back into a folder being walked (a loop) is
            reported on stderr and not followed. A file or folder reached twice (through links
            or overlapping arguments) is used once, with a note on stderr.
Row names   A file found in a folder: its path relative to that folder (sub/a.wav). A file given
            directly: its path as given (normalised: ./ and doubled / removed). Names with a
            comma, double quote or line break are quoted as RFC 4180 says. Two different files
            with the same row name are refused before any extraction.
LLD files   <DIR>/<row name without .wav>.csv, mirroring the folders (a leading / is dropped and
            a .. folder becomes _up). A clash, also one that differs only in letter case, is
            refused before any extraction.
Short audio Audio is read as ${TARGET_SAMPLE_RATE} Hz mono. Audio shorter than one ${WINDOW_MS} ms window (${MIN_SAMPLES}
            samples) is zero-padded to one window, as \`deno task reproduce\` does, so both give
            the same features; each padded file is noted on stderr and counted in the summary.
Output      --out and --lld-dir are created and checked for writability before any extraction.
            Files are written atomically (temp file + rename): a failed run leaves an existing
            --out as it was.

Options
  -o, --out FILE   functionals CSV (required)
  --lld-dir DIR    also write the LLD contours, one CSV per file
  --strict         stop at the first bad file with exit code 1 and write no CSV (LLD files of
                   the files before it may already be written)
  --workers N      files extracted at once, one core each (default: every core,
                   navigator.hardwareConcurrency); output and messages keep the input order
                   and the features are the same for any N
  -h, --help       this text

Exit codes
  0  every file extracted, or some bad files skipped: each is listed on stderr with its reason
     and a warning gives the count; the CSV holds the good files
  1  no file could be extracted (nothing written), or --strict and a bad file, or clashing
     names, or --out / --lld-dir not writable
  2  wrong command line (unknown flag, missing --out or inputs)`;

/** An expected failure: printed as `egemaps: <message>` without a stack trace, exit code 1. */
class Fail extends Error {}

/** A .wav file to extract, with the names it is written under. */
interface Input {
  /** The path it is read from (as given, or the folder walk's path). */
  path: string;
  /** Row name in the CSV (and in the LLD CSV's `file` column). */
  name: string;
  /** Canonical path, to use a file reached twice (through links) once. */
  real: string;
}

/** A file that cannot be used, with the reason. */
interface BadFile {
  path: string;
  reason: string;
}

const isWavName = (name: string) => name.toLowerCase().endsWith(".wav");
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

// 7 significant digits: the precision of the float32 values openSMILE writes
const num = (v: number) => (Number.isFinite(v) ? String(Number(v.toPrecision(7))) : "0");

/** Why a symbolic link cannot be followed, in words. */
function linkReason(path: string, e: unknown): string {
  let target = "";
  try {
    target = ` → ${Deno.readLinkSync(path)}`;
  } catch { /* not a link, or unreadable: the error below says enough */ }
  if (e instanceof Deno.errors.FilesystemLoop) return `symbolic link loop${target}`;
  if (e instanceof Deno.errors.NotFound) return `broken symbolic link${target}`;
  return `cannot follow${target}: ${message(e)}`;
}

/**
 * Collects the .wav files named by the arguments: folders recursively in code-point order of
 * names (so the row order does not depend on the locale), following symbolic links.
 */
async function collect(args: string[]) {
  const inputs: Input[] = [];
  const bad: BadFile[] = [];
  const notes: string[] = [];
  const loops: string[] = [];
  const seenFiles = new Map<string, string>(); // real path → path it was first reached by
  const seenDirs = new Map<string, string>();

  const addFile = async (path: string, name: string) => {
    let real: string;
    try {
      real = await Deno.realPath(path);
    } catch (e) {
      bad.push({ path, reason: `cannot resolve path: ${message(e)}` });
      return;
    }
    const first = seenFiles.get(real);
    if (first !== undefined) {
      notes.push(`${path}: same file as ${first}; used once`);
      return;
    }
    seenFiles.set(real, path);
    inputs.push({ path, name, real });
  };

  // `ancestors` holds the real paths of the folders on the current walk path: meeting one of
  // them again is a loop. Every cycle of links revisits an ancestor, so the walk always ends.
  const walk = async (dir: string, rel: string, ancestors: Set<string>) => {
    const entries: Deno.DirEntry[] = [];
    try {
      for await (const e of Deno.readDir(dir)) entries.push(e);
    } catch (e) {
      bad.push({ path: dir, reason: `cannot list folder: ${message(e)}` });
      return;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      const name = rel === "" ? e.name : `${rel}/${e.name}`;
      let isDir = e.isDirectory;
      let isFile = e.isFile;
      if (e.isSymlink) {
        try {
          const st = await Deno.stat(path);
          isDir = st.isDirectory;
          isFile = st.isFile;
        } catch (err) {
          // A .wav name is meant as audio, so a dead link is a bad file; other names are noise.
          if (isWavName(e.name)) bad.push({ path, reason: linkReason(path, err) });
          else notes.push(`${path}: ${linkReason(path, err)}; ignored`);
          continue;
        }
      }
      if (isDir) {
        let real: string;
        try {
          real = await Deno.realPath(path);
        } catch (err) {
          bad.push({ path, reason: `cannot resolve folder: ${message(err)}` });
          continue;
        }
        if (ancestors.has(real)) {
          loops.push(`${path}: symbolic link loop (leads back to ${real}); not followed`);
          continue;
        }
        const first = seenDirs.get(real);
        if (first !== undefined) {
          notes.push(`${path}: same folder as ${first}; walked once`);
          continue;
        }
        seenDirs.set(real, path);
        ancestors.add(real);
        await walk(path, name, ancestors);
        ancestors.delete(real);
      } else if (isFile && isWavName(e.name)) {
        await addFile(path, name);
      }
    }
  };

  for (const arg of args) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(arg);
    } catch (e) {
      const reason = e instanceof Deno.errors.NotFound
        ? (await Deno.lstat(arg).then(() => linkReason(arg, e), () => "file not found"))
        : e instanceof Deno.errors.FilesystemLoop
        ? linkReason(arg, e)
        : message(e);
      bad.push({ path: arg, reason });
      continue;
    }
    if (info.isDirectory) {
      const real = await Deno.realPath(arg);
      const dir = arg.length > 1 ? arg.replace(/\/+$/, "") : arg;
      const first = seenDirs.get(real);
      if (first !== undefined) {
        notes.push(`${arg}: same folder as ${first}; walked once`);
        continue;
      }
      seenDirs.set(real, dir);
      await walk(dir, "", new Set([real]));
    } else {
      // Given directly, any name is accepted: readWav judges the content.
      await addFile(arg, normalize(arg));
    }
  }
  return { inputs, bad, notes, loops };
}

/** The LLD file of a row, relative to --lld-dir: the row name's folders, `.wav` → `.csv`. */
function lldRelPath(name: string): string {
  const parts = name.split("/").filter((p) => p !== "" && p !== ".").map((p) =>
    p === ".." ? "_up" : p
  );
  parts[parts.length - 1] = parts[parts.length - 1].replace(/\.wav$/i, "") + ".csv";
  return parts.join("/");
}

/** Refuses two inputs that would share a row name or an LLD file (or collide with --out). */
function checkClashes(inputs: Input[], out: string, lldDir: string | undefined): void {
  const clashes: string[] = [];
  const byName = new Map<string, Input>();
  for (const f of inputs) {
    const other = byName.get(f.name);
    if (other) clashes.push(`row name "${f.name}" for both ${other.path} and ${f.path}`);
    else byName.set(f.name, f);
  }
  const outAbs = resolve(out);
  for (const f of inputs) {
    if (f.real === outAbs) clashes.push(`--out ${out} is the input file ${f.path}`);
  }
  if (lldDir !== undefined) {
    // Case-folded, because on a case-insensitive file system A.csv would overwrite a.csv.
    const files = new Map<string, Input>();
    const dirs = new Map<string, Input>();
    for (const f of inputs) {
      const rel = lldRelPath(f.name);
      const key = rel.toLowerCase();
      const other = files.get(key);
      if (other) {
        clashes.push(`LLD file ${join(lldDir, rel)} for both ${other.path} and ${f.path}`);
      } else files.set(key, f);
      if (resolve(lldDir, rel) === outAbs) {
        clashes.push(`LLD file of ${f.path} would overwrite --out ${out}`);
      }
      const parts = key.split("/");
      for (let i = 1; i < parts.length; i++) dirs.set(parts.slice(0, i).join("/"), f);
    }
    // A row `x.wav` and a folder `x.csv/` would need the same path as a file and as a folder.
    for (const [key, f] of files) {
      const other = dirs.get(key);
      if (other) {
        clashes.push(`LLD file ${join(lldDir, key)} of ${f.path} is a folder for ${other.path}`);
      }
    }
  }
  if (clashes.length > 0) {
    throw new Fail(
      `refusing to run, outputs would collide (nothing extracted):\n  ${clashes.join("\n  ")}`,
    );
  }
}

/** Creates `dir` and proves a file can be created in it, so a bad path fails before the work. */
async function checkWritable(dir: string, what: string): Promise<void> {
  const probe = join(dir, `.egemaps-write-check-${Deno.pid}.tmp`);
  try {
    await Deno.mkdir(dir, { recursive: true });
    (await Deno.open(probe, { write: true, createNew: true })).close();
    await Deno.remove(probe);
  } catch (e) {
    // mkdir's "File exists" for a path under a regular file hides the cause: name that file.
    let p = dir;
    while (p !== dirname(p)) {
      const info = await Deno.stat(p).catch(() => null);
      if (info && !info.isDirectory) {
        throw new Fail(`cannot write ${what}: ${p} is a file, not a folder`);
      }
      if (info) break;
      p = dirname(p);
    }
    throw new Fail(`cannot write ${what}: ${message(e)}`);
  }
}

async function checkOutputs(out: string, lldDir: string | undefined): Promise<void> {
  const info = await Deno.stat(out).catch(() => null);
  if (info?.isDirectory) throw new Fail(`cannot write --out ${out}: it is a folder`);
  await checkWritable(dirname(out), `--out ${out} (in ${dirname(out)})`);
  if (lldDir !== undefined) await checkWritable(lldDir, `--lld-dir ${lldDir}`);
}

const encoder = new TextEncoder();

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine({
    allowPositionals: true,
    options: {
      out: { type: "string", short: "o" },
      "lld-dir": { type: "string" },
      strict: { type: "boolean", default: false },
      workers: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, `${USAGE}\n(--help for the rules and exit codes)`);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.out || positionals.length === 0) {
    console.error(
      `egemaps: ${!values.out ? "--out is required" : "no input files or folders"}\n${USAGE}\n` +
        "(--help for the rules and exit codes)",
    );
    return 2;
  }
  const out = values.out;
  const lldDir = values["lld-dir"];
  const workers = values.workers === undefined
    ? navigator.hardwareConcurrency || 1
    : Number(values.workers);
  if (!(Number.isInteger(workers) && workers >= 1)) {
    console.error(`egemaps: --workers must be a positive integer, got '${values.workers}'`);
    return 2;
  }

  await checkOutputs(out, lldDir);
  const { inputs, bad, notes, loops } = await collect(positionals);
  for (const n of notes) console.error(`note: ${n}`);
  for (const l of loops) console.error(`warning: ${l}`);
  for (const b of bad) console.error(`${b.path}: skipped: ${b.reason}`);
  if (values.strict && bad.length > 0) {
    throw new Fail(`--strict: ${bad.length} bad input(s) (listed above); nothing extracted`);
  }
  if (inputs.length === 0) {
    throw new Fail(
      bad.length > 0
        ? `none of the ${bad.length} input(s) can be used (listed above); nothing written`
        : "no .wav files found in the given paths; nothing written",
    );
  }
  checkClashes(inputs, out, lldDir);

  const rows: string[] = [["file", ...EGEMAPS_FUNCTIONAL_NAMES].join(",")];
  let padded = 0;
  let extractMs = 0;
  const t0 = performance.now();
  const pool = EgemapsPool.create(Math.min(workers, inputs.length));
  // Files are read and handed to the pool up to pool.inFlight ahead of the one being written,
  // and finished strictly in input order: the CSV, the notes and --strict's stopping point are
  // those of a one-file-at-a-time run.
  // readWav's default pads audio shorter than one window, exactly as the experiment's
  // corpusFeatures (lib/experiment/features.ts) reads it: one rule, the same features.
  const start = (path: string) => {
    const audio = readWav(path);
    const res = audio.then((a) => {
      const t = performance.now();
      return pool.extract(a.samples, a.sampleRate).then((r) => {
        if (pool.size === 1) extractMs += performance.now() - t;
        return r;
      });
    });
    // Rejections are handled when the file's turn comes; until then they must not count as
    // unhandled.
    res.catch(() => {});
    return { audio, res };
  };
  const ahead = pool.inFlight;
  const started: ReturnType<typeof start>[] = [];
  try {
    for (let i = 0; i < inputs.length; i++) {
      for (let j = started.length; j < Math.min(inputs.length, i + ahead); j++) {
        started.push(start(inputs[j].path));
      }
      const f = inputs[i];
      let res;
      try {
        const audio = await started[i].audio;
        for (const w of audio.warnings) console.error(`note: ${f.path}: ${w}`);
        if (audio.padded) {
          padded++;
          console.error(
            `note: ${f.path}: ${audio.originalLength} samples at ${audio.sampleRate} Hz, ` +
              `shorter than one ${WINDOW_MS} ms window; zero-padded to ${audio.samples.length}`,
          );
        }
        res = await started[i].res;
      } catch (err) {
        const reason = err instanceof AudioFileError ? err.reason : message(err);
        bad.push({ path: f.path, reason });
        if (values.strict) {
          console.error(`${f.path}: ${reason}`);
          throw new Fail(`--strict: stopping at ${f.path}; no CSV written`);
        }
        console.error(`${f.path}: skipped: ${reason}`);
        continue;
      }
      const name = csvCell(f.name);
      rows.push([name, ...Array.from(res.functionals.values, num)].join(","));
      if (lldDir !== undefined) {
        const lines = [["file", "frameTime", ...EGEMAPS_LLD_NAMES].join(",")];
        res.lld.values.forEach((row, k) => {
          lines.push([name, res.lld.frameTimes[k].toFixed(6), ...Array.from(row, num)].join(","));
        });
        const path = join(lldDir, lldRelPath(f.name));
        try {
          await Deno.mkdir(dirname(path), { recursive: true });
          await writeFileAtomic(path, encoder.encode(lines.join("\n") + "\n"));
        } catch (e) {
          throw new Fail(`cannot write LLD file ${path} (for ${f.path}): ${message(e)}`);
        }
      }
    }
  } finally {
    pool.close();
  }
  const ok = rows.length - 1;
  if (ok === 0) {
    throw new Fail(`none of the ${bad.length} file(s) could be extracted (above); nothing written`);
  }
  try {
    await writeFileAtomic(out, encoder.encode(rows.join("\n") + "\n"));
  } catch (e) {
    throw new Fail(`cannot write --out ${out}: ${message(e)}`);
  }
  const total = performance.now() - t0;
  console.error(
    `${ok} file(s) → ${out}${padded ? ` (${padded} zero-padded to one window)` : ""}; ` +
      `${(total / 1000).toFixed(2)} s elapsed, ${(total / ok).toFixed(1)} ms/file ` +
      (pool.size === 1
        ? `(feature extraction alone ${(extractMs / ok).toFixed(1)} ms/file)`
        : `(${pool.size} workers)`),
  );
  if (bad.length > 0) {
    console.error(
      `warning: ${bad.length} bad file(s) skipped and not in ${basename(out)}: ` +
        bad.map((b) => b.path).join(", "),
    );
  }
  return 0;
}

try {
  Deno.exit(await main());
} catch (e) {
  // Expected failures carry a complete message; anything else is still shown without a stack,
  // since the message of Deno's and our libraries' errors names the file.
  console.error(`egemaps: ${message(e)}`);
  Deno.exit(1);
}
