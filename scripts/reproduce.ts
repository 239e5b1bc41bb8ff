/**
 * `deno task reproduce`: all six systems of the paper's Table 1 on a corpus, with significance
 * tests, Figure 2 (attention), curves, confusion matrices and exported models. The experiment is
 * a data file (`experiments/<corpus>.json`, or `--config FILE`); flags and `--set key=value`
 * override it. This script only parses arguments and prints.
 * @module
 */
import type { CorpusKind } from "../lib/corpus/mod.ts";
import {
  EXPERIMENT_KEYS,
  parseSystems,
  resolveExperiment,
  SMOKE_OVERLAY,
} from "../lib/experiment/config.ts";
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

/** A shortcut flag's value as JSON when it parses (numbers), else the text; checked by the schema. */
function value(v: string | undefined): unknown {
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

async function main() {
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const config = await resolveExperiment({
    config: values.config,
    corpus: values.corpus as CorpusKind | undefined,
    overlays: values.smoke ? [SMOKE_OVERLAY] : [],
    sets: values.set ?? [],
    values: {
      "data.corpus": values.config ? values.corpus : undefined,
      "data.root": values.data,
      "data.tasks": values.tasks?.split(",").map((t) => t.trim()).filter(Boolean),
      "data.protocol": values.protocol,
      "data.strict": values.strict || undefined,
      "systems": values.systems ? parseSystems(values.systems) : undefined,
      "training.seeds": value(values.seeds),
      "training.epochs": value(values.epochs),
      "training.batchSize": value(values["batch-size"]),
      "training.learningRate": value(values.lr),
      "training.l2": value(values.l2),
      "training.patience": value(values.patience),
      "training.taskWeightTrials": value(values.trials),
      "training.classWeighting": values["class-weighting"],
      "training.workers": value(values.workers),
      "baselines.featureNorm": values["feature-norm"],
      "baselines.svmCGrid": values["svm-c"] === undefined ? undefined : [value(values["svm-c"])],
      "backend": values.backend,
      "out": values.out,
      "force": values.force || undefined,
    },
  });
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
