/**
 * The whole study on a WebGPU adapter (lavapipe here): `reproduce --smoke` trains all six
 * systems on webgpu, with the example experiment's 2 workers run as one engine's jobs, and ends
 * with the wasm study's numbers — every epoch's loss to float rounding, every UAR equal.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveExperiment, SMOKE_OVERLAY } from "../lib/experiment/config.ts";
import type { ExperimentResults } from "../lib/experiment/results.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("reproduce on webgpu");

const SYSTEMS = ["os-rnn", "e2e-stl", "e2e-stl-att", "e2e-mtl", "e2e-mtl-att"];

interface EpochLine {
  loss: number;
  backend: string;
}

async function study(backend: "wasm" | "webgpu", out: string) {
  const config = await resolveExperiment({
    corpus: "example",
    overlays: [SMOKE_OVERLAY],
    values: { backend, out },
  });
  assert.equal(config.training.workers, 2, "the example experiment trains on 2 workers");
  const { results } = await runExperiment(config, { log: () => {}, progress: "none" });
  const epochs: Record<string, EpochLine[]> = {};
  for (const system of SYSTEMS) {
    const dir = join(out, "systems", system);
    const models: string[] = [];
    for await (const e of Deno.readDir(dir)) if (e.isDirectory) models.push(e.name);
    for (const m of models.sort()) {
      const lines = (await Deno.readTextFile(join(dir, m, "epochs.jsonl"))).trim().split("\n");
      epochs[`${system}/${m}`] = lines.map((l) => JSON.parse(l));
    }
  }
  return { results, epochs };
}

function uars(r: ExperimentResults): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [system, byTask] of Object.entries(r.systems)) {
    for (const [task, s] of Object.entries(byTask!)) {
      out[`${system} ${task} dev`] = s.dev!.uar;
      out[`${system} ${task} test`] = s.test.uar;
    }
  }
  return out;
}

webgpuTest(
  "reproduce --smoke on webgpu: all six systems, the wasm study's losses and UARs",
  async () => {
    const root = await Deno.makeTempDir({ prefix: "reproduce-webgpu-" });
    try {
      const cpu = await study("wasm", join(root, "wasm"));
      const gpu = await study("webgpu", join(root, "webgpu"));
      assert.equal(gpu.results.backend, "webgpu");
      assert.deepEqual(Object.keys(gpu.epochs), Object.keys(cpu.epochs));
      assert.equal(Object.keys(gpu.epochs).length, 11, "3 + 3 + 3 STL models, 2 MTL models");
      for (const [model, lines] of Object.entries(gpu.epochs)) {
        assert.equal(lines.length, cpu.epochs[model].length, model);
        lines.forEach((e, i) => {
          assert.equal(e.backend, "webgpu", `${model} trained on webgpu`);
          const d = Math.abs(e.loss - cpu.epochs[model][i].loss);
          assert.ok(d < 1e-5, `${model} epoch ${i + 1}: loss differs by ${d}`);
        });
      }
      assert.deepEqual(uars(gpu.results), uars(cpu.results));
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
);
