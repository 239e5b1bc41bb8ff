/**
 * Trains one model of an experiment on the fixed split and saves it: the same `trainModel` and
 * the same experiment files as `reproduce`, for one system, one task group and one seed.
 *
 *   deno task train --corpus emodb --system e2e-mtl-att --out runs/emodb-mtl-att
 *   deno task train --config experiments/iemocap.json --data /path/IEMOCAP --system e2e-stl \
 *     --tasks arousal --set training.epochs=30 --out runs/iemocap-stl-arousal
 *
 * Writes to --out: `checkpoint.ckpt` (every epoch; rerunning the same command resumes),
 * `epochs.jsonl` (one record per epoch), `trials.jsonl` (task-weight search), `model/`
 * (model.json + weights.bin of the selected model), `outcome.json`, `config.json` (the resolved
 * experiment) and `results.json` (dev and test evaluation with per-utterance probabilities).
 * @module
 */
import { join } from "node:path";
import { fixedSplit, loadCorpus, samplePerPartition } from "../lib/corpus/mod.ts";
import { parseSystems, resolveFromFlags, SYSTEM_INFO } from "../lib/experiment/config.ts";
import { corpusFeatures } from "../lib/experiment/features.ts";
import { modelSpecFor } from "../lib/experiment/systems.ts";
import { AudioCache } from "../lib/frames/mod.ts";
import { initBackend } from "../lib/model/backend.ts";
import type { Evaluation } from "../lib/training/evaluate.ts";
import type { ProgressMode } from "../lib/training/progress.ts";
import { trainModel } from "../lib/training/train_model.ts";
import { writeJsonAtomic } from "../lib/util/atomic.ts";
import { parseCommandLine, runMain } from "../lib/util/cli.ts";

const HELP = `usage: deno task train [--corpus example|iemocap|emodb|manifest] [--config FILE]
    [--data PATH] [--system NAME] [--tasks LIST] [--seed N] --out DIR [options]

The settings come from the experiment file (experiments/<corpus>.json, or --config), as in
reproduce; flags and --set override them.
  --system NAME         e2e-mtl-att (default) | e2e-mtl | e2e-stl-att | e2e-stl | os-rnn
                        (STL systems train one task: give --tasks with one name)
  --tasks LIST          tasks of the model (default: the experiment's)
  --seed N              seed of weights, shuffling and dropout (default 1)
  --set key=value       any experiment key, e.g. training.epochs=30 model.gru.units=64
  --smoke               layer experiments/smoke.json (small model, 8 utterances, 1 epoch)
  --epochs N --batch-size N --lr X --l2 X --patience N --trials N
  --class-weighting none|balanced
  --task-weights LIST   fixed w_m, e.g. arousal=1,valence=0.5 (default all 1; not with --trials)
  --backend NAME        auto | wasm | cpu | webgpu | tensorflow
  --checkpoint-above N  batches of more than N windows recompute the front-end in the
                        backward pass (default 3072 on wasm/cpu, 8192 on webgpu: 2 GiB);
                        a GPU with the memory saves that pass with a higher N
  --workers N           engines, one core each, for training and the dev/test evaluation,
                        and files extracted at once for OS+RNN's eGeMAPS features
                        (default: the experiment's training.workers); on webgpu one
                        engine runs the N workers' jobs, with their dropout masks
  --limit N             at most N utterances per partition (round-robin over speakers)
  --no-resume           ignore an existing checkpoint in --out
  --progress MODE       auto | terminal | jupyter | none
`;

function parseTaskWeights(text: string, tasks: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(",")) {
    const [k, v] = part.split("=");
    if (!tasks.includes(k)) throw new Error(`--task-weights: '${k}' is not one of ${tasks}`);
    const x = Number(v);
    if (!(x >= 0)) throw new Error(`--task-weights: weight of ${k} must be ≥ 0, got '${v}'`);
    out[k] = x;
  }
  return out;
}

/** Everything of an evaluation a reader needs, probabilities included. */
function summariseEvaluation(e: Evaluation) {
  return {
    meanUar: e.meanUar,
    tasks: Object.fromEntries(
      Object.entries(e.tasks).map(([k, t]) => [k, {
        uar: t.uar,
        accuracy: t.accuracy,
        classes: t.classes,
        confusion: t.confusion,
        ids: t.ids,
        truth: t.truth,
        predictions: t.predictions,
        probabilities: t.probabilities,
      }]),
    ),
  };
}

async function main(): Promise<void> {
  const { values: a } = parseCommandLine({
    options: {
      corpus: { type: "string" },
      config: { type: "string" },
      data: { type: "string" },
      system: { type: "string", default: "e2e-mtl-att" },
      tasks: { type: "string" },
      seed: { type: "string", default: "1" },
      set: { type: "string", multiple: true },
      smoke: { type: "boolean", default: false },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      lr: { type: "string" },
      l2: { type: "string" },
      patience: { type: "string" },
      trials: { type: "string" },
      "class-weighting": { type: "string" },
      "task-weights": { type: "string" },
      backend: { type: "string" },
      "checkpoint-above": { type: "string" },
      workers: { type: "string" },
      limit: { type: "string" },
      "no-resume": { type: "boolean", default: false },
      progress: { type: "string", default: "auto" },
      out: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, HELP);
  if (a.help) {
    console.log(HELP);
    return;
  }
  if (!a.out) throw new Error("--out DIR is required");
  const [system] = parseSystems(a.system);
  if (!system || system === "os-svm") {
    throw new Error(`--system '${a.system}' is not a neural system (OS+SVM: use reproduce)`);
  }
  const progress = a.progress as ProgressMode;
  if (!["auto", "terminal", "jupyter", "none"].includes(progress)) {
    throw new Error(`--progress '${a.progress}' must be auto, terminal, jupyter or none`);
  }
  const seed = Number(a.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer (got ${a.seed})`);
  // train's own flags (system, seed, task weights, progress, resume) are not experiment keys.
  const { system: _s, seed: _seed, "task-weights": _w, progress: _p, "no-resume": _r, ...flags } =
    a;
  const config = await resolveFromFlags(flags);
  const backend = await initBackend(config.backend);
  console.error(`backend: ${backend.device}`);
  const corpus = await loadCorpus({
    corpus: config.data.corpus,
    data: config.data.root,
    tasks: config.data.tasks.length ? config.data.tasks : undefined,
    strict: config.data.strict,
  });
  for (const s of corpus.skipped) console.error(`skipped ${s.file}: ${s.reason}`);
  const info = SYSTEM_INFO[system];
  if (!info.multiTask && corpus.tasks.length !== 1) {
    throw new Error(
      `${system} trains one task; the experiment has ${
        corpus.tasks.map((t) => t.name).join(", ")
      }: give --tasks NAME`,
    );
  }
  const utterances = samplePerPartition(corpus.utterances, config.data.limitPerPartition);
  let fold = fixedSplit(utterances);
  const spec = modelSpecFor(config, system, corpus.tasks, seed);
  if (a["task-weights"]) {
    spec.training.taskWeights = parseTaskWeights(
      a["task-weights"],
      corpus.tasks.map((t) => t.name),
    );
  }
  console.error(
    `${corpus.name}: train ${fold.train.length}, dev ${fold.dev.length}, test ${fold.test.length}; ` +
      `tasks ${corpus.tasks.map((t) => t.name).join(", ")}; ${info.label}, seed ${seed}`,
  );
  await Deno.mkdir(a.out, { recursive: true });
  await writeJsonAtomic(join(a.out, "config.json"), config);
  let features;
  if (info.input === "lld") {
    const f = await corpusFeatures(utterances, join(a.out, "features"), console.error, {
      workers: config.training.workers,
    });
    for (const s of f.skipped) console.error(`skipped for OS+RNN: ${s.file}: ${s.reason}`);
    const ok = (list: typeof utterances) => list.filter((u) => f.functionals.has(u.id));
    fold = { ...fold, train: ok(fold.train), dev: ok(fold.dev), test: ok(fold.test) };
    features = { dim: f.lldDim, load: f.loadLld };
  }
  const r = await trainModel(spec, fold, {
    dir: a.out,
    read: new AudioCache().reader,
    features,
    backend,
    progress,
    log: console.error,
    resume: !a["no-resume"],
    describe: { system, corpus: corpus.name, experiment: config },
    checkpointAbove: config.checkpointAbove,
  });
  await writeJsonAtomic(join(a.out, "results.json"), {
    corpus: corpus.name,
    system,
    tasks: corpus.tasks,
    backend: backend.device,
    bestEpoch: r.history.findLast((h) => h.best)?.epoch,
    taskWeights: r.taskWeights,
    dev: summariseEvaluation(r.dev),
    test: summariseEvaluation(r.test),
  });
  const fmt = (e: Evaluation) =>
    Object.entries(e.tasks).map(([k, t]) => `${k} ${(t.uar * 100).toFixed(1)}%`).join(", ");
  console.log(`dev UAR: ${fmt(r.dev)}; test UAR: ${fmt(r.test)}`);
  console.log(`model saved to ${join(a.out, "model")}`);
  r.model.dispose();
}

if (import.meta.main) await runMain("train", main);
