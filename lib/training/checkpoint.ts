/**
 * Training checkpoints: one binary file holding a JSON header (epoch, best-so-far, early-stopping
 * counters, seeds, history) followed by the raw float32/int32 data of the current weights, the
 * best weights and the Adam moments.
 *
 * The container format lives here; writing it goes through `util/atomic.ts` (temporary sibling,
 * flush, rename), so a crash leaves either the previous or the new checkpoint, never a torn one.
 * @module
 */

const MAGIC = "EMOCKPT1";

/** One stored array. */
export interface StoredArray {
  /** Which set it belongs to (`weights`, `best`, `adam_m`, `adam_v`). */
  group: string;
  /** Variable or weight name. */
  name: string;
  /** Shape. */
  shape: number[];
  /** Element type. */
  dtype: "float32" | "int32";
  /** Values. */
  values: Float32Array | Int32Array;
}

/** Header entry describing where an array lies in the data section. */
interface ArrayEntry {
  group: string;
  name: string;
  shape: number[];
  dtype: "float32" | "int32";
  /** Offset in elements (4 bytes each) from the start of the data section. */
  offset: number;
  /** Number of elements. */
  length: number;
}

/** Encodes a header object and arrays into one buffer. */
export function encodeCheckpoint(header: unknown, arrays: StoredArray[]): Uint8Array {
  let offset = 0;
  const entries: ArrayEntry[] = arrays.map((a) => {
    const size = a.shape.reduce((x, y) => x * y, 1);
    if (size !== a.values.length) {
      throw new Error(
        `encodeCheckpoint: ${a.group}/${a.name} has shape [${a.shape}] but ${a.values.length} values`,
      );
    }
    const e = {
      group: a.group,
      name: a.name,
      shape: a.shape,
      dtype: a.dtype,
      offset,
      length: size,
    };
    offset += size;
    return e;
  });
  const json = new TextEncoder().encode(JSON.stringify({ header, arrays: entries }));
  const headerBytes = 8 + 4 + json.length;
  const pad = (4 - (headerBytes % 4)) % 4;
  const dataStart = headerBytes + pad;
  const out = new Uint8Array(dataStart + offset * 4);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  for (let i = 0; i < arrays.length; i++) {
    const src = arrays[i].values;
    out.set(
      new Uint8Array(src.buffer, src.byteOffset, src.byteLength),
      dataStart + entries[i].offset * 4,
    );
  }
  return out;
}

/** Decodes a buffer written by {@link encodeCheckpoint}. `source` names the file in errors. */
export function decodeCheckpoint(
  bytes: Uint8Array,
  source = "checkpoint",
): { header: unknown; arrays: StoredArray[] } {
  if (bytes.length < 12 || new TextDecoder().decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new Error(`${source}: not a training checkpoint (bad magic)`);
  }
  const jsonLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(8, true);
  if (12 + jsonLength > bytes.length) throw new Error(`${source}: truncated header`);
  let parsed: { header: unknown; arrays: ArrayEntry[] };
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + jsonLength)));
  } catch (e) {
    throw new Error(`${source}: corrupt header (${(e as Error).message})`);
  }
  const headerBytes = 12 + jsonLength;
  const dataStart = headerBytes + (4 - (headerBytes % 4)) % 4;
  const arrays = parsed.arrays.map((e) => {
    const start = dataStart + e.offset * 4;
    const end = start + e.length * 4;
    if (end > bytes.length) throw new Error(`${source}: truncated data for ${e.group}/${e.name}`);
    // Copy so the result is aligned and independent of the file buffer.
    const copy = bytes.slice(start, end).buffer;
    const values = e.dtype === "int32" ? new Int32Array(copy) : new Float32Array(copy);
    return { group: e.group, name: e.name, shape: e.shape, dtype: e.dtype, values };
  });
  return { header: parsed.header, arrays };
}

/** Reads a checkpoint file, or returns undefined when it does not exist. */
export async function readCheckpointFile(
  path: string,
): Promise<{ header: unknown; arrays: StoredArray[] } | undefined> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path}: cannot read checkpoint: ${(e as Error).message}`);
  }
  return decodeCheckpoint(bytes, path);
}
