/**
 * Shared utilities, the bottom of the folder graph: every stage may import them and they import
 * no stage. One of each: the seeded PRNG and seed mixers, the atomic file writer, stable
 * per-dimension mean/std, and strict command-line parsing.
 *
 * ```ts
 * import { deriveSeed, Moments, Random, writeJsonAtomic } from "./lib/util/mod.ts";
 * const rng = new Random(deriveSeed(1, 3));
 * const m = new Moments(1).add([rng.next(), rng.next()]);
 * await writeJsonAtomic("runs/x/stats.json", { mean: m.mean[0], std: m.std()[0] });
 * ```
 * @module
 */
export { deriveSeed, fmix32, nameSeed, Random } from "./random.ts";
export {
  pathExists,
  readJsonIfExists,
  temporaryName,
  writeFileAtomic,
  writeJsonAtomic,
} from "./atomic.ts";
export { Moments } from "./statistics.ts";
export { EXIT_USAGE, parseCommandLine, runMain } from "./cli.ts";
