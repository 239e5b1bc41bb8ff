/**
 * Compares two systems of a finished `reproduce` run folder on its test predictions, task by
 * task: the mean test UAR of each over its seeds, the paired bootstrap of the difference (every
 * seed of both on the same resamples: `bootstrapTest`, as results.json's comparison with e2e
 * STL) and the paper's one-tailed z-test. results.json compares every system with e2e STL only;
 * this answers "does attention help within MTL" (e2e-mtl-att against e2e-mtl) and the like.
 *
 *   deno task compare DIR SYSTEM_A SYSTEM_B [--json]
 * @module
 */
import { join } from "node:path";
import { zTestOneTailed } from "../lib/evaluation/stats.ts";
import { SYSTEM_INFO, type SystemName, SYSTEMS } from "../lib/experiment/config.ts";
import type { ExperimentResults } from "../lib/experiment/results.ts";
import { bootstrapTest, type SystemRun } from "../lib/experiment/summary.ts";
import { uar } from "../lib/training/metrics.ts";
import { readJsonIfExists } from "../lib/util/atomic.ts";
import { parseCommandLine, runMain } from "../lib/util/cli.ts";

const USAGE = "usage: deno task compare DIR SYSTEM_A SYSTEM_B [--json]\n" +
  `  systems: ${SYSTEMS.join(", ")}; DIR a reproduce run folder (results.json, systems/)`;

const { values: args, positionals } = parseCommandLine({
  options: {
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
  allowPositionals: true,
}, USAGE);

if (args.help) {
  console.log(USAGE);
  Deno.exit(0);
}
if (positionals.length !== 3) {
  console.error(USAGE);
  Deno.exit(2);
}
for (const s of positionals.slice(1)) {
  if (!(SYSTEMS as readonly string[]).includes(s)) {
    console.error(`compare: unknown system '${s}'\n\n${USAGE}`);
    Deno.exit(2);
  }
}
const out = positionals[0];
const [a, b] = positionals.slice(1) as SystemName[];

await runMain("compare", async () => {
  // Missing is named with what it means; unreadable or invalid JSON as readJsonIfExists says.
  const readJson = async <T>(path: string, what: string): Promise<T> => {
    const value = await readJsonIfExists<T>(path);
    if (value === undefined) throw new Error(`${path}: not found (${what})`);
    return value;
  };
  const results = await readJson<ExperimentResults>(join(out, "results.json"), "the run's results");
  const runOf = (s: SystemName) =>
    readJson<SystemRun>(
      join(out, "systems", s, "result.json"),
      `${s}'s predictions: has the run trained it?`,
    );
  const [runA, runB] = [await runOf(a), await runOf(b)];
  const rows = Object.entries(results.tasks).map(([name, classes]) => {
    const task = { name, classes };
    const meanUar = (r: SystemRun) =>
      r.seeds.reduce((sum, s) => {
        const p = s.tasks[name].test;
        return sum + uar(p.truth, p.predictions, classes.length);
      }, 0) / r.seeds.length;
    const ua = meanUar(runA), ub = meanUar(runB);
    const n = runA.seeds[0].tasks[name].test.truth.filter((y) => y >= 0).length;
    const boot = bootstrapTest(runA, runB, task);
    return {
      task: name,
      n,
      seeds: [runA.seeds.length, runB.seeds.length],
      uar: [ua, ub],
      difference: ua - ub,
      bootstrap: boot && { low: boot.low, high: boot.high, p: boot.p },
      z_test_p: zTestOneTailed(ua, ub, n).p,
    };
  });
  if (args.json) {
    console.log(JSON.stringify({ out, a, b, tasks: rows }));
    return;
  }
  const pt = (x: number) => (100 * x).toFixed(1);
  const signed = (x: number) => `${x >= 0 ? "+" : ""}${pt(x)}`;
  const la = SYSTEM_INFO[a].label, lb = SYSTEM_INFO[b].label;
  console.log(`${la} − ${lb} on the test set of ${out} (${results.protocol}), UAR in points:`);
  for (const r of rows) {
    const interval = r.bootstrap
      ? `95 % [${signed(r.bootstrap.low)}, ${signed(r.bootstrap.high)}], bootstrap p = ${
        r.bootstrap.p.toFixed(3)
      }`
      : "no paired bootstrap (not the same utterances)";
    console.log(
      `  ${r.task}: ${pt(r.uar[0])} − ${pt(r.uar[1])} = ${
        signed(r.difference)
      }; ${interval}; z-test p = ${r.z_test_p.toFixed(3)} (n ${r.n}; seeds ${r.seeds.join(" / ")})`,
    );
  }
  console.log("p: one-sided, that the first system is better.");
});
