/**
 * `deno task train` is a thin wrapper over `trainModel`: it runs with the task's own permissions
 * into any --out folder, saves a model whose model.json records its spec and scores, and a rerun
 * returns the finished training instead of training again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runTask } from "./task_runner.ts";

const train = (args: string[]) => runTask("train", args);

Deno.test("train --smoke writes a model outside runs/, records its spec and scores, reuses it", async () => {
  const out = await Deno.makeTempDir({ prefix: "train-cli-" });
  try {
    const args = ["--smoke", "--system", "e2e-mtl-att", "--backend", "wasm", "--out", out];
    const first = await train([...args, "--progress", "none"]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /test UAR: arousal/);
    const model = JSON.parse(await Deno.readTextFile(join(out, "model", "model.json")));
    assert.equal(model.training.system, "e2e-mtl-att");
    assert.deepEqual(Object.keys(model.training.test), ["arousal", "valence", "dominance"]);
    assert.equal(model.training.spec.network.conv.filters, 8, "the smoke overlay's model");
    const results = JSON.parse(await Deno.readTextFile(join(out, "results.json")));
    for (const t of ["arousal", "valence", "dominance"]) {
      assert.equal(results.test.tasks[t].uar, model.training.test[t]);
    }
    const log = (await Deno.readTextFile(join(out, "epochs.jsonl"))).trim().split("\n");
    assert.equal(log.length, 1, "one epoch, one record");
    const config = JSON.parse(await Deno.readTextFile(join(out, "config.json")));
    assert.equal(config.training.epochs, 1);

    const again = await train([...args, "--progress", "none"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      again.stdout.split("\n")[0],
      first.stdout.split("\n")[0],
      "same scores from the finished training",
    );

    const other = await train([...args, "--set", "training.learningRate=0.01"]);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /outcome\.json: a finished training of another configuration/);

    const stl = await train(["--smoke", "--system", "e2e-stl", "--out", out]);
    assert.equal(stl.code, 1);
    assert.match(stl.stderr, /trains one task.*--tasks NAME/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
