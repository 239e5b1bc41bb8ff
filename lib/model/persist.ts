/**
 * Saved models: a folder with `model.json` (format, ModelConfig, task and class names,
 * standardisation statistics, training backend and a tfjs-style `weightsManifest`) and
 * `weights.bin` (little-endian float32/int32 values in manifest order).
 *
 * {@link encodeModel} and {@link decodeModel} use tfjs-core only and take or give bytes, so a
 * browser can fetch the two files and decode them; only {@link saveModel} and
 * {@link loadModel} touch the file system.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Standardisation, WindowSpec } from "../frames/types.ts";
import { EmotionModel } from "./model.ts";
import { writeFileAtomic } from "../util/atomic.ts";
import type { ModelConfig } from "./types.ts";

/** Format name written into every model.json. */
export const MODEL_FORMAT = "emo-e2e-model";
/** Current format version. */
export const MODEL_FORMAT_VERSION = 1;

/** Per-dimension statistics for feature-input models (e.g. eGeMAPS LLDs). */
export interface FeatureStandardisation {
  /** Mean per feature dimension. */
  mean: number[];
  /** Standard deviation per feature dimension. */
  std: number[];
}

/** Information stored next to the weights. */
export interface ModelExtras {
  /** Statistics used to standardise the training input; apply them before prediction. */
  standardisation?: Standardisation | FeatureStandardisation;
  /** Window geometry of raw-input models (sample rate, window and hop). */
  window?: WindowSpec;
  /** tfjs backend the model was trained on. */
  backend: string;
  /** Device description, e.g. `wasm (SIMD, 1 thread)`. */
  device?: string;
  /** Free-form training summary (corpus, epochs, dev UAR …). */
  training?: Record<string, unknown>;
}

/** One entry of the tfjs-style weights manifest. */
export interface WeightSpec {
  /** Weight name as given by `EmotionModel.getWeights()`. */
  name: string;
  /** Shape. */
  shape: number[];
  /** Element type. */
  dtype: "float32" | "int32";
}

/** Contents of model.json. */
export interface ModelJson extends ModelExtras {
  /** Always {@link MODEL_FORMAT}. */
  format: string;
  /** Format version. */
  version: number;
  /** Full model configuration. */
  config: ModelConfig;
  /** Task names and their ordered class names (also inside config; repeated for readers). */
  tasks: { name: string; classes: string[] }[];
  /** tfjs-style manifest: one group stored in weights.bin. */
  weightsManifest: { paths: string[]; weights: WeightSpec[] }[];
}

/** Serialises a model to its model.json object and weights.bin bytes. */
export async function encodeModel(
  model: EmotionModel,
  extras: ModelExtras,
): Promise<{ json: ModelJson; weights: Uint8Array }> {
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (const w of model.getWeights()) {
    const dtype = w.tensor.dtype;
    if (dtype !== "float32" && dtype !== "int32") {
      throw new Error(`encodeModel: weight ${w.name} has unsupported dtype ${dtype}`);
    }
    const data = await w.tensor.data();
    const typed = dtype === "int32" ? Int32Array.from(data) : Float32Array.from(data);
    specs.push({ name: w.name, shape: w.tensor.shape.slice(), dtype });
    chunks.push(new Uint8Array(typed.buffer));
    total += typed.byteLength;
  }
  const weights = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    weights.set(c, off);
    off += c.byteLength;
  }
  const json: ModelJson = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    config: model.config,
    tasks: model.config.tasks.map((t) => ({ name: t.name, classes: t.classes.slice() })),
    ...extras,
    weightsManifest: [{ paths: ["weights.bin"], weights: specs }],
  };
  return { json, weights };
}

/** Checks a parsed model.json and returns it typed; `source` names the file in errors. */
export function validateModelJson(raw: unknown, source = "model.json"): ModelJson {
  const j = raw as Partial<ModelJson> | null;
  if (!j || typeof j !== "object") throw new Error(`${source}: not a JSON object`);
  if (j.format !== MODEL_FORMAT) {
    throw new Error(`${source}: format is '${j.format}', expected '${MODEL_FORMAT}'`);
  }
  if (j.version !== MODEL_FORMAT_VERSION) {
    throw new Error(
      `${source}: format version ${j.version} is not supported (this code reads ` +
        `${MODEL_FORMAT_VERSION})`,
    );
  }
  if (!j.config || !Array.isArray(j.config.tasks)) {
    throw new Error(`${source}: missing 'config' with its 'tasks'`);
  }
  const m = j.weightsManifest;
  if (!Array.isArray(m) || m.length !== 1 || !Array.isArray(m[0].weights)) {
    throw new Error(`${source}: 'weightsManifest' must hold exactly one group of weights`);
  }
  for (const w of m[0].weights) {
    if (
      typeof w.name !== "string" || !Array.isArray(w.shape) ||
      !["float32", "int32"].includes(w.dtype)
    ) {
      throw new Error(`${source}: bad weight entry ${JSON.stringify(w)}`);
    }
  }
  return j as ModelJson;
}

/**
 * Rebuilds a model from model.json (parsed object) and weights.bin bytes. Uses no Deno API.
 * @param source names the model in error messages (e.g. its folder or URL)
 */
export function decodeModel(
  json: unknown,
  weights: Uint8Array | ArrayBuffer,
  source = "model",
): { model: EmotionModel; meta: ModelJson } {
  const meta = validateModelJson(json, `${source}/model.json`);
  const bytes = weights instanceof Uint8Array ? weights : new Uint8Array(weights);
  const specs = meta.weightsManifest[0].weights;
  const needed = specs.reduce((a, w) => a + 4 * w.shape.reduce((x, y) => x * y, 1), 0);
  if (bytes.byteLength !== needed) {
    throw new Error(
      `${source}/weights.bin: ${bytes.byteLength} bytes, but model.json describes ${needed}`,
    );
  }
  const model = EmotionModel.create(meta.config);
  const tensors: { name: string; tensor: tf.Tensor }[] = [];
  try {
    let off = 0;
    for (const w of specs) {
      const n = w.shape.reduce((x, y) => x * y, 1);
      // slice() copies into an aligned buffer: offsets in the file need not be aligned in memory.
      const buf = bytes.slice(off, off + 4 * n).buffer;
      const values = w.dtype === "int32" ? new Int32Array(buf) : new Float32Array(buf);
      tensors.push({ name: w.name, tensor: tf.tensor(values, w.shape, w.dtype) });
      off += 4 * n;
    }
    model.setWeights(tensors);
  } catch (e) {
    model.dispose();
    throw new Error(`${source}: cannot load weights: ${(e as Error).message}`);
  } finally {
    for (const t of tensors) t.tensor.dispose();
  }
  return { model, meta };
}

/** Writes `dir/model.json` and `dir/weights.bin` (creating `dir`). */
export async function saveModel(
  dir: string,
  model: EmotionModel,
  extras: ModelExtras,
): Promise<ModelJson> {
  const { json, weights } = await encodeModel(model, extras);
  // Weights first: a model.json on disk always has its weights.bin next to it.
  await writeFileAtomic(`${dir}/weights.bin`, weights);
  await writeFileAtomic(`${dir}/model.json`, JSON.stringify(json, null, 1));
  return json;
}

/** Reads a model folder written by {@link saveModel}. */
export async function loadModel(dir: string): Promise<{ model: EmotionModel; meta: ModelJson }> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/model.json`);
  } catch (e) {
    throw new Error(`${dir}/model.json: cannot read (${(e as Error).message})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`${dir}/model.json: invalid JSON (${(e as Error).message})`);
  }
  const meta = validateModelJson(json, `${dir}/model.json`);
  const path = meta.weightsManifest[0].paths[0] ?? "weights.bin";
  if (!/^[\w.-]+$/.test(path) || path.startsWith(".")) {
    throw new Error(
      `${dir}/model.json: weights path '${path}' must be a plain file name in the folder`,
    );
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(`${dir}/${path}`);
  } catch (e) {
    throw new Error(`${dir}/${path}: cannot read (${(e as Error).message})`);
  }
  return decodeModel(meta, bytes, dir);
}
