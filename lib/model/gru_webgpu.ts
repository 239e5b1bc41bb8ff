/**
 * The GRU recurrence on the webgpu backend in a constant number of dispatches: WGSL compute
 * programs of our own, run through tfjs-backend-webgpu so inputs and outputs stay tfjs tensors
 * on the GPU.
 *
 * Why: on webgpu every tfjs op is at least one GPU dispatch with a fixed driver and JS cost, and
 * gru.ts's generic path issues ~14–25 ops per time step and layer, so a training step's dispatch
 * count grew with the number of windows (7,352 at 2 utterances × 100 windows, 26,674 at
 * 2 × 400). Here each direction of the recurrence is one dispatch whatever the length:
 *
 * - forward ({@link GruForwardProgram}): one workgroup per utterance loops over all time steps
 *   inside the shader, one invocation per hidden unit (strided when U exceeds the workgroup),
 *   h kept in workgroup memory, `workgroupBarrier()` between the phases of a step. It writes
 *   one packed tensor `[B, W, 4U]` per step: h, z, r, ĥ — h for the layer's output, all four
 *   for the backward pass (the previous h is the row before; zero at t = 0);
 * - backward ({@link GruBackwardProgram}): one workgroup per utterance loops t = W−1 … 0 and
 *   writes the gate pre-activation gradients `[B, W, 3U]` (blocks z, r, candidate: the
 *   gradient of the input projection);
 * - the step-independent products stay single dispatches over all steps: dX and dKernel as
 *   tfjs matmuls (transposes folded into the matmul), dBias as one sum, and dRecurrent
 *   ({@link GruRecurrentGradProgram}) as one program that reads the previous h and r straight
 *   from the packed forward tensor, so no shifted copy of h or r ⊙ h is materialised.
 *
 * Conventions are gru.ts's (TensorFlow's GRUCell, reset before the recurrent matmul):
 * z = σ(x_z + h·U_z), r = σ(x_r + h·U_r), ĥ = tanh(x_h + (r ⊙ h)·U_h), h' = ĥ + z ⊙ (h − ĥ),
 * gate blocks of kernel `[D, 3U]`, recurrent `[U, 3U]` and bias `[3U]` ordered z, r, candidate.
 * Every utterance runs all W steps from h = 0, as gru.ts does: the model masks padded windows
 * after the GRU (attention mask, last real window), not inside it.
 *
 * One utterance per workgroup leaves a GPU mostly idle at small batches; the point is the
 * dispatch count, which bounds a small-batch step. webgpu_program.ts runs the programs.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { loop, type Program, runProgram as run } from "./webgpu_program.ts";

/** Workgroup size for U units: one invocation per unit up to 256 (WebGPU's default limit). */
function workgroupFor(u: number): number {
  return Math.min(u, 256);
}

/** Units per block of {@link unrolled}. */
const UNROLL = 32;

/**
 * WGSL running `body(k)` for k = 0 … u − 1 (`body` gets a WGSL expression for k): a loop over
 * blocks of {@link UNROLL} units, written out within a block, then the rest written out. Loops
 * over the units inside the loop over the time steps count against Mesa's software adapter's
 * limit of 65,535 iterations per invocation (webgpu_program.ts's SOFTWARE_LOOP_LIMIT), which
 * one iteration per unit reached at ~250 steps; blocks of 32 move it to ~6,000 steps while
 * keeping the shaders small enough to compile quickly there (fully written out, the paper's GRU
 * took 13 s instead of 5 s to compile on lavapipe). A GPU compiler gets straight-line blocks.
 */
function unrolled(u: number, body: (k: string) => string): string {
  const blocks = Math.floor(u / UNROLL) * UNROLL;
  const lines: string[] = [];
  if (blocks > 0) {
    lines.push(`for (var k0 = 0; k0 < ${blocks}; k0 += ${UNROLL}) {`);
    for (let c = 0; c < UNROLL; c++) lines.push(body(`k0 + ${c}`));
    lines.push("}");
  }
  for (let k = blocks; k < u; k++) lines.push(body(String(k)));
  return lines.join("\n");
}

/**
 * The loop iterations of an invocation (webgpu_program.ts's `loop` rule) looping over `nw`
 * steps, each step with `blockLoops` loops over its units (⌈u / wg⌉ of them) that run
 * {@link unrolled}'s block loop, `plain` loops over its units that do not and `barriers`
 * workgroup barriers, plus one loop over its units before the steps and one iteration of margin.
 * The forward program, 17 per step by this count, was measured right at 3,855 steps of 128 units
 * and wrong at 3,856.
 */
function recurrenceLoops(
  nw: number,
  u: number,
  wg: number,
  counts: { blockLoops: number; plain: number; barriers: number },
): number {
  const ju = Math.ceil(u / wg), blocks = Math.floor(u / UNROLL);
  const step = counts.barriers + counts.plain * loop(ju) +
    counts.blockLoops * loop(ju, loop(blocks));
  return loop(ju) + loop(nw, step) + 1;
}

/**
 * WGSL helpers. tanh through exp(−2|a|) stays finite for any |a| (exp(2a) overflows to inf/inf
 * = NaN past a ≈ 44 on some drivers); tfjs's webgpu tanh uses the same form.
 */
const ACTIVATIONS = `
  fn sigmoidF(a : f32) -> f32 { return 1.0 / (1.0 + exp(-a)); }
  fn tanhF(a : f32) -> f32 {
    let e = exp(-2.0 * abs(a));
    return sign(a) * (1.0 - e) / (1.0 + e);
  }
`;

/**
 * Forward recurrence. Inputs: `P` the input projection without bias `[B, W, 3U]`, `bias [3U]`,
 * `R` the recurrent matrix `[U, 3U]`. Output `[B, W, 4U]`: h, z, r, ĥ of each step.
 * Dispatch: B workgroups, one per utterance.
 *
 * Per step, phase 1 computes z and r from h (all of h is read) and stores r ⊙ h; a barrier; phase
 * 2 computes ĥ from r ⊙ h (all of it is read) and the new h. Phase 2 reads and writes h only at
 * its own units, so it may overwrite h in place; the barrier at the end of the step orders that
 * write before the next phase 1 reads all of h, and phase 2's reads of r ⊙ h before the next
 * phase 1 overwrites it.
 */
class GruForwardProgram implements Program {
  variableNames = ["P", "bias", "R"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];

  loopIterations: number;

  constructor(b: number, nw: number, private u: number) {
    this.outputShape = [b, nw, 4 * u];
    this.workgroupSize = [workgroupFor(u), 1, 1];
    this.dispatch = [b, 1, 1];
    this.shaderKey = `emoGruForward_${u}_${this.workgroupSize[0]}`;
    this.loopIterations = recurrenceLoops(nw, u, this.workgroupSize[0], {
      blockLoops: 2,
      plain: 0,
      barriers: 2,
    });
  }

  getUserCode(): string {
    const u = this.u, wg = this.workgroupSize[0];
    return `
      ${ACTIVATIONS}
      const U : i32 = ${u};
      const WG : i32 = ${wg};
      var<workgroup> hS : array<f32, ${u}>;
      var<workgroup> rhS : array<f32, ${u}>;
      var<workgroup> zS : array<f32, ${u}>;

      fn main(index : i32) {
        let b = i32(workgroupId.x);
        let lid = i32(localId.x);
        let nw = uniforms.outShape.y;
        for (var j = lid; j < U; j += WG) { hS[j] = 0.0; }
        workgroupBarrier();
        for (var t = 0; t < nw; t++) {
          let p = (b * nw + t) * 3 * U;
          let o = (b * nw + t) * 4 * U;
          for (var j = lid; j < U; j += WG) {
            var az = P[p + j] + bias[j];
            var ar = P[p + U + j] + bias[U + j];
            ${
      unrolled(u, (k) =>
        `{ let hk = hS[${k}]; az += hk * R[(${k}) * ${3 * u} + j]; ` +
        `ar += hk * R[(${k}) * ${3 * u} + ${u} + j]; }`)
    }
            let z = sigmoidF(az);
            let r = sigmoidF(ar);
            zS[j] = z;
            rhS[j] = r * hS[j];
            result[o + U + j] = z;
            result[o + 2 * U + j] = r;
          }
          workgroupBarrier();
          for (var j = lid; j < U; j += WG) {
            var ac = P[p + 2 * U + j] + bias[2 * U + j];
            ${unrolled(u, (k) => `ac += rhS[${k}] * R[(${k}) * ${3 * u} + ${2 * u} + j];`)}
            let c = tanhF(ac);
            let h = c + zS[j] * (hS[j] - c);
            hS[j] = h;
            result[o + j] = h;
            result[o + 3 * U + j] = c;
          }
          workgroupBarrier();
        }
      }
    `;
  }
}

/**
 * Backward recurrence. Inputs: `dY` the output's gradient `[B, W, U]`, `S` the forward's packed
 * `[B, W, 4U]`, `RT` the recurrent matrix transposed `[3U, U]` (so each invocation's reads of a
 * row of R are coalesced across the workgroup). Output `[B, W, 3U]`: the gradient of the gate
 * pre-activations (blocks z, r, candidate), which is the input projection's gradient.
 *
 * With g = dY_t + dh (dh carried from step t+1) and hp the previous h:
 * dĉ = g (1 − z)(1 − ĥ²), dz = g (hp − ĥ) z (1 − z); d(r⊙h) = dĉ·U_hᵀ, dr = d(r⊙h) hp r (1 − r);
 * dh ← g z + d(r⊙h) r + [dz, dr]·U_zrᵀ. Three phases per step, each reading all units of the
 * previous phase's results, with a barrier after each.
 */
class GruBackwardProgram implements Program {
  variableNames = ["dY", "S", "RT"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];

  loopIterations: number;

  constructor(b: number, nw: number, private u: number) {
    this.outputShape = [b, nw, 3 * u];
    this.workgroupSize = [workgroupFor(u), 1, 1];
    this.dispatch = [b, 1, 1];
    this.shaderKey = `emoGruBackward_${u}_${this.workgroupSize[0]}`;
    this.loopIterations = recurrenceLoops(nw, u, this.workgroupSize[0], {
      blockLoops: 2,
      plain: 1,
      barriers: 3,
    });
  }

  getUserCode(): string {
    const u = this.u, wg = this.workgroupSize[0];
    return `
      const U : i32 = ${u};
      const WG : i32 = ${wg};
      var<workgroup> dhS : array<f32, ${u}>;
      var<workgroup> gS : array<f32, ${u}>;
      var<workgroup> dcS : array<f32, ${u}>;
      var<workgroup> dzS : array<f32, ${u}>;
      var<workgroup> drS : array<f32, ${u}>;
      var<workgroup> drhS : array<f32, ${u}>;

      fn main(index : i32) {
        let b = i32(workgroupId.x);
        let lid = i32(localId.x);
        let nw = uniforms.outShape.y;
        for (var j = lid; j < U; j += WG) { dhS[j] = 0.0; }
        workgroupBarrier();
        for (var t = nw - 1; t >= 0; t--) {
          let o = (b * nw + t) * 4 * U;
          let q = (b * nw + t) * 3 * U;
          let y = (b * nw + t) * U;
          for (var j = lid; j < U; j += WG) {
            let g = dY[y + j] + dhS[j];
            let z = S[o + U + j];
            let c = S[o + 3 * U + j];
            var hp = 0.0;
            if (t > 0) { hp = S[o - 4 * U + j]; }
            let dc = g * (1.0 - z) * (1.0 - c * c);
            let dz = g * (hp - c) * z * (1.0 - z);
            gS[j] = g;
            dcS[j] = dc;
            dzS[j] = dz;
            result[q + j] = dz;
            result[q + 2 * U + j] = dc;
          }
          workgroupBarrier();
          for (var j = lid; j < U; j += WG) {
            var drh = 0.0;
            ${unrolled(u, (k) => `drh += dcS[${k}] * RT[(${2 * u} + ${k}) * ${u} + j];`)}
            let r = S[o + 2 * U + j];
            var hp = 0.0;
            if (t > 0) { hp = S[o - 4 * U + j]; }
            let dr = drh * hp * r * (1.0 - r);
            drhS[j] = drh;
            drS[j] = dr;
            result[q + U + j] = dr;
          }
          workgroupBarrier();
          for (var j = lid; j < U; j += WG) {
            var dh = gS[j] * S[o + U + j] + drhS[j] * S[o + 2 * U + j];
            ${
      unrolled(
        u,
        (k) =>
          `dh += dzS[${k}] * RT[(${k}) * ${u} + j] + drS[${k}] * RT[(${u} + ${k}) * ${u} + j];`,
      )
    }
            dhS[j] = dh;
          }
          workgroupBarrier();
        }
      }
    `;
  }
}

/**
 * The recurrent matrix's gradient `[U, 3U]` in one dispatch, one invocation per element:
 * column blocks z, r get Σ_{b,t} hp[k]·dG[j], the candidate block Σ_{b,t} (r ⊙ hp)[k]·dG[j],
 * hp and r read from the packed forward tensor `S` (hp = h of the row before, zero at t = 0, so
 * t = 0 contributes nothing). Inputs: `S [B, W, 4U]`, `dG [B, W, 3U]`.
 */
class GruRecurrentGradProgram implements Program {
  variableNames = ["S", "dG"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  size = true;

  loopIterations: number;

  constructor(private u: number, nb: number, nw: number) {
    this.loopIterations = loop(nb, nw); // over utterances, and each over its steps from 1
    this.outputShape = [u, 3 * u];
    this.dispatchLayout = { x: [0, 1] };
    this.dispatch = [Math.ceil((3 * u * u) / this.workgroupSize[0]), 1, 1];
    this.shaderKey = `emoGruRecurrentGrad_${u}`;
  }

  getUserCode(): string {
    return `
      const U : i32 = ${this.u};

      fn main(index : i32) {
        if (index >= uniforms.size) { return; }
        let k = index / (3 * U);
        let j = index - k * 3 * U;
        let nb = uniforms.sShape.x;
        let nw = uniforms.sShape.y;
        var acc = 0.0;
        for (var b = 0; b < nb; b++) {
          for (var t = 1; t < nw; t++) {
            let row = b * nw + t;
            var a = S[(row - 1) * 4 * U + k];
            if (j >= 2 * U) { a = a * S[row * 4 * U + 2 * U + k]; }
            acc += a * dG[row * 3 * U + j];
          }
        }
        setOutputAtIndex(index, acc);
      }
    `;
  }
}

/**
 * gru.ts's `gru` values and gradients on the webgpu backend (call only while it is active) with
 * the recurrence in one dispatch per direction: `[B, W, D]` → `[B, W, U]`. A training step's
 * GRU costs the same few dispatches at any number of windows.
 */
export function gruWebGpu(
  x: tf.Tensor3D,
  kernel: tf.Tensor2D,
  recurrent: tf.Tensor2D,
  bias: tf.Tensor1D,
): tf.Tensor3D {
  const [b, nw, d] = x.shape;
  const u = recurrent.shape[0];
  if (x.dtype !== "float32") throw new Error(`gruWebGpu: x is ${x.dtype}, not float32`);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, kk, rr, bb] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const packed = tf.tidy(() => {
      // The step-independent input projection, one matmul; the bias is added in the shader.
      const proj = tf.reshape(tf.matMul(tf.reshape(xx, [b * nw, d]), kk), [b, nw, 3 * u]);
      return run(new GruForwardProgram(b, nw, u), [proj, bb, rr]);
    });
    save([xx, kk, rr, packed]);
    const value = tf.slice(packed, [0, 0, 0], [b, nw, u]);
    tf.dispose(packed); // the saved copy lives on
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sk, sr, s] = saved;
          const rt = tf.transpose(sr);
          const dG = run(new GruBackwardProgram(b, nw, u), [dy, s, rt]);
          const dProj = tf.reshape(dG, [b * nw, 3 * u]);
          const dx = tf.reshape(tf.matMul(dProj, sk, false, true), [b, nw, d]);
          const dk = tf.matMul(tf.reshape(sx, [b * nw, d]), dProj, true, false);
          const dr = run(new GruRecurrentGradProgram(u, b, nw), [s, dG]);
          return [dx, dk, dr, tf.sum(dProj, 0)];
        }),
    };
  });
  return f(x, kernel, recurrent, bias) as tf.Tensor3D;
}
