/**
 * Trainable convolutions whose gradients are computed with forward convolutions.
 *
 * tfjs's wasm backend ships no `Conv2DBackpropFilter` kernel, so `tf.conv1d` cannot be trained
 * there; the cpu backend has it but reads element by element (seconds per call). Both gradients
 * of a valid, stride-1 convolution are themselves convolutions, which every backend runs fast
 * (XNNPACK on wasm):
 *
 * - dX = conv(dY zero-padded by K−1 on both sides, kernel reversed in time, in/out swapped),
 *   padded less where only the real (unpadded) input positions need a gradient;
 * - dW[k, i, o] = Σ_n Σ_t X[n, t+k, i] · dY[n, t, o]: a convolution whose *batch* is the input
 *   channel i, whose *channels* are the examples n, and whose *filter* is dY.
 *
 * On the wasm backend the convolutions run on our own kernels instead of XNNPACK: conv2 (≈ 90 %
 * of a training step's FLOPs) — forward, input gradient and filter gradient — as overlap-save FFT
 * convolutions (fft_conv.ts: block 256, ≈ 6× fewer multiply-adds than Winograd F(4, 4) over the
 * long shared rows, the short window edges laid end to end; see conv2Kernels), with Winograd
 * (winograd.ts) for filters too wide for a block, all exact up to float rounding, whose
 * products run on our relaxed-SIMD GEMM (wasm_gemm.ts, 1.6–1.9× XNNPACK's speed at conv2's
 * shapes, docs/gemm-study.md); conv1 runs directly on that GEMM. The operands travel through JS
 * arrays, a copy each way. `setOwnKernels` (own_kernels.ts) turns this off.
 *
 * The model uses {@link convBiasRelu}; the NHWC functions serve as the registered `Conv2D`
 * gradient (see gradients.ts) so plain `tf.conv1d`/`tf.conv2d` also train on wasm.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Conv1dShape, WasmGemm } from "./wasm_gemm.ts";
import { type OwnKernels, ownKernels } from "./own_kernels.ts";

/** Rows per chunk of {@link tallProduct}: keeps XNNPACK's packed right operand ≲ 10 MB. */
const TALL_CHUNK = 65536;

/**
 * `a · d` for a wide `a [p, M]` (ones when undefined) and a tall `d [M, c]`, in chunks of
 * rows of `d`: wasm's matmul packs its right operand, and packing a very tall one at once
 * fails (XNNPACK out of memory, which tfjs only logs).
 */
function tallProduct(a: tf.Tensor2D | undefined, d: tf.Tensor2D): tf.Tensor2D {
  const [m, c] = d.shape;
  let acc: tf.Tensor2D | undefined;
  for (let r = 0; r < m; r += TALL_CHUNK) {
    const rows = Math.min(TALL_CHUNK, m - r);
    const left = a ? tf.slice(a, [0, r], [a.shape[0], rows]) : tf.ones([1, rows]);
    const part = tf.tidy(() =>
      tf.matMul(left as tf.Tensor2D, tf.slice(d, [r, 0], [rows, c]))
    ) as tf.Tensor2D;
    left.dispose();
    const next = acc ? (tf.add(acc, part) as tf.Tensor2D) : part;
    if (acc) tf.dispose([acc, part]);
    acc = next;
  }
  return acc!;
}

/** What the own path needs of a convolution implementation (WasmGemm, WinogradConv, FftConv). */
type ConvKernels = Pick<WasmGemm, "conv1d" | "conv1dFilterGrad">;

/**
 * conv2's implementation for one call's shape: overlap-save FFT with a block of 256 inputs,
 * for the shared rows (24,201 outputs at 300 windows) and for the short window edges (29–30
 * outputs) alike, which FftConv lays end to end on one line (68–69 positions each instead of
 * a block each); Winograd F(4, 4) only where the filter is wider than half a block, so that a
 * block would yield too few outputs. Paired A/B of a training step (docs/performance.md): FFT
 * over the rows 1.28× the all-Winograd step; then the edges on their own 128-blocks another
 * 1.25×; then the edges end to end on 256-blocks instead another (see there).
 */
function conv2Kernels(k: OwnKernels): ConvKernels {
  const pick = (s: Conv1dShape) => (s.kw <= k.fft.blockSize / 2 ? k.fft : k.winograd);
  return {
    conv1d: (x, w, s, bias) => pick(s).conv1d(x, w, s, bias),
    conv1dFilterGrad: (x, dy, s) => pick(s).conv1dFilterGrad(x, dy, s),
  };
}

/**
 * The thread's convolution kernels for a convolution with `cin` inputs: conv1 (one input
 * channel) on the direct im2col-free GEMM, where too little work per transformed value is left
 * for a fast transform to pay (XNNPACK spent ≈ 5 GFLOP/s on its tall filter gradient); wider
 * inputs on {@link conv2Kernels}.
 */
function ownKernelsFor(cin: number): { conv: ConvKernels; gemm: WasmGemm } | undefined {
  const k = ownKernels();
  if (!k) return undefined;
  return { conv: cin < 2 ? k.gemm : conv2Kernels(k), gemm: k.gemm };
}

/** `w [k, cin, cout]` → reversed in time, in/out swapped `[k, cout, cin]` (dX's filter). */
export function flipFilter(w: Float32Array, k: number, cin: number, cout: number): Float32Array {
  const r = new Float32Array(w.length);
  for (let q = 0; q < k; q++) {
    const src = (k - 1 - q) * cin * cout, dst = q * cout * cin;
    for (let i = 0; i < cin; i++) {
      for (let o = 0; o < cout; o++) r[dst + o * cin + i] = w[src + i * cout + o];
    }
  }
  return r;
}

/** Max-pool sizes after a convolution layer: over time positions and over channel groups. */
export interface PoolSizes {
  /** Consecutive positions per max (divides the output length); default 1. */
  time?: number;
  /** Consecutive channels per max (divides the filters); default 1. */
  channels?: number;
}

/**
 * Max-pool of `y [n, l, c]` over groups of `pt` positions × `pc` channels → `[n, l/pt, c/pc]`,
 * and for each output the index of its maximum within the group (the first, on ties).
 */
function poolWithArgmax(
  y: Float32Array,
  n: number,
  l: number,
  c: number,
  pt: number,
  pc: number,
): { pooled: Float32Array; argmax: Uint8Array } {
  const lo = l / pt, co = c / pc, pooled = new Float32Array(n * lo * co);
  const argmax = new Uint8Array(pooled.length);
  let o = 0;
  if (pc === 1) {
    // Over time only (conv1's pool of 2): channels innermost, contiguous.
    for (let r = 0; r < n; r++) {
      for (let j = 0; j < lo; j++) {
        const base = (r * l + j * pt) * c;
        for (let ch = 0; ch < c; ch++, o++) {
          let best = y[base + ch], at = 0;
          for (let dt = 1; dt < pt; dt++) {
            const v = y[base + dt * c + ch];
            if (v > best) {
              best = v;
              at = dt;
            }
          }
          pooled[o] = best;
          argmax[o] = at;
        }
      }
    }
    return { pooled, argmax };
  }
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < lo; j++) {
      const base = (r * l + j * pt) * c;
      for (let g = 0; g < co; g++, o++) {
        let best = -Infinity, at = 0;
        for (let dt = 0; dt < pt; dt++) {
          const row = base + dt * c + g * pc;
          for (let dc = 0; dc < pc; dc++) {
            const v = y[row + dc];
            if (v > best) {
              best = v;
              at = dt * pc + dc;
            }
          }
        }
        pooled[o] = best;
        argmax[o] = at;
      }
    }
  }
  return { pooled, argmax };
}

/**
 * Gradient of {@link poolWithArgmax} after ReLU: each pooled gradient goes to its group's
 * maximum, where ReLU' is `pooled > 0`; also the bias gradient Σ over positions.
 */
function unpoolReluGrad(
  dy: Float32Array,
  pooled: Float32Array,
  argmax: Uint8Array,
  n: number,
  l: number,
  c: number,
  pt: number,
  pc: number,
): { dpre: Float32Array; db: Float64Array } {
  const dpre = new Float32Array(n * l * c), db = new Float64Array(c);
  const lo = l / pt, co = c / pc;
  let o = 0;
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < lo; j++) {
      const base = (r * l + j * pt) * c;
      for (let q = 0; q < co; q++, o++) {
        if (!(pooled[o] > 0)) continue;
        const at = argmax[o], g = dy[o];
        if (pc === 1) {
          dpre[base + at * c + q] = g;
          db[q] += g;
        } else {
          const dt = (at / pc) | 0, ch = q * pc + at - dt * pc;
          dpre[base + dt * c + ch] = g;
          db[ch] += g;
        }
      }
    }
  }
  return { dpre, db };
}

/**
 * {@link convBiasReluPool} on our own kernels; same contract. With pooling, the layer's
 * full-resolution output never becomes a tfjs tensor: the backward pass routes each pooled
 * gradient to its maximum's position (kept as one byte per pooled value), where ReLU' is
 * `pooled > 0`, instead of tfjs's Max and its mask-building gradient over 15-million-value
 * tensors.
 */
function ownConvBiasRelu(
  { conv: g, gemm }: { conv: ConvKernels; gemm: WasmGemm },
  [x, w, b]: [tf.Tensor3D, tf.Tensor3D, tf.Tensor1D],
  { padBefore, padAfter, inputGrad, pool = {} }: {
    padBefore: number;
    padAfter: number;
    inputGrad: boolean;
    pool?: PoolSizes;
  },
): tf.Tensor3D {
  const [n, len, cin] = x.shape;
  const [k, , cout] = w.shape;
  const lout = len + padBefore + padAfter - k + 1;
  const pt = pool.time ?? 1, pc = pool.channels ?? 1, pooling = pt > 1 || pc > 1;
  // conv1's pool of 2 over time runs in SIMD (WasmGemm.poolPairs); other pools in JS.
  const pairs = pt === 2 && pc === 1 && cout % 4 === 0;
  if (lout % pt !== 0 || cout % pc !== 0 || pt * pc > 256) {
    throw new Error(`convBiasReluPool: pool ${pt} × ${pc} does not tile ${lout} × ${cout}`);
  }
  const shape: Conv1dShape = { n, len, cin, kw: k, cout, padBefore, padAfter };
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, ww, bb] = args as tf.Tensor[];
    // The backward pass reads the JS copies the forward made (dataSync copies out of the wasm
    // heap) instead of tensors saved through the GradSaveFunc: the engine clones each saved
    // tensor (a copy on wasm: ≈ 30 MB per step for conv2's rows alone) and reading them back
    // would copy again.
    const xd = xx.dataSync() as Float32Array, wd = ww.dataSync() as Float32Array;
    const bias = bb.dataSync() as Float32Array;
    const y = g.conv1d(xd, wd, shape, bias);
    let argmax: Uint8Array | undefined, mask: Int32Array | undefined, yd: Float32Array;
    let value: tf.Tensor3D;
    if (pairs) {
      const p = gemm.poolPairs(y, (n * lout) / 2, cout);
      mask = p.mask;
      yd = p.pooled;
      value = tf.tensor3d(yd, [n, lout / 2, cout]);
    } else if (pooling) {
      const p = poolWithArgmax(y, n, lout, cout, pt, pc);
      argmax = p.argmax;
      yd = p.pooled;
      value = tf.tensor3d(yd, [n, lout / pt, cout / pc]);
    } else {
      yd = y;
      value = tf.tensor3d(y, [n, lout, cout]);
    }
    return {
      value,
      gradFunc: (dy: tf.Tensor) => {
        const dyd = dy.dataSync() as Float32Array;
        let dpre: Float32Array, db: Float64Array;
        if (mask) ({ dpre, db } = gemm.unpoolPairs(dyd, yd, mask, cout));
        else if (argmax) {
          ({ dpre, db } = unpoolReluGrad(dyd, yd, argmax, n, lout, cout, pt, pc));
        } else {
          // ReLU'(pre) = step(y): y > 0 exactly where the pre-activation is positive.
          ({ dpre, db } = gemm.reluGrad(dyd, yd, cout));
        }
        const dx = inputGrad
          ? tf.tensor3d(
            g.conv1d(dpre, flipFilter(wd, k, cin, cout), {
              n,
              len: lout,
              cin: cout,
              kw: k,
              cout: cin,
              padBefore: k - 1 - padBefore,
              padAfter: k - 1 - padAfter,
            }),
            [n, len, cin],
          )
          : tf.zeros([n, len, cin]);
        const dw = g.conv1dFilterGrad(xd, dpre, shape);
        return [dx, tf.tensor3d(dw, [k, cin, cout]), tf.tensor1d(Float32Array.from(db))];
      },
    };
  });
  return f(x, w, b) as tf.Tensor3D;
}

/** Max over groups of `size` consecutive positions (axis 1) of `[N, L, C]`. */
export function maxPoolTime(x: tf.Tensor3D, size: number): tf.Tensor3D {
  const [n, l, c] = x.shape;
  return tf.max(tf.reshape(x, [n, l / size, size, c]), 2);
}

/** Max over groups of `size` consecutive channels of `[N, L, C]`. */
export function maxPoolChannels(x: tf.Tensor3D, size: number): tf.Tensor3D {
  const [n, l, c] = x.shape;
  return tf.max(tf.reshape(x, [n, l, c / size, size]), 3);
}

/**
 * `maxPool(relu(conv1d(x, w) + b))`: {@link convBiasRelu} followed by max-pools over
 * `pool.time` positions and `pool.channels` channels (one of them, as the paper's layers do,
 * or both), as one op: on our own kernels the unpooled output stays out of tfjs (see
 * {@link ownConvBiasRelu}); elsewhere it is tfjs's reshape + max. `[N, L, Cin]` →
 * `[N, Lout / pool.time, Cout / pool.channels]`.
 */
export function convBiasReluPool(
  x: tf.Tensor3D,
  w: tf.Tensor3D,
  b: tf.Tensor1D,
  padBefore: number,
  padAfter: number,
  inputGrad: boolean,
  pool: PoolSizes,
): tf.Tensor3D {
  const own = ownKernelsFor(x.shape[2]);
  if (own) return ownConvBiasRelu(own, [x, w, b], { padBefore, padAfter, inputGrad, pool });
  let y = convBiasRelu(x, w, b, padBefore, padAfter, inputGrad);
  if ((pool.time ?? 1) > 1) y = maxPoolTime(y, pool.time!);
  if ((pool.channels ?? 1) > 1) y = maxPoolChannels(y, pool.channels!);
  return y;
}

/**
 * `relu(conv1d(x, w) + b)` with implicit zero padding (`padBefore`, `padAfter` samples) and no
 * stride: `x [N, L, Cin]`, `w [K, Cin, Cout]`, `b [Cout]` → `[N, L + pads − K + 1, Cout]`.
 *
 * The forward pass is one fused conv2d (bias and ReLU in the same pass, padding without a
 * copy). The gradients come from forward convolutions (see the module description); dX is
 * computed only for the real (unpadded) input positions, and with `inputGrad: false` (data
 * inputs) it is not computed at all.
 */
export function convBiasRelu(
  x: tf.Tensor3D,
  w: tf.Tensor3D,
  b: tf.Tensor1D,
  padBefore: number,
  padAfter: number,
  inputGrad = true,
): tf.Tensor3D {
  const [n, len, cin] = x.shape;
  const [k, , cout] = w.shape;
  const lout = len + padBefore + padAfter - k + 1;
  if (lout < 1 || padBefore > k - 1 || padAfter > k - 1) {
    throw new Error(
      `convBiasRelu: length ${len} with padding (${padBefore}, ${padAfter}) and kernel ${k}`,
    );
  }
  const own = ownKernelsFor(cin);
  if (own) return ownConvBiasRelu(own, [x, w, b], { padBefore, padAfter, inputGrad });
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xx, ww, bb] = args as tf.Tensor[];
    const y = tf.reshape(
      tf.fused.conv2d({
        x: tf.reshape(xx, [n, 1, len, cin]) as tf.Tensor4D,
        filter: tf.reshape(ww, [1, k, cin, cout]) as tf.Tensor4D,
        strides: 1,
        pad: [[0, 0], [0, 0], [padBefore, padAfter], [0, 0]],
        bias: bb,
        activation: "relu",
      }),
      [n, lout, cout],
    ) as tf.Tensor3D;
    (args[3] as tf.GradSaveFunc)([xx, ww, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sy] = saved;
        // Each gradient in its own tidy: their temporaries (transposed copies, XNNPACK
        // operators keyed by the temporary filter) are freed before the next one starts,
        // which keeps the wasm heap's high-water mark down.
        // ReLU'(pre) = step(y): y > 0 exactly where the pre-activation is positive.
        const dpre = tf.tidy(() => tf.mul(dy, tf.step(sy)));
        const dx = inputGrad
          ? tf.tidy(() =>
            tf.reshape(
              tf.conv2d(
                tf.reshape(dpre, [n, 1, lout, cout]) as tf.Tensor4D,
                tf.reshape(
                  tf.transpose(tf.reverse(sw, 0), [0, 2, 1]),
                  [1, k, cout, cin],
                ) as tf.Tensor4D,
                1,
                [[0, 0], [0, 0], [k - 1 - padBefore, k - 1 - padAfter], [0, 0]],
              ),
              [n, len, cin],
            )
          )
          : tf.zerosLike(sx);
        const dpre2 = tf.reshape(dpre, [n * lout, cout]) as tf.Tensor2D;
        const dw = tf.tidy(() => {
          if (cin === 1) {
            // One input channel: the K shifted copies of the (padded) input form a [K, n·Lout]
            // matrix, and dW = that matrix · dY is one plain matmul (XNNPACK's fast path),
            // where the conv2d route packs all of dY as a filter (≈6× slower here).
            const xp = tf.pad(tf.reshape(sx, [n, len]), [[0, 0], [padBefore, padAfter]]);
            const shifted = tf.stack(
              Array.from({ length: k }, (_, j) => tf.slice(xp, [0, j], [n, lout])),
            );
            return tf.reshape(
              tallProduct(tf.reshape(shifted, [k, n * lout]) as tf.Tensor2D, dpre2),
              [k, 1, cout],
            );
          }
          // Examples become channels so that the reduction over (n, t) is one conv2d.
          const xin = tf.reshape(tf.transpose(sx, [2, 1, 0]), [cin, 1, len, n]) as tf.Tensor4D;
          const filt = tf.reshape(tf.transpose(dpre, [1, 0, 2]), [1, lout, n, cout]) as tf.Tensor4D;
          const dwRaw = tf.conv2d(xin, filt, 1, [[0, 0], [0, 0], [padBefore, padAfter], [0, 0]]);
          return tf.transpose(tf.reshape(dwRaw, [cin, k, cout]), [1, 0, 2]);
        });
        // Σ over rows as ones · dY: wasm's Sum over leading axes transposes first (slow).
        const db = tf.tidy(() => tf.reshape(tallProduct(undefined, dpre2), [cout]));
        tf.dispose([dpre, dpre2]);
        return [dx, dw, db];
      },
    };
  });
  return f(x, w, b) as tf.Tensor3D;
}

interface Conv2DAttrs {
  strides?: number | number[];
  pad?: unknown;
  dilations?: number | number[];
  dataFormat?: string;
}

/** Explicit (top, bottom, left, right) padding the forward Conv2D used, checked for support. */
function conv2dPadding(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: unknown,
): [number, number, number, number] {
  const a = attrs as Conv2DAttrs;
  const ones = (v: number | number[] | undefined) =>
    (Array.isArray(v) ? v : [v ?? 1, v ?? 1]).every((s) => s === 1);
  if (!ones(a.strides) || !ones(a.dilations) || (a.dataFormat ?? "NHWC") !== "NHWC") {
    throw new Error("Conv2D gradient: only stride 1, dilation 1, NHWC convolutions are supported");
  }
  const [fh, fw] = filter.shape;
  const padH = dy.shape[1] + fh - 1 - x.shape[1];
  const padW = dy.shape[2] + fw - 1 - x.shape[2];
  // 'same' puts the odd padding sample after, as TensorFlow does.
  const top = Math.floor(padH / 2), left = Math.floor(padW / 2);
  return [top, padH - top, left, padW - left];
}

/**
 * dX of a stride-1 NHWC `Conv2D`, via a forward conv2d of the padded upstream gradient with
 * the spatially reversed, in/out-swapped filter. Used as the registered Conv2D gradient.
 */
export function conv2dInputGradNHWC(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: unknown,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [top, , left] = conv2dPadding(x, filter, dy, attrs);
    const [fh, fw] = filter.shape;
    const dyp = tf.pad(dy, [[0, 0], [fh - 1, fh - 1], [fw - 1, fw - 1], [0, 0]]);
    const k = tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
    const full = tf.conv2d(dyp as tf.Tensor4D, k, 1, "valid");
    return tf.slice(full, [0, top, left, 0], x.shape);
  });
}

/**
 * dW of a stride-1 NHWC `Conv2D`, via one forward conv2d in which the input channels are the
 * batch, the examples are the channels and the upstream gradient is the filter.
 */
export function conv2dFilterGradNHWC(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  dy: tf.Tensor4D,
  attrs: unknown,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [top, bottom, left, right] = conv2dPadding(x, filter, dy, attrs);
    const [fh, fw, cin, cout] = filter.shape;
    const xp = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]]);
    const xin = tf.transpose(xp, [3, 1, 2, 0]) as tf.Tensor4D; // [cin, H, W, n]
    const f = tf.transpose(dy, [1, 2, 0, 3]) as tf.Tensor4D; // [oh, ow, n, cout]
    const out = tf.conv2d(xin, f, 1, "valid"); // [cin, fh, fw, cout]
    return tf.reshape(tf.transpose(out, [1, 2, 0, 3]), [fh, fw, cin, cout]) as tf.Tensor4D;
  });
}
