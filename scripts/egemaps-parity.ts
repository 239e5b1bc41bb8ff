/**
 * Parity of the native eGeMAPSv02 extractor with openSMILE 3.0.2 reference output.
 *
 *   deno task egemaps:parity [--ref DIR] [--wav DIR] [--limit N] [--quiet]
 *
 * Prints, per functional, Pearson's r across files and the median relative error; per LLD, r
 * and median relative error over all frames; frame-count agreement; and how many functionals
 * reach r ≥ 0.99 / 0.95 / 0.9.
 * @module
 */
import { parseCommandLine } from "../lib/util/cli.ts";
import { readWav } from "../lib/audio/mod.ts";
import { compareToReference, readReference } from "../lib/features/egemaps/parity.ts";

const { values } = parseCommandLine({
  options: {
    ref: { type: "string", default: "../shared/reference/egemaps-v02" },
    wav: { type: "string", default: "../shared/data/emodb/wav" },
    limit: { type: "string" },
    quiet: { type: "boolean", default: false },
  },
}, "usage: deno task egemaps:parity [--ref DIR] [--wav DIR] [--limit N] [--quiet]");

const ref = await readReference(values.ref!, values.limit ? Number(values.limit) : undefined);
const t0 = performance.now();
const report = await compareToReference(ref, async (file) => {
  const audio = await readWav(`${values.wav}/${file}`, { minSamples: 0 });
  return audio.samples;
});
const ms = performance.now() - t0;

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : String(v));
if (!values.quiet) {
  console.log("functional\tr\tmedRelErr");
  for (const f of report.functionals) console.log(`${f.name}\t${fmt(f.r)}\t${fmt(f.medRelErr)}`);
  console.log("\nLLD\tr\tmedRelErr");
  for (const f of report.lld) console.log(`${f.name}\t${fmt(f.r)}\t${fmt(f.medRelErr)}`);
}
console.log(
  `\nfiles: ${report.files}; frame counts equal: ${report.frameCountsEqual}/${report.files}` +
    ` (within ±1: ${report.frameCountsWithin1}/${report.files})`,
);
for (const th of [0.99, 0.95, 0.9]) {
  const n = report.functionals.filter((f) => f.r >= th).length;
  console.log(`functionals with r ≥ ${th}: ${n}/88`);
}
const minR = Math.min(...report.functionals.map((f) => f.r));
console.log(`lowest functional r: ${fmt(minR)}`);
console.log(`extraction: ${ms.toFixed(0)} ms for ${report.files} files`);
