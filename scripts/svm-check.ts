/**
 * Real-data check of the OS+SVM baseline on EMO-DB: eGeMAPSv02 functionals → linear SVM
 * (C = 0.01), leave-one-speaker-out, per-speaker and global standardisation; prints the 7-class
 * emotion UAR and the binary arousal/valence UARs next to the openSMILE reference numbers.
 *
 * Feature sources:
 * - `reference`: openSMILE 3.0.2's own functionals for the 107 files of speakers 03 and 08
 *   (a smoke check of the SVM plumbing; a 2-speaker LOSO is not comparable to the 10-speaker
 *   reference numbers);
 * - `native`: our `extractEgemaps` on all 535 files, cached as CSV under `runs/svm-check/`
 *   (the cache name carries a hash of the extractor's source, so a changed extractor is
 *   re-run automatically; `--refresh` forces it).
 *
 * Usage: deno task svm:check [--features reference|native|both] [--c 0.01]
 *        [--data ../shared/data/emodb] [--reference ../shared/reference/egemaps-v02/functionals.csv]
 *        [--cache runs/svm-check] [--refresh] [--grid]
 *
 * @module
 */

import { parseArgs } from "node:util";
import type { TaskSpec, Utterance } from "../lib/corpus/types.ts";
import { readFeatureCsv, writeFeatureCsv } from "../lib/baselines/features_csv.ts";
import type { FeatureTable } from "../lib/baselines/features_csv.ts";
import type { FeatureNorm } from "../lib/baselines/standardise.ts";
import { runSvmBaseline } from "../lib/baselines/svm_baseline.ts";
import type { SvmBaselineResult } from "../lib/baselines/svm_baseline.ts";

/** openSMILE eGeMAPSv02 + linear SVM, C = 0.01, EMO-DB LOSO (STACK.md), in %. */
const REFERENCE: Record<string, Record<string, number>> = {
  speaker: { emotion: 78.8, arousal2: 94.2, valence2: 62.0 },
  global: { emotion: 66.3, arousal2: 88.8, valence2: 56.9 },
};

const EMOTIONS = ["anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"];
const HIGH_AROUSAL = new Set(["anger", "fear", "happiness"]);
const POSITIVE_VALENCE = new Set(["happiness", "neutral"]);

interface EmoDb {
  utterances: Utterance[];
  tasks: TaskSpec[];
  source: string;
}

/**
 * EMO-DB utterances and the three tasks. Uses the lead's `loadCorpus` when
 * `lib/corpus/mod.ts` provides it; otherwise derives them from `manifest.csv`.
 */
async function loadEmoDb(dataDir: string): Promise<EmoDb> {
  const corpusMod = new URL("../lib/corpus/mod.ts", import.meta.url);
  if (await exists(corpusMod)) {
    const mod = await import(corpusMod.href);
    if (typeof mod.loadCorpus === "function") {
      const corpus = await mod.loadCorpus({ corpus: "emodb", data: dataDir });
      const wanted = ["emotion", "arousal2", "valence2"];
      const tasks = (corpus.tasks as TaskSpec[]).filter((t) => wanted.includes(t.name));
      if (tasks.length === wanted.length) {
        return { utterances: corpus.utterances, tasks, source: "loadCorpus" };
      }
      console.error(
        `loadCorpus("emodb") has tasks ${corpus.tasks.map((t: TaskSpec) => t.name)}; ` +
          "falling back to manifest.csv",
      );
    }
  }
  return { ...(await manifestEmoDb(dataDir)), source: "manifest.csv" };
}

async function manifestEmoDb(dataDir: string): Promise<Omit<EmoDb, "source">> {
  const path = `${dataDir}/manifest.csv`;
  const text = await Deno.readTextFile(path).catch((e) => {
    throw new Error(`${path}: cannot read the EMO-DB manifest: ${e.message}`);
  });
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "");
  const header = lines[0].split(",");
  const col = (name: string) => {
    const i = header.indexOf(name);
    if (i < 0) throw new Error(`${path}: no "${name}" column in the header`);
    return i;
  };
  const fileCol = col("file"), spkCol = col("speaker"), emoCol = col("emotion_name");
  const utterances: Utterance[] = lines.slice(1).map((line, n) => {
    const cells = line.split(",");
    const emotion = EMOTIONS.indexOf(cells[emoCol]);
    if (emotion < 0) throw new Error(`${path}:${n + 2}: unknown emotion "${cells[emoCol]}"`);
    const name = cells[emoCol];
    return {
      id: cells[fileCol].replace(/\.wav$/i, ""),
      path: `${dataDir}/wav/${cells[fileCol]}`,
      speaker: cells[spkCol],
      labels: {
        emotion,
        arousal2: HIGH_AROUSAL.has(name) ? 1 : 0,
        valence2: POSITIVE_VALENCE.has(name) ? 1 : 0,
      },
    };
  });
  return {
    utterances,
    tasks: [
      { name: "emotion", classes: EMOTIONS },
      { name: "arousal2", classes: ["low", "high"] },
      { name: "valence2", classes: ["negative", "positive"] },
    ],
  };
}

async function exists(path: string | URL): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Hash of the native extractor's sources, so the feature cache follows code changes. */
async function extractorHash(dir: URL): Promise<string> {
  const files: string[] = [];
  const walk = async (d: URL, rel: string) => {
    for await (const e of Deno.readDir(d)) {
      if (e.isDirectory) await walk(new URL(`${e.name}/`, d), `${rel}${e.name}/`);
      else if (e.name.endsWith(".ts")) files.push(`${rel}${e.name}`);
    }
  };
  await walk(dir, "");
  files.sort();
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const f of files) {
    parts.push(enc.encode(f + "\0"), await Deno.readFile(new URL(f, dir)));
  }
  const all = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest.slice(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Our native eGeMAPS functionals for every utterance, from the cache or freshly extracted. */
async function nativeFeatures(
  utts: Utterance[],
  cacheDir: string,
  refresh: boolean,
): Promise<FeatureTable | undefined> {
  const egemapsDir = new URL("../lib/features/egemaps/", import.meta.url);
  const audioMod = new URL("../lib/audio/mod.ts", import.meta.url);
  if (!(await exists(new URL("mod.ts", egemapsDir))) || !(await exists(audioMod))) {
    console.log("native: lib/features/egemaps/mod.ts or lib/audio/mod.ts not there yet; skipped");
    return undefined;
  }
  const cache = `${cacheDir}/egemaps-native-${await extractorHash(egemapsDir)}.csv`;
  if (!refresh && await exists(cache)) {
    const table = await readFeatureCsv(cache);
    if (utts.every((u) => table.features.has(u.id))) {
      console.log(`native: features from cache ${cache}`);
      return table;
    }
  }
  const { extractEgemaps } = await import(new URL("mod.ts", egemapsDir).href);
  const { readWav } = await import(audioMod.href);
  if (typeof extractEgemaps !== "function" || typeof readWav !== "function") {
    console.log("native: extractEgemaps or readWav not exported yet; skipped");
    return undefined;
  }
  const features = new Map<string, Float64Array>();
  let names: string[] = [];
  const t0 = performance.now();
  for (const [n, u] of utts.entries()) {
    const audio = await readWav(u.path);
    const out = extractEgemaps(audio.samples, audio.sampleRate);
    names = out.functionals.names;
    features.set(u.id, Float64Array.from(out.functionals.values));
    if ((n + 1) % 50 === 0) console.error(`native: extracted ${n + 1}/${utts.length}`);
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`native: extracted ${utts.length} files in ${s.toFixed(1)} s; cached in ${cache}`);
  const table = { names, features };
  await writeFeatureCsv(cache, table);
  return table;
}

function pct(x: number): string {
  return Number.isNaN(x) ? "  n/a" : (100 * x).toFixed(1).padStart(5);
}

function printResult(label: string, r: SvmBaselineResult, withReference: boolean) {
  const ref = REFERENCE[r.featureNorm];
  const cells = Object.values(r.tasks).map((t) => {
    const c = `C=${t.c}`;
    const refText = withReference && ref?.[t.task] !== undefined
      ? ` (ref ${ref[t.task].toFixed(1)})`
      : "";
    return `${t.task} ${pct(t.uar)}${refText} ${c}`;
  });
  console.log(`${label.padEnd(34)} ${cells.join(" | ")}`);
}

async function evaluate(
  label: string,
  table: FeatureTable,
  db: EmoDb,
  opts: { c?: number; grid: boolean; withReference: boolean },
) {
  const utterances = db.utterances.filter((u) => table.features.has(u.id));
  const speakers = new Set(utterances.map((u) => u.speaker)).size;
  console.log(
    `\n${label}: ${utterances.length} utterances, ${speakers} speakers, ` +
      `${table.names.length} features; LOSO, UAR %`,
  );
  for (const norm of ["speaker", "global"] as FeatureNorm[]) {
    const t0 = performance.now();
    const r = await runSvmBaseline({
      features: table.features,
      utterances,
      tasks: db.tasks,
      protocol: "loso",
      featureNorm: norm,
      ...(opts.grid ? {} : { c: opts.c }),
    });
    const s = ((performance.now() - t0) / 1000).toFixed(1);
    printResult(`  ${norm} standardisation (${s} s)`, r, opts.withReference);
    if (opts.grid) {
      for (const t of Object.values(r.tasks)) {
        console.log(
          `    ${t.task}: C per fold ${t.folds.map((f) => `${f.speaker}:${f.c}`).join(" ")}`,
        );
      }
    }
  }
}

async function main() {
  const { values } = parseArgs({
    options: {
      features: { type: "string", default: "both" },
      c: { type: "string", default: "0.01" },
      data: { type: "string", default: "../shared/data/emodb" },
      reference: {
        type: "string",
        default: "../shared/reference/egemaps-v02/functionals.csv",
      },
      cache: { type: "string", default: "runs/svm-check" },
      refresh: { type: "boolean", default: false },
      grid: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(
      "deno task svm:check [--features reference|native|both] [--c 0.01] [--grid]\n" +
        "  [--data DIR] [--reference functionals.csv] [--cache DIR] [--refresh]\n" +
        "--grid chooses C per fold by inner leave-one-speaker-out instead of a fixed C.",
    );
    return;
  }
  if (!["reference", "native", "both"].includes(values.features)) {
    throw new Error(`--features must be reference, native or both, not "${values.features}"`);
  }
  const c = Number(values.c);
  if (!(c > 0)) throw new Error(`--c must be a positive number, not "${values.c}"`);
  const db = await loadEmoDb(values.data);
  console.log(`EMO-DB: ${db.utterances.length} utterances from ${db.source}`);

  if (values.features !== "native") {
    const ref = await readFeatureCsv(values.reference);
    await evaluate("openSMILE reference features (smoke check)", ref, db, {
      c,
      grid: values.grid,
      withReference: false,
    });
  }
  if (values.features !== "reference") {
    const native = await nativeFeatures(db.utterances, values.cache, values.refresh);
    if (native) {
      await evaluate("native eGeMAPS features", native, db, {
        c,
        grid: values.grid,
        withReference: !values.grid && c === 0.01,
      });
    }
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    console.error(`svm-check: ${e instanceof Error ? e.message : e}`);
    Deno.exit(1);
  }
}
