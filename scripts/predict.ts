/**
 * Predicts emotion classes for wav files with a saved model.
 *
 *   deno task predict a.wav b.wav --model runs/emodb-mtl/model [--json] [--backend wasm]
 *
 * Per file and task: the class, the class probabilities and, for attention models, the
 * attention weight of every 40 ms window with its start time. Unreadable files are reported on
 * stderr and skipped; the exit status is 1 when any file failed.
 * @module
 */
import { parseCommandLine } from "../lib/util/cli.ts";
import { readWav } from "../lib/audio/mod.ts";
import { initBackend, parseBackendName } from "../lib/model/backend.ts";
import { loadModel } from "../lib/model/persist.ts";
import { predictUtterance, type UtterancePrediction } from "../lib/training/predict.ts";

const HELP =
  `usage: deno task predict <wav…> --model DIR [--json] [--backend auto|wasm|cpu|webgpu|tensorflow]

  --model DIR     saved model folder (model.json + weights.bin)
  --json          print one JSON document (all files) instead of a text summary
  --backend NAME  tfjs backend (default auto)
`;

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
  // Fail on a wrong --model before spending seconds on backend start-up.
  await Deno.stat(`${values.model}/model.json`).catch(() => {
    throw new Error(`${values.model}/model.json not found: --model must be a saved model folder`);
  });
  const backend = await initBackend(backendName);
  const { model, meta } = await loadModel(values.model);
  const results: { file: string; prediction?: UtterancePrediction; error?: string }[] = [];
  let failed = 0;
  for (const file of positionals) {
    try {
      const audio = await readWav(file, { sampleRate: meta.window?.sampleRate ?? 16000 });
      const prediction = await predictUtterance(model, meta, audio.samples);
      results.push({ file, prediction });
      if (!values.json) console.log(summary(file, prediction));
    } catch (e) {
      failed++;
      const msg = (e as Error).message;
      results.push({ file, error: msg });
      console.error(`skipped ${file}: ${msg}`);
    }
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
