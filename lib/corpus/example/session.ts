/**
 * One session of the example corpus in memory: its random stream, its plan and its wav bytes.
 *
 * @module
 */

import { encodeWav16 } from "../../audio/mod.ts";
import { fmix32, Random } from "../../util/random.ts";
import { type ExampleUtterance, planSession } from "./plan.ts";
import { synthesizeUtterance } from "./synth.ts";
import { EXAMPLE_SAMPLE_RATE } from "./voice.ts";

/** The seed `data.example/` is generated with. */
export const EXAMPLE_DEFAULT_SEED = 20190512;

/**
 * The seed of a session's stream: the golden-ratio multiple of `session + 1` xor the corpus
 * seed, through the murmur3 finaliser.
 *
 * This derivation defines the committed `data.example/` bytes, so it stays as it is rather than
 * using `deriveSeed` from `lib/util/random.ts` (which mixes differently): changing it would
 * change every file of the corpus.
 */
export function exampleSessionSeed(seed: number, session: number): number {
  return fmix32(seed ^ Math.imul(session + 1, 0x9e3779b9));
}

/**
 * Plans and synthesises one session in memory. Each session draws from its own stream derived
 * from the seed, so one session can be regenerated alone with identical bytes.
 *
 * @param session session number 1–5
 * @param options seed (default {@link EXAMPLE_DEFAULT_SEED}) and utterances per session
 *   (27 or more, default 28)
 * @returns the planned utterances and each utterance's wav bytes (same order)
 */
export function generateExampleSession(
  session: number,
  options: { seed?: number; utterancesPerSession?: number } = {},
): { utterances: ExampleUtterance[]; wavs: Uint8Array[] } {
  const seed = options.seed ?? EXAMPLE_DEFAULT_SEED;
  const count = options.utterancesPerSession ?? 28;
  if (!Number.isInteger(session) || session < 1 || session > 5) {
    throw new Error(`generateExampleSession: session must be 1..5, got ${session}`);
  }
  // Fewer than 27 could not hold the full 3×3×3 design of levels.
  if (!Number.isInteger(count) || count < 27) {
    throw new Error(`generateExampleSession: utterancesPerSession must be an integer ≥ 27`);
  }
  const rng = new Random(exampleSessionSeed(seed, session));
  const plan = planSession(session, count, rng);
  const noiseDb = rng.uniform(-60, -52);
  const wavs = plan.utterances.map((u, i) => {
    const samples = synthesizeUtterance({
      valence: u.valence,
      arousal: u.arousal,
      dominance: u.dominance,
      speaker: plan.speakers[u.speaker.slice(-1) as "F" | "M"],
      durationSec: plan.durations[i],
      noiseDb,
    }, rng);
    return encodeWav16(samples, EXAMPLE_SAMPLE_RATE);
  });
  return { utterances: plan.utterances, wavs };
}
