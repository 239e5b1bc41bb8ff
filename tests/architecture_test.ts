/**
 * The folder graph of `lib/` reads as the pipeline: a stage imports only from stages before it
 * in {@link STAGES} (and from itself), so there is no cycle between folders and a reader can
 * learn the code front to back. Every stage names its public surface in a `mod.ts`, and the root
 * `mod.ts` re-exports those files only.
 */
import assert from "node:assert/strict";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

/** Stages in pipeline order; `util` is the bottom, usable by all. A new folder must be placed here. */
const STAGES = [
  "util",
  "audio",
  "corpus",
  "frames",
  "features",
  "model",
  "training",
  "evaluation",
  "baselines",
  "report",
  "experiment",
] as const;

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const LIB = join(ROOT, "lib");

/** Every `.ts` file under `dir`, as absolute paths. */
async function tsFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...await tsFiles(path));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/**
 * Relative module specifiers a file depends on: static imports and re-exports (type-only ones
 * too: a type cycle is still a cycle for a reader), dynamic `import("…")` and worker URLs
 * (`new URL("./x.ts", import.meta.url)`). Declarations are matched only at the start of a line,
 * so examples inside JSDoc (` * import … from "./mod.ts"`) do not count.
 */
function relativeSpecifiers(source: string): string[] {
  const patterns = [
    /^\s*(?:import|export)\s+(?:type\s+)?(?:[\w$]+\s*,\s*)?(?:\*(?:\s+as\s+[\w$]+)?|\{[^}]*\}|[\w$]+)\s+from\s*["']([^"']+)["']/gm,
    /^\s*import\s*["']([^"']+)["']/gm,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /new\s+URL\(\s*["']([^"']+\.ts)["']\s*,\s*import\.meta\.url\s*\)/g,
  ];
  const out = new Set<string>();
  for (const re of patterns) {
    for (const m of source.matchAll(re)) if (m[1].startsWith(".")) out.add(m[1]);
  }
  return [...out];
}

/** The stage of a path under lib/ (its first folder), or undefined outside lib/. */
function stageOf(path: string): string | undefined {
  const rel = relative(LIB, path);
  if (rel.startsWith("..")) return undefined;
  const parts = rel.split(sep);
  return parts.length > 1 ? parts[0] : "";
}

/** `from → to` edges between stages, each with the files that make it. */
async function stageEdges(): Promise<Map<string, string[]>> {
  const edges = new Map<string, string[]>();
  for (const file of await tsFiles(LIB)) {
    const from = stageOf(file)!;
    for (const spec of relativeSpecifiers(await Deno.readTextFile(file))) {
      const target = resolve(dirname(file), spec);
      const to = stageOf(target) ?? `outside lib/ (${relative(ROOT, target)})`;
      if (to === from) continue;
      const key = `${from} → ${to}`;
      const list = edges.get(key) ?? [];
      list.push(`${relative(ROOT, file)} imports ${spec}`);
      edges.set(key, list);
    }
  }
  return edges;
}

Deno.test("architecture: every folder of lib/ is a stage in the pipeline order", async () => {
  const folders: string[] = [];
  for await (const e of Deno.readDir(LIB)) {
    if (e.isDirectory) folders.push(e.name);
    else assert.fail(`lib/${e.name}: files belong in a stage folder`);
  }
  const unknown = folders.filter((f) => !(STAGES as readonly string[]).includes(f));
  assert.deepEqual(unknown, [], `place these folders in STAGES: ${unknown.join(", ")}`);
});

Deno.test("architecture: a stage imports only from stages before it (no folder cycles)", async () => {
  const rank = (s: string) => (STAGES as readonly string[]).indexOf(s);
  const bad: string[] = [];
  for (const [edge, files] of await stageEdges()) {
    const [from, to] = edge.split(" → ");
    if (rank(to) < 0 || rank(to) > rank(from)) bad.push(`${edge}:\n    ${files.join("\n    ")}`);
  }
  assert.deepEqual(
    bad,
    [],
    `imports against the order ${STAGES.join(" → ")}:\n  ${bad.join("\n  ")}`,
  );
});

Deno.test("architecture: every stage has a mod.ts, and the root mod.ts re-exports only those", async () => {
  const stageMods: string[] = [];
  for (const stage of STAGES) {
    const dir = join(LIB, stage);
    const subfolders: string[] = [];
    let hasMod = false;
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name === "mod.ts") hasMod = true;
      if (e.isDirectory) subfolders.push(e.name);
    }
    if (hasMod) stageMods.push(`./lib/${stage}/mod.ts`);
    else {
      // A stage made only of sub-folders (features/egemaps) has one mod.ts per sub-folder.
      assert.ok(subfolders.length > 0, `lib/${stage}/ has no mod.ts`);
      for (const sub of subfolders) {
        await Deno.stat(join(dir, sub, "mod.ts")).catch(() => {
          assert.fail(`lib/${stage}/${sub}/ has no mod.ts`);
        });
        stageMods.push(`./lib/${stage}/${sub}/mod.ts`);
      }
    }
  }
  const root = relativeSpecifiers(await Deno.readTextFile(join(ROOT, "mod.ts")));
  const other = root.filter((s) => !stageMods.includes(s));
  assert.deepEqual(other, [], "the root mod.ts re-exports stage mod.ts files only");
});

Deno.test("architecture: the import scanner sees every form of import", () => {
  const src = [
    `import { a } from "./a.ts";`,
    `import type { B } from "../b/mod.ts";`,
    `export * from "./c.ts";`,
    `export {\n  d,\n  type E,\n} from "./d.ts";`,
    `import f, { g } from "./f.ts";`,
    `import "./side.ts";`,
    `const m = await import("./dyn.ts");`,
    `new Worker(new URL("./worker.ts", import.meta.url).href);`,
    ` * import { x } from "./example.ts";`,
    `import * as tf from "@tensorflow/tfjs-core";`,
  ].join("\n");
  assert.deepEqual(relativeSpecifiers(src).sort(), [
    "../b/mod.ts",
    "./a.ts",
    "./c.ts",
    "./d.ts",
    "./dyn.ts",
    "./f.ts",
    "./side.ts",
    "./worker.ts",
  ]);
});
