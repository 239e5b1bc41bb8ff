/**
 * A study as independent trials (issue #12): `--plan` writes one line per training with a
 * stable id, `--trial I` runs one line alone, `--collect` gives the results of one plain
 * `reproduce` process; trials are locked against a second process and skipped when finished.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { runTask } from "./task_runner.ts";
import { resolveExperiment, SMOKE_OVERLAY } from "../lib/experiment/config.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import {
  acquireLock,
  collectTrials,
  hostName,
  readPlan,
  runTrial,
  TrialBusyError,
  writePlan,
} from "../lib/experiment/trials.ts";

const quiet = { log: () => {}, progress: "none" as const, commit: null };

/** results.json without what may differ between two runs of the same study (none today). */
function comparable(text: string): unknown {
  return JSON.parse(text);
}

Deno.test({
  name: "plan + every trial + collect gives the results of one plain reproduce (smoke)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const plainOut = await Deno.makeTempDir({ prefix: "trials-plain-" });
    const out = await Deno.makeTempDir({ prefix: "trials-dist-" });
    try {
      const values = { backend: "wasm" };
      const plain = await resolveExperiment({
        corpus: "example",
        overlays: [SMOKE_OVERLAY],
        values: { ...values, out: plainOut },
      });
      await runExperiment(plain, quiet);

      const config = await resolveExperiment({
        corpus: "example",
        overlays: [SMOKE_OVERLAY],
        values: { ...values, out },
      });
      const { trials } = await writePlan(config, quiet);
      // One line per training or fit: the SVM once, 3 OS+RNN, 3 STL, 3 STL+att, 2 MTL.
      assert.equal(trials.length, 12);
      const lines = (await Deno.readTextFile(join(out, "trials.jsonl"))).trimEnd().split("\n");
      assert.deepEqual(lines.map((l) => JSON.parse(l)), trials);
      assert.deepEqual(trials.map((t) => t.index), trials.map((_, i) => i));
      assert.equal(new Set(trials.map((t) => t.id)).size, 12, "ids are unique");
      assert.deepEqual(trials[0], {
        index: 0,
        id: trials[0].id,
        system: "os-svm",
        tasks: ["arousal", "valence", "dominance"],
        fold: null,
        seed: null,
        name: "svm",
        taskWeightTrials: 1,
      });
      assert.match(trials[4].id, /^e2e-stl-arousal-s1-[0-9a-f]{12}$/);
      assert.equal((await readPlan(out)).plan.config.training.epochs, 1);

      // Nothing finished yet: collect writes nothing and lists all of them.
      const none = await collectTrials(out, quiet);
      assert.equal(none.missing.length, 12);
      assert.equal(none.results, undefined);

      for (let i = 0; i < trials.length; i++) {
        // Trial 4 (e2e STL) under a named commit: its result and every epoch record name it.
        const r = await runTrial(out, i, i === 4 ? { ...quiet, commit: "c0ffee-trial" } : quiet);
        assert.equal(r.status, "ran");
      }
      const dir4 = join(out, "trials", trials[4].id);
      assert.equal(
        JSON.parse(await Deno.readTextFile(join(dir4, "result.json"))).commit,
        "c0ffee-trial",
      );
      const epochs4 = (await Deno.readTextFile(join(dir4, "epochs.jsonl"))).trim().split("\n");
      assert.ok(epochs4.length >= 1);
      for (const l of epochs4) assert.equal(JSON.parse(l).code, "c0ffee-trial");
      // A finished trial is skipped.
      const again = await runTrial(out, 4, quiet);
      assert.equal(again.status, "finished-earlier");
      await assert.rejects(() => runTrial(out, 12, quiet), /out of range.*12 trials/);

      const c = await collectTrials(out, quiet);
      assert.deepEqual(c.missing, []);
      const read = (dir: string, f: string) => Deno.readTextFile(join(dir, f));
      assert.deepEqual(
        comparable(await read(out, "results.json")),
        comparable(await read(plainOut, "results.json")),
      );
      for (const f of ["table.md", "table.csv", "attention.svg"]) {
        assert.equal(await read(out, f), await read(plainOut, f), `${f} identical`);
      }
      // Bit-identical models: every trial's weights equal the plain run's.
      for (const t of trials.filter((t) => t.seed !== null)) {
        const a = await Deno.readFile(join(out, "trials", t.id, "model", "weights.bin"));
        const b = await Deno.readFile(
          join(plainOut, "systems", t.system, t.name, "model", "weights.bin"),
        );
        assert.deepEqual(a, b, `${t.id}: weights differ from the plain run's`);
      }
      const run = JSON.parse(await read(out, "run.json"));
      assert.equal(run.trials.planned, 12);
      assert.equal(run.trials.finished, 12);
      assert.deepEqual(run.trials.hosts, [await hostName()]);

      // A missing trial: its system is left out, the others stay, and it is listed.
      await Deno.remove(join(out, "trials", trials[11].id, "result.json"));
      const partial = await collectTrials(out, quiet);
      assert.deepEqual(partial.missing.map((t) => t.index), [11]);
      assert.equal(partial.results!.systems["e2e-mtl-att"], undefined);
      assert.ok(partial.results!.systems["e2e-mtl"]);
      assert.deepEqual(JSON.parse(await read(out, "run.json")).trials.missing, [trials[11].id]);
    } finally {
      await Deno.remove(plainOut, { recursive: true });
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test({
  name: "trial ids are stable and change with what defines the trial; session-cv plans per fold",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "trials-plan-" });
    try {
      const plan = async (values: Record<string, unknown>) =>
        (await writePlan(
          await resolveExperiment({
            corpus: "example",
            overlays: [SMOKE_OVERLAY],
            values: { backend: "wasm", out, ...values },
          }),
          quiet,
        )).trials;
      const a = await plan({});
      const b = await plan({});
      assert.deepEqual(a, b, "planning twice gives the same lines");
      const longer = await plan({ "training.epochs": 2 });
      for (let i = 0; i < a.length; i++) {
        if (a[i].system === "os-svm") assert.equal(longer[i].id, a[i].id, "the SVM is unchanged");
        else assert.notEqual(longer[i].id, a[i].id, `${a[i].id} depends on the epochs`);
      }
      const seeds = await plan({ "training.seeds": 2, systems: ["os-svm", "e2e-mtl"] });
      assert.deepEqual(seeds.map((t) => [t.system, t.seed]), [
        ["os-svm", null],
        ["e2e-mtl", 1],
        ["e2e-mtl", 2],
      ]);
      assert.equal(seeds[1].id, a.find((t) => t.system === "e2e-mtl")!.id, "seed 1 is the same");
      const cv = await plan({ "data.protocol": "session-cv", systems: ["os-svm", "e2e-stl"] });
      // The SVM fit covers every fold; e2e STL trains 3 tasks × 5 session folds.
      assert.equal(cv.length, 1 + 15);
      assert.deepEqual(
        [...new Set(cv.filter((t) => t.fold).map((t) => t.fold))],
        ["Session1", "Session2", "Session3", "Session4", "Session5"],
      );
      assert.equal(cv[1].name, "arousal-Session1");
      const { plan: saved } = await readPlan(out);
      assert.equal(saved.folds.length, 5);
      assert.equal(saved.utterances.Session5.test, 8, "8 utterances per session under --smoke");
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});

Deno.test("a trial's lock: a second process is refused by name; an abandoned lock is taken over", async () => {
  const dir = await Deno.makeTempDir({ prefix: "trials-lock-" });
  try {
    const path = join(dir, "lock");
    const held = await acquireLock(path);
    await assert.rejects(
      () => acquireLock(path),
      (e) =>
        e instanceof TrialBusyError && new RegExp(`held by .* pid ${Deno.pid}`).test(e.message) &&
        /delete .*lock/.test(e.message),
    );
    await held.release();
    await assert.rejects(() => Deno.stat(path), Deno.errors.NotFound);
    // A lock whose holder sends heartbeats is respected; one without for too long is taken over.
    const now = new Date().toISOString();
    const other = { token: "x", host: "elsewhere", pid: 4242, job: null, started: now };
    await Deno.writeTextFile(path, JSON.stringify({ ...other, heartbeat: now }));
    await assert.rejects(() => acquireLock(path), /held by elsewhere pid 4242/);
    const old = new Date(Date.now() - 3600_000).toISOString();
    await Deno.writeTextFile(path, JSON.stringify({ ...other, heartbeat: old }));
    const lines: string[] = [];
    const taken = await acquireLock(path, (l) => lines.push(l));
    assert.match(lines.join("\n"), /no heartbeat for 60 min .*; taking it over/);
    assert.equal(JSON.parse(await Deno.readTextFile(path)).pid, Deno.pid);
    await taken.release();
    // A requeued Slurm job takes over the lock its earlier run left.
    await Deno.writeTextFile(path, JSON.stringify({ ...other, job: "77", heartbeat: now }));
    Deno.env.set("SLURM_JOB_ID", "77");
    try {
      await (await acquireLock(path, (l) => lines.push(l))).release();
      assert.match(lines.at(-1)!, /earlier run of this Slurm job 77/);
    } finally {
      Deno.env.delete("SLURM_JOB_ID");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reproduce CLI: --trial and --collect take the experiment from plan.json; collect lists missing trials and exits 1", async () => {
  const out = await Deno.makeTempDir({ prefix: "trials-cli-" });
  const reproduce = async (...args: string[]) => {
    const r = await runTask("reproduce", args);
    return { code: r.code, out: r.stdout, err: r.stderr };
  };
  try {
    const bad = await reproduce("--out", out, "--trial", "0", "--smoke");
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--trial takes the experiment from DIR\/plan\.json; remove --smoke/);
    const noPlan = await reproduce("--out", out, "--collect");
    assert.equal(noPlan.code, 1);
    assert.match(noPlan.err, /no plan \(run reproduce --plan/);
    const planned = await reproduce(
      "--plan",
      "--smoke",
      "--backend",
      "wasm",
      "--systems",
      "os-svm,e2e-mtl",
      "--out",
      out,
    );
    assert.equal(planned.code, 0, planned.err);
    assert.match(planned.out, /2 trials in .*trials\.jsonl/);
    const collect = await reproduce("--out", out, "--collect");
    assert.equal(collect.code, 1);
    assert.match(collect.err, /missing: 2 of 2 trials/);
    assert.match(collect.err, /\n {2}1\te2e-mtl-mtl-s1-[0-9a-f]{12}\te2e-mtl /);
    const env = await reproduce("--out", out, "--trial");
    assert.equal(env.code, 1);
    assert.match(env.err, /SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX/);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
