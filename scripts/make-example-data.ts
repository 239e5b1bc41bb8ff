/**
 * Regenerates the synthetic example corpus `data.example/` (IEMOCAP layout).
 *
 * Usage: `deno task make-example-data [--out data.example] [--seed N]`
 *
 * @module
 */

import { parseCommandLine } from "../lib/util/cli.ts";
import { EXAMPLE_DEFAULT_SEED, writeExampleCorpus } from "../lib/corpus/example/mod.ts";

const { values } = parseCommandLine({
  options: {
    out: { type: "string", default: "data.example" },
    seed: { type: "string", default: String(EXAMPLE_DEFAULT_SEED) },
    help: { type: "boolean", short: "h", default: false },
  },
}, "usage: deno task make-example-data [--out DIR] [--seed N]");

if (values.help) {
  console.log(
    "make-example-data [--out DIR] [--seed N]: write the synthetic IEMOCAP-layout corpus",
  );
  Deno.exit(0);
}

const seed = Number(values.seed);
if (!Number.isInteger(seed)) {
  console.error(`make-example-data: --seed must be an integer, got "${values.seed}"`);
  Deno.exit(2);
}

const t0 = performance.now();
const summary = await writeExampleCorpus(values.out, { seed });
const bytes = summary.files.reduce((s, f) => s + f.bytes, 0);
console.log(
  `wrote ${summary.utterances.length} utterances, ${summary.files.length} files, ` +
    `${(bytes / 1e6).toFixed(2)} MB to ${values.out} in ${
      ((performance.now() - t0) / 1000).toFixed(1)
    } s`,
);
