/**
 * The CNN front-end (frontend.ts) on the webgpu backend in a constant number of dispatches:
 * WGSL compute programs of our own (webgpu_program.ts) instead of tfjs's conv ops and the many
 * slices, concats, pads and max-pools of `fastFrontEnd` (each at least one dispatch).
 *
 * Why: on webgpu the launch count, not FLOPs, bounds a small-batch step (webgpu_dispatches.ts),
 * and after the GRU and Adam the front-end was most of what remained. Here a forward and
 * backward pass is 10 dispatches at any number of windows:
 *
 * - forward 1 ({@link Conv1Program}): per window, conv1 ('same', the window's own zero
 *   padding) + bias, max over the `pool` positions, ReLU. Output packed `[N, L/pool, 2F]`: the
 *   pooled values h1, then the position (0 … pool−1, as f32) of the first maximum, which the
 *   backward pass routes the gradient to;
 * - forward 2 ({@link Conv2Program}): conv2 ('same') over h1 + bias, max over groups of
 *   `channelPool` channels, ReLU. Output packed `[N, L/pool, 2G]` (G = F/channelPool groups):
 *   the values, then the first maximum's channel within its group; one slice makes the value;
 * - backward: {@link Conv2GradProgram} spreads the output's gradient onto conv2's
 *   pre-activations `[N, L/pool, F]` (only the argmax channel of a group, only where the ReLU
 *   passed); {@link H1GradProgram} is conv2's transpose onto h1, masked by conv1's ReLU
 *   (h1 > 0), which is the gradient of the pooled conv1 pre-activation; {@link PartialsProgram}
 *   reduces all four weight gradients over chunks of whole windows (about {@link CHUNK} window
 *   positions each) in one
 *   program, and one {@link SumRowsProgram} per weight adds the chunks up into its own shape.
 *
 * Each window is computed on its own, as `naiveFrontEnd` does (no sharing of the 75 % overlap
 * of neighbouring windows as `fastFrontEnd` does): 4× the FLOPs, but the same few programs at
 * any length, and a GPU has FLOPs to spare at these sizes. Values agree with `naiveFrontEnd`
 * to float rounding (sums in another order). Ties in a max go to the first maximum, as our
 * wasm kernels do; tfjs's max gradient gives every tied element the gradient. They differ only
 * for exactly equal positive pre-activations (equal zeros after the ReLU get no gradient in
 * either), which real-valued inputs do not produce.
 *
 * The signal gets no gradient (it is data).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { FrontEndGeometry, FrontEndWeights } from "./frontend.ts";
import { type Program, runProgram as run } from "./webgpu_program.ts";

/** Invocations per workgroup of every program here. */
const WG = 64;

/**
 * About this many window positions (windows × pooled positions) per partial sum of the weight
 * gradients: enough partial sums to fill a GPU, few enough that the partials stay small
 * (R·P floats, P ≈ 66,000 for the paper's geometry).
 */
export const CHUNK = 4096;

/** Whole windows per partial sum (a chunk never splits a window: no index division inside). */
function windowsPerChunk(g: FrontEndGeometry): number {
  return Math.max(1, Math.floor(CHUNK / (g.windowSamples / g.pool)));
}

/** WebGPU's guaranteed `maxComputeWorkgroupsPerDimension`. */
const MAX_DIM = 65535;

/**
 * Workgroups for `n` invocations: flat, or split over x and y past the per-dimension limit
 * (tfjs's `getGlobalIndex()` then still numbers the invocations 0, 1, …; the overshoot is
 * guarded in each shader).
 */
function dispatchFor(n: number): [number, number, number] {
  const groups = Math.max(1, Math.ceil(n / WG));
  if (groups <= MAX_DIM) return [groups, 1, 1];
  const x = Math.ceil(Math.sqrt(groups));
  return [x, Math.ceil(groups / x), 1];
}

/** Whether {@link frontEndWebGpu} computes this geometry (else the caller falls back). */
export function frontEndWebGpuApplies(g: FrontEndGeometry): boolean {
  return g.windowSamples % g.pool === 0 && g.filters % g.channelPool === 0 &&
    g.kernel >= 1 && g.kernel <= g.windowSamples / g.pool && g.hopSamples >= 1 &&
    // Each program loops over all K·F (conv2) taps: keep the unrolled constants sane.
    g.kernel * g.filters <= 1 << 16;
}

/** WebGPU's default `maxStorageBufferBindingSize` (128 MiB), where a device does not say. */
const DEFAULT_BINDING_LIMIT = 134217728;

/** The active webgpu device's `maxStorageBufferBindingSize` (bytes). */
function bindingLimit(): number {
  const device = (tf.backend() as unknown as {
    device?: { limits?: { maxStorageBufferBindingSize?: number } };
  }).device;
  return device?.limits?.maxStorageBufferBindingSize ?? DEFAULT_BINDING_LIMIT;
}

/**
 * The most windows (rows × windows) one {@link frontEndWebGpu} call may take: every buffer
 * its programs bind must fit the device's `maxStorageBufferBindingSize` (`limit`, bytes; by
 * default the active device's). Past it WebGPU does not fail: the dispatch is left undone and
 * the output is zeros (seen on lavapipe, whose limit is 128 MiB: 1,310 windows of the paper's
 * geometry). The largest buffers grow with the windows: the packed conv1 output (2·F values per
 * pooled position), conv2's two gradients (F each) and the weight gradients' partial sums.
 */
export function webgpuWindowsPerCall(g: FrontEndGeometry, limit = bindingLimit()): number {
  const lp = g.windowSamples / g.pool;
  const perWindow = lp * 2 * g.filters * 4; // the largest per-window buffer, in bytes
  const byActivations = Math.floor(limit / perWindow);
  const byPartials = Math.floor(limit / (partialWidth(g) * 4)) * windowsPerChunk(g);
  return Math.max(0, Math.min(byActivations, byPartials));
}

/** WGSL constants of the geometry, shared by all programs (and their shader keys). */
function constants(g: FrontEndGeometry): string {
  const pl = Math.floor((g.kernel - 1) / 2);
  return `
    const WIN : i32 = ${g.windowSamples};
    const HOP : i32 = ${g.hopSamples};
    const K : i32 = ${g.kernel};
    const F : i32 = ${g.filters};
    const POOL : i32 = ${g.pool};
    const CP : i32 = ${g.channelPool};
    const PL : i32 = ${pl};
    const LP : i32 = ${g.windowSamples / g.pool};
    const G : i32 = ${g.filters / g.channelPool};
  `;
}

function keyOf(name: string, g: FrontEndGeometry): string {
  return `emoFrontEnd${name}_${g.windowSamples}_${g.hopSamples}_${g.kernel}_${g.filters}_` +
    `${g.pool}_${g.channelPool}`;
}

/** Common fields: flat index, `uniforms.size` invocations (not always the output's size). */
abstract class FlatProgram implements Program {
  abstract variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];
  uniforms = "count : i32, windows : i32, ";

  constructor(name: string, protected g: FrontEndGeometry, outputShape: number[], count: number) {
    this.outputShape = outputShape;
    this.shaderKey = keyOf(name, g);
    this.dispatch = dispatchFor(count);
  }

  abstract getUserCode(): string;
}

/**
 * conv1 + bias → max-pool → ReLU per window. Inputs: `X` the signal `[B, S]`, `W1 [K, 1, F]`,
 * `B1 [F]`; uniforms `count` = N·LP·F (one invocation per pooled value), `windows` per row.
 * Output `[N, LP, 2F]`: h1, then the first argmax within the pool (as f32).
 */
class Conv1Program extends FlatProgram {
  variableNames = ["X", "W1", "B1"];
  constructor(g: FrontEndGeometry, n: number) {
    const lp = g.windowSamples / g.pool;
    super("Conv1", g, [n, lp, 2 * g.filters], n * lp * g.filters);
  }
  getUserCode(): string {
    return `
      ${constants(this.g)}
      fn main(index : i32) {
        if (index >= uniforms.count) { return; }
        let f = index % F;
        let row = index / F; // n · LP + p
        let p = row % LP;
        let n = row / LP;
        let b = n / uniforms.windows;
        let start = b * uniforms.xShape.y + (n % uniforms.windows) * HOP;
        var best = 0.0;
        var arg = 0;
        for (var q = 0; q < POOL; q++) {
          let t = p * POOL + q;
          var acc = B1[f];
          for (var k = 0; k < K; k++) {
            let s = t + k - PL;
            if (s >= 0 && s < WIN) { acc += X[start + s] * W1[k * F + f]; }
          }
          if (q == 0 || acc > best) { best = acc; arg = q; }
        }
        result[row * 2 * F + f] = max(best, 0.0);
        result[row * 2 * F + F + f] = f32(arg);
      }
    `;
  }
}

/**
 * conv2 + bias → channel max → ReLU. Inputs: `P1` forward 1's packed `[N, LP, 2F]`,
 * `W2 [K, F, F]`, `B2 [F]`; `count` = N·LP·G. Output `[N, LP, 2G]`: values, then the first
 * argmax channel within the group (as f32).
 */
class Conv2Program extends FlatProgram {
  variableNames = ["P1", "W2", "B2"];
  constructor(g: FrontEndGeometry, n: number) {
    const lp = g.windowSamples / g.pool, gr = g.filters / g.channelPool;
    super("Conv2", g, [n, lp, 2 * gr], n * lp * gr);
  }
  getUserCode(): string {
    return `
      ${constants(this.g)}
      fn main(index : i32) {
        if (index >= uniforms.count) { return; }
        let grp = index % G;
        let row = index / G; // n · LP + t
        let t = row % LP;
        let n = row / LP;
        var best = 0.0;
        var arg = 0;
        for (var c = 0; c < CP; c++) {
          let o = grp * CP + c;
          var acc = B2[o];
          for (var k = 0; k < K; k++) {
            let s = t + k - PL;
            if (s >= 0 && s < LP) {
              let h = (n * LP + s) * 2 * F;
              let w = k * F * F + o;
              for (var i = 0; i < F; i++) { acc += P1[h + i] * W2[w + i * F]; }
            }
          }
          if (c == 0 || acc > best) { best = acc; arg = c; }
        }
        result[row * 2 * G + grp] = max(best, 0.0);
        result[row * 2 * G + G + grp] = f32(arg);
      }
    `;
  }
}

/**
 * Gradient of conv2's pre-activations `[N, LP, F]` from the output's `DY` (`[B, W, LP·G]`, read
 * as `[N, LP, G]`) and forward 2's packed `P2`: the group's gradient at its argmax channel where
 * the ReLU passed (value > 0), else 0. `count` = N·LP·F.
 */
class Conv2GradProgram extends FlatProgram {
  variableNames = ["DY", "P2"];
  constructor(g: FrontEndGeometry, n: number) {
    const lp = g.windowSamples / g.pool;
    super("Conv2Grad", g, [n, lp, g.filters], n * lp * g.filters);
  }
  getUserCode(): string {
    return `
      ${constants(this.g)}
      fn main(index : i32) {
        if (index >= uniforms.count) { return; }
        let o = index % F;
        let row = index / F;
        let grp = o / CP;
        let q = row * 2 * G;
        var d = 0.0;
        if (P2[q + grp] > 0.0 && i32(P2[q + G + grp]) == o - grp * CP) {
          d = DY[row * G + grp];
        }
        result[index] = d;
      }
    `;
  }
}

/**
 * Gradient of the pooled conv1 pre-activation `[N, LP, F]`: conv2's transpose applied to `D2`
 * (conv2GradProgram's output), dh1[s, i] = Σ_k Σ_o D2[s − k + PL, o]·W2[k, i, o], times
 * ReLU' (h1 > 0, read from `P1`). `count` = N·LP·F.
 */
class H1GradProgram extends FlatProgram {
  variableNames = ["D2", "W2", "P1"];
  constructor(g: FrontEndGeometry, n: number) {
    const lp = g.windowSamples / g.pool;
    super("H1Grad", g, [n, lp, g.filters], n * lp * g.filters);
  }
  getUserCode(): string {
    return `
      ${constants(this.g)}
      fn main(index : i32) {
        if (index >= uniforms.count) { return; }
        let i = index % F;
        let row = index / F; // n · LP + s
        let s = row % LP;
        let n = row / LP;
        var acc = 0.0;
        if (P1[row * 2 * F + i] > 0.0) {
          for (var k = 0; k < K; k++) {
            let t = s - k + PL;
            if (t >= 0 && t < LP) {
              let d = (n * LP + t) * F;
              let w = (k * F + i) * F;
              for (var o = 0; o < F; o++) { acc += D2[d + o] * W2[w + o]; }
            }
          }
        }
        result[index] = acc;
      }
    `;
  }
}

/**
 * Partial sums of the weight gradients over chunks of whole windows
 * ({@link windowsPerChunk}; rows n·LP + t). dW2's loop visits only the positions t where
 * t + k − PL falls inside the window, so it has no per-position test or division. Output
 * `[R, P]`, P = K·F·F (dW2) + F (db2) + K·F (dW1) + F (db1), one invocation per element. Inputs: `X` the signal, `P1`, `D2` (conv2 pre-activation gradient),
 * `Z1` (pooled conv1 pre-activation gradient); `count` = R·P, `windows` per row.
 * dW2[k, i, o] = Σ h1[t + k − PL, i]·D2[t, o]; dW1[k, f] = Σ Z1[p, f]·x[p·POOL + a + k − PL]
 * with a the pool's argmax; the biases sum D2 and Z1.
 */
class PartialsProgram extends FlatProgram {
  variableNames = ["X", "P1", "D2", "Z1"];
  constructor(g: FrontEndGeometry, chunks: number) {
    super("Partials", g, [chunks, partialWidth(g)], chunks * partialWidth(g));
  }
  getUserCode(): string {
    return `
      ${constants(this.g)}
      const PW : i32 = ${partialWidth(this.g)};
      const CW : i32 = ${windowsPerChunk(this.g)};
      fn main(index : i32) {
        if (index >= uniforms.count) { return; }
        let e = index % PW;
        let r = index / PW;
        let n0 = r * CW;
        let n1 = min(n0 + CW, uniforms.p1Shape.x);
        let r0 = n0 * LP;
        let r1 = n1 * LP;
        var acc = 0.0;
        if (e < K * F * F) {
          let k = e / (F * F);
          let i = (e / F) % F;
          let o = e % F;
          // Positions t whose input position t + k − PL lies in [0, LP).
          let t0 = max(0, PL - k);
          let t1 = min(LP, LP + PL - k);
          for (var n = n0; n < n1; n++) {
            for (var t = t0; t < t1; t++) {
              let row = n * LP + t;
              acc += P1[(row + k - PL) * 2 * F + i] * D2[row * F + o];
            }
          }
        } else if (e < K * F * F + F) {
          let o = e - K * F * F;
          for (var row = r0; row < r1; row++) { acc += D2[row * F + o]; }
        } else if (e < K * F * F + F + K * F) {
          let e1 = e - K * F * F - F;
          let k = e1 / F;
          let f = e1 % F;
          for (var row = r0; row < r1; row++) {
            let z = Z1[row * F + f];
            if (z != 0.0) {
              let n = row / LP;
              let s = (row % LP) * POOL + i32(P1[row * 2 * F + F + f]) + k - PL;
              if (s >= 0 && s < WIN) {
                let b = n / uniforms.windows;
                acc += z * X[b * uniforms.xShape.y + (n % uniforms.windows) * HOP + s];
              }
            }
          }
        } else {
          let f = e - K * F * F - F - K * F;
          for (var row = r0; row < r1; row++) { acc += Z1[row * F + f]; }
        }
        result[index] = acc;
      }
    `;
  }
}

/** Elements of one row of {@link PartialsProgram}'s output. */
function partialWidth(g: FrontEndGeometry): number {
  const k = g.kernel, f = g.filters;
  return k * f * f + f + k * f + f;
}

/**
 * Columns [offset, offset + count) of `Q [R, P]` summed over R, written as `outputShape`
 * (a weight's shape, count elements). Shader key per offset/size (four fixed variants).
 */
class SumRowsProgram implements Program {
  variableNames = ["Q"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [WG, 1, 1];

  constructor(shape: number[], private offset: number) {
    this.outputShape = shape;
    const n = shape.reduce((a, d) => a * d, 1);
    this.dispatch = dispatchFor(n);
    this.shaderKey = `emoFrontEndSumRows_${offset}_${n}`;
  }

  getUserCode(): string {
    const n = this.outputShape.reduce((a, d) => a * d, 1);
    return `
      fn main(index : i32) {
        if (index >= ${n}) { return; }
        let r = uniforms.qShape.x;
        let p = uniforms.qShape.y;
        var acc = 0.0;
        for (var j = 0; j < r; j++) { acc += Q[j * p + ${this.offset} + index]; }
        result[index] = acc;
      }
    `;
  }
}

/**
 * `naiveFrontEnd`'s values and weight gradients on the webgpu backend (call only while it is
 * active; see {@link frontEndWebGpuApplies}): `signal [B, S]`, S = (windows − 1)·hop + window,
 * → `[B, windows, (window/pool)·(filters/channelPool)]`, position-major then group.
 */
export function frontEndWebGpu(
  signal: tf.Tensor2D,
  windows: number,
  g: FrontEndGeometry,
  w: FrontEndWeights,
): tf.Tensor3D {
  const b = signal.shape[0];
  const n = b * windows;
  const most = webgpuWindowsPerCall(g);
  if (n > most) {
    // frontEnd splits batches to fit; a direct call this large would return zeros.
    throw new Error(
      `frontEndWebGpu: ${b} × ${windows} windows exceed the ${most} that fit this device's ` +
        "storage buffer binding limit (call frontEnd, which splits the batch)",
    );
  }
  const lp = g.windowSamples / g.pool, f = g.filters, k = g.kernel, gr = f / g.channelPool;
  const need = (windows - 1) * g.hopSamples + g.windowSamples;
  if (signal.shape[1] < need) {
    throw new Error(`frontEndWebGpu: ${signal.shape[1]} samples per row, ${need} needed`);
  }
  const x = signal.dtype === "float32" ? signal : tf.cast(signal, "float32");
  const uni = (count: number) => [
    { type: "int32" as const, data: [count] },
    { type: "int32" as const, data: [windows] },
  ];
  const fn = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [w1, b1, w2, b2] = args as tf.Tensor[];
    const save = args[4] as tf.GradSaveFunc;
    const p1 = run(new Conv1Program(g, n), [x, w1, b1], uni(n * lp * f));
    const p2 = run(new Conv2Program(g, n), [p1, w2, b2], uni(n * lp * gr));
    save([x, w2, p1, p2]);
    const value = tf.reshape(tf.slice(p2, [0, 0, 0], [n, lp, gr]), [b, windows, lp * gr]);
    tf.dispose([p1, p2]); // the saved copies live on
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const [sx, sw2, sp1, sp2] = saved;
          const d2 = run(new Conv2GradProgram(g, n), [dy, sp2], uni(n * lp * f));
          const z1 = run(new H1GradProgram(g, n), [d2, sw2, sp1], uni(n * lp * f));
          const chunks = Math.ceil(n / windowsPerChunk(g));
          const pw = partialWidth(g);
          const q = run(new PartialsProgram(g, chunks), [sx, sp1, d2, z1], uni(chunks * pw));
          const o2 = k * f * f, o1 = o2 + f, ob1 = o1 + k * f;
          return [
            run(new SumRowsProgram([k, 1, f], o1), [q]),
            run(new SumRowsProgram([f], ob1), [q]),
            run(new SumRowsProgram([k, f, f], 0), [q]),
            run(new SumRowsProgram([f], o2), [q]),
          ];
        }),
    };
  });
  const out = fn(w.w1, w.b1, w.w2, w.b2) as tf.Tensor3D;
  if (x !== signal) x.dispose();
  return out;
}
