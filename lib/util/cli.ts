/**
 * Command-line plumbing shared by every script: strict flag parsing that answers a typo with the
 * usage (exit 2, the convention of Unix tools for bad usage) instead of a stack trace, and a
 * `main` wrapper that prints an error's message (exit 1) without the stack.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** Exit status for a wrong command line (unknown flag, missing value). */
export const EXIT_USAGE = 2;

/**
 * Parses `args` strictly with `node:util` parseArgs. On an unknown flag or a malformed value it
 * prints the parser's message and `usage` to stderr and exits with {@link EXIT_USAGE}.
 *
 * @example
 * ```ts
 * const { values } = parseCommandLine({ options: { out: { type: "string" } } }, "usage: …");
 * ```
 */
export function parseCommandLine<const T extends ParseArgsConfig>(
  config: T,
  usage: string,
  args: string[] = Deno.args,
): ReturnType<typeof parseArgs<T & { args: string[]; strict: true }>> {
  try {
    return parseArgs({ ...config, args, strict: true });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${usage}`);
    Deno.exit(EXIT_USAGE);
  }
}

/**
 * Runs a script's `main`, printing `name: message` for any error and exiting 1. Set
 * `EMO_E2E_DEBUG=1` to see the stack as well.
 */
export async function runMain(name: string, main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    let debug = false;
    try {
      const state = Deno.permissions.querySync({ name: "env", variable: "EMO_E2E_DEBUG" }).state;
      debug = state === "granted" && Deno.env.get("EMO_E2E_DEBUG") === "1";
    } catch { /* no permission API: no debug */ }
    console.error(`${name}: ${debug ? err.stack ?? err.message : err.message}`);
    Deno.exit(1);
  }
}
