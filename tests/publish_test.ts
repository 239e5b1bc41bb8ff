import assert from "node:assert/strict";
import { join } from "node:path";
import { publishRun } from "../lib/experiment/publish.ts";
import type { SystemRun } from "../lib/experiment/summary.ts";
import type { EpochRecord } from "../lib/training/train.ts";
import { runTask } from "./task_runner.ts";
import { withTempDir } from "./temp_dir.ts";

const epoch = (n: number, seconds: number) => ({ epoch: n, loss: 1 / n, seconds }) as EpochRecord;

/** Writes `text` to `root/relative`, creating the folders. */
async function writeUnder(root: string, relative: string, text: string): Promise<void> {
  await Deno.mkdir(join(root, relative, ".."), { recursive: true });
  await Deno.writeTextFile(join(root, relative), text);
}

/** A run folder as reproduce leaves it, with two systems, one of them with models. */
async function fakeRun(run: string): Promise<void> {
  const write = (relative: string, text: string) => writeUnder(run, relative, text);
  await write("results.json", '{"corpus":"x"}');
  await write("table.md", "| table |");
  await write("figures/confusion-e2e-mtl-arousal.svg", "<svg/>");
  await write("features/index.json", "{}"); // the feature cache stays behind
  const mtl: SystemRun = {
    system: "e2e-mtl",
    fingerprint: "f",
    seconds: 6,
    seeds: [1, 2].map((seed) => ({
      seed,
      tasks: {},
      histories: { mtl: [epoch(1, seed), epoch(2, 2 * seed)] },
    })),
  };
  await write("systems/e2e-mtl/result.json", JSON.stringify(mtl));
  await write("systems/e2e-mtl/seed-1/mtl/checkpoint/state.json", "{}");
  await write("systems/e2e-mtl/seed-1/mtl/model/model.json", '{"format":1}');
  await write("systems/e2e-mtl/seed-1/mtl/model/weights.bin", "0123");
  await write("systems/os-svm/result.json", JSON.stringify({ ...mtl, system: "os-svm" }));
}

Deno.test("publishRun: summary, result.json files, curves from the histories, the model", async () => {
  await withTempDir("publish-", async (dir) => {
    const run = join(dir, "run"), dest = join(dir, "dest");
    await fakeRun(run);
    await Deno.mkdir(dest);
    await Deno.writeTextFile(join(dest, "README.md"), "ours");
    const written = await publishRun(run, dest, {
      model: join(run, "systems/e2e-mtl/seed-1/mtl/model"),
    });
    assert.deepEqual(written, [
      "epochs/e2e-mtl-seed-1-mtl.jsonl",
      "epochs/e2e-mtl-seed-2-mtl.jsonl",
      "epochs/os-svm-seed-1-mtl.jsonl",
      "epochs/os-svm-seed-2-mtl.jsonl",
      "figures/confusion-e2e-mtl-arousal.svg",
      "model/model.json",
      "model/weights.bin",
      "results.json",
      "systems/e2e-mtl/result.json",
      "systems/os-svm/result.json",
      "table.md",
    ]);
    const lines = (await Deno.readTextFile(join(dest, "epochs/e2e-mtl-seed-2-mtl.jsonl")))
      .trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines, [epoch(1, 2), epoch(2, 4)]);
    assert.equal(await Deno.readTextFile(join(dest, "model/weights.bin")), "0123");
    assert.equal(await Deno.readTextFile(join(dest, "README.md")), "ours");
    await assert.rejects(Deno.stat(join(dest, "features")));
  });
});

Deno.test("publishRun refuses an unfinished run and a folder that is not a model", async () => {
  await withTempDir("publish-refuse-", async (dir) => {
    const run = join(dir, "run");
    await fakeRun(run);
    await assert.rejects(
      publishRun(run, join(dir, "dest"), { model: join(run, "systems/e2e-mtl/seed-1/mtl") }),
      /no model\.json/,
    );
    await Deno.remove(join(run, "results.json"));
    await assert.rejects(publishRun(run, join(dir, "dest")), /no results\.json; the run is not/);
    await assert.rejects(Deno.stat(join(dir, "dest")));
  });
});

Deno.test({
  name: "deno task publish: its permissions suffice; a wrong argument count is a usage error",
  sanitizeResources: false,
  fn: async () => {
    await withTempDir("publish-cli-", async (dir) => {
      await fakeRun(join(dir, "run"));
      const ok = await runTask("publish", [join(dir, "run"), join(dir, "dest")]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /: 9 files from /);
      const usage = await runTask("publish", [join(dir, "run")]);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /usage: deno task publish RUN DEST/);
    });
  },
});

Deno.test("publishRun of a trials run: the plan and the finished trials, summarised or not", async () => {
  await withTempDir("publish-trials-", async (dir) => {
    const run = join(dir, "run"), dest = join(dir, "dest");
    const write = (relative: string, text: string) => writeUnder(run, relative, text);
    await write("plan.json", '{"format":1}');
    await write("trials.jsonl", '{"index":0}\n{"index":1}\n');
    await write("trials/os-svm-1/result.json", '{"id":"os-svm-1"}');
    await write("trials/os-svm-1/log.txt", "fit");
    await write("trials/e2e-mtl-2/lock", ""); // still running: no result.json yet
    await write("trials/e2e-mtl-2/checkpoint.ckpt", "x");
    assert.deepEqual(await publishRun(run, dest), [
      "plan.json",
      "trials.jsonl",
      "trials/os-svm-1/result.json",
    ]);
    assert.equal(
      await Deno.readTextFile(join(dest, "trials/os-svm-1/result.json")),
      '{"id":"os-svm-1"}',
    );
    await assert.rejects(Deno.stat(join(dest, "trials/e2e-mtl-2")));
  });
});
