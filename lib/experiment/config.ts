/**
 * An experiment is a data file plus one script (`deno task reproduce`): `experiments/<name>.json`
 * holds everything that defines a run — data, the full model, training, baselines and outputs —
 * in the spirit of SpeechBrain's hparams files and nanoGPT's config-with-overrides. This module
 * holds the six systems of the paper's Table 1, the configuration type, its schema check (errors
 * name the key and the file) and the layering of files and `--set key=value` overrides.
 *
 * Resolution order, later wins: the corpus's experiment file → overlay files (e.g.
 * `experiments/smoke.json`) → `--set` overrides → the CLI's shortcut flags. The resolved
 * configuration is saved in run.json and in every model folder.
 *
 * @example
 * ```ts
 * import { resolveExperiment } from "./config.ts";
 * const config = await resolveExperiment({
 *   corpus: "emodb",
 *   sets: ["training.epochs=5", "model.gru.units=64"],
 * });
 * ```
 * @module
 */
import { fileURLToPath } from "node:url";
import type { CorpusKind } from "../corpus/mod.ts";
import type { BackendName, Pooling } from "../model/types.ts";
import type { NetworkSpec } from "../training/train_model.ts";

/** The six systems of Table 1, in the paper's row order. */
export const SYSTEMS = [
  "os-svm",
  "os-rnn",
  "e2e-stl",
  "e2e-stl-att",
  "e2e-mtl",
  "e2e-mtl-att",
] as const;

/** A system name. */
export type SystemName = typeof SYSTEMS[number];

/** How each system is built. */
export const SYSTEM_INFO: Record<
  SystemName,
  { label: string; input: "functionals" | "lld" | "raw"; multiTask: boolean; pooling?: Pooling }
> = {
  "os-svm": { label: "OS+SVM", input: "functionals", multiTask: false },
  "os-rnn": { label: "OS+RNN", input: "lld", multiTask: false, pooling: "last" },
  "e2e-stl": { label: "e2e STL", input: "raw", multiTask: false, pooling: "last" },
  "e2e-stl-att": { label: "e2e STL+att.", input: "raw", multiTask: false, pooling: "attention" },
  "e2e-mtl": { label: "e2e MTL", input: "raw", multiTask: true, pooling: "last" },
  "e2e-mtl-att": { label: "e2e MTL+att.", input: "raw", multiTask: true, pooling: "attention" },
};

/** The reference system of the significance tests (the paper's baseline). */
export const REFERENCE_SYSTEM: SystemName = "e2e-stl";

/**
 * Evaluation protocol: the fixed train/dev/test split, leave-one-speaker-out, or (IEMOCAP
 * layout) one fold per session (`session-cv`: each session the test set once, the session
 * before it the dev set; see `sessionFolds` in lib/corpus).
 */
export type Protocol = "split" | "loso" | "session-cv";

/** Every protocol, for the schema and the usage texts. */
export const PROTOCOLS: readonly Protocol[] = ["split", "loso", "session-cv"];

/** The corpus and how it is split. */
export interface DataConfig {
  /** Corpus kind. */
  corpus: CorpusKind;
  /** Corpus root folder or manifest CSV (default: `data.example` for `example`). */
  root?: string;
  /** Tasks, i.e. the columns of the table (empty: every task the corpus has). */
  tasks: string[];
  /** IEMOCAP-layout session split, e.g. `train=1,2,3;dev=4;test=5` (default: the paper's). */
  sessions?: string;
  /** Fixed split (`split`), leave-one-speaker-out (`loso`) or one fold per session (`session-cv`). */
  protocol: Protocol;
  /** Use at most this many utterances per partition (round-robin over speakers); 0 = all. */
  limitPerPartition: number;
  /** Fail on the first bad audio file instead of reporting and skipping it. */
  strict: boolean;
}

/**
 * The network of the neural systems (the paper's values in experiments/iemocap.json): the
 * training stage's {@link NetworkSpec}, so the file's `model` section is handed over as it is.
 */
export type ModelSection = NetworkSpec;

/** How every neural model is trained. */
export interface TrainingSection {
  /** Maximum epochs per model. */
  epochs: number;
  /** Early-stopping patience in epochs without a better dev UAR. */
  patience: number;
  /** Utterances per batch. */
  batchSize: number;
  /** Adam step size. */
  learningRate: number;
  /** λ of the L2 term over weight matrices. */
  l2: number;
  /** Cross-entropy class weighting. */
  classWeighting: "none" | "balanced";
  /** Random-search trials of the MTL task weights on dev (1 = equal weights). */
  taskWeightTrials: number;
  /** Seeds 1…N per system; results report mean ± sd over them. */
  seeds: number;
  /** Training engines (cores) per model; 1 = one engine in this process. */
  workers: number;
}

/** The openSMILE-style baselines. */
export interface BaselinesSection {
  /** C values of the linear SVM, chosen on dev (one value: fixed C). */
  svmCGrid: number[];
  /** SVM feature standardisation: one global statistics or per speaker. */
  featureNorm: "global" | "speaker";
}

/** Everything that defines a `reproduce` run (the resolved experiment file). */
export interface ExperimentConfig {
  /** Experiment name (the file's base name). */
  name: string;
  /** Corpus, tasks, protocol. */
  data: DataConfig;
  /** Network of the neural systems. */
  model: ModelSection;
  /** Training of every neural model. */
  training: TrainingSection;
  /** OS+SVM settings. */
  baselines: BaselinesSection;
  /** Systems to run, in Table 1 order. */
  systems: SystemName[];
  /** tfjs backend. */
  backend: BackendName;
  /**
   * This machine's front-end memory setting (trainModel's `checkpointAbove`): batches of more
   * windows recompute the front-end in the backward pass. Absent: the backend's default. Like
   * `backend`, not part of the result fingerprint (results agree up to float rounding).
   */
  checkpointAbove?: number;
  /** Output folder (`{corpus}` and `{date}` are replaced by the corpus kind and the run's date). */
  out: string;
  /** Re-run systems that already finished. */
  force: boolean;
}

// ---------------------------------------------------------------------------------------------
// Schema: one entry per leaf key, so an error can name the key, the file and what was expected.

type Check = (v: unknown) => string | null;

const positiveInt: Check = (v) =>
  Number.isInteger(v) && (v as number) >= 1 ? null : "a positive integer";
const nonNegativeInt: Check = (v) =>
  Number.isInteger(v) && (v as number) >= 0 ? null : "an integer ≥ 0";
const nonNegative: Check = (v) =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 ? null : "a number ≥ 0";
const positive: Check = (v) =>
  typeof v === "number" && Number.isFinite(v) && v > 0 ? null : "a number > 0";
const probability: Check = (v) =>
  typeof v === "number" && v > 0 && v <= 1 ? null : "a number in (0, 1]";
const bool: Check = (v) => typeof v === "boolean" ? null : "true or false";
const str: Check = (v) => typeof v === "string" && v.length > 0 ? null : "a non-empty string";
const oneOf = (...values: string[]): Check => (v) =>
  values.includes(v as string) ? null : `one of ${values.join(", ")}`;
const listOf = (item: Check, what: string, nonEmpty = false): Check => (v) =>
  Array.isArray(v) && v.every((x) => item(x) === null) && (!nonEmpty || v.length > 0)
    ? null
    : `a${nonEmpty ? " non-empty" : ""} list of ${what}`;

/** Every key of an experiment file and its check; `optional` keys may be absent. */
const SCHEMA: Record<string, { check: Check; optional?: boolean }> = {
  "name": { check: str },
  "data.corpus": { check: oneOf("example", "iemocap", "emodb", "manifest") },
  "data.root": { check: str, optional: true },
  "data.tasks": { check: listOf(str, "task names") },
  "data.sessions": { check: str, optional: true },
  "data.protocol": { check: oneOf(...PROTOCOLS) },
  "data.limitPerPartition": { check: nonNegativeInt },
  "data.strict": { check: bool },
  "model.window.samples": { check: positiveInt },
  "model.window.hop": { check: positiveInt },
  "model.conv.filters": { check: positiveInt },
  "model.conv.kernel": { check: positiveInt },
  "model.conv.pool": { check: positiveInt },
  "model.conv.channelPool": { check: positiveInt },
  "model.gru.units": { check: positiveInt },
  "model.gru.layers": { check: positiveInt },
  "model.dropoutKeep": { check: probability },
  "training.epochs": { check: positiveInt },
  "training.patience": { check: positiveInt },
  "training.batchSize": { check: positiveInt },
  "training.learningRate": { check: positive },
  "training.l2": { check: nonNegative },
  "training.classWeighting": { check: oneOf("none", "balanced") },
  "training.taskWeightTrials": { check: positiveInt },
  "training.seeds": { check: positiveInt },
  "training.workers": { check: positiveInt },
  "baselines.svmCGrid": { check: listOf(positive, "numbers > 0", true) },
  "baselines.featureNorm": { check: oneOf("global", "speaker") },
  "systems": { check: listOf(oneOf(...SYSTEMS), `systems (${SYSTEMS.join(", ")})`, true) },
  "backend": { check: oneOf("auto", "tensorflow", "webgpu", "wasm", "cpu") },
  "checkpointAbove": { check: positiveInt, optional: true },
  "out": { check: str },
  "force": { check: bool },
};

/** The keys an experiment file may set, for `--set` help and error messages. */
export const EXPERIMENT_KEYS: readonly string[] = Object.keys(SCHEMA);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The leaf keys (dotted paths) of a nested object; arrays are leaves. */
function leaves(obj: Json, prefix = ""): string[] {
  return Object.entries(obj).flatMap(([k, v]) =>
    isObject(v) ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`]
  );
}

function getPath(obj: Json, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split(".")) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function setPath(obj: Json, path: string, value: unknown): void {
  const parts = path.split(".");
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(cur[part])) cur[part] = {};
    cur = cur[part] as Json;
  }
  cur[parts.at(-1)!] = value;
}

/** Deep merge: objects merge key by key, everything else (arrays included) is replaced. */
function merge(base: Json, over: Json): Json {
  const out: Json = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Json, v) : structuredClone(v);
  }
  return out;
}

/** Levenshtein distance, for "did you mean" hints on mistyped keys. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * Checks a layer (a file or an override) for unknown keys, so a typo such as `training.epoch`
 * is an error instead of a silently ignored setting.
 */
function checkKeys(layer: Json, source: string): void {
  for (const key of leaves(layer)) {
    if (key === "$comment" || key.endsWith(".$comment")) continue;
    if (!(key in SCHEMA)) {
      const near = EXPERIMENT_KEYS.filter((k) => editDistance(k, key) <= 2).concat(
        EXPERIMENT_KEYS.filter((k) => k.split(".").at(-1) === key.split(".").at(-1)),
      );
      throw new Error(
        `${source}: unknown key '${key}'` + (near.length ? ` (did you mean ${near[0]}?)` : ""),
      );
    }
  }
}

/**
 * Validates a fully layered configuration against the schema and returns it typed.
 * @throws an error naming the key, the source and the expected value
 */
export function validateExperiment(raw: unknown, source: string): ExperimentConfig {
  if (!isObject(raw)) throw new Error(`${source}: an experiment must be a JSON object`);
  checkKeys(raw, source);
  for (const [key, { check, optional }] of Object.entries(SCHEMA)) {
    const v = getPath(raw, key);
    if (v === undefined) {
      if (optional) continue;
      throw new Error(`${source}: missing key '${key}'`);
    }
    const expected = check(v);
    if (expected) {
      throw new Error(`${source}: '${key}' must be ${expected} (got ${JSON.stringify(v)})`);
    }
  }
  const c = stripComments(raw) as unknown as ExperimentConfig;
  const bad: string[] = [];
  if (c.model.window.samples % c.model.conv.pool !== 0) {
    bad.push("model.window.samples must be a multiple of model.conv.pool");
  }
  if (c.model.conv.filters % c.model.conv.channelPool !== 0) {
    bad.push("model.conv.filters must be a multiple of model.conv.channelPool");
  }
  if (c.model.conv.kernel > c.model.window.samples / c.model.conv.pool) {
    bad.push("model.conv.kernel is wider than the pooled window");
  }
  if (bad.length) throw new Error(`${source}: ${bad.join("; ")}`);
  // Table order, whatever order the systems were given in.
  c.systems = SYSTEMS.filter((s) => c.systems.includes(s));
  return c;
}

function stripComments(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripComments);
  if (!isObject(v)) return v;
  return Object.fromEntries(
    Object.entries(v).filter(([k]) => k !== "$comment").map(([k, x]) => [k, stripComments(x)]),
  );
}

/**
 * Parses one `--set key=value` override. The value is read as JSON when it parses (numbers,
 * booleans, lists such as `[0.01,0.1]`), otherwise as a string; a comma list without brackets
 * becomes a list for list-valued keys (`systems=os-svm,e2e-stl`).
 * @throws for an unknown key or a missing `=`
 */
export function parseOverride(text: string): { key: string; value: unknown } {
  const eq = text.indexOf("=");
  if (eq <= 0) throw new Error(`--set '${text}': expected key=value`);
  const key = text.slice(0, eq).trim(), raw = text.slice(eq + 1).trim();
  if (!(key in SCHEMA)) {
    throw new Error(`--set '${text}': unknown key '${key}' (keys: ${EXPERIMENT_KEYS.join(", ")})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  const listKey = ["data.tasks", "systems", "baselines.svmCGrid"].includes(key);
  if (listKey && !Array.isArray(value)) {
    value = raw === "" ? [] : raw.split(",").map((s) => {
      const t = s.trim();
      const n = Number(t);
      return key === "baselines.svmCGrid" && t !== "" && Number.isFinite(n) ? n : t;
    });
  }
  return { key, value };
}

/** Folder of the experiment files shipped with the toolkit. */
export const EXPERIMENTS_DIR: string = fileURLToPath(
  new URL("../../experiments/", import.meta.url),
);

/** The experiment file of a corpus kind (`experiments/<corpus>.json`). */
export function experimentFileFor(corpus: CorpusKind): string {
  return `${EXPERIMENTS_DIR}${corpus}.json`;
}

/** The smoke overlay: a small model, a handful of utterances, one epoch. */
export const SMOKE_OVERLAY: string = `${EXPERIMENTS_DIR}smoke.json`;

async function readLayer(path: string): Promise<Json> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`${path}: cannot read experiment file (${(e as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(parsed)) throw new Error(`${path}: an experiment file must hold a JSON object`);
  checkKeys(parsed, path);
  return parsed;
}

/** What {@link resolveExperiment} layers. */
export interface ResolveOptions {
  /** Base experiment file (default: `experiments/<corpus>.json`). */
  config?: string;
  /** Corpus kind whose experiment file is the base when `config` is not given (default example). */
  corpus?: CorpusKind;
  /** Overlay files, applied in order (e.g. the smoke overlay). */
  overlays?: string[];
  /** `key=value` overrides, applied in order after the overlays. */
  sets?: string[];
  /** Already-parsed overrides (the CLI's shortcut flags), applied last. */
  values?: Record<string, unknown>;
  /** Replaces `{date}` in `out` (default: today, YYYY-MM-DD); `{corpus}` becomes the corpus kind. */
  date?: string;
}

/**
 * Reads, layers and validates an experiment: base file → overlays → `--set` → shortcut values.
 * @throws an error naming the file or override and the offending key
 */
export async function resolveExperiment(options: ResolveOptions = {}): Promise<ExperimentConfig> {
  const basePath = options.config ?? experimentFileFor(options.corpus ?? "example");
  let merged = await readLayer(basePath);
  for (const overlay of options.overlays ?? []) merged = merge(merged, await readLayer(overlay));
  for (const text of options.sets ?? []) {
    const { key, value } = parseOverride(text);
    setPath(merged, key, value);
  }
  for (const [key, value] of Object.entries(options.values ?? {})) {
    if (value === undefined) continue;
    if (!(key in SCHEMA)) throw new Error(`unknown experiment key '${key}'`);
    setPath(merged, key, value);
  }
  const sources = [basePath, ...(options.overlays ?? [])].join(" + ") +
    (options.sets?.length ? " + --set" : "");
  const config = validateExperiment(merged, sources);
  const date = options.date ?? new Date().toISOString().slice(0, 10);
  config.out = config.out.replaceAll("{date}", date).replaceAll("{corpus}", config.data.corpus);
  return config;
}

/**
 * The command-line shortcut flags of `reproduce` and `train`, and the experiment key each one
 * sets. A shortcut is `--set key=value` under a short name, parsed the same way.
 */
export const SHORTCUT_FLAGS: Readonly<Record<string, string>> = {
  data: "data.root",
  tasks: "data.tasks",
  protocol: "data.protocol",
  limit: "data.limitPerPartition",
  strict: "data.strict",
  systems: "systems",
  seeds: "training.seeds",
  epochs: "training.epochs",
  "batch-size": "training.batchSize",
  lr: "training.learningRate",
  l2: "training.l2",
  patience: "training.patience",
  trials: "training.taskWeightTrials",
  "class-weighting": "training.classWeighting",
  workers: "training.workers",
  "feature-norm": "baselines.featureNorm",
  "svm-c": "baselines.svmCGrid",
  backend: "backend",
  "checkpoint-above": "checkpointAbove",
  out: "out",
  force: "force",
};

/** Parsed flags of a script that resolves an experiment (see {@link resolveFromFlags}). */
export interface ExperimentFlags {
  /** `--config FILE`. */
  config?: string;
  /** `--corpus KIND`: the base file without --config, else an override of data.corpus. */
  corpus?: string;
  /** `--smoke`: layer the smoke overlay. */
  smoke?: boolean;
  /** `--set key=value`, repeatable. */
  set?: string[];
  /** Shortcut flags by name ({@link SHORTCUT_FLAGS}); undefined and false are "not given". */
  [flag: string]: string | string[] | boolean | undefined;
}

/** Resolves the experiment a command line describes: file, overlay, `--set`, then shortcuts. */
export async function resolveFromFlags(flags: ExperimentFlags): Promise<ExperimentConfig> {
  const sets = [...(flags.set ?? [])];
  if (flags.config && flags.corpus) sets.push(`data.corpus=${flags.corpus}`);
  for (const [flag, key] of Object.entries(SHORTCUT_FLAGS)) {
    const v = flags[flag];
    if (v === undefined || v === false) continue;
    sets.push(`${key}=${v}`);
  }
  return await resolveExperiment({
    config: flags.config,
    corpus: flags.config ? undefined : flags.corpus as CorpusKind | undefined,
    overlays: flags.smoke ? [SMOKE_OVERLAY] : [],
    sets,
  });
}

/** The shipped experiment of a corpus kind, resolved with no overrides. */
export async function presetFor(corpus: CorpusKind): Promise<ExperimentConfig> {
  return await resolveExperiment({ corpus });
}

/** The settings that make results comparable: a finished system is reused only if these match. */
export function resultFingerprint(c: ExperimentConfig): string {
  // Seeds are compared separately (a run with more seeds redoes the system); workers stay in:
  // with ≥ 2 engines dropout masks differ, so results do too.
  const { seeds: _seeds, ...training } = c.training;
  return JSON.stringify({
    data: { ...c.data, strict: undefined },
    model: c.model,
    training,
    baselines: c.baselines,
  });
}

/** Parses a comma-separated system list, checking every name; returns them in Table order. */
export function parseSystems(list: string): SystemName[] {
  const names = list.split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!(SYSTEMS as readonly string[]).includes(n)) {
      throw new Error(`unknown system '${n}' (systems: ${SYSTEMS.join(", ")})`);
    }
  }
  return SYSTEMS.filter((s) => names.includes(s));
}
