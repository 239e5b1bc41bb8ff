/**
 * A synthetic miniature corpus in the IEMOCAP release layout (`data.example/`).
 *
 * Every utterance is made by a small source-filter speech synthesiser whose prosody and voice
 * quality depend on the utterance's arousal, valence and dominance ratings, so the toolkit's
 * whole pipeline (parser → frames → model → evaluation) can run end to end, and learn something,
 * without the licensed IEMOCAP data. Everything is driven by a seeded PRNG: the same seed gives
 * the same bytes on every run.
 *
 * Files: `voice.ts` (ratings → voice settings), `layout.ts` (words → parameter tracks),
 * `synth.ts` (the synthesiser), `plan.ts` (speakers, labels, timings), `session.ts` (one
 * session in memory), `render.ts` (EmoEvaluation text, README), `write.ts` (the files).
 *
 * @example
 * ```ts
 * import { writeExampleCorpus } from "./mod.ts";
 * await writeExampleCorpus("/tmp/example", { sessions: [5] });
 * ```
 * @module
 */

export {
  EXAMPLE_PROSODY,
  EXAMPLE_SAMPLE_RATE,
  type SpeakerProfile,
  type UtteranceParams,
} from "./voice.ts";
export { synthesizeUtterance } from "./synth.ts";
export {
  type ExampleUtterance,
  type Level,
  levelOf,
  partitionOfSession,
  type SessionPlan,
} from "./plan.ts";
export { EXAMPLE_DEFAULT_SEED, exampleSessionSeed, generateExampleSession } from "./session.ts";
export {
  countsTable,
  type ExampleCorpusSummary,
  renderEmoEvaluation,
  renderExampleReadme,
} from "./render.ts";
export { type ExampleCorpusOptions, writeExampleCorpus } from "./write.ts";
