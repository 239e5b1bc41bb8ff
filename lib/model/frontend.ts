/**
 * The per-window CNN front-end (paper section 4.2), in two exactly equivalent forms.
 *
 * Per 640-sample window: conv1d (40 filters × 40, 'same', zero-padded at the window's own
 * edges) → ReLU → max-pool 2 → conv1d (40 × 40, 'same') → ReLU → max over groups of 10
 * channels → 320 × 4 = 1280 values.
 *
 * {@link naiveFrontEnd} computes every window separately, as the paper describes.
 * {@link fastFrontEnd} exploits the 75 % overlap of neighbouring windows: away from a window's
 * edges its convolutions see exactly the samples the same convolution over the whole signal
 * sees, so conv1 and conv2 run once over the signal (per row), and only the positions whose
 * receptive field touches a window edge (40 of 640 conv1 outputs, 59 of 320 conv2 outputs)
 * are computed per window. With hop 160 even, window i's pooled position j is the global
 * pooled position 80·i + j, so the pieces line up exactly.
 *
 * {@link frontEnd} adds memory control: for large batches it runs the fast path in chunks
 * of windows and recomputes each chunk during the backward pass (gradient checkpointing),
 * so a batch of 35-second utterances fits in wasm's memory. On webgpu a batch within that
 * threshold that is too large for one call of the WGSL programs (the device's binding limit)
 * runs in chunks that keep their activations.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { spanSamples } from "../frames/windows.ts";
import { convBiasRelu, convBiasReluPool, maxPoolChannels, maxPoolTime } from "./conv.ts";
import {
  frontEndWebGpu,
  frontEndWebGpuApplies,
  webgpuCheckpointWindows,
  webgpuWindowsPerCall,
} from "./frontend_webgpu.ts";
import { ownWebGpuKernels } from "./own_kernels.ts";

/** Trainable tensors of the front-end. */
export interface FrontEndWeights {
  /** conv1 kernel `[kernel, 1, filters]`. */
  w1: tf.Tensor3D;
  /** conv1 bias `[filters]`. */
  b1: tf.Tensor1D;
  /** conv2 kernel `[kernel, filters, filters]`. */
  w2: tf.Tensor3D;
  /** conv2 bias `[filters]`. */
  b2: tf.Tensor1D;
}

/** Window geometry and CNN hyper-parameters of the front-end. */
export interface FrontEndGeometry {
  /** Samples per window (640). */
  windowSamples: number;
  /** Samples between window starts (160). */
  hopSamples: number;
  /** Convolution width (40). */
  kernel: number;
  /** Filters of both convolutions (40). */
  filters: number;
  /** Max-pool size after conv1 (2). */
  pool: number;
  /** Channels per cross-channel max group after conv2 (10). */
  channelPool: number;
}

/** Output values per window: (window / pool) · (filters / channelPool). */
export function frontEndDim(g: FrontEndGeometry): number {
  return (g.windowSamples / g.pool) * (g.filters / g.channelPool);
}

/** Throws a clear error when the geometry cannot be computed by the front-end at all. */
export function checkGeometry(g: FrontEndGeometry): void {
  const bad: string[] = [];
  if (g.windowSamples % g.pool !== 0) bad.push("windowSamples must be a multiple of pool");
  if (g.filters % g.channelPool !== 0) bad.push("filters must be a multiple of channelPool");
  if (g.kernel < 1 || g.kernel > g.windowSamples / g.pool) bad.push("kernel out of range");
  if (g.hopSamples < 1) bad.push("hopSamples must be positive");
  if (bad.length > 0) throw new Error(`Invalid CNN front-end geometry: ${bad.join("; ")}`);
}

/** Samples per row for `windows` windows: the frames stage's definition, so both agree. */
export function samplesFor(windows: number, g: FrontEndGeometry): number {
  return spanSamples(windows, g);
}

/**
 * Overlapping frames of `x [B, T, C]`: frame i is `x[:, start + hop·i : start + hop·i + length]`,
 * returned as `[B, count, length, C]`. Built from reshapes, slices and one concat (cheap
 * gradients on every backend) instead of a gather.
 */
export function framesOf(
  x: tf.Tensor3D,
  start: number,
  length: number,
  hop: number,
  count: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, t, c] = x.shape;
    if (start < 0 || start + hop * (count - 1) + length > t) {
      throw new Error(
        `framesOf: frames [${start}, ${start + hop * (count - 1) + length}) exceed length ${t}`,
      );
    }
    const nb = Math.ceil(length / hop);
    const need = hop * (count - 1 + nb);
    const avail = Math.min(t - start, need);
    let y: tf.Tensor3D = tf.slice(x, [0, start, 0], [b, avail, c]);
    if (avail < need) y = tf.pad(y, [[0, 0], [0, need - avail], [0, 0]]);
    const blocks = tf.reshape(y, [b, count - 1 + nb, hop, c]);
    const parts: tf.Tensor4D[] = [];
    for (let k = 0; k < nb; k++) {
      parts.push(tf.slice(blocks, [0, k, 0, 0], [b, count, hop, c]) as tf.Tensor4D);
    }
    const cat = parts.length === 1 ? parts[0] : tf.concat(parts, 2);
    return tf.slice(cat, [0, 0, 0, 0], [b, count, length, c]);
  });
}

/**
 * The pieces of overlapping frames of `x [B, T, C]` (frame i = `x[:, start + hop·i :
 * start + hop·i + length]`), as slices `[B, count, piece, C]` of a free `[B, T/hop, hop, C]`
 * reshape; concatenated along axis 2 they are the frames. One copy in all, where a gather or
 * slice-then-concat would copy the data several times.
 */
export function framePieces(
  x: tf.Tensor3D,
  start: number,
  length: number,
  hop: number,
  count: number,
): tf.Tensor4D[] {
  const [b, t, c] = x.shape;
  const i0 = Math.floor(start / hop), off = start % hop;
  const lastBlock = Math.floor((start + hop * (count - 1) + length - 1) / hop);
  const blocksNeeded = lastBlock + 1;
  let y = x;
  if (t % hop !== 0 || t < blocksNeeded * hop) {
    const want = Math.max(Math.ceil(t / hop), blocksNeeded) * hop;
    y = tf.pad(x, [[0, 0], [0, want - t], [0, 0]]);
  }
  const blocks = tf.reshape(y, [b, y.shape[1] / hop, hop, c]);
  const pieces: tf.Tensor4D[] = [];
  let rem = length, blk = i0, from = off;
  while (rem > 0) {
    const take = Math.min(hop - from, rem);
    pieces.push(tf.slice(blocks, [0, blk, from, 0], [b, count, take, c]) as tf.Tensor4D);
    rem -= take;
    blk++;
    from = 0;
  }
  return pieces;
}

/** Padding of a TF-style 'same' convolution: the odd sample goes after. */
function samePad(kernel: number): [number, number] {
  const before = Math.floor((kernel - 1) / 2);
  return [before, kernel - 1 - before];
}

/**
 * Reference front-end: each window separately, as in the paper.
 * `signal [B, S]` with S = (windows − 1)·hop + window; returns `[B, windows, dim]`.
 * (ReLU is applied before the max-pools; max and ReLU commute, so this is the paper's order.)
 */
export function naiveFrontEnd(
  signal: tf.Tensor2D,
  windows: number,
  g: FrontEndGeometry,
  w: FrontEndWeights,
): tf.Tensor3D {
  return tf.tidy(() => {
    const b = signal.shape[0];
    const [pl, pr] = samePad(g.kernel);
    const frames = framesOf(
      tf.expandDims(signal, 2) as tf.Tensor3D,
      0,
      g.windowSamples,
      g.hopSamples,
      windows,
    );
    const x = tf.reshape(frames, [b * windows, g.windowSamples, 1]) as tf.Tensor3D;
    const p1 = maxPoolTime(convBiasRelu(x, w.w1, w.b1, pl, pr, false), g.pool);
    const c2 = convBiasRelu(p1, w.w2, w.b2, pl, pr, true);
    const out = maxPoolChannels(c2, g.channelPool);
    return tf.reshape(out, [b, windows, frontEndDim(g)]) as tf.Tensor3D;
  });
}

/** Whether {@link fastFrontEnd} can use its decomposition for this geometry. */
export function fastPathApplies(g: FrontEndGeometry): boolean {
  const [pl, pr] = samePad(g.kernel);
  const lp = g.windowSamples / g.pool;
  const eL = Math.ceil(pl / g.pool), eR = Math.ceil(pr / g.pool);
  return pl > 0 && g.hopSamples % g.pool === 0 && g.windowSamples % g.pool === 0 &&
    lp - (eL + pl) - (eR + pr) > 0 && lp > eL + pl + pr && lp > eR + pr + pl;
}

/**
 * Exact overlap-sharing front-end (see the module description). Same inputs and output as
 * {@link naiveFrontEnd}; falls back to it where the geometry does not allow sharing.
 */
export function fastFrontEnd(
  signal: tf.Tensor2D,
  windows: number,
  g: FrontEndGeometry,
  w: FrontEndWeights,
): tf.Tensor3D {
  // On webgpu our own WGSL programs (frontend_webgpu.ts): a constant 11 dispatches per
  // forward and backward pass instead of tfjs's convs, slices and concats. Routed here rather
  // than in frontEnd so frontEnd's checkpointing still bounds memory for very large batches:
  // each chunk (and its recomputation inside the nested tf.grads) runs these programs too, so
  // only there does the count grow, with the number of chunks.
  if (ownWebGpuKernels() && frontEndWebGpuApplies(g)) {
    return frontEndWebGpu(signal, windows, g, w);
  }
  if (!fastPathApplies(g)) return naiveFrontEnd(signal, windows, g, w);
  return tf.tidy(() => {
    const b = signal.shape[0];
    const nw = windows;
    const win = g.windowSamples, hop = g.hopSamples, pool = g.pool;
    const f = g.filters, k = g.kernel, cp = g.channelPool;
    const [pl, pr] = samePad(k);
    const lp = win / pool; // pooled positions per window
    const hp = hop / pool; // pooled hop
    const eL = Math.ceil(pl / pool), eR = Math.ceil(pr / pool); // pooled edge positions
    const e1L = eL * pool, e1R = eR * pool; // conv1 edge positions
    const cL = eL + pl, cR = eR + pr; // conv2 edge positions
    const x = tf.expandDims(signal, 2) as tf.Tensor3D;
    const rows = (t: tf.Tensor4D[]) => {
      const cat = t.length === 1 ? t[0] : tf.concat(t, 2);
      return tf.reshape(cat, [b * nw, cat.shape[2], cat.shape[3]]) as tf.Tensor3D;
    };

    // conv1 over the whole row: positions ≥ (pl, pr) inside a window equal the window's own.
    const p = convBiasReluPool(x, w.w1, w.b1, pl, pr, false, { time: pool }); // [B, S/pool, F]

    // conv1 at window edges, with the window's own zero padding.
    const inL = rows(framePieces(x, 0, e1L + pr, hop, nw));
    const inR = rows(framePieces(x, win - e1R - pl, e1R + pl, hop, nw));
    const edgeL = convBiasReluPool(inL, w.w1, w.b1, pl, 0, false, { time: pool }); // [BW, eL, F]
    const edgeR = convBiasReluPool(inR, w.w1, w.b1, 0, pr, false, { time: pool }); // [BW, eR, F]

    // conv2 at window edges: pooled edge values + shared pooled values + window padding.
    const midL = rows(framePieces(p, eL, cL + pr - eL, hp, nw));
    const midR = rows(framePieces(p, lp - cR - pl, cR + pl - eR, hp, nw));
    const in2L = tf.concat([edgeL, midL], 1) as tf.Tensor3D;
    const in2R = tf.concat([midR, edgeR], 1) as tf.Tensor3D;
    const outL = convBiasReluPool(in2L, w.w2, w.b2, pl, 0, true, { channels: cp }); // [BW, cL, F/cp]
    const outR = convBiasReluPool(in2R, w.w2, w.b2, 0, pr, true, { channels: cp }); // [BW, cR, F/cp]

    // conv2 (valid) over the row's pooled sequence: q[m − pl] is position m's output, which
    // is window i's output at m − hp·i for the interior positions [cL, lp − cR).
    const q = convBiasReluPool(p, w.w2, w.b2, 0, 0, true, { channels: cp });
    const mid = framePieces(q, cL - pl, lp - cL - cR, hp, nw);

    const gOut = f / cp;
    const all = tf.concat([
      tf.reshape(outL, [b, nw, cL, gOut]) as tf.Tensor4D,
      ...mid,
      tf.reshape(outR, [b, nw, cR, gOut]) as tf.Tensor4D,
    ], 2);
    return tf.reshape(all, [b, nw, lp * gOut]) as tf.Tensor3D;
  });
}

/** Options of {@link frontEnd}. */
export interface FrontEndOptions {
  /** Use {@link naiveFrontEnd} (reference; slow). Default false. */
  naive?: boolean;
  /**
   * Above this many windows in a batch (rows × windows), compute in chunks and recompute each
   * chunk in the backward pass instead of keeping its activations. Default 3072 (1024 naive;
   * on webgpu `webgpuCheckpointWindows`, 8,192 for the paper's geometry: 2 GiB of activations,
   * a fraction of any GPU, since WebGPU does not say how much memory a device has; a GPU with
   * room for more sets it higher, 65,536 keeps 16 × 3,500 windows, 12 GB). On webgpu a batch
   * within it but past the windows whose buffers fit one call (`windowsPerCall`) runs in
   * chunks that keep their activations, as one piece would.
   */
  checkpointAbove?: number;
  /**
   * On webgpu, the most windows one call of the front-end's programs takes (default and
   * ceiling: `webgpuWindowsPerCall`, what fits the device's storage buffer binding limit:
   * 1,310 at WebGPU's default 128 MiB, 20,971 at 2 GiB).
   */
  windowsPerCall?: number;
  /**
   * Windows (rows × windows) per chunk when checkpointing. Default 1024 (on webgpu the
   * default threshold above), capped as above.
   */
  chunkWindows?: number;
}

/**
 * Front-end for a batch, with memory control for long inputs (see the module description).
 * `signal [B, S]`, S = (windows − 1)·hop + window; returns `[B, windows, dim]`.
 */
export function frontEnd(
  signal: tf.Tensor2D,
  windows: number,
  g: FrontEndGeometry,
  w: FrontEndWeights,
  opts: FrontEndOptions = {},
): tf.Tensor3D {
  const run = opts.naive ? naiveFrontEnd : fastFrontEnd;
  const b = signal.shape[0];
  const total = b * windows;
  // On webgpu our programs' buffers must fit the device's binding limit (webgpuWindowsPerCall),
  // which no setting may exceed: past it WebGPU leaves the work undone without an error.
  const onWebGpu = !opts.naive && ownWebGpuKernels() && frontEndWebGpuApplies(g);
  const most = onWebGpu
    ? Math.min(webgpuWindowsPerCall(g), opts.windowsPerCall ?? Infinity)
    : Infinity;
  if (b > most) {
    throw new Error(
      `frontEnd: a batch of ${b} rows exceeds the ${most} windows per call that fit this ` +
        "webgpu device's storage buffer binding limit; use smaller batches",
    );
  }
  // The naive path keeps ~4× more activations per window than the fast one. On webgpu a
  // recomputed chunk costs a second forward pass and ~17 more dispatches, and a GPU has the
  // memory to avoid them at the bench's 16 × 500 windows (webgpuCheckpointWindows).
  const threshold = onWebGpu ? webgpuCheckpointWindows(g) : opts.naive ? 1024 : 3072;
  const keep = total <= (opts.checkpointAbove ?? threshold);
  if (keep && total <= most) return run(signal, windows, g, w);
  const chunk = keep ? most : Math.min(opts.chunkWindows ?? (onWebGpu ? threshold : 1024), most);
  const per = Math.max(1, Math.floor(chunk / b));
  const chunks: [number, number][] = [];
  for (let a = 0; a < windows; a += per) chunks.push([a, Math.min(per, windows - a)]);
  const chunkSignal = (sig: tf.Tensor, a: number, n: number) =>
    tf.slice(sig, [0, a * g.hopSamples], [b, samplesFor(n, g)]) as tf.Tensor2D;
  if (keep) {
    // Only the binding limit splits this batch: each call's activations are kept for the
    // backward pass (autodiff through the slices and the concat), nothing is recomputed.
    return tf.tidy(() =>
      tf.concat(chunks.map(([a, n]) => run(chunkSignal(signal, a, n), n, g, w)), 1)
    ) as tf.Tensor3D;
  }

  const f = tf.customGrad(
    (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [w1, b1, w2, b2] = args as tf.Tensor[];
      // The signal must outlive the caller's tidy scope until the backward pass recomputes.
      (args[4] as tf.GradSaveFunc)([signal]);
      const ws = { w1, b1, w2, b2 } as FrontEndWeights;
      const parts = chunks.map(([a, n]) => tf.tidy(() => run(chunkSignal(signal, a, n), n, g, ws)));
      const value = tf.concat(parts, 1);
      parts.forEach((t) => t.dispose());
      return {
        value,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          let acc: tf.Tensor[] | undefined;
          // A nested tf.grads during backprop ends by clearing the engine's active tape,
          // which the outer backprop still needs for its own cleanup: restore it after.
          const state = (tf.engine() as unknown as { state: { activeTape: unknown } }).state;
          const outerTape = state.activeTape;
          try {
            for (const [a, n] of chunks) {
              const next = tf.tidy(() => {
                const dyc = tf.slice(dy, [0, a, 0], [b, n, -1]);
                const grads = tf.grads((q1, c1, q2, c2) =>
                  run(chunkSignal(saved[0], a, n), n, g, {
                    w1: q1,
                    b1: c1,
                    w2: q2,
                    b2: c2,
                  } as FrontEndWeights)
                )([w1, b1, w2, b2], dyc);
                return acc ? grads.map((t, i) => tf.add(t, acc![i])) : grads;
              });
              acc?.forEach((t) => t.dispose());
              acc = next;
            }
          } finally {
            state.activeTape = outerTape;
          }
          return acc!;
        },
      };
    },
  );
  return f(w.w1, w.b1, w.w2, w.b2) as tf.Tensor3D;
}
