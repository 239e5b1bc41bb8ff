/**
 * Runs a script as its `deno task` runs it: deno.json's command for the task (its permission
 * flags exactly), so a CLI test also checks that the declared permissions suffice. One copy for
 * every test that starts a script.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

const TASKS = (JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))) as {
  tasks: Record<string, string>;
}).tasks;

/** Exit status and output of one run. */
export interface TaskRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `deno task <name> <args…>` without the task runner (its words from deno.json, then
 * `args`), in the repository root unless `cwd` is given, with NO_COLOR set. After `timeoutMs`
 * the run is aborted, so that a hanging script fails its test instead of blocking the suite.
 */
export async function runTask(
  name: string,
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<TaskRun> {
  const command = TASKS[name];
  if (!command) throw new Error(`deno.json has no task ${name}`);
  const words = command.split(/\s+/);
  if (words[0] !== "deno") throw new Error(`task ${name} does not start with deno: ${command}`);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), opts.timeoutMs ?? 600_000);
  try {
    // "deno" rather than Deno.execPath(): the test task grants --allow-run=deno, which matches
    // the name on PATH, not the resolved binary behind it. The script path is relative to the
    // root, so it is made absolute for another cwd.
    const rest = words.slice(1).map((w) => (w.startsWith("scripts/") ? join(ROOT, w) : w));
    const r = await new Deno.Command("deno", {
      args: [...rest, ...args],
      cwd: opts.cwd ?? ROOT,
      env: { NO_COLOR: "1", ...opts.env },
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    const dec = new TextDecoder();
    return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
  } finally {
    clearTimeout(timer);
  }
}
