/**
 * The end-to-end emotion model (paper sections 3 and 4.2), written with tfjs-core ops and
 * `tf.variable`s only, so one code path runs on every backend and saved weights load in a
 * browser with tfjs-core alone.
 *
 * raw signal → per-window CNN front-end (1280 values per 40 ms window) → dropout →
 * 2 × GRU(128) → per task: pooling (`last` real window, or attention) → dense softmax layer.
 * Feature input (e.g. eGeMAPS LLDs for the OS+RNN baseline) skips the CNN.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { TaskSpec } from "../corpus/types.ts";
import type { ModelConfig, ModelInput } from "./types.ts";
import {
  checkGeometry,
  frontEnd,
  frontEndDim,
  type FrontEndGeometry,
  type FrontEndOptions,
  type FrontEndWeights,
  samplesFor,
} from "./frontend.ts";
import { glorotUniform, orthogonal } from "./init.ts";
import { registerGradients } from "./gradients.ts";
import { gru } from "./gru.ts";
import { taskHeads } from "./heads.ts";
import { nameSeed, Random } from "../util/random.ts";
import { bindingLimit } from "./webgpu_program.ts";
import { type DropoutDraw, dropoutMultiplier } from "./dropout.ts";

// tfjs-core ships no gradients under Deno (see gradients.ts); training needs them.
registerGradients();

/**
 * Paper configuration (raw 640-sample windows every 160 samples, 2 × conv 40×40, pool 2,
 * channel pool 10, 2 × GRU 128, keep 0.9, attention pooling) for `tasks`, with overrides.
 */
export function defaultModelConfig(
  tasks: TaskSpec[],
  overrides: Partial<ModelConfig> = {},
): ModelConfig {
  return {
    tasks,
    pooling: "attention",
    input: { kind: "raw", windowSamples: 640, hopSamples: 160 },
    conv: { filters: 40, kernel: 40, pool: 2, channelPool: 10 },
    gru: { units: 128, layers: 2 },
    dropoutKeep: 0.9,
    seed: 1,
    ...overrides,
  };
}

/** Checks a configuration and throws an error naming every problem. */
export function validateModelConfig(config: ModelConfig): void {
  const bad: string[] = [];
  if (!Array.isArray(config.tasks) || config.tasks.length === 0) bad.push("no tasks");
  const names = new Set<string>();
  for (const t of config.tasks ?? []) {
    if (!t.name) bad.push("a task has no name");
    if (names.has(t.name)) bad.push(`task '${t.name}' appears twice`);
    names.add(t.name);
    if (!Array.isArray(t.classes) || t.classes.length < 2) {
      bad.push(`task '${t.name}' needs at least 2 classes`);
    }
  }
  if (config.pooling !== "last" && config.pooling !== "attention") {
    bad.push(`pooling '${config.pooling}' is not 'last' or 'attention'`);
  }
  if (config.input?.kind === "raw") {
    checkGeometry(geometryOf(config));
  } else if (config.input?.kind === "features") {
    if (!(config.input.dim > 0)) bad.push("features input needs dim > 0");
  } else {
    bad.push("input.kind must be 'raw' or 'features'");
  }
  if (!(config.gru?.units > 0) || !(config.gru?.layers > 0)) {
    bad.push("gru units/layers must be > 0");
  }
  if (!(config.dropoutKeep > 0 && config.dropoutKeep <= 1)) {
    bad.push("dropoutKeep must be in (0, 1]");
  }
  if (bad.length > 0) throw new Error(`Invalid model config: ${bad.join("; ")}`);
}

/** The CNN front-end's geometry of a raw-input model (throws for a feature-input model). */
export function geometryOf(config: ModelConfig): FrontEndGeometry {
  if (config.input.kind !== "raw") throw new Error("geometryOf: not a raw-input model");
  return {
    windowSamples: config.input.windowSamples,
    hopSamples: config.input.hopSamples,
    ...config.conv,
  };
}

/** Options of {@link EmotionModel.apply}. */
export interface ApplyOptions {
  /** Training mode: dropout active. */
  training: boolean;
  /** Seed of this step's dropout mask (random when absent). */
  dropoutSeed?: number;
  /**
   * Draw the dropout masks as this many gradient workers would (default 1): the rows of a batch
   * that fits one row group split evenly into jobs, job p seeded `rowGroupSeed(dropoutSeed, p)`
   * ({@link jobRanges}), so one engine trains to the objective of `training.workers` = N
   * (parallel.ts). Training mode only; inference has no dropout.
   */
  dropoutJobs?: number;
  /** Use the per-window reference front-end instead of the overlap-sharing one (tests). */
  naiveFrontEnd?: boolean;
}

/** Result of {@link EmotionModel.apply}. */
export interface ApplyResult {
  /** Unnormalised class scores per task, `[batch, classes]`. */
  logits: Record<string, tf.Tensor2D>;
  /** Attention weights per task, `[batch, windows]`, 0 on padding (attention pooling only). */
  attention?: Record<string, tf.Tensor2D>;
}

interface Param {
  name: string;
  variable: tf.Variable;
}

/** The emotion model; see the module description. */
export class EmotionModel {
  /** The configuration the model was built from. */
  readonly config: ModelConfig;
  /** Memory control of the CNN front-end (chunking/recomputation thresholds). */
  frontEndOptions: FrontEndOptions = {};
  /**
   * Batches with more windows than this (rows × windows) are processed in row groups with
   * recomputation in the backward pass, so that batches of 35-second utterances fit in wasm's
   * 4 GiB (see `apply`). Default 16,384.
   */
  maxWindowsPerPass = 16384;
  /**
   * On webgpu, the most windows one pass holds (default {@link webgpuWindowsPerPass} of the
   * config: 65,536 for the paper's model on a GPU that binds 320 MiB). A batch within it runs
   * as one pass even when it has several row groups, each with the dropout mask it has in its
   * own pass, so the results stay those of the row groups (to float rounding) while the GPU
   * runs every utterance's recurrence at once instead of one group after another with
   * recomputation.
   */
  maxWindowsPerWebGpuPass: number | undefined = undefined;
  #params: Param[];
  #byName: Map<string, tf.Variable>;

  private constructor(config: ModelConfig, params: Param[]) {
    this.config = config;
    this.#params = params;
    this.#byName = new Map(params.map((p) => [p.name, p.variable]));
  }

  /** Builds a model with deterministic initial weights from `config.seed` (same on every backend). */
  static create(config: ModelConfig): EmotionModel {
    validateModelConfig(config);
    const specs = parameterSpecs(config);
    const params = specs.map((s) => {
      const rand = new Random(nameSeed(config.seed, s.name)).fn;
      const values = s.init(rand);
      // No tf variable name: several models may live at once and tfjs names must be unique.
      return { name: s.name, variable: tf.variable(tf.tensor(values, s.shape), true) };
    });
    return new EmotionModel(config, params);
  }

  /** All trainable variables, in the stable order of {@link getWeights}. */
  trainableVariables(): tf.Variable[] {
    return this.#params.map((p) => p.variable);
  }

  /** Weights with stable names, in a stable order (the saved-model layout). */
  getWeights(): { name: string; tensor: tf.Tensor }[] {
    return this.#params.map((p) => ({ name: p.name, tensor: p.variable }));
  }

  /** Assigns weights by name; every model weight must be given with its exact shape. */
  setWeights(weights: { name: string; tensor: tf.Tensor }[]): void {
    const given = new Map(weights.map((w) => [w.name, w.tensor]));
    const problems: string[] = [];
    for (const p of this.#params) {
      const t = given.get(p.name);
      if (!t) problems.push(`missing '${p.name}'`);
      else if (!tf.util.arraysEqual(t.shape, p.variable.shape)) {
        problems.push(`'${p.name}' has shape [${t.shape}], expected [${p.variable.shape}]`);
      }
    }
    for (const name of given.keys()) {
      if (!this.#byName.has(name)) problems.push(`unknown weight '${name}'`);
    }
    if (problems.length > 0) throw new Error(`setWeights: ${problems.join("; ")}`);
    for (const p of this.#params) p.variable.assign(given.get(p.name)!);
  }

  /** Frees all variables. */
  dispose(): void {
    for (const p of this.#params) p.variable.dispose();
  }

  #w(name: string): tf.Variable {
    const v = this.#byName.get(name);
    if (!v) throw new Error(`model has no weight '${name}'`);
    return v;
  }

  /**
   * Forward pass. Call inside `tf.tidy` or `optimizer.minimize`; outputs are new tensors.
   * Padding windows never change a row's outputs.
   */
  apply(input: ModelInput, opts: ApplyOptions): ApplyResult {
    validateInput(input, this.config);
    const { groups, passes } = this.passPlan(input, opts.training ? opts.dropoutJobs : 1);
    if (tf.getBackend() === "webgpu") this.#checkBindable(input, passes === 1 ? undefined : groups);
    if (groups.length === 1) return this.#applyAll(input, opts);
    if (passes === 1) return this.#applyAll(input, opts, groups);
    return this.#applyGroups(input, opts, groups);
  }

  /**
   * Refuses a pass (the whole batch, or each of `groups` trimmed to its longest row) that the
   * webgpu device cannot bind (more than {@link webgpuBindableWindows}): WebGPU would leave the
   * work undone without an error and the outputs would be zeros. Only a single row longer than
   * that gets here by default (70 minutes of audio for the paper's model at a 2 GiB limit, 4.4
   * at WebGPU's default 128 MiB), or a {@link maxWindowsPerWebGpuPass} set past it.
   */
  #checkBindable(input: ModelInput, groups?: [number, number][]): void {
    const most = webgpuBindableWindows(this.config);
    const passes = groups ?? [[0, input.batchSize] as [number, number]];
    for (const [r0, r1] of passes) {
      const windows = (r1 - r0) *
        (groups ? Math.max(...input.lengths.subarray(r0, r1)) : input.windows);
      if (windows > most) {
        throw new Error(
          `webgpu: a pass of ${windows} windows (rows ${r0}–${r1 - 1}) is more than this ` +
            `device can bind (${most} windows at maxStorageBufferBindingSize ${bindingLimit()} ` +
            "bytes; WebGPU would leave the work undone): use --backend wasm for such audio, " +
            "or cut it into shorter files",
        );
      }
    }
  }

  /**
   * How {@link apply} runs a batch on the active backend: its row groups, which decide the
   * dropout masks ({@link jobRanges}: by {@link maxWindowsPerPass}, else `dropoutJobs` even
   * parts), and the passes they take: one per group of a batch larger than
   * {@link maxWindowsPerPass}, or one for all of them on webgpu within
   * {@link maxWindowsPerWebGpuPass}; a batch that fits one pass takes one, whatever its jobs.
   */
  passPlan(input: ModelInput, dropoutJobs = 1): { groups: [number, number][]; passes: number } {
    const groups = jobRanges(input, this.maxWindowsPerPass, dropoutJobs);
    const onePass = groups.length === 1 ||
      input.batchSize * input.windows <= this.maxWindowsPerPass ||
      (tf.getBackend() === "webgpu" &&
        input.batchSize * input.windows <=
          (this.maxWindowsPerWebGpuPass ?? webgpuWindowsPerPass(this.config)));
    return { groups, passes: onePass ? 1 : groups.length };
  }

  /**
   * Large batches (more than {@link maxWindowsPerPass} windows): rows are processed in groups,
   * each trimmed to its own longest row, and each group's activations are recomputed during
   * the backward pass instead of being kept (gradient checkpointing over whole rows: rows are
   * independent until the loss). Costs one extra forward pass, only for such batches.
   */
  #applyGroups(input: ModelInput, opts: ApplyOptions, groups: [number, number][]): ApplyResult {
    const c = this.config;
    const seed = opts.dropoutSeed ?? Math.floor(Math.random() * 2 ** 31);
    const vars = this.trainableVariables();
    const widths = c.tasks.map((t) => t.classes.length);
    return tf.tidy(() => {
      const values: tf.Tensor[] = [];
      const attentions: Record<string, tf.Tensor2D>[] = [];
      groups.forEach(([r0, r1], gi) => {
        const sub = sliceRows(input, r0, r1, c);
        const subOpts = { ...opts, dropoutSeed: rowGroupSeed(seed, gi) };
        const run = () => {
          const out = this.#applyAll(sub, subOpts);
          return { out, value: tf.concat(c.tasks.map((t) => out.logits[t.name]), 1) };
        };
        const f = tf.customGrad((..._weights: (tf.Tensor | tf.GradSaveFunc)[]) => {
          const { out, value } = run();
          if (out.attention) {
            // Attention carries no gradient; pad it back to the batch's window count. tfjs
            // runs this forward function in a tidy of its own, so keep the copies (they are
            // disposed below once concatenated).
            attentions.push(Object.fromEntries(
              Object.entries(out.attention).map(([k, a]) => [
                k,
                tf.keep(tf.pad(a, [[0, 0], [0, input.windows - sub.windows]]) as tf.Tensor2D),
              ]),
            ));
          }
          return {
            value,
            gradFunc: (dy: tf.Tensor) => {
              // Nested gradients end by clearing the engine's active tape, which the outer
              // backprop still needs: restore it afterwards.
              const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
              const outerTape = state.activeTape;
              try {
                return tf.tidy(() => {
                  const { grads } = tf.variableGrads(
                    () => tf.sum(tf.mul(run().value, dy)) as tf.Scalar,
                    vars,
                  );
                  return vars.map((v) => grads[v.name] ?? tf.zerosLike(v));
                });
              } finally {
                state.activeTape = outerTape;
              }
            },
          };
        });
        values.push(f(...vars));
      });
      const all = tf.concat(values, 0);
      const logits: Record<string, tf.Tensor2D> = {};
      let col = 0;
      c.tasks.forEach((t, i) => {
        logits[t.name] = tf.slice(all, [0, col], [input.batchSize, widths[i]]) as tf.Tensor2D;
        col += widths[i];
      });
      if (c.pooling !== "attention") return { logits };
      const attention: Record<string, tf.Tensor2D> = {};
      for (const t of c.tasks) {
        attention[t.name] = tf.concat(attentions.map((a) => a[t.name]), 0) as tf.Tensor2D;
      }
      attentions.forEach((a) => tf.dispose(Object.values(a)));
      return { logits, attention };
    });
  }

  /**
   * One pass over the whole batch. With `groups` (the batch's row groups, run together), the
   * dropout mask is built group by group as each group's own pass would draw it.
   */
  #applyAll(input: ModelInput, opts: ApplyOptions, groups?: [number, number][]): ApplyResult {
    const c = this.config;
    const { batchSize: b, windows: nw } = input;
    return tf.tidy(() => {
      let seq: tf.Tensor3D;
      if (c.input.kind === "raw") {
        const g = geometryOf(c);
        const signal = tf.tensor(input.signal!, [b, samplesFor(nw, g)]) as tf.Tensor2D;
        const weights: FrontEndWeights = {
          w1: this.#w("conv1/kernel") as tf.Tensor3D,
          b1: this.#w("conv1/bias") as tf.Tensor1D,
          w2: this.#w("conv2/kernel") as tf.Tensor3D,
          b2: this.#w("conv2/bias") as tf.Tensor1D,
        };
        seq = frontEnd(signal, nw, g, weights, {
          ...this.frontEndOptions,
          naive: opts.naiveFrontEnd ?? this.frontEndOptions.naive,
        });
        if (opts.training && c.dropoutKeep < 1) {
          const seed = opts.dropoutSeed ?? Math.floor(Math.random() * 2 ** 31);
          const draws = dropoutDraws(input, groups, seed);
          seq = tf.mul(seq, dropoutMultiplier(draws, b, nw, seq.shape[2], c.dropoutKeep));
        }
      } else {
        seq = tf.tensor(input.features!, [b, nw, c.input.dim]) as tf.Tensor3D;
      }
      for (let l = 1; l <= c.gru.layers; l++) {
        seq = gru(
          seq,
          this.#w(`gru${l}/kernel`) as tf.Tensor2D,
          this.#w(`gru${l}/recurrent_kernel`) as tf.Tensor2D,
          this.#w(`gru${l}/bias`) as tf.Tensor1D,
        );
      }
      const heads = taskHeads(seq, input.lengths, {
        attention: c.pooling === "attention"
          ? c.tasks.map((t) => this.#w(`task/${t.name}/attention`) as tf.Tensor2D)
          : undefined,
        kernels: c.tasks.map((t) => this.#w(`task/${t.name}/dense/kernel`) as tf.Tensor2D),
        biases: c.tasks.map((t) => this.#w(`task/${t.name}/dense/bias`) as tf.Tensor1D),
      });
      const logits = Object.fromEntries(c.tasks.map((t, i) => [t.name, heads.logits[i]]));
      if (!heads.attention) return { logits };
      const attention = Object.fromEntries(c.tasks.map((t, i) => [t.name, heads.attention![i]]));
      return { logits, attention };
    });
  }
}

/**
 * The dropout seed of row group `group` of a batch drawn with `seed` ({@link rowGroups}): the
 * rule `apply` and the gradient workers (parallel.ts) share, so their masks agree.
 */
export function rowGroupSeed(seed: number, group: number): number {
  return seed + 7919 * group;
}

/**
 * The dropout draws of a pass ({@link dropoutMultiplier}): the whole batch with `seed`, as
 * `tf.dropout` draws it, or, for row `groups` run together in one pass, each group as its own
 * pass would draw it (its rows trimmed to their longest, seed {@link rowGroupSeed}), so results
 * do not depend on how the groups ran.
 */
function dropoutDraws(
  input: ModelInput,
  groups: [number, number][] | undefined,
  seed: number,
): DropoutDraw[] {
  if (!groups) return [{ rows: [0, input.batchSize], windows: input.windows, seed }];
  return groups.map(([r0, r1], gi) => ({
    rows: [r0, r1],
    windows: Math.max(...input.lengths.slice(r0, r1)),
    seed: rowGroupSeed(seed, gi),
  }));
}

/**
 * Windows (rows × windows) one pass of `config`'s model holds on webgpu (the default of
 * {@link EmotionModel.maxWindowsPerWebGpuPass}). Two bounds:
 * - every tensor that grows with the windows must fit the device's storage buffer binding limit
 *   (`limit`, bytes; by default the active device's), or WebGPU leaves the work undone without
 *   an error; the widest per window is the front-end's output (1,280 values for the paper's
 *   geometry) or the GRU's packed forward record (4 × units);
 * - at most {@link WEBGPU_PASS_WINDOWS}, for the device's memory.
 *
 * For the paper's model: 26,214 windows at WebGPU's default limit of 128 MiB (Mesa's lavapipe),
 * 65,536 from a limit of 320 MiB (GPUs' are 2–4 GiB), so 16 utterances of 35 s run as one pass.
 */
export function webgpuWindowsPerPass(config: ModelConfig, limit = bindingLimit()): number {
  return Math.min(WEBGPU_PASS_WINDOWS, webgpuBindableWindows(config, limit));
}

/**
 * The most windows (rows × windows) of one pass of `config`'s model whose widest per-window
 * tensor (the front-end's output or the GRU's packed forward record) fits a storage buffer
 * binding of `limit` bytes (by default the active device's): 26,214 for the paper's model at
 * WebGPU's default 128 MiB, 419,430 at 2 GiB. Past it WebGPU leaves a program undone.
 */
export function webgpuBindableWindows(config: ModelConfig, limit = bindingLimit()): number {
  const dim = config.input.kind === "raw" ? frontEndDim(geometryOf(config)) : config.input.dim;
  const widest = 4 * Math.max(dim, 4 * config.gru.units);
  return Math.floor(limit / widest);
}

/**
 * The most windows {@link webgpuWindowsPerPass} allows, for the device's memory. Measured on
 * lavapipe (tf.profile's peak bytes of a training step of the paper's model at 2 × 100 and
 * 2 × 300 windows, front-end checkpointed every 16 windows), a pass holds about 53 KB per window
 * outside the front-end (its output, the dropout mask and the intermediates tf.dropout then
 * drew it with, the GRUs' inputs and records, their gradients): 3.5 GB at 65,536 windows,
 * beside the front-end's 2 GiB (frontend_webgpu.ts's WEBGPU_FRONTEND_BUDGET). A smaller GPU sets
 * {@link EmotionModel.maxWindowsPerWebGpuPass}.
 */
export const WEBGPU_PASS_WINDOWS = 65536;

/**
 * Contiguous row groups of at most `maxWindows` windows, each row group padded only to its own
 * longest row. One group when the whole batch fits.
 */
export function rowGroups(input: ModelInput, maxWindows: number): [number, number][] {
  if (input.batchSize * input.windows <= maxWindows) return [[0, input.batchSize]];
  const groups: [number, number][] = [];
  let r0 = 0, longest = 0;
  for (let r = 0; r < input.batchSize; r++) {
    const len = input.lengths[r];
    if (r > r0 && (r - r0 + 1) * Math.max(longest, len) > maxWindows) {
      groups.push([r0, r]);
      r0 = r;
      longest = 0;
    }
    longest = Math.max(longest, len);
  }
  groups.push([r0, input.batchSize]);
  return groups;
}

/**
 * How a batch's rows split into jobs, each with a dropout stream of its own (seed
 * {@link rowGroupSeed}): the row groups of `maxWindows` when the batch needs several, else `jobs`
 * even parts (fewer when the batch has fewer rows). The one rule of the gradient workers
 * (parallel.ts: one job per worker) and of {@link EmotionModel.apply} with `dropoutJobs`, so
 * one engine and N workers draw the same masks.
 */
export function jobRanges(
  input: ModelInput,
  maxWindows: number,
  jobs: number,
): [number, number][] {
  if (!(Number.isInteger(jobs) && jobs >= 1)) {
    throw new RangeError(`dropout jobs must be a positive integer (got ${jobs})`);
  }
  const groups = rowGroups(input, maxWindows);
  if (groups.length > 1 || jobs === 1) return groups;
  const b = input.batchSize, n = Math.min(jobs, b);
  return Array.from(
    { length: n },
    (_, p) => [Math.floor((p * b) / n), Math.floor(((p + 1) * b) / n)] as [number, number],
  );
}

/** Rows `[r0, r1)` of a batch as a batch of their own, trimmed to their longest row. */
export function sliceRows(
  input: ModelInput,
  r0: number,
  r1: number,
  config: ModelConfig,
): ModelInput {
  const lengths = input.lengths.slice(r0, r1);
  const windows = Math.max(...lengths);
  const sub: ModelInput = { batchSize: r1 - r0, windows, lengths };
  if (config.input.kind === "raw") {
    const g = geometryOf(config);
    const per = samplesFor(input.windows, g), own = samplesFor(windows, g);
    const sig = new Float32Array((r1 - r0) * own);
    for (let r = r0; r < r1; r++) {
      sig.set(input.signal!.subarray(r * per, r * per + own), (r - r0) * own);
    }
    sub.signal = sig;
  } else {
    const d = config.input.dim;
    const feats = new Float32Array((r1 - r0) * windows * d);
    for (let r = r0; r < r1; r++) {
      feats.set(
        input.features!.subarray(r * input.windows * d, (r * input.windows + windows) * d),
        (r - r0) * windows * d,
      );
    }
    sub.features = feats;
  }
  return sub;
}

interface ParamSpec {
  name: string;
  shape: number[];
  init: (rand: () => number) => Float32Array;
}

/** Names, shapes and initialisers of every weight, in the stable saved order. */
export function parameterSpecs(config: ModelConfig): ParamSpec[] {
  const specs: ParamSpec[] = [];
  const zeros = (n: number) => () => new Float32Array(n);
  let inDim: number;
  if (config.input.kind === "raw") {
    const { kernel: k, filters: f } = config.conv;
    specs.push(
      { name: "conv1/kernel", shape: [k, 1, f], init: (r) => glorotUniform(k * f, k, k * f, r) },
      { name: "conv1/bias", shape: [f], init: zeros(f) },
      {
        name: "conv2/kernel",
        shape: [k, f, f],
        init: (r) => glorotUniform(k * f * f, k * f, k * f, r),
      },
      { name: "conv2/bias", shape: [f], init: zeros(f) },
    );
    inDim = frontEndDim(geometryOf(config));
  } else {
    inDim = config.input.dim;
  }
  const u = config.gru.units;
  for (let l = 1; l <= config.gru.layers; l++) {
    const d = l === 1 ? inDim : u;
    specs.push(
      {
        name: `gru${l}/kernel`,
        shape: [d, 3 * u],
        init: (r) => glorotUniform(d * 3 * u, d, 3 * u, r),
      },
      {
        name: `gru${l}/recurrent_kernel`,
        shape: [u, 3 * u],
        init: (r) => {
          // One orthogonal block per gate, laid side by side as [z | r | h].
          const out = new Float32Array(u * 3 * u);
          for (let gte = 0; gte < 3; gte++) {
            const q = orthogonal(u, u, r);
            for (let i = 0; i < u; i++) {
              for (let j = 0; j < u; j++) out[i * 3 * u + gte * u + j] = q[i * u + j];
            }
          }
          return out;
        },
      },
      { name: `gru${l}/bias`, shape: [3 * u], init: zeros(3 * u) },
    );
  }
  for (const t of config.tasks) {
    const n = t.classes.length;
    if (config.pooling === "attention") {
      specs.push({
        name: `task/${t.name}/attention`,
        shape: [u, 1],
        init: (r) => glorotUniform(u, u, 1, r),
      });
    }
    specs.push(
      {
        name: `task/${t.name}/dense/kernel`,
        shape: [u, n],
        init: (r) => glorotUniform(u * n, u, n, r),
      },
      { name: `task/${t.name}/dense/bias`, shape: [n], init: zeros(n) },
    );
  }
  return specs;
}

function validateInput(input: ModelInput, c: ModelConfig): void {
  const { batchSize: b, windows: nw, lengths } = input;
  const bad: string[] = [];
  if (!(Number.isInteger(b) && b > 0)) bad.push(`batchSize ${b} must be a positive integer`);
  if (!(Number.isInteger(nw) && nw > 0)) bad.push(`windows ${nw} must be a positive integer`);
  if (!lengths || lengths.length !== b) {
    bad.push(`lengths has ${lengths?.length} entries, not ${b}`);
  } else {
    for (let i = 0; i < b; i++) {
      if (lengths[i] < 1 || lengths[i] > nw) {
        bad.push(`row ${i} has length ${lengths[i]} outside [1, ${nw}]`);
        break;
      }
    }
  }
  if (c.input.kind === "raw") {
    const want = b * samplesFor(nw, geometryOf(c));
    if (!input.signal) bad.push("raw-input model needs input.signal");
    else if (input.signal.length !== want) {
      bad.push(`signal has ${input.signal.length} samples, expected ${want} (${b} rows)`);
    }
  } else {
    const want = b * nw * c.input.dim;
    if (!input.features) bad.push("feature-input model needs input.features");
    else if (input.features.length !== want) {
      bad.push(`features has ${input.features.length} values, expected ${want}`);
    }
  }
  if (bad.length > 0) throw new Error(`EmotionModel.apply: bad input: ${bad.join("; ")}`);
}
