/**
 * Paired A/B of one training step in one process: the model code of another checkout (`--base`,
 * e.g. `git worktree add ../ab-base <commit>`) against this one's, on the same inputs, steps
 * alternating. On a shared machine whose speed drifts by tens of percent from minute to minute,
 * only such pairs measure a change of a few percent; runs of separate processes minutes apart do
 * not. First checks that both compute the same loss and gradients (up to float rounding).
 *
 *   deno task bench:ab --base ../ab-base [--pairs 10] [--batch 8] [--windows 300]
 *
 * Both checkouts must resolve `@tensorflow/tfjs-core` to the same version (one tfjs engine): a
 * `git worktree` of this repository with `node_modules` linked to this one's does.
 * @module
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseCommandLine } from "../lib/util/cli.ts";
import { paperTrainingStep, type StepCode } from "./training_step.ts";
import { loadavg, median } from "./bench_util.ts";

const USAGE = "Usage: deno task bench:ab --base DIR [--pairs 10] [--batch 8] [--windows 300]";
const { values: args } = parseCommandLine({
  options: {
    base: { type: "string" },
    pairs: { type: "string", default: "10" },
    batch: { type: "string", default: "8" },
    windows: { type: "string", default: "300" },
    help: { type: "boolean", short: "h", default: false },
  },
}, USAGE);
if (args.help || !args.base) {
  console.log(USAGE);
  Deno.exit(args.help ? 0 : 2);
}
const count = (name: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench:ab: --${name} must be a positive integer\n\n${USAGE}`);
    Deno.exit(2);
  }
  return n;
};
const pairs = count("pairs", args.pairs), B = count("batch", args.batch);
const W = count("windows", args.windows);

const roots = [
  pathToFileURL(resolve(args.base, "lib")).href,
  new URL("../lib", import.meta.url).href,
];
const sides = await Promise.all(roots.map(async (root) => ({
  backend: await import(`${root}/model/backend.ts`),
  model: await import(`${root}/model/model.ts`) as StepCode["model"],
  gradients: await import(`${root}/model/gradients.ts`),
  loss: await import(`${root}/training/loss.ts`) as StepCode["loss"],
})));
// This checkout's gradients win where both define one (registration keeps the first).
sides[1].gradients.registerGradients();
sides[0].gradients.registerGradients();
await sides[1].backend.initBackend("wasm");

const steps = sides.map((code) => paperTrainingStep(code, B, W, true));

const [a, b] = steps.map((s) => s());
let worst = 0;
a.gradients.forEach((ga, i) => {
  let scale = 0, err = 0;
  for (let j = 0; j < ga.length; j++) {
    scale = Math.max(scale, Math.abs(ga[j]));
    err = Math.max(err, Math.abs(ga[j] - b.gradients[i][j]));
  }
  worst = Math.max(worst, err / (scale || 1));
});
console.log(
  `loss: base ${a.loss}, this ${b.loss}; largest gradient difference ${
    worst.toExponential(2)
  } of its tensor's largest value`,
);
const times: number[][] = [[], []];
for (let p = 0; p < pairs; p++) {
  for (const k of [0, 1]) {
    const t0 = performance.now();
    steps[k]();
    times[k].push(performance.now() - t0);
  }
}
const ratios = times[0].map((t, i) => t / times[1][i]);
console.log(
  `${B} × ${W} windows, ${pairs} pairs: base median ${median(times[0]).toFixed(0)} ms, this ${
    median(times[1]).toFixed(0)
  } ms; speed-up (median of pair ratios) ${median(ratios).toFixed(2)}×, pairs ${
    ratios.map((r) => r.toFixed(2)).join(" ")
  }; load ${loadavg()}`,
);
