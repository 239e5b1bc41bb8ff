/**
 * Experiment files: the shipped ones validate, layering and `--set` overrides apply in order, and
 * every mistake is an error naming the key and the file.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  experimentFileFor,
  parseOverride,
  resolveExperiment,
  resolveFromFlags,
  resultFingerprint,
  SMOKE_OVERLAY,
  validateExperiment,
} from "../lib/experiment/config.ts";
import { withTempDir } from "./temp_dir.ts";

Deno.test("every shipped experiment file validates; iemocap holds the paper's values", async () => {
  for (const corpus of ["example", "emodb", "iemocap", "manifest"] as const) {
    const c = await resolveExperiment({ corpus, date: "2026-01-02" });
    assert.equal(c.data.corpus, corpus);
    assert.equal(c.out, `runs/${corpus}-2026-01-02`);
  }
  const paper = await resolveExperiment({ corpus: "iemocap" });
  assert.deepEqual(paper.model, {
    window: { samples: 640, hop: 160 },
    conv: { filters: 40, kernel: 40, pool: 2, channelPool: 10 },
    gru: { units: 128, layers: 2 },
    dropoutKeep: 0.9,
  });
  assert.equal(paper.training.learningRate, 1e-4);
  assert.deepEqual(paper.data.tasks, ["arousal", "valence", "dominance"]);
});

Deno.test("layers: file → overlay → --set → values, later wins", async () => {
  const smoke = await resolveExperiment({
    corpus: "example",
    overlays: [SMOKE_OVERLAY],
    sets: ["training.epochs=4", "model.gru.units=24", "systems=e2e-mtl-att,os-svm"],
    values: { "training.epochs": 5, backend: "wasm" },
    date: "D",
  });
  assert.equal(smoke.model.conv.filters, 8, "overlay");
  assert.equal(smoke.model.conv.kernel, 8);
  assert.equal(smoke.model.gru.layers, 2, "untouched keys keep the base file's value");
  assert.equal(smoke.model.gru.units, 24, "--set");
  assert.equal(smoke.training.epochs, 5, "values after --set");
  assert.deepEqual(smoke.systems, ["os-svm", "e2e-mtl-att"], "table order");
  assert.equal(smoke.backend, "wasm");
  assert.equal(smoke.out, "runs/example-smoke-D");
  assert.notEqual(
    resultFingerprint(smoke),
    resultFingerprint(await resolveExperiment({ corpus: "example", overlays: [SMOKE_OVERLAY] })),
  );
});

Deno.test("--checkpoint-above is a machine setting: validated, outside the result fingerprint", async () => {
  const plain = await resolveExperiment({ corpus: "emodb" });
  assert.equal(plain.checkpointAbove, undefined, "absent: the backend's default");
  const gpu = await resolveFromFlags({ corpus: "emodb", "checkpoint-above": "65536" });
  assert.equal(gpu.checkpointAbove, 65536);
  // Results agree up to float rounding, so finished systems stay reusable (as with --backend).
  assert.equal(resultFingerprint(gpu), resultFingerprint(plain));
  for (const bad of ["0", "1.5", "many"]) {
    await assert.rejects(
      resolveFromFlags({ corpus: "emodb", "checkpoint-above": bad }),
      /'checkpointAbove' must be a positive integer/,
    );
  }
});

Deno.test("--set parses JSON values, comma lists and refuses unknown keys", () => {
  assert.deepEqual(parseOverride("training.l2=1e-5"), { key: "training.l2", value: 1e-5 });
  assert.deepEqual(parseOverride("data.tasks=emotion,arousal2"), {
    key: "data.tasks",
    value: ["emotion", "arousal2"],
  });
  assert.deepEqual(parseOverride("baselines.svmCGrid=0.01,0.1"), {
    key: "baselines.svmCGrid",
    value: [0.01, 0.1],
  });
  assert.deepEqual(parseOverride("data.root=/a=b"), { key: "data.root", value: "/a=b" });
  assert.throws(() => parseOverride("training.epoch=3"), /unknown key 'training.epoch'/);
  assert.throws(() => parseOverride("training.epochs"), /key=value/);
});

Deno.test("schema errors name the key and the file", async () => {
  await withTempDir("config-test-", async (dir) => {
    const base = JSON.parse(await Deno.readTextFile(experimentFileFor("example")));
    const write = async (name: string, value: unknown) => {
      const path = join(dir, name);
      await Deno.writeTextFile(path, JSON.stringify(value));
      return path;
    };
    const bad = structuredClone(base);
    bad.training.epochs = -1;
    let path = await write("neg.json", bad);
    await assert.rejects(
      resolveExperiment({ config: path }),
      (e: Error) =>
        e.message.includes(path) && /'training\.epochs' must be a positive integer/.test(e.message),
    );
    const typo = structuredClone(base);
    typo.training.epoch = 3;
    path = await write("typo.json", typo);
    await assert.rejects(
      resolveExperiment({ config: path }),
      /unknown key 'training\.epoch' \(did you mean training\.epochs\?\)/,
    );
    const missing = structuredClone(base);
    delete missing.model.conv.channelPool;
    path = await write("missing.json", missing);
    await assert.rejects(
      resolveExperiment({ config: path }),
      /missing key 'model\.conv\.channelPool'/,
    );
    const geometry = structuredClone(base);
    geometry.model.conv.channelPool = 7;
    await assert.rejects(
      resolveExperiment({ config: await write("geo.json", geometry) }),
      /filters must be a multiple of model\.conv\.channelPool/,
    );
    path = join(dir, "broken.json");
    await Deno.writeTextFile(path, "{ not json");
    await assert.rejects(resolveExperiment({ config: path }), /broken\.json: not valid JSON/);
    await assert.rejects(
      resolveExperiment({ config: experimentFileFor("example"), sets: ["backend=gpu"] }),
      /'backend' must be one of auto, tensorflow, webgpu, wasm, cpu \(got "gpu"\)/,
    );
  });
  assert.throws(
    () => validateExperiment([], "x.json"),
    /x\.json: an experiment must be a JSON object/,
  );
});
