/**
 * `deno task compare`: two systems of a run folder on the test set, with the same paired
 * bootstrap (every seed of both) as results.json's comparison with e2e STL.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { bootstrapTest, type SystemRun } from "../lib/experiment/summary.ts";
import { uar } from "../lib/training/metrics.ts";
import { runTask } from "./task_runner.ts";

/** A system run of `seeds` seeds; seed k gets every `flip[k]`-th test utterance wrong. */
function systemRun(system: SystemRun["system"], flips: number[], truth: number[]): SystemRun {
  const ids = truth.map((_, i) => `u${i}`);
  return {
    system,
    fingerprint: "",
    seconds: 0,
    seeds: flips.map((k, s) => {
      const predictions = truth.map((t, i) => (i % k === 0 ? 1 - t : t));
      // Each seed lists the utterances in another order: the comparison must pair them by id.
      const order = s % 2 ? [...ids.keys()].reverse() : [...ids.keys()];
      const test = {
        ids: order.map((i) => ids[i]),
        truth: order.map((i) => truth[i]),
        predictions: order.map((i) => predictions[i]),
      };
      return { seed: s + 1, histories: {}, tasks: { a: { dev: test, test } } };
    }),
  };
}

const compare = (args: string[]) => runTask("compare", args);

Deno.test("compare: seed-mean UARs, the results.json bootstrap over all seeds, the z-test", async () => {
  const dir = await Deno.makeTempDir({ prefix: "compare_test_" });
  try {
    const truth = Array.from({ length: 90 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    const mtl = systemRun("e2e-mtl", [5, 7], truth), stl = systemRun("e2e-stl", [2, 3], truth);
    await Deno.mkdir(join(dir, "systems", "e2e-mtl"), { recursive: true });
    await Deno.mkdir(join(dir, "systems", "e2e-stl"), { recursive: true });
    await Deno.writeTextFile(join(dir, "systems", "e2e-mtl", "result.json"), JSON.stringify(mtl));
    await Deno.writeTextFile(join(dir, "systems", "e2e-stl", "result.json"), JSON.stringify(stl));
    await Deno.writeTextFile(
      join(dir, "results.json"),
      JSON.stringify({ protocol: "split", tasks: { a: ["no", "yes"] }, systems: {} }),
    );
    const r = await compare([dir, "e2e-mtl", "e2e-stl", "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const row = JSON.parse(r.stdout).tasks[0];
    const mean = (run: SystemRun) =>
      run.seeds.reduce((s, x) => s + uar(x.tasks.a.test.truth, x.tasks.a.test.predictions, 2), 0) /
      run.seeds.length;
    assert.ok(Math.abs(row.difference - (mean(mtl) - mean(stl))) < 1e-12);
    assert.ok(row.difference > 0.1, `MTL gets fewer wrong: ${row.difference}`);
    const expected = bootstrapTest(mtl, stl, { name: "a", classes: ["no", "yes"] })!;
    assert.deepEqual(row.bootstrap, { low: expected.low, high: expected.high, p: expected.p });
    assert.deepEqual(row.seeds, [2, 2]);
    assert.equal(row.n, 90);
    assert.ok(row.z_test_p < 0.05);
    const text = await compare([dir, "e2e-mtl", "e2e-stl"]);
    assert.match(
      text.stdout,
      /e2e MTL − e2e STL .*\n {2}a: \d+\.\d − \d+\.\d = \+\d+\.\d; 95 % \[/,
    );
    // A system the run has not trained is named with its file.
    const missing = await compare([dir, "e2e-mtl-att", "e2e-stl"]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /e2e-mtl-att.*result\.json.*has the run trained it/);
    const unknown = await compare([dir, "e2e-xyz", "e2e-stl"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown system 'e2e-xyz'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
