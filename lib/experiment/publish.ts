/**
 * `publishRun`: the part of a finished `reproduce` run folder that belongs in a paper's
 * repository, copied into a results folder (such as docs/results/emodb): the summary
 * (results.json, table.md/csv, run.json, corpus-report.json, Figure 2, figures/), every system's
 * result.json (all predictions and epoch histories: enough for `deno task compare` and for a
 * later sitting to add seeds without retraining the published ones), the training curves as
 * `epochs/<system>-seed-<n>-<model>.jsonl`, and optionally one trained model. Checkpoints, the
 * feature cache and the other models stay behind (they are hundreds of MB).
 *
 * A study run as trials (`reproduce --plan`) publishes its plan (plan.json, trials.jsonl) and
 * every finished trial's `trials/<id>/result.json` (predictions and history, no model): the
 * published folder is then itself a trials folder, in which `--trial I` runs only the missing
 * trials and `--collect` summarises, so a study can be published part-way and finished later.
 * @module
 */
import { join } from "node:path";
import { pathExists, readJsonIfExists, writeFileAtomic } from "../util/atomic.ts";
import { SYSTEMS } from "./config.ts";
import type { SystemRun } from "./summary.ts";

/** Options of {@link publishRun}. */
export interface PublishOptions {
  /**
   * A model folder to publish as `<dest>/model` (the folder holding model.json, such as
   * `<run>/systems/e2e-mtl-att/seed-1/mtl/model`); none when absent.
   */
  model?: string;
}

/** The summary files of a run, copied when present (results.json must be). */
const SUMMARY_FILES = [
  "results.json",
  "table.md",
  "table.csv",
  "run.json",
  "corpus-report.json",
  "attention.svg",
  "attention.png",
];

/**
 * Copies a run's publishable outputs from `run` into `dest` and returns the paths it wrote,
 * relative to `dest`. Files of `dest` that the run does not produce (a README, a LOSO
 * subfolder) are left alone. Refuses a single-process run without results.json (not finished)
 * and a model folder without model.json; a trials run (with plan.json) is published with the
 * trials it has finished, summarised or not.
 *
 * @example
 * ```ts
 * import { publishRun } from "./publish.ts";
 * await publishRun("runs/emodb-study", "docs/results/emodb", {
 *   model: "runs/emodb-study/systems/e2e-mtl-att/seed-1/mtl/model",
 * });
 * ```
 */
export async function publishRun(
  run: string,
  dest: string,
  options: PublishOptions = {},
): Promise<string[]> {
  const trials = await pathExists(join(run, "plan.json"));
  if (!trials && !(await pathExists(join(run, "results.json")))) {
    throw new Error(
      `${run}: no results.json; the run is not finished (reproduce writes it once every system ` +
        "has every seed)",
    );
  }
  if (options.model && !(await pathExists(join(options.model, "model.json")))) {
    throw new Error(`${options.model}: no model.json; --model names a model folder`);
  }
  const written: string[] = [];
  const put = async (relative: string, data: Uint8Array | string) => {
    const path = join(dest, relative);
    await Deno.mkdir(join(path, ".."), { recursive: true });
    await writeFileAtomic(path, data);
    written.push(relative);
  };
  for (const f of SUMMARY_FILES) {
    if (await pathExists(join(run, f))) await put(f, await Deno.readFile(join(run, f)));
  }
  if (await pathExists(join(run, "figures"))) {
    for await (const e of Deno.readDir(join(run, "figures"))) {
      if (e.isFile) {
        await put(join("figures", e.name), await Deno.readFile(join(run, "figures", e.name)));
      }
    }
  }
  if (trials) {
    for (const f of ["plan.json", "trials.jsonl"]) await put(f, await Deno.readFile(join(run, f)));
    if (await pathExists(join(run, "trials"))) {
      for await (const e of Deno.readDir(join(run, "trials"))) {
        const path = join(run, "trials", e.name, "result.json");
        // An unfinished trial has no result.json (it is written last, atomically).
        if (e.isDirectory && (await pathExists(path))) {
          await put(join("trials", e.name, "result.json"), await Deno.readFile(path));
        }
      }
    }
  }
  for (const system of SYSTEMS) {
    const path = join(run, "systems", system, "result.json");
    const result = await readJsonIfExists<SystemRun>(path);
    if (!result) continue;
    await put(join("systems", system, "result.json"), await Deno.readFile(path));
    // The curves as the epoch logs wrote them: one JSON line per epoch, per model and seed.
    for (const seed of result.seeds) {
      for (const [model, epochs] of Object.entries(seed.histories)) {
        const lines = epochs.map((e) => JSON.stringify(e) + "\n").join("");
        await put(join("epochs", `${system}-seed-${seed.seed}-${model}.jsonl`), lines);
      }
    }
  }
  if (options.model) {
    for await (const e of Deno.readDir(options.model)) {
      if (e.isFile) {
        await put(join("model", e.name), await Deno.readFile(join(options.model, e.name)));
      }
    }
  }
  return written.sort();
}
