/**
 * `deno task reproduce`: all six systems of the paper's Table 1 on a corpus, with significance
 * tests, Figure 2 (attention), curves, confusion matrices and exported models.
 * @module
 */
import { parseCommandLine } from "../lib/util/cli.ts";
import { join } from "node:path";
import type { CorpusKind } from "../lib/corpus/mod.ts";
import { type ExperimentConfig, parseSystems, presetFor, SMOKE } from "../lib/experiment/config.ts";
import { pickFigureUtterances, writeOutputs } from "../lib/experiment/outputs.ts";
import { tableText } from "../lib/experiment/results.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { parseBackendName } from "../lib/model/backend.ts";

const USAGE = `usage: deno task reproduce [--corpus example|iemocap|emodb|manifest] [--data PATH]
  [--systems os-svm,os-rnn,e2e-stl,e2e-stl-att,e2e-mtl,e2e-mtl-att] [--tasks LIST]
  [--protocol split|loso] [--seeds N] [--epochs N] [--backend auto|tensorflow|webgpu|wasm|cpu]
  [--out DIR] [--smoke] [--force] [--strict]
  [--batch-size N] [--lr X] [--l2 X] [--patience N] [--trials N] [--class-weighting none|balanced]
  [--feature-norm global|speaker] [--svm-c C]

Runs the selected systems (default: all six) and writes results.json, table.md, table.csv,
attention.svg/png, figures/, systems/<name>/ (models, logs) and run.json into --out
(default runs/<corpus>-<date>). Re-running with the same --out keeps finished systems.`;

const { values } = parseCommandLine({
  options: {
    corpus: { type: "string", default: "example" },
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
    help: { type: "boolean", short: "h", default: false },
  },
}, USAGE);

function positiveInt(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--${name} must be a positive integer (got ${v})`);
  }
  return n;
}

function nonNegative(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n >= 0)) throw new Error(`--${name} must be a non-negative number (got ${v})`);
  return n;
}

function oneOf<T extends string>(
  name: string,
  v: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) {
    throw new Error(`--${name} must be one of ${allowed.join(", ")} (got ${v})`);
  }
  return v as T;
}

async function gitCommit(): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", { args: ["rev-parse", "HEAD"], stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

async function main() {
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const corpus = oneOf(
    "corpus",
    values.corpus,
    ["example", "iemocap", "emodb", "manifest"] as const,
  )!;
  const preset = presetFor(corpus as CorpusKind);
  const date = new Date().toISOString().slice(0, 10);
  const config: ExperimentConfig = {
    ...preset,
    ...(values.smoke ? SMOKE : {}),
    corpus,
    data: values.data,
    out: values.out ?? join("runs", `${corpus}${values.smoke ? "-smoke" : ""}-${date}`),
  };
  if (values.systems) config.systems = parseSystems(values.systems);
  if (values.tasks) config.tasks = values.tasks.split(",").map((t) => t.trim()).filter(Boolean);
  config.protocol = oneOf("protocol", values.protocol, ["split", "loso"] as const) ??
    config.protocol;
  config.seeds = positiveInt("seeds", values.seeds) ?? config.seeds;
  config.epochs = positiveInt("epochs", values.epochs) ?? config.epochs;
  config.backend = values.backend ? parseBackendName(values.backend) : config.backend;
  config.batchSize = positiveInt("batch-size", values["batch-size"]) ?? config.batchSize;
  config.learningRate = nonNegative("lr", values.lr) ?? config.learningRate;
  config.l2 = nonNegative("l2", values.l2) ?? config.l2;
  config.patience = positiveInt("patience", values.patience) ?? config.patience;
  config.taskWeightTrials = positiveInt("trials", values.trials) ?? config.taskWeightTrials;
  config.classWeighting =
    oneOf("class-weighting", values["class-weighting"], ["none", "balanced"] as const) ??
      config.classWeighting;
  config.featureNorm =
    oneOf("feature-norm", values["feature-norm"], ["global", "speaker"] as const) ??
      config.featureNorm;
  if (values["svm-c"] !== undefined) {
    const c = Number(values["svm-c"]);
    if (!(c > 0)) throw new Error(`--svm-c must be a positive number (got ${values["svm-c"]})`);
    config.svmCGrid = [c];
  }
  config.force = values.force;
  config.strict = values.strict;

  const t0 = performance.now();
  console.log(
    `reproduce: ${config.systems.join(", ")} on ${corpus} (${config.protocol}), out ${config.out}`,
  );
  const outcome = await runExperiment(config);
  outcome.run.commit = await gitCommit();
  // Figure 2 uses two test utterances of the fixed split.
  const figure = config.protocol === "split" ? pickFigureUtterances(outcome.folds[0].test) : [];
  await writeOutputs(config.out, outcome, figure, console.log);
  const elapsed = (performance.now() - t0) / 1000;
  console.log(
    `\nelapsed: ${Math.floor(elapsed / 60)} min ${
      (elapsed % 60).toFixed(0)
    } s; outputs in ${config.out}`,
  );
  console.log(`\n${tableText(outcome.results)}`);
  console.log("★ = one-tailed z-test against e2e STL on test, p < .05");
}

try {
  await main();
} catch (e) {
  console.error(`error: ${(e as Error).message}`);
  Deno.exit(1);
}
