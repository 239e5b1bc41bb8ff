/**
 * `deno task reproduce`: all six systems of the paper's Table 1 on a corpus, with significance
 * tests, Figure 2 (attention), curves, confusion matrices and exported models. The experiment is
 * a data file (`experiments/<corpus>.json`, or `--config FILE`); flags and `--set key=value`
 * override it. This script only parses arguments and prints.
 * @module
 */
import { EXPERIMENT_KEYS, resolveFromFlags } from "../lib/experiment/config.ts";
import { tableText } from "../lib/experiment/results.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { parseCommandLine, runMain } from "../lib/util/cli.ts";

const USAGE = `usage: deno task reproduce [--corpus example|iemocap|emodb|manifest] [--config FILE]
  [--smoke] [--set key=value]... [--data PATH] [--out DIR] [--force] [--strict]
  [--systems os-svm,os-rnn,e2e-stl,e2e-stl-att,e2e-mtl,e2e-mtl-att] [--tasks LIST]
  [--protocol split|loso] [--seeds N] [--epochs N] [--backend auto|tensorflow|webgpu|wasm|cpu]
  [--batch-size N] [--lr X] [--l2 X] [--patience N] [--trials N] [--class-weighting none|balanced]
  [--feature-norm global|speaker] [--svm-c C] [--workers N]

The experiment is experiments/<corpus>.json (or --config FILE); --smoke layers
experiments/smoke.json on it; --set key=value (repeatable) and the shortcut flags override it.
Keys: ${EXPERIMENT_KEYS.join(", ")}.
Writes results.json, table.md, table.csv, attention.svg/png, figures/, systems/<name>/ (models,
logs), corpus-report.json and run.json into the experiment's out folder (default
runs/<corpus>-<date>). Re-running with the same out keeps finished systems.`;

const { values } = parseCommandLine({
  options: {
    corpus: { type: "string" },
    config: { type: "string" },
    set: { type: "string", multiple: true },
    data: { type: "string" },
    systems: { type: "string" },
    tasks: { type: "string" },
    protocol: { type: "string" },
    seeds: { type: "string" },
    epochs: { type: "string" },
    backend: { type: "string" },
    out: { type: "string" },
    smoke: { type: "boolean", default: false },
    force: { type: "boolean", default: false },
    strict: { type: "boolean", default: false },
    "batch-size": { type: "string" },
    lr: { type: "string" },
    l2: { type: "string" },
    patience: { type: "string" },
    trials: { type: "string" },
    "class-weighting": { type: "string" },
    "feature-norm": { type: "string" },
    "svm-c": { type: "string" },
    workers: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
}, USAGE);

async function main() {
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = await resolveFromFlags(values);
  const t0 = performance.now();
  console.log(
    `reproduce: ${config.systems.join(", ")} on ${config.data.corpus} (${config.data.protocol}), ` +
      `out ${config.out}`,
  );
  const outcome = await runExperiment(config);
  const elapsed = (performance.now() - t0) / 1000;
  console.log(
    `\nelapsed: ${Math.floor(elapsed / 60)} min ${
      (elapsed % 60).toFixed(0)
    } s; outputs in ${config.out}`,
  );
  console.log(
    "per system: " +
      Object.entries(outcome.run.durations).map(([s, d]) => `${s} ${d.toFixed(0)} s`).join(", "),
  );
  console.log(`\n${tableText(outcome.results)}`);
  console.log("★ = one-tailed z-test against e2e STL on test, p < .05");
}

await runMain("reproduce", main);
