/**
 * The one temporary-folder helper of the tests: runs `fn` in a fresh folder named with `prefix`
 * and removes the folder afterwards, also when `fn` throws.
 * @module
 */
export async function withTempDir(
  prefix: string,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
