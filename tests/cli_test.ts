/**
 * Command-line behaviour shared by every script: a wrong flag gets the usage and exit 2 (no
 * stack trace), each task's permissions allow what its flags offer, and probing for WebGPU
 * stays quiet where Mesa's Vulkan would complain about XDG_RUNTIME_DIR.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json"))) as {
  tasks: Record<string, string>;
};

/** `deno task NAME` → the script file and its permission flags. */
function taskCommand(name: string): { script: string; flags: string[] } {
  const words = config.tasks[name].split(/\s+/);
  const script = words.find((w) => w.startsWith("scripts/") && w.endsWith(".ts"));
  assert.ok(script, `task ${name} runs no script`);
  return { script, flags: words.filter((w) => w.startsWith("--allow-")) };
}

const SCRIPT_TASKS = [
  "bench",
  "compare",
  "corpus",
  "egemaps",
  "egemaps:parity",
  "make-example-data",
  "notebooks",
  "predict",
  "reproduce",
  "svm:check",
  "train",
  "web",
  "web:build",
];

/** Runs deno with a clean environment: only PATH, HOME, DENO_DIR and NO_COLOR (plus `env`). */
async function run(args: string[], env: Record<string, string> = {}) {
  const keep = Object.fromEntries(
    ["PATH", "HOME", "DENO_DIR"].flatMap((k) => {
      const v = Deno.env.get(k);
      return v === undefined ? [] : [[k, v]];
    }),
  );
  const out = await new Deno.Command("deno", {
    args,
    cwd: root,
    clearEnv: true,
    env: { ...keep, NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("every script answers an unknown flag with its usage and exit 2", async () => {
  for (const name of SCRIPT_TASKS) {
    const { script, flags } = taskCommand(name);
    const r = await run(["run", ...flags, script, "--no-such-flag"]);
    assert.equal(r.code, 2, `${name}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, /no-such-flag/, `${name}: the message names the flag`);
    assert.match(r.stderr, /usage/i, `${name}: prints the usage`);
    assert.doesNotMatch(r.stderr, /\n\s+at .*\.ts:\d+/, `${name}: no stack trace`);
  }
});

Deno.test("a task whose script offers an output folder may write anywhere", async () => {
  for (const name of SCRIPT_TASKS) {
    const { script, flags } = taskCommand(name);
    const source = await Deno.readTextFile(join(root, script));
    // Flags that take a folder or file to write: --out, --cache, --out-dir, --lld-dir.
    const offersOut = /["']?(out|cache|out-dir|lld-dir)["']?: \{ type: "string"/.test(source);
    if (!offersOut) continue;
    const write = flags.filter((f) => f.startsWith("--allow-write"));
    // notebooks writes its executed copies only inside the repository (documented).
    if (name === "notebooks") continue;
    assert.ok(
      write.includes("--allow-write"),
      `task ${name} offers an output path but grants only ${write.join(" ") || "no write"}`,
    );
  }
});

Deno.test("the auto backend's WebGPU probe prints no XDG_RUNTIME_DIR complaint", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const probe = join(dir, "probe.ts");
    const backend = new URL("../lib/model/backend.ts", import.meta.url).href;
    await Deno.writeTextFile(
      probe,
      `import { initBackend } from "${backend}";\nconsole.log(JSON.stringify(await initBackend("auto")));\n`,
    );
    const r = await run(
      [
        "run",
        "--config",
        join(root, "deno.json"),
        "--allow-read",
        "--allow-env=XDG_RUNTIME_DIR",
        probe,
      ],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /XDG_RUNTIME_DIR/);
    assert.match(r.stdout, /"backend":/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
