/**
 * `deno task publish RUN DEST [--model DIR]`: copies what a paper's repository keeps of a
 * finished `reproduce` run folder into a results folder (`publishRun` in
 * lib/experiment/publish.ts): the summary and figures, every system's result.json, the epoch
 * curves, and optionally one trained model. This script only parses arguments and prints.
 * @module
 */
import { publishRun } from "../lib/experiment/publish.ts";
import { EXIT_USAGE, parseCommandLine, runMain } from "../lib/util/cli.ts";

const USAGE = `usage: deno task publish RUN DEST [--model DIR]
  RUN    a finished reproduce run folder (it has results.json), or a trials folder
         (reproduce --plan; it has plan.json): its plan and finished trials, collected or not
  DEST   the results folder to write (e.g. docs/results/emodb); its other files are kept
  --model DIR  also copy this model folder (holding model.json) to DEST/model, e.g.
               RUN/systems/e2e-mtl-att/seed-1/mtl/model`;

const { values, positionals } = parseCommandLine({
  options: {
    model: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
  allowPositionals: true,
}, USAGE);

if (values.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (positionals.length !== 2) {
  console.error(USAGE);
  Deno.exit(EXIT_USAGE);
}
const [run, dest] = positionals;

await runMain("publish", async () => {
  const written = await publishRun(run, dest, { model: values.model });
  console.log(`${dest}: ${written.length} files from ${run}`);
  for (const f of written) console.log(`  ${f}`);
});
