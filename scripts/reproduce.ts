/**
 * `deno task reproduce`: all six systems of the paper's Table 1 on a corpus, with significance
 * tests, Figure 2 (attention), curves, confusion matrices and exported models. The experiment is
 * a data file (`experiments/<corpus>.json`, or `--config FILE`); flags and `--set key=value`
 * override it. `--plan`, `--trial I` and `--collect` run the same study as independent trials
 * on a scheduler (lib/experiment/trials.ts). This script only parses arguments and prints.
 * @module
 */
import { EXPERIMENT_KEYS, PROTOCOLS, resolveFromFlags } from "../lib/experiment/config.ts";
import { tableText } from "../lib/experiment/results.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import {
  collectTrials,
  runTrial,
  TrialBusyError,
  trialIndexFromEnv,
  writePlan,
} from "../lib/experiment/trials.ts";
import { EXIT_USAGE, parseCommandLine, runMain } from "../lib/util/cli.ts";

/** Exit status of `--trial` when another process holds the trial (EX_TEMPFAIL). */
const EXIT_BUSY = 75;

const USAGE = `usage: deno task reproduce [--corpus example|iemocap|emodb|manifest] [--config FILE]
  [--smoke] [--set key=value]... [--data PATH] [--out DIR] [--force] [--strict]
  [--systems os-svm,os-rnn,e2e-stl,e2e-stl-att,e2e-mtl,e2e-mtl-att] [--tasks LIST]
  [--protocol ${PROTOCOLS.join("|")}] [--seeds N] [--epochs N]
  [--backend auto|tensorflow|webgpu|wasm|cpu] [--batch-size N] [--lr X] [--l2 X] [--patience N]
  [--trials N] [--class-weighting none|balanced] [--feature-norm global|speaker] [--svm-c C]
  [--workers N] [--checkpoint-above N]
       deno task reproduce --plan [the options above]
       deno task reproduce --out DIR --trial [I]
       deno task reproduce --out DIR --collect

The experiment is experiments/<corpus>.json (or --config FILE); --smoke layers
experiments/smoke.json on it; --set key=value (repeatable) and the shortcut flags override it.
Keys: ${EXPERIMENT_KEYS.join(", ")}.
Writes results.json, table.md, table.csv, attention.svg/png, figures/, systems/<name>/ (models,
logs), corpus-report.json and run.json into the experiment's out folder (default
runs/<corpus>-<date>). Re-running with the same out keeps finished systems.

On a scheduler: --plan writes trials.jsonl (one line per training or fit) and plan.json into
the out folder; --trial I runs line I (0-based; without I: $SLURM_ARRAY_TASK_ID or
$JOB_COMPLETION_INDEX) into DIR/trials/<id>/ and skips a finished one (exit ${EXIT_BUSY} when
another process runs it); --collect writes the outputs from the finished trials and lists the
missing ones (exit 1 when some are missing). See deploy/ and the README.

--checkpoint-above N: batches of more than N windows recompute the front-end in the backward
pass (default 3072 on wasm/cpu, 8192 on webgpu: 2 GiB of activations); on a GPU with the
memory a higher N saves that second pass. Results agree up to float rounding, so it is not
part of the result fingerprint (like --backend).`;

// A bare --trial (no index) takes the index from the scheduler's environment.
const args = Deno.args.flatMap((a, i, all) =>
  a === "--trial" && (i + 1 >= all.length || all[i + 1].startsWith("-")) ? ["--trial="] : [a]
);

const { values } = parseCommandLine(
  {
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
      "checkpoint-above": { type: "string" },
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
      plan: { type: "boolean", default: false },
      trial: { type: "string" },
      collect: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  },
  USAGE,
  args,
);

/** Flags that describe an experiment: --trial and --collect take it from plan.json instead. */
const EXPERIMENT_FLAGS = Object.keys(values).filter((k) =>
  !["out", "plan", "trial", "collect", "help"].includes(k)
);

function usageError(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  Deno.exit(EXIT_USAGE);
}

function checkModes(): "run" | "plan" | "trial" | "collect" {
  const modes = [
    values.plan && "--plan",
    values.trial !== undefined && "--trial",
    values.collect && "--collect",
  ].filter(Boolean);
  if (modes.length > 1) usageError(`${modes.join(" and ")} exclude each other`);
  if (values.trial === undefined && !values.collect) {
    if (values.plan && values.force) {
      usageError("--force has no meaning with --plan (delete DIR/trials/<id> to re-run a trial)");
    }
    return values.plan ? "plan" : "run";
  }
  const mode = values.collect ? "--collect" : "--trial";
  const given = EXPERIMENT_FLAGS.filter((k) => {
    const v = (values as Record<string, unknown>)[k];
    return v !== undefined && v !== false && !(Array.isArray(v) && v.length === 0);
  });
  if (given.length) {
    usageError(
      `${mode} takes the experiment from DIR/plan.json; remove ${
        given.map((k) => `--${k}`).join(", ")
      }`,
    );
  }
  if (!values.out) usageError(`${mode} needs --out DIR (the folder --plan wrote)`);
  return values.collect ? "collect" : "trial";
}

function trialIndex(text: string): number {
  if (text === "" || text === "env") return trialIndexFromEnv();
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    usageError(`--trial ${text}: expected a 0-based line number of trials.jsonl`);
  }
  return n;
}

async function main() {
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const mode = checkModes();
  if (mode === "trial") {
    const index = trialIndex(values.trial!);
    try {
      await runTrial(values.out!, index);
    } catch (e) {
      if (!(e instanceof TrialBusyError)) throw e;
      console.error(`reproduce: trial ${index}: ${e.message}`);
      Deno.exit(EXIT_BUSY);
    }
    return;
  }
  if (mode === "collect") {
    const c = await collectTrials(values.out!);
    if (c.results) console.log(`\n${tableText(c.results)}`);
    if (c.missing.length) {
      console.error(
        `\nmissing: ${c.missing.length} of ${c.trials.length} trials (no result.json):`,
      );
      for (const t of c.missing.slice(0, 50)) {
        console.error(
          `  ${t.index}\t${t.id}\t${t.system} ${t.tasks.join("+")} fold ${t.fold ?? "all"} ` +
            `seed ${t.seed ?? "all"}`,
        );
      }
      if (c.missing.length > 50) console.error(`  … and ${c.missing.length - 50} more`);
      console.error(
        `run them with: deno task reproduce --out ${values.out} --trial I (I = the first column)`,
      );
      Deno.exit(1);
    }
    console.log(`\nall ${c.trials.length} trials collected; outputs in ${values.out}`);
    return;
  }
  const config = await resolveFromFlags(values);
  if (mode === "plan") {
    const { trials } = await writePlan(config);
    console.log(
      `\n${trials.length} trials in ${config.out}/trials.jsonl; run each with\n` +
        `  deno task reproduce --out ${config.out} --trial I    (I = 0…${trials.length - 1})\n` +
        `then: deno task reproduce --out ${config.out} --collect`,
    );
    return;
  }
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
      Object.entries(outcome.run.durations).map(([s, d]) => {
        const cpu = outcome.run.cpuDurations?.[s];
        return `${s} ${d.toFixed(0)} s${
          typeof cpu === "number" ? ` (CPU ${cpu.toFixed(0)} s)` : ""
        }`;
      }).join(", "),
  );
  console.log(`\n${tableText(outcome.results)}`);
  console.log("★ = one-tailed z-test against e2e STL on test, p < .05");
}

await runMain("reproduce", main);
