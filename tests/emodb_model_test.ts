/**
 * The committed EMO-DB model (docs/results/emodb/model, e2e MTL+att, seed 1) re-predicts the
 * test speakers (15, 16) one file at a time through `predictUtterance` — the path of
 * `deno task predict` — and scores the UAR per task that its model.json records under
 * `training.test`. Needs the corpus in ../shared; skips with a message where it is absent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readWav } from "../lib/audio/mod.ts";
import { fixedSplit, loadCorpus } from "../lib/corpus/mod.ts";
import { initBackend } from "../lib/model/backend.ts";
import { loadModel } from "../lib/model/persist.ts";
import { uar } from "../lib/training/metrics.ts";
import { predictUtterance } from "../lib/training/predict.ts";

const EMODB = new URL("../../shared/data/emodb", import.meta.url).pathname;
const MODEL = new URL("../docs/results/emodb/model", import.meta.url).pathname;
const present = await Deno.stat(join(EMODB, "wav")).then(() => true, () => false);
if (!present) console.warn(`skipping the EMO-DB model test: ${EMODB} is absent`);

Deno.test({
  name: "committed EMO-DB model: predict on the test speakers gives the test UAR in model.json",
  ignore: !present,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await initBackend("wasm");
    const { model, meta } = await loadModel(MODEL);
    const recorded = (meta.training as { test?: Record<string, number> } | undefined)?.test;
    assert.ok(recorded, "model.json records training.test");
    const corpus = await loadCorpus({ corpus: "emodb", data: EMODB, tasks: Object.keys(recorded) });
    const test = fixedSplit(corpus.utterances).test;
    assert.deepEqual([...new Set(test.map((u) => u.speaker))].sort(), ["15", "16"]);
    const truth: Record<string, number[]> = {}, predicted: Record<string, number[]> = {};
    for (const u of test) {
      const audio = await readWav(u.path, { sampleRate: meta.window?.sampleRate ?? 16000 });
      const p = await predictUtterance(model, meta, audio.samples);
      for (const [task, t] of Object.entries(p.tasks)) {
        if (u.labels[task] === undefined) continue;
        (truth[task] ??= []).push(u.labels[task]);
        (predicted[task] ??= []).push(t.index);
      }
    }
    for (const [task, want] of Object.entries(recorded)) {
      const classes = meta.tasks.find((t) => t.name === task)!.classes.length;
      const got = uar(truth[task], predicted[task], classes);
      assert.ok(Math.abs(got - want) < 1e-9, `${task}: predicted UAR ${got}, model.json ${want}`);
    }
    model.dispose();
  },
});
