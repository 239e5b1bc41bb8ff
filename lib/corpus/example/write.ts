/**
 * Writes the example corpus to disk in the IEMOCAP release layout, with its README and
 * `SHA256SUMS`.
 *
 * @module
 */

import { join } from "node:path";
import type { ExampleUtterance } from "./plan.ts";
import { type ExampleCorpusSummary, renderEmoEvaluation, renderExampleReadme } from "./render.ts";
import { EXAMPLE_DEFAULT_SEED, generateExampleSession } from "./session.ts";

/** Options of {@link writeExampleCorpus}. */
export interface ExampleCorpusOptions {
  /** PRNG seed (default {@link EXAMPLE_DEFAULT_SEED}). */
  seed?: number;
  /** Sessions to write (default 1–5). README.md and SHA256SUMS are written only for all five. */
  sessions?: number[];
  /** Utterances per session, 27 or more (default 28). */
  utterancesPerSession?: number;
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Groups utterances by dialog, keeping first-seen dialog order and utterance order. */
function byDialog(utterances: ExampleUtterance[]): Map<string, ExampleUtterance[]> {
  const groups = new Map<string, ExampleUtterance[]>();
  for (const u of utterances) {
    if (!groups.has(u.dialog)) groups.set(u.dialog, []);
    groups.get(u.dialog)!.push(u);
  }
  return groups;
}

/**
 * Writes the example corpus in the IEMOCAP layout under `dir`:
 * `SessionN/sentences/wav/<dialog>/<id>.wav` and `SessionN/dialog/EmoEvaluation/<dialog>.txt`;
 * when all five sessions are written, also `README.md` and `SHA256SUMS`.
 * Existing `SessionN/` folders of the written sessions are replaced.
 *
 * @param dir corpus root (created if missing)
 * @param options seed, sessions, utterances per session
 * @returns the seed, the planned utterances and every written file with its digest
 */
export async function writeExampleCorpus(
  dir: string,
  options: ExampleCorpusOptions = {},
): Promise<ExampleCorpusSummary> {
  const seed = options.seed ?? EXAMPLE_DEFAULT_SEED;
  const sessions = options.sessions ?? [1, 2, 3, 4, 5];
  const all: ExampleUtterance[] = [];
  const files: ExampleCorpusSummary["files"] = [];
  const write = async (rel: string, bytes: Uint8Array) => {
    const full = join(dir, ...rel.split("/"));
    await Deno.mkdir(join(full, ".."), { recursive: true });
    await Deno.writeFile(full, bytes);
    files.push({ path: rel, sha256: await sha256Hex(bytes), bytes: bytes.length });
  };
  for (const session of sessions) {
    const { utterances, wavs } = generateExampleSession(session, {
      seed,
      utterancesPerSession: options.utterancesPerSession,
    });
    // Replace, not merge: a stale file from another seed would otherwise stay in the corpus.
    await Deno.remove(join(dir, `Session${session}`), { recursive: true }).catch((e) => {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    });
    for (let i = 0; i < utterances.length; i++) {
      const u = utterances[i];
      await write(`Session${session}/sentences/wav/${u.dialog}/${u.id}.wav`, wavs[i]);
    }
    for (const [dialog, us] of byDialog(utterances)) {
      const text = new TextEncoder().encode(renderEmoEvaluation(us));
      await write(`Session${session}/dialog/EmoEvaluation/${dialog}.txt`, text);
    }
    all.push(...utterances);
  }
  const summary: ExampleCorpusSummary = { seed, utterances: all, files };
  if ([1, 2, 3, 4, 5].every((s) => sessions.includes(s))) {
    await write("README.md", new TextEncoder().encode(renderExampleReadme(summary)));
    files.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
    const sums = files.map((f) => `${f.sha256}  ${f.path}\n`).join("");
    await Deno.writeTextFile(join(dir, "SHA256SUMS"), sums);
  }
  return summary;
}
