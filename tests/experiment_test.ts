import assert from "node:assert/strict";
import { join } from "node:path";
import { resolveExperiment, SMOKE_OVERLAY } from "../lib/experiment/config.ts";
import {
  type ExperimentResults,
  foldTableMarkdown,
  tableMarkdown,
} from "../lib/experiment/results.ts";
import { reusableSeeds, runExperiment } from "../lib/experiment/run.ts";
import { summarise, type SystemRun } from "../lib/experiment/summary.ts";

Deno.test({
  name: "reproduce --smoke: all six systems, results.json, tables, figures; a re-run keeps them",
  // The model registers kernels and loads wasm once per process; nothing leaks between tests.
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "reproduce-smoke-" });
    try {
      const config = await resolveExperiment({
        corpus: "example",
        overlays: [SMOKE_OVERLAY],
        values: { backend: "wasm", out },
      });
      const lines: string[] = [];
      const outcome = await runExperiment(config, {
        log: (l) => lines.push(l),
        progress: "none",
        commit: "c0ffee-smoke",
      });
      const { results } = outcome;
      assert.deepEqual(Object.keys(results.systems), [
        "os-svm",
        "os-rnn",
        "e2e-stl",
        "e2e-stl-att",
        "e2e-mtl",
        "e2e-mtl-att",
      ]);
      for (const [system, byTask] of Object.entries(results.systems)) {
        for (const task of ["arousal", "valence", "dominance"]) {
          const s = byTask![task];
          assert.ok(s.test.uar >= 0 && s.test.uar <= 1, `${system} ${task} UAR ${s.test.uar}`);
          assert.equal(s.test.n, 8);
          assert.equal(s.test.confusion.flat().reduce((a, b) => a + b, 0), 8);
          if (system === "e2e-stl") assert.equal(s.test.p_vs_e2e_stl, null);
          else assert.ok(s.test.p_vs_e2e_stl! >= 0 && s.test.p_vs_e2e_stl! <= 1);
        }
      }
      // runExperiment writes every output itself.
      for (
        const f of [
          "results.json",
          "table.md",
          "table.csv",
          "run.json",
          "attention.svg",
          "attention.png",
        ]
      ) {
        assert.ok((await Deno.stat(join(out, f))).size > 0, `${f} written`);
      }
      const saved = JSON.parse(
        await Deno.readTextFile(join(out, "results.json")),
      ) as ExperimentResults;
      assert.equal(saved.corpus, "example");
      const runJson = JSON.parse(await Deno.readTextFile(join(out, "run.json")));
      assert.ok(runJson.hardware.cores >= 1 && runJson.hardware.platform.length > 0);
      // The sitting's commit is in run.json, in the log and in every epoch record it trained.
      assert.equal(runJson.commit, "c0ffee-smoke");
      assert.ok(lines.includes("code: commit c0ffee-smoke"));
      const epochs = (await Deno.readTextFile(join(out, "systems/e2e-mtl-att/mtl/epochs.jsonl")))
        .trim().split("\n").map((l) => JSON.parse(l));
      assert.ok(epochs.length >= 1);
      for (const e of epochs) assert.equal(e.code, "c0ffee-smoke");
      assert.equal(saved.protocol, "split");
      assert.equal(saved.backend, "wasm");
      assert.ok(typeof saved.systems["e2e-mtl-att"]!.valence.test.uar === "number");
      const table = await Deno.readTextFile(join(out, "table.md"));
      assert.match(table, /e2e MTL\+att\./);
      const model = JSON.parse(
        await Deno.readTextFile(join(out, "systems/e2e-mtl-att/mtl/model/model.json")),
      );
      assert.equal(model.backend, "wasm");
      assert.deepEqual(model.tasks.map((t: { name: string }) => t.name), [
        "arousal",
        "valence",
        "dominance",
      ]);

      // A second run with the same --out keeps every finished system.
      const again: string[] = [];
      const second = await runExperiment(config, { log: (l) => again.push(l), progress: "none" });
      assert.equal(again.filter((l) => /finished earlier, results kept/.test(l)).length, 6);
      assert.deepEqual(second.results, results);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("summarise: seeds give mean ± sd; the z-test and bootstrap compare with e2e STL", () => {
  const tasks = [{ name: "a", classes: ["x", "y"] }];
  const ids = Array.from({ length: 40 }, (_, i) => `u${i}`);
  const truth = ids.map((_, i) => i % 2);
  const run = (system: SystemRun["system"], accuracy: number[]): SystemRun => ({
    system,
    fingerprint: "",
    seconds: 0,
    seeds: accuracy.map((acc, k) => {
      const pred = truth.map((t, i) => (i / truth.length < acc ? t : 1 - t));
      const p = { ids, truth, predictions: pred };
      return { seed: k + 1, histories: {}, tasks: { a: { dev: p, test: p } } };
    }),
  });
  const results = summarise(
    { "e2e-stl": run("e2e-stl", [0.5, 0.5]), "e2e-mtl-att": run("e2e-mtl-att", [0.9, 0.8]) },
    tasks,
    { corpus: "x", protocol: "split", backend: "cpu", seeds: 2 },
  );
  const s = results.systems["e2e-mtl-att"]!.a.test;
  assert.ok(Math.abs(s.uar - 0.85) < 1e-9);
  assert.ok(Math.abs(s.uar_sd - Math.SQRT1_2 * 0.1) < 1e-9);
  assert.deepEqual(s.uar_per_seed.map((x) => Math.round(x * 100)), [90, 80]);
  assert.ok(s.p_vs_e2e_stl! < 0.05);
  // The bootstrap compares the seed means (0.85 − 0.5), not the first seeds (0.9 − 0.5).
  assert.ok(Math.abs(s.bootstrap_vs_e2e_stl!.difference - 0.35) < 1e-9);
  assert.equal(results.systems["e2e-stl"]!.a.test.p_vs_e2e_stl, null);
  assert.match(tableMarkdown(results), /85\.0 ± 7\.1 ★/);
  // OS+SVM has no seed: its (identical) seeds get no "± 0.0", and the caption says why.
  const svm = summarise({ "os-svm": { ...run("e2e-stl", [0.7, 0.7]), system: "os-svm" } }, tasks, {
    corpus: "x",
    protocol: "split",
    backend: "cpu",
    seeds: 2,
  });
  assert.match(tableMarkdown(svm), /\| OS\+SVM \| 70\.0 \| 70\.0 \|/);
  assert.match(tableMarkdown(svm), /OS\+SVM has no random seed/);
  assert.match(tableMarkdown(results), /★: one-tailed z-test against e2e STL/);
});

Deno.test({
  name:
    "reproduce with seeds: seed 1 of every system runs before seed 2; an interrupted study resumes",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "reproduce-seeds-" });
    try {
      const config = await resolveExperiment({
        corpus: "example",
        overlays: [SMOKE_OVERLAY],
        values: { backend: "wasm", out, "training.seeds": 2, "data.limitPerPartition": 4 },
      });
      config.systems = ["os-svm", "e2e-mtl"];
      const lines: string[] = [];
      const first = await runExperiment(config, { log: (l) => lines.push(l), progress: "none" });
      const starts = lines.filter((l) => /, seed \d of 2:$/.test(l));
      assert.deepEqual(starts, [
        "OS+SVM, seed 1 of 2:",
        "e2e MTL, seed 1 of 2:",
        "OS+SVM, seed 2 of 2:",
        "e2e MTL, seed 2 of 2:",
      ]);
      // Neural durations are the models' epoch times, so they survive interruptions.
      const mtl = first.runs["e2e-mtl"]!;
      const epochSeconds = mtl.seeds.flatMap((s) => Object.values(s.histories).flat())
        .reduce((a, e) => a + e.seconds, 0);
      assert.ok(epochSeconds > 0);
      assert.equal(first.run.durations["e2e-mtl"], epochSeconds);
      // CPU time likewise, from the same records; the SVM has none.
      const epochCpu = mtl.seeds.flatMap((s) => Object.values(s.histories).flat())
        .reduce((a, e) => a + e.cpuSeconds!, 0);
      assert.ok(epochCpu > 0);
      assert.equal(first.run.cpuDurations?.["e2e-mtl"], epochCpu);
      assert.equal(first.run.cpuDurations?.["os-svm"], null);

      // Interrupt: drop the system's result and seed 2's model; the next sitting retrains only it.
      await Deno.remove(join(out, "systems/e2e-mtl/result.json"));
      await Deno.remove(join(out, "systems/e2e-mtl/seed-2"), { recursive: true });
      const again: string[] = [];
      const second = await runExperiment(config, { log: (l) => again.push(l), progress: "none" });
      assert.equal(again.filter((l) => /already trained/.test(l)).length, 1);
      assert.equal(again.filter((l) => /OS\+SVM: finished earlier/.test(l)).length, 1);
      assert.deepEqual(
        second.results.systems["e2e-mtl"]!.arousal.test.uar_per_seed.length,
        2,
      );
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "reproduce: a one-seed study grown to two seeds reuses its trained models as seed 1",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "reproduce-grow-" });
    try {
      const values = { backend: "wasm", out, "data.limitPerPartition": 4 };
      const one = await resolveExperiment({
        corpus: "example",
        overlays: [SMOKE_OVERLAY],
        values: { ...values, "training.seeds": 1 },
      });
      one.systems = ["e2e-mtl"];
      const first = await runExperiment(one, { log: () => {}, progress: "none" });
      const two = { ...one, training: { ...one.training, seeds: 2 } };
      const lines: string[] = [];
      const second = await runExperiment(two, { log: (l) => lines.push(l), progress: "none" });
      assert.equal(lines.filter((l) => /one-seed run's models are seed 1/.test(l)).length, 1);
      assert.ok(lines.includes("e2e MTL: seed 1 finished earlier, results kept; seed 2 to run"));
      const perSeed = second.results.systems["e2e-mtl"]!.arousal.test.uar_per_seed;
      assert.equal(perSeed.length, 2);
      assert.equal(perSeed[0], first.results.systems["e2e-mtl"]!.arousal.test.uar);
      await Deno.stat(join(out, "systems/e2e-mtl/seed-1/mtl/outcome.json"));
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "reproduce: a run folder holding only committed result.json files trains the missing seeds only",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const first = await Deno.makeTempDir({ prefix: "reproduce-committed-" });
    const rebuilt = await Deno.makeTempDir({ prefix: "reproduce-rebuilt-" });
    try {
      const values = { backend: "wasm", "data.limitPerPartition": 4, "training.seeds": 1 };
      const one = await resolveExperiment({
        corpus: "example",
        overlays: [SMOKE_OVERLAY],
        values: { ...values, out: first },
      });
      one.systems = ["os-svm", "e2e-mtl-att"];
      const seed1 = await runExperiment(one, { log: () => {}, progress: "none" });
      // What a results folder commits: result.json per system, no models, no fingerprint.json.
      for (const system of one.systems) {
        await Deno.mkdir(join(rebuilt, "systems", system), { recursive: true });
        await Deno.copyFile(
          join(first, "systems", system, "result.json"),
          join(rebuilt, "systems", system, "result.json"),
        );
      }
      const two = { ...one, out: rebuilt, training: { ...one.training, seeds: 2 } };
      const lines: string[] = [];
      const grown = await runExperiment(two, { log: (l) => lines.push(l), progress: "none" });
      assert.ok(
        lines.includes("e2e MTL+att.: seed 1 finished earlier, results kept; seed 2 to run"),
      );
      assert.deepEqual(lines.filter((l) => /, seed \d of 2:$/.test(l)), [
        "OS+SVM, seed 2 of 2:",
        "e2e MTL+att., seed 2 of 2:",
      ]);
      const mtl = grown.runs["e2e-mtl-att"]!;
      assert.deepEqual(mtl.seeds.map((s) => s.seed), [1, 2]);
      assert.deepEqual(mtl.seeds[0], seed1.runs["e2e-mtl-att"]!.seeds[0]);
      // Seed 1's model is not there, so Figure 2 is skipped, and the log says why.
      assert.ok(
        lines.some((l) =>
          l.startsWith("attention figure: skipped (cannot load seed 1's attention model") &&
          l.includes(join(rebuilt, "systems/e2e-mtl-att/seed-1/mtl/model"))
        ),
      );
      // Seed 1's training time is kept (from its epoch records) and seed 2's added.
      const seconds = mtl.seeds.flatMap((s) => Object.values(s.histories).flat())
        .reduce((a, e) => a + e.seconds, 0);
      assert.equal(grown.run.durations["e2e-mtl-att"], seconds);
      assert.ok(seconds > seed1.run.durations["e2e-mtl-att"]);
      // result.json now holds both seeds; asking for one seed again keeps the first only.
      const back = await runExperiment({ ...two, training: { ...two.training, seeds: 1 } }, {
        log: () => {},
        progress: "none",
      });
      assert.deepEqual(
        back.results.systems["e2e-mtl-att"]!.arousal.test.uar_per_seed,
        seed1.results.systems["e2e-mtl-att"]!.arousal.test.uar_per_seed,
      );
    } finally {
      await Deno.remove(first, { recursive: true });
      await Deno.remove(rebuilt, { recursive: true });
    }
  },
});

Deno.test("reusableSeeds: same settings and seeds 1, 2, … in order, at most as many as asked", () => {
  const seed = (n: number) => ({ seed: n, histories: {}, tasks: {} });
  const run = (seeds: number[]): SystemRun => ({
    system: "e2e-mtl",
    fingerprint: "f",
    seconds: 0,
    seeds: seeds.map(seed),
  });
  assert.deepEqual(reusableSeeds(run([1, 2]), "f", 3).map((s) => s.seed), [1, 2]);
  assert.deepEqual(reusableSeeds(run([1, 2, 3]), "f", 2).map((s) => s.seed), [1, 2]);
  assert.deepEqual(reusableSeeds(run([1, 2]), "other settings", 3), []);
  assert.deepEqual(reusableSeeds(run([2, 3]), "f", 3), []);
  assert.deepEqual(reusableSeeds(undefined, "f", 3), []);
});

Deno.test("the per-fold table lists speaker folds in numeric order (03 before 10)", () => {
  const fold = (u: number) => ({ dev_uar: null, test_uar: u, n_test: 10 });
  const results = {
    corpus: "emodb",
    protocol: "loso",
    backend: "cpu",
    seeds: 1,
    tasks: { a: ["x", "y"] },
    systems: {
      "os-svm": {
        a: { test: { uar: 0.7 }, folds: { "10": fold(0.5), "16": fold(0.6), "03": fold(0.9) } },
      },
    },
  } as unknown as ExperimentResults;
  const header = foldTableMarkdown(results).split("\n")[0];
  assert.equal(header, "| method | task | 03 | 10 | 16 | pooled |");
  assert.match(
    foldTableMarkdown(results),
    /\| OS\+SVM \| a \| 90\.0 \| 50\.0 \| 60\.0 \| 70\.0 \|/,
  );
});
