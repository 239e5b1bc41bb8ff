/**
 * eGeMAPS features of a corpus for the OS+SVM and OS+RNN systems, extracted once per run and
 * cached in the run folder (functionals as CSV, LLD contours as raw float32 per utterance), so a
 * resumed run does not extract again.
 * @module
 */
import { join } from "node:path";
import { readWav } from "../audio/mod.ts";
import type { SkippedItem, Utterance } from "../corpus/types.ts";
import {
  EGEMAPS_FUNCTIONAL_NAMES,
  EGEMAPS_LLD_NAMES,
  extractEgemaps,
} from "../features/egemaps/mod.ts";
import { writeFileAtomic } from "../training/checkpoint.ts";

/** Cached eGeMAPS features of a set of utterances. */
export interface CorpusFeatures {
  /** 88 functionals per utterance id. */
  functionals: Map<string, Float64Array>;
  /** Number of LLDs per frame (25). */
  lldDim: number;
  /** Loads one utterance's LLD frames (`frames × 25`, row-major). */
  loadLld(u: Utterance): Promise<Float32Array>;
  /** Utterances whose features could not be extracted, with the reason. */
  skipped: SkippedItem[];
}

function safeName(id: string): string {
  return id.replace(/[^\w.-]/g, "_");
}

/**
 * Extracts (or reads back from `dir`) the eGeMAPS functionals and LLDs of every utterance.
 * A file that fails is reported in `skipped` and left out of the OS systems.
 */
export async function corpusFeatures(
  utterances: Utterance[],
  dir: string,
  log: (msg: string) => void = () => {},
): Promise<CorpusFeatures> {
  const lldDir = join(dir, "lld");
  await Deno.mkdir(lldDir, { recursive: true });
  const functionalsPath = join(dir, "functionals.json");
  const functionals = new Map<string, Float64Array>();
  try {
    const stored = JSON.parse(await Deno.readTextFile(functionalsPath)) as {
      names: string[];
      rows: Record<string, number[]>;
    };
    if (stored.names.join(",") === EGEMAPS_FUNCTIONAL_NAMES.join(",")) {
      for (const [id, row] of Object.entries(stored.rows)) {
        functionals.set(id, Float64Array.from(row));
      }
    }
  } catch { /* no cache yet */ }
  const skipped: SkippedItem[] = [];
  const todo = utterances.filter((u) => !functionals.has(u.id));
  if (todo.length) log(`eGeMAPS: extracting ${todo.length} files (${functionals.size} cached)`);
  const t0 = performance.now();
  for (const u of todo) {
    try {
      const audio = await readWav(u.path);
      const f = extractEgemaps(audio.samples, audio.sampleRate);
      functionals.set(u.id, Float64Array.from(f.functionals.values));
      const frames = f.lld.values;
      const flat = new Float32Array(frames.length * EGEMAPS_LLD_NAMES.length);
      frames.forEach((row, i) => flat.set(row, i * EGEMAPS_LLD_NAMES.length));
      await Deno.writeFile(join(lldDir, `${safeName(u.id)}.f32`), new Uint8Array(flat.buffer));
    } catch (e) {
      skipped.push({ file: u.path, reason: `eGeMAPS extraction failed: ${(e as Error).message}` });
    }
  }
  if (todo.length) {
    log(`eGeMAPS: ${todo.length} files in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const rows = Object.fromEntries([...functionals].map(([id, v]) => [id, Array.from(v)]));
    await writeFileAtomic(
      functionalsPath,
      new TextEncoder().encode(JSON.stringify({ names: EGEMAPS_FUNCTIONAL_NAMES, rows })),
    );
  }
  return {
    functionals,
    lldDim: EGEMAPS_LLD_NAMES.length,
    loadLld: async (u) => {
      const bytes = await Deno.readFile(join(lldDir, `${safeName(u.id)}.f32`));
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    },
    skipped,
  };
}
