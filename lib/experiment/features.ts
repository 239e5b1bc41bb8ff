/**
 * eGeMAPS features of a corpus for the OS+SVM and OS+RNN systems, extracted once and cached in
 * the run folder, so a resumed run does not extract again.
 *
 * The cache is content-addressed: every entry is keyed by what it was computed from, never by
 * the utterance id or the file name, because two corpora run into the same `--out` can share
 * relative paths (`audio/u01.wav`) and ids that differ only outside ASCII (`03ä`, `03ö`) must
 * not share a file. The key is the SHA-256 of
 *
 * - the SHA-256 of the audio file's bytes (a content hash rather than path + size + mtime, so
 *   a copied, touched or replaced file is judged by what it contains; reading and hashing a
 *   file costs far less than extracting it),
 * - {@link EGEMAPS_EXTRACTOR_VERSION}, and
 * - the parameters the features depend on ({@link FEATURE_PARAMETERS}: decoding rate, padding,
 *   descriptor and functional names).
 *
 * Layout of the cache folder:
 *
 * - `index.json`: `{ format, entries: { <key>: CacheEntry }, ids: { <id>: <key> } }`; an entry
 *   holds the 88 functionals, the LLD frame count, byte length and SHA-256; `ids` records which
 *   key each id had last time, only to log why an id is recomputed.
 * - `lld/<key>.f32`: the LLD contour, `frames × 25` float32, row-major.
 *
 * An entry is used only when its key, extractor version and parameters match and its LLD file
 * has the recorded length (checked on every run) and checksum (checked on every load); anything
 * else is logged and recomputed. Decoding and resampling live in lib/audio and are not part of
 * the key: a change there that alters the samples must bump {@link EGEMAPS_EXTRACTOR_VERSION}.
 * @module
 */
import { join } from "node:path";
import { AudioFileError, decodeAudio, MIN_SAMPLES, TARGET_SAMPLE_RATE } from "../audio/mod.ts";
import type { SkippedItem, Utterance } from "../corpus/types.ts";
import {
  EGEMAPS_EXTRACTOR_VERSION,
  EGEMAPS_FUNCTIONAL_NAMES,
  EGEMAPS_LLD_NAMES,
  EgemapsPool,
  type EgemapsResult,
  extractEgemaps,
} from "../features/egemaps/mod.ts";
import { writeFileAtomic } from "../util/atomic.ts";

/** Cached eGeMAPS features of a set of utterances. */
export interface CorpusFeatures {
  /** 88 functionals per utterance id. */
  functionals: Map<string, Float64Array>;
  /** Number of LLDs per frame (25). */
  lldDim: number;
  /**
   * Loads one utterance's LLD frames (`frames × 25`, row-major). A cache file whose length or
   * checksum no longer matches the index is logged and recomputed from the audio.
   * @throws {Error} naming the file when the utterance has no features (its extraction failed)
   *   or its audio changed since the features were computed
   */
  loadLld(u: Utterance): Promise<Float32Array>;
  /** Utterances whose features could not be extracted, with the reason. */
  skipped: SkippedItem[];
}

/** Version of the cache layout (`index.json` + `lld/<key>.f32`); part of every key. */
export const FEATURE_CACHE_FORMAT = 2;

/** The parameters the cached features depend on besides the audio and the extractor version. */
export const FEATURE_PARAMETERS: {
  readonly sampleRate: number;
  readonly minSamples: number;
  readonly lldNames: readonly string[];
  readonly functionalNames: readonly string[];
} = {
  sampleRate: TARGET_SAMPLE_RATE,
  minSamples: MIN_SAMPLES,
  lldNames: EGEMAPS_LLD_NAMES,
  functionalNames: EGEMAPS_FUNCTIONAL_NAMES,
};

/** One cached utterance's features, as stored in `index.json`. */
interface CacheEntry {
  /** The key it is stored under (repeated so a moved entry is noticed). */
  key: string;
  /** SHA-256 of the audio file's bytes. */
  audioSha256: string;
  /** {@link EGEMAPS_EXTRACTOR_VERSION} at extraction time. */
  extractor: string;
  /** The 88 functionals; non-finite values as strings, since JSON turns NaN into null. */
  functionals: (number | string)[];
  /** LLD frames in `lld/<key>.f32`. */
  frames: number;
  /** Byte length of `lld/<key>.f32` (`frames × 25 × 4`). */
  bytes: number;
  /** SHA-256 of `lld/<key>.f32`. */
  lldSha256: string;
}

interface CacheIndex {
  format: number;
  entries: Record<string, CacheEntry>;
  ids: Record<string, string>;
}

const LLD_DIM = EGEMAPS_LLD_NAMES.length;
/** Stale or broken entries logged one by one before the rest are only counted. */
const MAX_LOGGED = 10;
/** Extractions between saves of the index, so an interrupted run keeps most of its work. */
const SAVE_EVERY = 100;
const text = new TextEncoder();

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The cache key of features computed from audio with this content hash. */
async function cacheKey(audioSha256: string): Promise<string> {
  return await sha256Hex(text.encode(JSON.stringify({
    format: FEATURE_CACHE_FORMAT,
    audio: audioSha256,
    extractor: EGEMAPS_EXTRACTOR_VERSION,
    params: FEATURE_PARAMETERS,
  })));
}

async function readAudioBytes(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new AudioFileError(path, "file not found");
    throw new AudioFileError(path, `cannot read: ${(e as Error).message}`);
  }
}

function encodeValues(values: Float64Array): (number | string)[] {
  return Array.from(values, (v) => Number.isFinite(v) ? v : String(v));
}

/** Decodes stored functionals; undefined when any value is not a number or NaN/±Infinity. */
function decodeValues(stored: unknown): Float64Array | undefined {
  if (!Array.isArray(stored) || stored.length !== EGEMAPS_FUNCTIONAL_NAMES.length) return;
  const out = new Float64Array(stored.length);
  for (let i = 0; i < stored.length; i++) {
    const v = stored[i];
    if (typeof v === "number") out[i] = v;
    else if (v === "NaN" || v === "Infinity" || v === "-Infinity") out[i] = Number(v);
    else return;
  }
  return out;
}

/** Why a stored entry cannot be used for `key`, or undefined when it can. */
function entryProblem(entry: CacheEntry | undefined, key: string): string | undefined {
  if (entry === undefined) return "not cached";
  if (typeof entry !== "object" || entry === null) return "malformed index entry";
  if (entry.key !== key) return "index entry stored under another key";
  if (entry.extractor !== EGEMAPS_EXTRACTOR_VERSION) {
    return `extracted by version ${entry.extractor}, now ${EGEMAPS_EXTRACTOR_VERSION}`;
  }
  if (
    !Number.isInteger(entry.frames) || entry.frames < 1 ||
    entry.bytes !== entry.frames * LLD_DIM * 4 || typeof entry.lldSha256 !== "string"
  ) return "malformed index entry";
  if (!decodeValues(entry.functionals)) return "malformed functionals in the index";
}

async function readIndex(path: string, log: (msg: string) => void): Promise<CacheIndex> {
  const empty: CacheIndex = { format: FEATURE_CACHE_FORMAT, entries: {}, ids: {} };
  let raw: string;
  try {
    raw = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return empty;
    log(`eGeMAPS cache: ${path}: cannot read (${(e as Error).message}), extracting afresh`);
    return empty;
  }
  try {
    const parsed = JSON.parse(raw) as CacheIndex;
    if (parsed?.format !== FEATURE_CACHE_FORMAT) {
      log(`eGeMAPS cache: ${path}: format ${parsed?.format}, not ${FEATURE_CACHE_FORMAT}; ignored`);
      return empty;
    }
    if (typeof parsed.entries !== "object" || parsed.entries === null) {
      throw new Error("no entries");
    }
    return { format: FEATURE_CACHE_FORMAT, entries: parsed.entries, ids: parsed.ids ?? {} };
  } catch (e) {
    log(`eGeMAPS cache: ${path}: unreadable (${(e as Error).message}), extracting afresh`);
    return empty;
  }
}

/** Extracts one utterance from its file bytes and writes its LLD file; returns the entry. */
async function extractEntry(
  u: Utterance,
  bytes: Uint8Array,
  audioSha256: string,
  key: string,
  lldDir: string,
  extract: (samples: Float32Array, sampleRate: number) => Promise<EgemapsResult> = (x, sr) =>
    Promise.resolve(extractEgemaps(x, sr)),
): Promise<{ entry: CacheEntry; functionals: Float64Array; lld: Float32Array }> {
  const audio = decodeAudio(bytes, u.path, {
    sampleRate: FEATURE_PARAMETERS.sampleRate,
    minSamples: FEATURE_PARAMETERS.minSamples,
  });
  const f = await extract(audio.samples, audio.sampleRate);
  const frames = f.lld.values;
  if (frames.length === 0) throw new Error(`${u.path}: eGeMAPS returned no LLD frames`);
  const lld = new Float32Array(frames.length * LLD_DIM);
  frames.forEach((row, i) => {
    if (row.length !== LLD_DIM) {
      throw new Error(`${u.path}: frame ${i} has ${row.length} LLDs, expected ${LLD_DIM}`);
    }
    lld.set(row, i * LLD_DIM);
  });
  const lldBytes = new Uint8Array(lld.buffer);
  await writeFileAtomic(join(lldDir, `${key}.f32`), lldBytes);
  const functionals = Float64Array.from(f.functionals.values);
  return {
    entry: {
      key,
      audioSha256,
      extractor: EGEMAPS_EXTRACTOR_VERSION,
      functionals: encodeValues(functionals),
      frames: frames.length,
      bytes: lldBytes.byteLength,
      lldSha256: await sha256Hex(lldBytes),
    },
    functionals,
    lld,
  };
}

/**
 * Extracts (or reads back from `dir`) the eGeMAPS functionals and LLDs of every utterance.
 * A file that fails is reported in `skipped` and left out of the OS systems.
 * @param utterances the utterances (ids must be unique)
 * @param dir the cache folder (created when missing)
 * @param log receives progress and every reason an entry is recomputed
 * @param options `workers`: files extracted at once, one core each (default 1: the calling
 *   thread); the features are the same for any number
 * @throws {Error} when two utterances share an id
 */
export async function corpusFeatures(
  utterances: Utterance[],
  dir: string,
  log: (msg: string) => void = () => {},
  options: { workers?: number } = {},
): Promise<CorpusFeatures> {
  const lldDir = join(dir, "lld");
  await Deno.mkdir(lldDir, { recursive: true });
  const indexPath = join(dir, "index.json");
  const index = await readIndex(indexPath, log);
  try {
    await Deno.stat(join(dir, "functionals.json"));
    if (Object.keys(index.entries).length === 0) {
      log(`eGeMAPS cache: ${join(dir, "functionals.json")} is of an older format; ignored`);
    }
  } catch { /* no cache of the old format */ }

  const functionals = new Map<string, Float64Array>();
  const keyOf = new Map<string, string>();
  // The audio hash per id as read in this run, so a repair can tell whether the file changed.
  const audioOf = new Map<string, string>();
  const pathOf = new Map<string, string>();
  const skipped: SkippedItem[] = [];
  let logged = 0, unlogged = 0;
  const stale = (msg: string) => {
    if (logged < MAX_LOGGED) {
      log(`eGeMAPS cache: ${msg}; recomputing`);
      logged++;
    } else unlogged++;
  };

  // Pass 1: hash every file and keep the entries that are still valid.
  const todo: Utterance[] = [];
  for (const u of utterances) {
    const other = pathOf.get(u.id);
    if (other !== undefined) {
      throw new Error(`duplicate utterance id '${u.id}': ${other} and ${u.path}`);
    }
    pathOf.set(u.id, u.path);
    let bytes: Uint8Array;
    try {
      bytes = await readAudioBytes(u.path);
    } catch (e) {
      skipped.push({ file: u.path, reason: `eGeMAPS extraction failed: ${(e as Error).message}` });
      continue;
    }
    const audioSha256 = await sha256Hex(bytes);
    const key = await cacheKey(audioSha256);
    const entry = index.entries[key];
    let problem = entryProblem(entry, key);
    if (problem === undefined) {
      const lldPath = join(lldDir, `${key}.f32`);
      try {
        const size = (await Deno.stat(lldPath)).size;
        if (size !== entry.bytes) problem = `${lldPath}: ${size} bytes, expected ${entry.bytes}`;
      } catch {
        problem = `${lldPath}: missing`;
      }
    }
    if (problem === undefined) {
      functionals.set(u.id, decodeValues(entry.functionals)!);
      keyOf.set(u.id, key);
      audioOf.set(u.id, audioSha256);
      index.ids[u.id] = key;
      continue;
    }
    const previous = index.ids[u.id];
    if (previous !== undefined && previous !== key) {
      stale(`${u.path} (id ${u.id}): audio, extractor or parameters differ from the cached entry`);
    } else if (problem !== "not cached") stale(`${u.path} (id ${u.id}): ${problem}`);
    todo.push(u);
  }
  if (unlogged) log(`eGeMAPS cache: … and ${unlogged} more recomputed`);

  // Index writes are chained so concurrent repairs from loadLld never interleave.
  let saving: Promise<void> = Promise.resolve();
  const saveIndex = () => {
    saving = saving.then(() =>
      writeFileAtomic(indexPath, text.encode(JSON.stringify(index) + "\n"))
    );
    return saving;
  };

  // Pass 2: extract. The key comes from the bytes actually decoded, so a file replaced since
  // pass 1 is still stored under what it contains.
  const workers = Math.max(1, Math.min(options.workers ?? 1, todo.length));
  if (todo.length) {
    log(
      `eGeMAPS: extracting ${todo.length} files (${functionals.size} cached)` +
        (workers > 1 ? ` on ${workers} workers` : ""),
    );
  }
  const t0 = performance.now();
  let sinceSave = 0;
  // Files with identical content extracted in this pass are extracted once: the first to reach
  // a key stores its promise before any await, so a second lane finds it.
  const fresh = new Map<string, Promise<Float64Array>>();
  // Outcome per todo item, recorded in todo order once all lanes are done, so the maps and the
  // skipped list do not depend on which file finished first.
  const outcomes:
    ({ key: string; audioSha256: string; values: Float64Array } | { error: Error })[] = new Array(
      todo.length,
    );
  const pool = todo.length ? EgemapsPool.create(workers) : undefined;
  const extract = (x: Float32Array, sr: number) => pool!.extract(x, sr);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < todo.length; i = next++) {
      const u = todo[i];
      try {
        const bytes = await readAudioBytes(u.path);
        const audioSha256 = await sha256Hex(bytes);
        const key = await cacheKey(audioSha256);
        let values = fresh.get(key);
        if (values === undefined) {
          values = extractEntry(u, bytes, audioSha256, key, lldDir, extract).then((done) => {
            index.entries[key] = done.entry;
            return done.functionals;
          });
          fresh.set(key, values);
        }
        outcomes[i] = { key, audioSha256, values: await values };
        if (++sinceSave >= SAVE_EVERY) {
          sinceSave = 0;
          await saveIndex();
        }
      } catch (e) {
        outcomes[i] = { error: e as Error };
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: pool?.inFlight ?? 0 }, lane));
  } finally {
    pool?.close();
  }
  todo.forEach((u, i) => {
    const o = outcomes[i];
    if ("error" in o) {
      skipped.push({ file: u.path, reason: `eGeMAPS extraction failed: ${o.error.message}` });
      return;
    }
    index.ids[u.id] = o.key;
    functionals.set(u.id, o.values);
    keyOf.set(u.id, o.key);
    audioOf.set(u.id, o.audioSha256);
  });
  if (todo.length) {
    log(`eGeMAPS: ${todo.length} files in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await saveIndex();
  }

  // Repairs of one key share one promise, so two concurrent loads never write the same file.
  const repairs = new Map<string, Promise<Float32Array>>();
  const repair = (u: Utterance, key: string, problem: string): Promise<Float32Array> => {
    let p = repairs.get(key);
    if (p === undefined) {
      p = (async () => {
        log(`eGeMAPS cache: ${problem}; recomputing from ${u.path}`);
        const bytes = await readAudioBytes(u.path);
        const audioSha256 = await sha256Hex(bytes);
        if (audioSha256 !== audioOf.get(u.id)) {
          throw new Error(
            `${u.path}: audio changed since its eGeMAPS features were computed in this run ` +
              `(re-run to recompute them all)`,
          );
        }
        const done = await extractEntry(u, bytes, audioSha256, key, lldDir);
        index.entries[key] = done.entry;
        await saveIndex();
        return done.lld;
      })().finally(() => repairs.delete(key));
      repairs.set(key, p);
    }
    return p;
  };

  return {
    functionals,
    lldDim: LLD_DIM,
    loadLld: async (u) => {
      const key = keyOf.get(u.id);
      if (key === undefined) {
        throw new Error(`${u.path} (id ${u.id}): no eGeMAPS features (extraction failed)`);
      }
      const pending = repairs.get(key);
      if (pending) return pending;
      const entry = index.entries[key];
      const lldPath = join(lldDir, `${key}.f32`);
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(lldPath);
      } catch (e) {
        return repair(u, key, `${lldPath}: cannot read (${(e as Error).message})`);
      }
      if (bytes.byteLength !== entry.bytes) {
        return repair(u, key, `${lldPath}: ${bytes.byteLength} bytes, expected ${entry.bytes}`);
      }
      if ((await sha256Hex(bytes)) !== entry.lldSha256) {
        return repair(u, key, `${lldPath}: checksum differs from the index`);
      }
      // Deno.readFile returns a fresh buffer at offset 0; copy in case it ever is not aligned.
      return bytes.byteOffset % 4 === 0
        ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4)
        : new Float32Array(bytes.slice().buffer);
    },
    skipped,
  };
}
