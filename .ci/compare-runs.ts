/**
 * CI: compares a single-process `reproduce` folder with one collected from trials: results.json
 * deep-equal, table.md and table.csv identical, and every trial's model weights identical to
 * the plain run's model. Exit 1 with the differences otherwise.
 *
 * usage: deno run --allow-read .ci/compare-runs.ts PLAIN_DIR TRIALS_DIR
 * @module
 */
import { isDeepStrictEqual } from "node:util";
import { join } from "node:path";

const [plain, dist] = Deno.args;
if (!plain || !dist) {
  console.error("usage: compare-runs.ts PLAIN_DIR TRIALS_DIR");
  Deno.exit(2);
}
const problems: string[] = [];
const read = (dir: string, f: string) => Deno.readTextFile(join(dir, f));
if (
  !isDeepStrictEqual(
    JSON.parse(await read(plain, "results.json")),
    JSON.parse(await read(dist, "results.json")),
  )
) {
  problems.push("results.json differs");
}
for (const f of ["table.md", "table.csv"]) {
  if ((await read(plain, f)) !== (await read(dist, f))) problems.push(`${f} differs`);
}
const trials = (await read(dist, "trials.jsonl")).split("\n").filter(Boolean).map((l) =>
  JSON.parse(l) as { id: string; system: string; name: string; seed: number | null }
);
const seeds = JSON.parse(await read(dist, "plan.json")).config.training.seeds as number;
let models = 0;
for (const t of trials.filter((t) => t.seed !== null)) {
  const a = await Deno.readFile(join(dist, "trials", t.id, "model", "weights.bin"));
  const b = await Deno.readFile(
    join(
      plain,
      "systems",
      t.system,
      seeds > 1 ? `seed-${t.seed}` : "",
      t.name,
      "model",
      "weights.bin",
    ),
  );
  if (!isDeepStrictEqual(a, b)) problems.push(`${t.id}: weights differ from the plain run's`);
  models++;
}
if (problems.length) {
  console.error(`compare: ${problems.length} differences:\n  ${problems.join("\n  ")}`);
  Deno.exit(1);
}
console.log(
  `compare: results.json, table.md, table.csv identical; ${models} models bit-identical ` +
    `(${trials.length} trials)`,
);
