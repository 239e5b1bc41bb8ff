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
 * utterances whose audio cannot be used to `skipped`, with the reason. Files the reader could
 * only read after a repair (a streaming placeholder size, a data chunk cut short …) are kept,
 * and each repair is added to `notes` as `{ file, reason }`, in utterance order, so that the
 * load report shows it.
 * @returns a new corpus; the input is not modified
 * @throws the first audio error when `strict` is set
 */
export async function validateAudio(
  corpus: Corpus,
  options: ValidateOptions = {},
): Promise<Corpus> {
  const concurrency = options.concurrency ?? 8;
  const results: (Utterance | SkippedItem)[] = new Array(corpus.utterances.length);
  // Per utterance, so the notes come out in corpus order whatever order the workers finish in.
  const warnings: string[][] = Array.from({ length: corpus.utterances.length }, () => []);
  let next = 0;
  const worker = async () => {
    while (next < corpus.utterances.length) {
      const i = next++;
      const u = corpus.utterances[i];
      try {
        const audio = await readWav(u.path);
        results[i] = { ...u, samples: audio.samples.length, padded: audio.padded };
        warnings[i] = audio.warnings;
      } catch (e) {
        if (options.strict) throw e;
        results[i] = { file: u.path, reason: (e as Error).message.replace(`${u.path}: `, "") };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const utterances: Utterance[] = [];
  const skipped = [...corpus.skipped];
  const notes = [...(corpus.notes ?? [])];
  results.forEach((r, i) => {
    if ("reason" in r) skipped.push(r);
    else utterances.push(r);
    for (const reason of warnings[i]) notes.push({ file: corpus.utterances[i].path, reason });
  });
  return { ...corpus, utterances, skipped, notes };
}
