/**
 * Predicts emotion classes for wav files with a saved model.
 *
 *   deno task predict a.wav b.wav --model runs/emodb-mtl/model [--json] [--backend wasm]
 *                     [--workers N]
 *
 * Per file and task: the class, the class probabilities and, for attention models, the
 * attention weight of every 40 ms window with its start time. Unreadable files are reported on
 * stderr and skipped; the exit status is 1 when any file failed. Several files are spread over
 * `--workers` engines (one core each, one file per job; default: every core on the CPU
 * backends), with the same predictions as one engine.
 * @module
 */
import { parseCommandLine } from "../lib/util/cli.ts";
import { readWav } from "../lib/audio/mod.ts";
import { initBackend, parseBackendName } from "../lib/model/backend.ts";
import { loadModel } from "../lib/model/persist.ts";
import type { GradientWorkers } from "../lib/model/parallel.ts";
import { predictUtterances, type UtterancePrediction } from "../lib/training/predict.ts";
import { startWorkerPool } from "../lib/training/train.ts";

const HELP =
  `usage: deno task predict <wav…> --model DIR [--json] [--backend auto|wasm|cpu|webgpu|tensorflow]
                         [--workers N]

  --model DIR     saved model folder (model.json + weights.bin)
  --json          print one JSON document (all files) instead of a text summary
  --backend NAME  tfjs backend (default auto)
  --workers N     engines (Web Workers, one core each) that share the files, one file at a
                  time each; 1 = this thread only. Default: the number of cores on the wasm
                  and cpu backends, 1 on webgpu and tensorflow. Never more than the files;
                  one file always runs on one engine (the GRU reads its windows in order).
`;

/** Files read (and predicted) per round on a pool: enough to keep every worker busy. */
const FILES_PER_WORKER = 4;

function summary(file: string, p: UtterancePrediction): string {
  const lines = [`${file}  (${p.seconds.toFixed(2)} s, ${p.windows} windows)`];
  for (const [task, t] of Object.entries(p.tasks)) {
    const probs = Object.entries(t.probabilities).map(([c, v]) => `${c} ${v.toFixed(3)}`).join(
      ", ",
    );
    let line = `  ${task}: ${t.class}  [${probs}]`;
    if (t.attention) {
      const i = t.attention.weight.indexOf(Math.max(...t.attention.weight));
      line += `  attention peak at ${t.attention.windowStart[i].toFixed(2)} s`;
    }
    lines.push(line);
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  const { values, positionals } = parseCommandLine({
    allowPositionals: true,
    options: {
      model: { type: "string" },
      json: { type: "boolean", default: false },
      backend: { type: "string", default: "auto" },
      workers: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  }, HELP);
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (!values.model) throw new Error("--model DIR is required\n" + HELP);
  if (positionals.length === 0) throw new Error("no wav files given\n" + HELP);
  const backendName = parseBackendName(values.backend);
  const asked = values.workers === undefined ? undefined : Number(values.workers);
  if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1)) {
    throw new Error(`--workers must be a positive integer, got ${values.workers}\n` + HELP);
  }
  // Fail on a wrong --model before spending seconds on backend start-up.
  await Deno.stat(`${values.model}/model.json`).catch(() => {
    throw new Error(`${values.model}/model.json not found: --model must be a saved model folder`);
  });
  const backend = await initBackend(backendName);
  const { model, meta } = await loadModel(values.model);
  // GPU backends gain nothing from more engines on the same device; CPU ones get every core.
  const cpuBackend = backend.backend === "wasm" || backend.backend === "cpu";
  const wanted = asked ?? (cpuBackend ? navigator.hardwareConcurrency : 1);
  const workers = Math.min(wanted, positionals.length);
  let pool: GradientWorkers | undefined;
  const results: { file: string; prediction?: UtterancePrediction; error?: string }[] = [];
  let failed = 0;
  try {
    // The workers build the model from model.json, whose weights they are sent with each round.
    if (workers > 1) pool = await startWorkerPool(meta.config, workers);
    const perRound = pool ? FILES_PER_WORKER * pool.size : 1;
    for (let start = 0; start < positionals.length; start += perRound) {
      const round: { file: string; samples?: Float32Array; error?: string }[] = [];
      for (const file of positionals.slice(start, start + perRound)) {
        try {
          const audio = await readWav(file, { sampleRate: meta.window?.sampleRate ?? 16000 });
          round.push({ file, samples: audio.samples });
        } catch (e) {
          round.push({ file, error: (e as Error).message });
        }
      }
      const ok = round.filter((r) => r.samples);
      let predictions: UtterancePrediction[] = [];
      let roundError: string | undefined;
      try {
        predictions = await predictUtterances(model, meta, ok.map((r) => r.samples!), {
          workers: pool,
        });
      } catch (e) {
        // The round's files fail together (a model that cannot read audio, a failed worker:
        // the pool then refuses the later rounds, which say so).
        roundError = (e as Error).message;
      }
      let next = 0;
      for (const r of round) {
        const error = r.error ?? roundError;
        if (error !== undefined) {
          failed++;
          results.push({ file: r.file, error });
          console.error(`skipped ${r.file}: ${error}`);
          if (r.samples) next++;
          continue;
        }
        const prediction = predictions[next++];
        results.push({ file: r.file, prediction });
        if (!values.json) console.log(summary(r.file, prediction));
      }
    }
  } finally {
    pool?.dispose();
  }
  if (values.json) {
    console.log(JSON.stringify(
      {
        model: values.model,
        backend: backend.backend,
        tasks: meta.tasks,
        results: results.map((r) => ({ file: r.file, ...r.prediction, error: r.error })),
      },
    ));
  }
  model.dispose();
  return failed > 0 ? 1 : 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(`predict: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
