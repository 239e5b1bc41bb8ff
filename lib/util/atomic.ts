/**
 * The one way the toolkit replaces a file: write a temporary sibling, flush it to disk, rename it
 * over the target. A reader (or a resumed run after SIGKILL or power loss) sees either the old
 * file or the new one, never a torn mix. The temporary name carries the process id and a random
 * suffix, so two processes writing the same target on a shared file system never write into one
 * temporary file.
 * @module
 */
import { dirname } from "node:path";

const encoder = new TextEncoder();

/** The temporary sibling name used while `path` is being written. */
export function temporaryName(path: string): string {
  const suffix = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);
  return `${path}.tmp-${Deno.pid}-${suffix}`;
}

/**
 * Writes `data` (bytes, or text as UTF-8) to `path` atomically, creating the parent folder.
 * @throws an error naming `path` when the file cannot be written or moved into place
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const bytes = typeof data === "string" ? encoder.encode(data) : data;
  await Deno.mkdir(dirname(path), { recursive: true });
  const tmp = temporaryName(path);
  try {
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let written = 0;
      while (written < bytes.length) written += await f.write(bytes.subarray(written));
      await f.syncData();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`${path}: cannot write (${(e as Error).message})`);
  }
}

/** Writes `value` as indented JSON (one space, trailing newline) atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 1) + "\n");
}

/** Whether a file or folder exists; errors other than "not found" (permissions) are thrown. */
export async function pathExists(path: string | URL): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

/** Reads a JSON file, or returns undefined when it does not exist; other errors name the file. */
export async function readJsonIfExists<T>(path: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
}
