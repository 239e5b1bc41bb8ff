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
 * so a batch of 35-second utterances fits in wasm's memory.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { trainableConv1d } from "./conv.ts";

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

/** Samples per row for `windows` windows. */
export function samplesFor(windows: number, g: FrontEndGeometry): number {
  return (windows - 1) * g.hopSamples + g.windowSamples;
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

/** Max over groups of `size` consecutive positions (axis 1) of `[N, L, C]`. */
function maxPoolTime(x: tf.Tensor3D, size: number): tf.Tensor3D {
  const [n, l, c] = x.shape;
  return tf.max(tf.reshape(x, [n, l / size, size, c]), 2);
}

/** Max over groups of `size` consecutive channels of `[N, L, C]`. */
function maxPoolChannels(x: tf.Tensor3D, size: number): tf.Tensor3D {
  const [n, l, c] = x.shape;
  return tf.max(tf.reshape(x, [n, l, c / size, size]), 3);
}

/** Padding of a TF-style 'same' convolution: the odd sample goes after. */
function samePad(kernel: number): [number, number] {
  const before = Math.floor((kernel - 1) / 2);
  return [before, kernel - 1 - before];
}

function convBias(
  x: tf.Tensor3D,
  w: tf.Tensor3D,
  b: tf.Tensor1D,
  inputGrad: boolean,
): tf.Tensor3D {
  return tf.add(trainableConv1d(x, w, inputGrad), b);
}

/**
 * Reference front-end: each window separately, as in the paper.
 * `signal [B, S]` with S = (windows − 1)·hop + window; returns `[B, windows, dim]`.
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
    const c1 = convBias(tf.pad(x, [[0, 0], [pl, pr], [0, 0]]), w.w1, w.b1, false);
    const p1 = tf.relu(maxPoolTime(c1, g.pool));
    const c2 = convBias(tf.pad(p1, [[0, 0], [pl, pr], [0, 0]]), w.w2, w.b2, true);
    const out = tf.relu(maxPoolChannels(c2, g.channelPool));
    return tf.reshape(out, [b, windows, frontEndDim(g)]) as tf.Tensor3D;
  });
}

/** Whether {@link fastFrontEnd} can use its decomposition for this geometry. */
export function fastPathApplies(g: FrontEndGeometry): boolean {
  const [pl, pr] = samePad(g.kernel);
  const lp = g.windowSamples / g.pool;
  const eL = Math.ceil(pl / g.pool), eR = Math.ceil(pr / g.pool);
  return pl > 0 && g.hopSamples % g.pool === 0 && g.windowSamples % g.pool === 0 &&
    lp - (eL + pl) - (eR + pr) > 0;
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
    const nInt = lp - cL - cR; // conv2 positions shared with the global convolution
    const x = tf.expandDims(signal, 2) as tf.Tensor3D;

    // conv1 over the whole row; only positions at least (pl, pr) inside a window are used.
    const gl = convBias(tf.pad(x, [[0, 0], [pl, pr], [0, 0]]), w.w1, w.b1, false);
    const p = tf.relu(maxPoolTime(gl, pool)); // [B, S/pool, F]

    // conv1 at window edges, with the window's own zero padding.
    const inL = tf.pad(
      tf.reshape(framesOf(x, 0, e1L + pr, hop, nw), [b * nw, e1L + pr, 1]),
      [[0, 0], [pl, 0], [0, 0]],
    );
    const inR = tf.pad(
      tf.reshape(framesOf(x, win - e1R - pl, e1R + pl, hop, nw), [b * nw, e1R + pl, 1]),
      [[0, 0], [0, pr], [0, 0]],
    );
    const len1 = Math.max(inL.shape[1]!, inR.shape[1]!);
    const e1 = convBias(
      tf.concat([padTo(inL as tf.Tensor3D, len1), padTo(inR as tf.Tensor3D, len1)], 0),
      w.w1,
      w.b1,
      false,
    );
    const edgeL = tf.relu(maxPoolTime(tf.slice(e1, [0, 0, 0], [b * nw, e1L, f]), pool));
    const edgeR = tf.relu(maxPoolTime(tf.slice(e1, [b * nw, 0, 0], [b * nw, e1R, f]), pool));

    // conv2 at window edges: pooled edge values + shared pooled values + window padding.
    const midL = tf.reshape(framesOf(p, eL, cL + pr - eL, hp, nw), [b * nw, cL + pr - eL, f]);
    const midR = tf.reshape(
      framesOf(p, lp - cR - pl, cR + pl - eR, hp, nw),
      [b * nw, cR + pl - eR, f],
    );
    const in2L = tf.pad(tf.concat([edgeL, midL], 1), [[0, 0], [pl, 0], [0, 0]]) as tf.Tensor3D;
    const in2R = tf.pad(tf.concat([midR, edgeR], 1), [[0, 0], [0, pr], [0, 0]]) as tf.Tensor3D;
    const len2 = Math.max(in2L.shape[1], in2R.shape[1]);
    const e2 = convBias(tf.concat([padTo(in2L, len2), padTo(in2R, len2)], 0), w.w2, w.b2, true);
    const outL = tf.relu(maxPoolChannels(tf.slice(e2, [0, 0, 0], [b * nw, cL, f]), cp));
    const outR = tf.relu(maxPoolChannels(tf.slice(e2, [b * nw, 0, 0], [b * nw, cR, f]), cp));

    // conv2 over the row's pooled sequence, for every window's interior positions at once.
    const pin = tf.slice(p, [0, eL, 0], [b, hp * (nw - 1) + lp - eR - eL, f]);
    const q = tf.relu(maxPoolChannels(convBias(pin, w.w2, w.b2, true), cp));
    const mid = framesOf(q, 0, nInt, hp, nw); // [B, W, nInt, F/cp]

    const gOut = f / cp;
    const all = tf.concat([
      tf.reshape(outL, [b, nw, cL, gOut]),
      mid,
      tf.reshape(outR, [b, nw, cR, gOut]),
    ], 2);
    return tf.reshape(all, [b, nw, lp * gOut]) as tf.Tensor3D;
  });
}

function padTo(x: tf.Tensor3D, len: number): tf.Tensor3D {
  const extra = len - x.shape[1];
  return extra === 0 ? x : tf.pad(x, [[0, 0], [0, extra], [0, 0]]);
}

/** Options of {@link frontEnd}. */
export interface FrontEndOptions {
  /** Use {@link naiveFrontEnd} (reference; slow). Default false. */
  naive?: boolean;
  /**
   * Above this many windows in a batch (rows × windows), compute in chunks and recompute each
   * chunk in the backward pass instead of keeping its activations. Default 3072.
   */
  checkpointAbove?: number;
  /** Windows (rows × windows) per chunk when checkpointing. Default 1024. */
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
  if (total <= (opts.checkpointAbove ?? 3072)) return run(signal, windows, g, w);
  const per = Math.max(1, Math.floor((opts.chunkWindows ?? 1024) / b));
  const chunks: [number, number][] = [];
  for (let a = 0; a < windows; a += per) chunks.push([a, Math.min(per, windows - a)]);
  const chunkSignal = (a: number, n: number) =>
    tf.slice(signal, [0, a * g.hopSamples], [b, samplesFor(n, g)]);

  const f = tf.customGrad(
    (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const [w1, b1, w2, b2] = args as tf.Tensor[];
      const ws = { w1, b1, w2, b2 } as FrontEndWeights;
      const parts = chunks.map(([a, n]) => tf.tidy(() => run(chunkSignal(a, n), n, g, ws)));
      const value = tf.concat(parts, 1);
      parts.forEach((t) => t.dispose());
      return {
        value,
        gradFunc: (dy: tf.Tensor) => {
          let acc: tf.Tensor[] | undefined;
          for (const [a, n] of chunks) {
            const next = tf.tidy(() => {
              const dyc = tf.slice(dy, [0, a, 0], [b, n, -1]);
              const grads = tf.grads((q1, c1, q2, c2) =>
                run(chunkSignal(a, n), n, g, {
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
          return acc!;
        },
      };
    },
  );
  return f(w.w1, w.b1, w.w2, w.b2) as tf.Tensor3D;
}
