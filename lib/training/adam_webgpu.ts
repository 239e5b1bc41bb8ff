/**
 * Adam's update on the webgpu backend in few dispatches: WGSL programs of our own
 * (lib/model/webgpu_program.ts) instead of adam.ts's ~12 tfjs ops (one dispatch each) per
 * variable and step.
 *
 * The moments of up to {@link CHUNK} variables live packed in one tensor per chunk, `[2·N]`:
 * the chunk's m values (each variable's flattened, in order), then its v values. Per step:
 *
 * - one {@link MomentsProgram} per chunk reads the old packed moments and the chunk's gradients
 *   and writes the new packed moments. A program has one output, and WebGPU guarantees only 8
 *   storage buffers per shader stage (tfjs asks for no more): the output, the old moments and 6
 *   inputs, hence the chunk size: a gradient per variable, and for a variable that the L2 term
 *   covers also the variable itself, whose λW the program adds to the gradient;
 * - one {@link ParamProgram} per variable writes its new value from the new moments (a
 *   variable must stay its own tensor, so this is one output — one dispatch — each).
 *
 * So a step costs `variables + chunks` dispatches (`chunks` = ⌈variables / 6⌉ without L2)
 * instead of `12 · variables`. Same arithmetic as adam.ts, in the same order: g ← g + λW for the
 * covered variables, m ← m·β1 + g·(1 − β1), v ← v·β2 + g²·(1 − β2),
 * p ← p − m·α / (√v + ε̂), with adam.ts's float64 bias corrections folded into α and ε̂; the
 * results agree to float rounding (a GPU may contract a multiply-add).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Program, runProgram } from "../model/webgpu_program.ts";

/** Inputs per moments program besides the old moments: 8 storage buffers − output − moments. */
export const CHUNK = 6;

const WORKGROUP = 64;

/** One chunk: which variables (indices into the optimiser's list) and where each starts. */
interface Chunk {
  vars: number[];
  /** Start of each variable's values in the chunk's m block; `offsets[k]` = the block's size. */
  offsets: number[];
  /** Per variable of the chunk: whether the L2 term covers it (then it is an input too). */
  decayed: boolean[];
}

/**
 * New packed moments of one chunk. Inputs: `MV` the old packed moments `[2N]`, `G0 … G{k−1}`
 * the gradients (any shape, read flat), and `P<i>` the variable i of the chunk where the L2
 * term covers it (its gradient gets `uniforms.l2 · P`). A variable whose bit in `uniforms.live`
 * is clear has no gradient this step (its placeholder input is not read): its moments are
 * copied, unless the L2 term covers it, which then is its whole gradient.
 */
class MomentsProgram implements Program {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  uniforms = "live : i32, b1 : f32, c1 : f32, b2 : f32, c2 : f32, l2 : f32, ";

  constructor(private offsets: number[], private decayed: boolean[]) {
    const k = offsets.length - 1, n = offsets[k];
    this.variableNames = [
      "MV",
      ...Array.from({ length: k }, (_, i) => `G${i}`),
      ...decayed.flatMap((d, i) => (d ? [`P${i}`] : [])),
    ];
    this.outputShape = [2 * n];
    this.dispatch = [Math.ceil(n / WORKGROUP), 1, 1];
    this.shaderKey = `emoAdamMoments_${offsets.join("_")}_${
      decayed.map((d) => (d ? 1 : 0)).join("")
    }`;
  }

  getUserCode(): string {
    const o = this.offsets, k = o.length - 1, n = o[k];
    // The variable owning element `index`: a chain of range tests, constant per chunk.
    const pick = Array.from(
      { length: k },
      (_, i) =>
        `${i > 0 ? "else " : ""}if (index < ${o[i + 1]}) {
          live = (uniforms.live & ${1 << i}) != 0;
          if (live) { g = G${i}[index - ${o[i]}]; }
          ${this.decayed[i] ? `g = g + P${i}[index - ${o[i]}] * uniforms.l2; live = true;` : ""}
        }`,
    ).join(" ");
    return `
      const N : i32 = ${n};
      fn main(index : i32) {
        if (index >= N) { return; }
        var g = 0.0;
        var live = false;
        ${pick}
        let m = MV[index];
        let v = MV[N + index];
        if (live) {
          result[index] = m * uniforms.b1 + g * uniforms.c1;
          result[N + index] = v * uniforms.b2 + (g * g) * uniforms.c2;
        } else {
          result[index] = m;
          result[N + index] = v;
        }
      }
    `;
  }
}

/**
 * One variable's new value. Inputs: `P` the variable, `MV` its chunk's new packed moments;
 * `offset` (baked in) where its values start in the m block, N the chunk's m block size.
 */
class ParamProgram implements Program {
  variableNames = ["P", "MV"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  size = true;
  uniforms = "alpha : f32, epsHat : f32, ";

  constructor(shape: number[], private offset: number, private n: number) {
    this.outputShape = shape;
    this.dispatchLayout = { x: shape.map((_, i) => i) };
    this.dispatch = [Math.ceil(tf.util.sizeFromShape(shape) / WORKGROUP), 1, 1];
    this.shaderKey = `emoAdamParam_${offset}_${n}`;
  }

  getUserCode(): string {
    return `
      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let m = MV[${this.offset} + index];
        let v = MV[${this.n + this.offset} + index];
        let update = (m * uniforms.alpha) / (sqrt(v) + uniforms.epsHat);
        result[index] = P[index] - update;
      }
    `;
  }
}

/**
 * Consecutive chunks of variables with at most {@link CHUNK} inputs each: one per variable,
 * two for a variable the L2 term covers.
 */
export function chunksOf(sizes: number[], decayed: boolean[]): Chunk[] {
  const chunks: Chunk[] = [];
  let inputs = 0;
  sizes.forEach((size, j) => {
    const cost = decayed[j] ? 2 : 1;
    let c = chunks[chunks.length - 1];
    if (!c || inputs + cost > CHUNK) {
      c = { vars: [], offsets: [0], decayed: [] };
      chunks.push(c);
      inputs = 0;
    }
    c.vars.push(j);
    c.decayed.push(decayed[j]);
    c.offsets.push(c.offsets[c.offsets.length - 1] + size);
    inputs += cost;
  });
  return chunks;
}

/** Adam's moments packed per chunk on the GPU, and the fused update on them. */
export class PackedMoments {
  readonly #chunks: Chunk[];
  #mv: tf.Tensor[];

  private constructor(chunks: Chunk[], mv: tf.Tensor[]) {
    this.#chunks = chunks;
    this.#mv = mv;
  }

  /**
   * Packs per-variable moments (the tensors are copied, not taken); `decayed` says which
   * variables the L2 term covers (all false without it).
   */
  static pack(m: tf.Tensor[], v: tf.Tensor[], decayed: boolean[]): PackedMoments {
    const chunks = chunksOf(m.map((t) => t.size), decayed);
    const mv = chunks.map((c) =>
      tf.tidy(() => {
        const flat = (list: tf.Tensor[]) => c.vars.map((j) => tf.reshape(list[j], [-1]));
        return tf.concat([...flat(m), ...flat(v)]);
      })
    );
    return new PackedMoments(chunks, mv);
  }

  /**
   * One Adam step on the webgpu backend: the moments in place (new tensors), each variable with
   * a gradient or covered by the L2 term (`h.l2` > 0, as packed) assigned its new value; any
   * other variable without a gradient is left alone, moments included.
   */
  apply(
    vars: tf.Variable[],
    grads: (tf.Tensor | undefined)[],
    h: { b1: number; b2: number; alpha: number; epsHat: number; l2: number },
  ): void {
    const next = this.#chunks.map((c, ci) =>
      tf.tidy(() => {
        const old = this.#mv[ci];
        let live = 0;
        const inputs = c.vars.map((j, k) => {
          const g = grads[j];
          if (!g) return old; // a placeholder binding; the shader does not read it
          live |= 1 << k;
          return g;
        });
        if (live === 0 && !c.decayed.includes(true)) return tf.clone(old);
        const params = c.vars.filter((_, k) => c.decayed[k]).map((j) => vars[j]);
        const mv = runProgram(new MomentsProgram(c.offsets, c.decayed), [
          old,
          ...inputs,
          ...params,
        ], [
          { type: "int32", data: [live] },
          { type: "float32", data: [h.b1] },
          { type: "float32", data: [1 - h.b1] },
          { type: "float32", data: [h.b2] },
          { type: "float32", data: [1 - h.b2] },
          { type: "float32", data: [h.l2] },
        ]);
        const n = c.offsets[c.offsets.length - 1];
        c.vars.forEach((j, k) => {
          if (!grads[j] && !c.decayed[k]) return;
          const p = runProgram(new ParamProgram(vars[j].shape, c.offsets[k], n), [vars[j], mv], [
            { type: "float32", data: [h.alpha] },
            { type: "float32", data: [h.epsHat] },
          ]);
          vars[j].assign(p);
        });
        return mv;
      })
    );
    tf.dispose(this.#mv);
    this.#mv = next;
  }

  /** The per-variable moments as new tensors of `shapes` (the caller owns them). */
  unpack(shapes: number[][]): { m: tf.Tensor[]; v: tf.Tensor[] } {
    const m: tf.Tensor[] = new Array(shapes.length), v: tf.Tensor[] = new Array(shapes.length);
    this.#chunks.forEach((c, ci) => {
      const n = c.offsets[c.offsets.length - 1];
      c.vars.forEach((j, k) => {
        const size = c.offsets[k + 1] - c.offsets[k];
        tf.tidy(() => {
          m[j] = tf.keep(tf.reshape(tf.slice(this.#mv[ci], c.offsets[k], size), shapes[j]));
          v[j] = tf.keep(tf.reshape(tf.slice(this.#mv[ci], n + c.offsets[k], size), shapes[j]));
        });
      });
    });
    return { m, v };
  }

  /** The per-variable moments read back, flat. */
  async read(): Promise<{ m: Float32Array[]; v: Float32Array[] }> {
    const data = await Promise.all(this.#mv.map((t) => t.data() as Promise<Float32Array>));
    const m: Float32Array[] = [], v: Float32Array[] = [];
    this.#chunks.forEach((c, ci) => {
      const n = c.offsets[c.offsets.length - 1];
      c.vars.forEach((j, k) => {
        m[j] = data[ci].slice(c.offsets[k], c.offsets[k + 1]);
        v[j] = data[ci].slice(n + c.offsets[k], n + c.offsets[k + 1]);
      });
    });
    return { m, v };
  }

  /** Frees the packed tensors. */
  dispose(): void {
    tf.dispose(this.#mv);
    this.#mv = [];
  }
}
