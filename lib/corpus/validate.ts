/**
 * Checks every utterance's audio once, at load time, so that a bad file is reported and skipped
 * before any training starts instead of crashing a long run half-way.
 * @module
 */
import { readWav } from "../audio/mod.ts";
import type { Corpus, SkippedItem, Utterance } from "./types.ts";

/** Options of {@link validateAudio}. */
export interface ValidateOptions {
  /** Throw on the first bad file instead of reporting and skipping it. */
  strict?: boolean;
  /** Files decoded at once (default 8). */
  concurrency?: number;
}

/**
 * Decodes every utterance's audio, records its length (`samples`, `padded`) and moves the
 * utterances whose audio cannot be used to `skipped`, with the reason.
 * @returns a new corpus; the input is not modified
 * @throws the first audio error when `strict` is set
 */
export async function validateAudio(
  corpus: Corpus,
  options: ValidateOptions = {},
): Promise<Corpus> {
  const concurrency = options.concurrency ?? 8;
  const results: (Utterance | SkippedItem)[] = new Array(corpus.utterances.length);
  let next = 0;
  const worker = async () => {
    while (next < corpus.utterances.length) {
      const i = next++;
      const u = corpus.utterances[i];
      try {
        const audio = await readWav(u.path);
        results[i] = { ...u, samples: audio.samples.length, padded: audio.padded };
      } catch (e) {
        if (options.strict) throw e;
        results[i] = { file: u.path, reason: (e as Error).message.replace(`${u.path}: `, "") };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const utterances: Utterance[] = [];
  const skipped = [...corpus.skipped];
  for (const r of results) {
    if ("reason" in r) skipped.push(r);
    else utterances.push(r);
  }
  return { ...corpus, utterances, skipped };
}
