/**
 * Writes the files of a finished run: results.json, table.md/.csv, run.json, the attention
 * figure (the paper's Figure 2), training curves and confusion matrices.
 * @module
 */
import { join } from "node:path";
import { readWav } from "../audio/mod.ts";
import type { Utterance } from "../corpus/types.ts";
import { loadModel } from "../model/persist.ts";
import {
  attentionFigureSpec,
  type AttentionItem,
  confusionMatrixSpec,
  renderSvg,
  svgToPng,
  trainingCurvesSpec,
} from "../report/charts.ts";
import { predictUtterance } from "../training/predict.ts";
import { writeFileAtomic, writeJsonAtomic } from "../util/atomic.ts";
import { Random } from "../util/random.ts";
import { SYSTEM_INFO, type SystemName } from "./config.ts";
import { tableCsv, tableMarkdown } from "./results.ts";
import type { ExperimentOutcome } from "./run.ts";
import type { SystemRun } from "./summary.ts";

/** Picks `n` test utterances for the attention figure, reproducibly (1–6 s long when possible). */
export function pickFigureUtterances(test: Utterance[], n = 2, seed = 1): Utterance[] {
  const sorted = [...test].sort((a, b) => (a.id < b.id ? -1 : 1));
  const mid = sorted.filter((u) => (u.samples ?? 0) >= 16000 && (u.samples ?? 0) <= 96000);
  const pool = mid.length >= n ? mid : sorted;
  const rng = new Random(seed);
  const chosen: Utterance[] = [];
  while (chosen.length < Math.min(n, pool.length)) {
    const u = pool[Math.floor(rng.next() * pool.length)];
    if (!chosen.includes(u)) chosen.push(u);
  }
  return chosen;
}

/**
 * Where a run keeps a model's training folder (the `trainModel` folder holding `model/`), given
 * the system, the seed, the number of seeds and the model's name (`mtl`, a task, `-<fold>`).
 */
export type ModelFolder = (system: SystemName, seed: number, seeds: number, name: string) => string;

/** The single-process layout: `systems/<system>/[seed-N/]<name>`. */
export function systemsLayout(out: string): ModelFolder {
  return (system, seed, seeds, name) =>
    join(out, "systems", system, seeds > 1 ? `seed-${seed}` : "", name);
}

/**
 * Attention weights of every task for the chosen utterances, from the saved attention model(s)
 * of a run (seed 1): the MTL+att model if it ran, else the per-task STL+att models; null when
 * the run has neither. Throws, naming the folder, when such a model cannot be loaded.
 */
export async function attentionItems(
  out: string,
  runs: Partial<Record<SystemName, SystemRun>>,
  utterances: Utterance[],
  tasks: string[],
  modelFolder: ModelFolder = systemsLayout(out),
): Promise<AttentionItem[] | null> {
  const dirs: string[] = [];
  const mtl = runs["e2e-mtl-att"], stl = runs["e2e-stl-att"];
  if (mtl) dirs.push(join(modelFolder("e2e-mtl-att", 1, mtl.seeds.length, "mtl"), "model"));
  else if (stl) {
    dirs.push(
      ...tasks.map((t) => join(modelFolder("e2e-stl-att", 1, stl.seeds.length, t), "model")),
    );
  } else return null;
  const models: Awaited<ReturnType<typeof loadModel>>[] = [];
  for (const d of dirs) {
    try {
      models.push(await loadModel(d));
    } catch (e) {
      for (const m of models) m.model.dispose();
      throw new Error(`cannot load seed 1's attention model ${d}: ${(e as Error).message}`);
    }
  }
  const items: AttentionItem[] = [];
  try {
    for (const u of utterances) {
      const audio = await readWav(u.path);
      const attention: Record<string, number[]> = {};
      for (const { model, meta } of models) {
        const p = await predictUtterance(model, meta, audio.samples);
        for (const [task, tp] of Object.entries(p.tasks)) {
          if (tp.attention) attention[task] = tp.attention.weight;
        }
      }
      const labels = tasks.map((t) => {
        const k = u.labels[t];
        const cls = models[0].meta.config.tasks.find((x) => x.name === t)?.classes ?? [];
        return k === undefined ? "" : `${t[0].toUpperCase()}=${cls[k] ?? k}`;
      }).filter(Boolean).join(" ");
      items.push({
        title: `${u.id} (${labels})`,
        samples: audio.samples,
        sampleRate: audio.sampleRate,
        attention,
      });
    }
  } finally {
    for (const m of models) m.model.dispose();
  }
  return items;
}

/**
 * Writes every output file of a run into `out`; `modelFolder` says where the attention
 * figure's models are (default: the single-process `systems/` layout).
 */
export async function writeOutputs(
  out: string,
  outcome: Pick<ExperimentOutcome, "results" | "runs" | "run">,
  figureUtterances: Utterance[],
  log: (line: string) => void = () => {},
  modelFolder: ModelFolder = systemsLayout(out),
): Promise<void> {
  const { results, runs, run } = outcome;
  await writeJsonAtomic(join(out, "results.json"), results);
  await writeFileAtomic(join(out, "table.md"), tableMarkdown(results));
  await writeFileAtomic(join(out, "table.csv"), tableCsv(results));
  const figures = join(out, "figures");
  await Deno.mkdir(figures, { recursive: true });
  for (
    const [system, scores] of Object.entries(results.systems) as [
      SystemName,
      Record<string, { test: { confusion: number[][] } }>,
    ][]
  ) {
    for (const [task, s] of Object.entries(scores)) {
      const svg = await renderSvg(
        confusionMatrixSpec(
          s.test.confusion,
          results.tasks[task],
          `${SYSTEM_INFO[system].label}: ${task} (test)`,
        ),
      );
      await writeFileAtomic(join(figures, `confusion-${system}-${task}.svg`), svg);
    }
    const histories = runs[system]?.seeds[0]?.histories ?? {};
    for (const [name, history] of Object.entries(histories)) {
      if (history.length === 0) continue;
      const points = history.map((h) => ({ epoch: h.epoch, loss: h.loss, devUar: h.devUar ?? {} }));
      const svg = await renderSvg(
        trainingCurvesSpec(points, `${SYSTEM_INFO[system].label}: ${name}`),
      );
      await writeFileAtomic(join(figures, `curves-${system}-${name}.svg`), svg);
    }
  }
  // A missing model (a run folder rebuilt from published result.json files has none) costs the
  // figure, not the tables; the log says which model and why.
  let skipped = "needs e2e-mtl-att or e2e-stl-att under the fixed split";
  const items = figureUtterances.length
    ? await attentionItems(out, runs, figureUtterances, Object.keys(results.tasks), modelFolder)
      .catch((e: Error) => {
        skipped = e.message;
        return null;
      })
    : null;
  if (items && items.length) {
    const svg = await renderSvg(attentionFigureSpec(items));
    await writeFileAtomic(join(out, "attention.svg"), svg);
    await writeFileAtomic(join(out, "attention.png"), await svgToPng(svg));
    log(`attention figure: ${items.map((i) => i.title).join("; ")}`);
  } else {
    log(`attention figure: skipped (${skipped})`);
  }
  await writeJsonAtomic(join(out, "run.json"), run);
}
