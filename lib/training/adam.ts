/**
 * Adam (Kingma & Ba) with an explicit, serialisable state.
 *
 * tfjs's own AdamOptimizer keeps β^t as a running float32 product and rebuilds it with pow()
 * when its weights are restored, so a resumed run drifts from an uninterrupted one in the last
 * bits. Here the bias corrections are computed in float64 from the step count alone, which
 * makes a restored optimiser continue bit-identically.
 *
 * On the webgpu backend the update runs fused (adam_webgpu.ts: `variables + ⌈variables / 6⌉`
 * dispatches per step instead of ~12 per variable) on moments packed per chunk of variables;
 * they are packed on the first webgpu step and unpacked again when another backend steps or the
 * state is read or restored, so every other backend runs the same ops as before.
 * `setOwnKernels(false)` (own_kernels.ts) keeps webgpu on the tfjs ops too, for comparisons.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { ownWebGpuKernels } from "../model/own_kernels.ts";
import { PackedMoments } from "./adam_webgpu.ts";
import { l2Covers } from "./loss.ts";

/** Adam hyper-parameters. */
export interface AdamOptions {
  /** Step size (paper: 1e-4). */
  learningRate: number;
  /** First-moment decay (default 0.9). */
  beta1?: number;
  /** Second-moment decay (default 0.999). */
  beta2?: number;
  /** Denominator guard (default 1e-7, the tfjs default). */
  epsilon?: number;
  /**
   * λ of the objective's L2 term λ · ½ Σ W² over the weight matrices ({@link l2Covers}; default
   * 0). Its gradient λW is added to each covered variable's gradient inside the update, so the
   * backward pass need not compute it (on webgpu that was an `x · λ` and an add per matrix, 24
   * dispatches per step for the paper model). The same arithmetic as the term's own gradient;
   * a covered variable without a loss gradient is still updated with λW alone, as the term
   * would have given it.
   */
  l2?: number;
}

/** Serialisable optimiser state: step count and both moments per variable (in order). */
export interface AdamState {
  /** Steps taken so far. */
  step: number;
  /** First moments, one per variable, in the optimiser's variable order. */
  m: { name: string; shape: number[]; values: Float32Array }[];
  /** Second moments, same order. */
  v: { name: string; shape: number[]; values: Float32Array }[];
}

/** A non-trainable zero variable shaped like `v`. */
function zeroVariable(v: tf.Tensor): tf.Variable {
  // A variable shares its initial tensor's data; disposing that tensor leaves one owner.
  const z = tf.zerosLike(v);
  const out = tf.variable(z, false);
  z.dispose();
  return out;
}

/** Adam over a fixed list of variables. */
export class Adam {
  /** Steps taken so far. */
  step = 0;
  readonly #vars: tf.Variable[];
  readonly #m: tf.Variable[];
  readonly #v: tf.Variable[];
  readonly #lr: number;
  readonly #b1: number;
  readonly #b2: number;
  readonly #eps: number;
  readonly #l2: number;
  /** Per variable: whether the L2 term's gradient is added to it. */
  readonly #decayed: boolean[];
  /** The moments packed for the webgpu update; while set, #m and #v are stale. */
  #packed: PackedMoments | undefined;

  /** Creates zero moments for `variables`. */
  constructor(variables: tf.Variable[], opts: AdamOptions) {
    this.#vars = variables;
    this.#lr = opts.learningRate;
    this.#b1 = opts.beta1 ?? 0.9;
    this.#b2 = opts.beta2 ?? 0.999;
    this.#eps = opts.epsilon ?? 1e-7;
    this.#l2 = opts.l2 ?? 0;
    this.#decayed = variables.map((v) => this.#l2 > 0 && l2Covers(v));
    this.#m = variables.map((v) => zeroVariable(v));
    this.#v = variables.map((v) => zeroVariable(v));
  }

  /**
   * Applies one update from the loss's gradients, given in the variables' order (the L2 term's
   * are added here); a variable whose gradient is undefined (not connected to the loss) and
   * that the L2 term does not cover is left alone, moments included.
   */
  apply(grads: (tf.Tensor | undefined)[]): void {
    if (grads.length !== this.#vars.length) {
      throw new Error(`Adam: ${grads.length} gradients for ${this.#vars.length} variables`);
    }
    this.step++;
    const t = this.step;
    const b1 = this.#b1, b2 = this.#b2;
    // Float64 bias correction folded into the step size (Kingma & Ba, sec. 2).
    const alpha = this.#lr * Math.sqrt(1 - Math.pow(b2, t)) / (1 - Math.pow(b1, t));
    const epsHat = this.#eps * Math.sqrt(1 - Math.pow(b2, t));
    if (ownWebGpuKernels()) {
      this.#packed ??= PackedMoments.pack(this.#m, this.#v, this.#decayed);
      this.#packed.apply(this.#vars, grads, { b1, b2, alpha, epsHat, l2: this.#l2 });
      return;
    }
    this.#unpack();
    tf.tidy(() => {
      for (let i = 0; i < grads.length; i++) {
        let g = grads[i];
        if (this.#decayed[i]) {
          const fromL2 = tf.mul(this.#vars[i], this.#l2);
          g = g ? tf.add(g, fromL2) : fromL2;
        }
        if (!g) continue;
        const m = tf.add(tf.mul(this.#m[i], b1), tf.mul(g, 1 - b1));
        const v = tf.add(tf.mul(this.#v[i], b2), tf.mul(tf.square(g), 1 - b2));
        this.#m[i].assign(m);
        this.#v[i].assign(v);
        const update = tf.div(tf.mul(m, alpha), tf.add(tf.sqrt(v), epsHat));
        this.#vars[i].assign(tf.sub(this.#vars[i], update));
      }
    });
  }

  /** Makes #m and #v current again after webgpu steps (no-op otherwise). */
  #unpack(): void {
    if (!this.#packed) return;
    const { m, v } = this.#packed.unpack(this.#vars.map((x) => x.shape));
    for (let i = 0; i < m.length; i++) {
      this.#m[i].assign(m[i]);
      this.#v[i].assign(v[i]);
    }
    tf.dispose([...m, ...v]);
    this.#packed.dispose();
    this.#packed = undefined;
  }

  /** Copies the state out (reads tensors back; async so it also works on GPU backends). */
  async getState(): Promise<AdamState> {
    if (this.#packed) {
      const { m, v } = await this.#packed.read();
      const list = (vals: Float32Array[]) =>
        vals.map((values, i) => ({
          name: this.#vars[i].name,
          shape: this.#vars[i].shape.slice(),
          values,
        }));
      return { step: this.step, m: list(m), v: list(v) };
    }
    const read = async (list: tf.Variable[]) =>
      await Promise.all(list.map(async (x, i) => ({
        name: this.#vars[i].name,
        shape: x.shape.slice(),
        values: (await x.data()) as Float32Array,
      })));
    return { step: this.step, m: await read(this.#m), v: await read(this.#v) };
  }

  /** Restores a state written by {@link getState}; shapes must match. */
  setState(state: AdamState): void {
    if (state.m.length !== this.#vars.length || state.v.length !== this.#vars.length) {
      throw new Error(
        `Adam.setState: state has ${state.m.length} moments for ${this.#vars.length} variables`,
      );
    }
    this.#unpack(); // so a rejected state leaves the current moments intact
    for (let i = 0; i < this.#vars.length; i++) {
      for (const [src, dst] of [[state.m[i], this.#m[i]], [state.v[i], this.#v[i]]] as const) {
        if (src.shape.join("x") !== dst.shape.join("x")) {
          throw new Error(
            `Adam.setState: moment ${i} (${src.name}) has shape [${src.shape}], ` +
              `variable has [${dst.shape}]`,
          );
        }
        tf.tidy(() => dst.assign(tf.tensor(src.values, src.shape, "float32")));
      }
    }
    this.step = state.step;
  }

  /** Frees the moment tensors. */
  dispose(): void {
    this.#packed?.dispose();
    this.#packed = undefined;
    for (const x of [...this.#m, ...this.#v]) x.dispose();
  }
}
