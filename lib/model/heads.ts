/**
 * The task heads after the GRU (paper section 3.3): per task, pooling over the windows (attention,
 * eq. 3–4, or the last real window) and a dense layer to the class scores.
 *
 * Written as two tape nodes with hand-written gradients rather than as plain tfjs ops, because
 * on webgpu every tfjs op is a GPU dispatch: autodiff of the plain formulation costs about 50
 * ops per task and step (the masked softmax, its broadcasts and their gradients), here the heads
 * of all tasks cost about 50 together, and the number does not grow with the windows. The
 * values equal the plain formulation's up to float rounding (tests/heads_test.ts).
 *
 * Layout: pooling weights are `[batch, windows, tasks]`, so the pooled vectors of all tasks are
 * one batched product `αᵀ · h` and the attention scores one product `h · [a_1 … a_T]`.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Weights of the heads, one entry per task in task order. */
export interface HeadWeights {
  /** Attention vectors `a_t`, `[units, 1]` (attention pooling only). */
  attention?: tf.Tensor2D[];
  /** Dense kernels, `[units, classes_t]`. */
  kernels: tf.Tensor2D[];
  /** Dense biases, `[classes_t]`. */
  biases: tf.Tensor1D[];
}

/** Output of {@link taskHeads}. */
export interface HeadOutputs {
  /** Class scores per task, `[batch, classes_t]`. */
  logits: tf.Tensor2D[];
  /** Attention weights per task, `[batch, windows]`, exactly 0 on padding (attention only). */
  attention?: tf.Tensor2D[];
}

/**
 * Pools the GRU outputs per task and applies each task's dense layer.
 * @param seq GRU outputs `[batch, windows, units]`
 * @param lengths real windows per row (≥ 1 each); later windows are padding
 * @param weights per-task weights; with `attention` the pooling is attention, without it the
 *   output at each row's last real window
 */
export function taskHeads(
  seq: tf.Tensor3D,
  lengths: Int32Array,
  weights: HeadWeights,
): HeadOutputs {
  const [b, nw] = seq.shape;
  const tasks = weights.kernels.length;
  let alpha: tf.Tensor3D;
  if (weights.attention) {
    // Padding gets a score of −1e30, so exp makes it exactly 0 and the softmax runs over the
    // real windows only (a constant built here, not ops).
    const pad = new Float32Array(b * nw);
    for (let r = 0; r < b; r++) pad.fill(-1e30, r * nw + lengths[r], (r + 1) * nw);
    alpha = attentionWeights(seq, tf.tensor3d(pad, [b, nw, 1]), weights.attention);
  } else {
    const last = new Float32Array(b * nw * tasks);
    for (let r = 0; r < b; r++) {
      last.fill(1, (r * nw + lengths[r] - 1) * tasks, (r * nw + lengths[r]) * tasks);
    }
    alpha = tf.tensor3d(last, [b, nw, tasks]);
  }
  const all = poolAndClassify(seq, alpha, weights.kernels, weights.biases);
  const logits: tf.Tensor2D[] = [];
  let col = 0;
  for (const k of weights.kernels) {
    const n = k.shape[1];
    logits.push(tf.slice(all, [0, col], [b, n]));
    col += n;
  }
  if (!weights.attention) return { logits };
  const attention = Array.from(
    { length: tasks },
    (_, t) => tf.reshape(tf.slice(alpha, [0, 0, t], [b, nw, 1]), [b, nw]) as tf.Tensor2D,
  );
  return { logits, attention };
}

/**
 * α = softmax over each row's windows of `h · a_t`, for all tasks at once: `[batch, windows,
 * tasks]`. `pad` is `[batch, windows, 1]`, 0 on real windows and −1e30 on padding.
 */
function attentionWeights(seq: tf.Tensor3D, pad: tf.Tensor3D, vectors: tf.Tensor2D[]) {
  const [b, nw, u] = seq.shape;
  const tasks = vectors.length;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const h = args[0] as tf.Tensor3D;
    const as = args.slice(1, 1 + tasks) as tf.Tensor2D[];
    const save = args[1 + tasks] as tf.GradSaveFunc;
    const a = tf.concat(as, 1) as tf.Tensor2D; // [U, T]
    const scores = tf.add(
      tf.reshape(tf.matMul(tf.reshape(h, [b * nw, u]), a), [b, nw, tasks]),
      pad,
    );
    // Subtracting the row's largest real score keeps exp in range; padding stays at −1e30.
    const e = tf.exp(tf.sub(scores, tf.max(scores, 1, true)));
    const alpha = tf.div(e, tf.sum(e, 1, true)) as tf.Tensor3D;
    // Saved, not captured: tfjs disposes a forward pass's intermediates (h among them) before
    // the backward pass runs.
    save([h, a, alpha]);
    return {
      value: alpha,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sh, sa, sAlpha] = saved;
        // Softmax backward: ds = α ⊙ (dα − Σ_w α dα); 0 on padding since α is.
        const ds = tf.mul(sAlpha, tf.sub(dy, tf.sum(tf.mul(sAlpha, dy), 1, true)));
        const ds2 = tf.reshape(ds, [b * nw, tasks]);
        const h2 = tf.reshape(sh, [b * nw, u]);
        const dh = tf.reshape(tf.matMul(ds2, sa, false, true), [b, nw, u]);
        const da = tf.matMul(h2, ds2, true, false); // [U, T]
        const das = tasks === 1
          ? [da]
          : Array.from({ length: tasks }, (_, t) => tf.slice(da, [0, t], [u, 1]));
        return [dh, ...das];
      },
    };
  });
  return f(seq, ...vectors) as tf.Tensor3D;
}

/**
 * Pooled vectors `p_t = Σ_w α[·, w, t] h_w` and scores `p_t · K_t + b_t` of all tasks, side by
 * side: `[batch, Σ classes]`.
 */
function poolAndClassify(
  seq: tf.Tensor3D,
  alpha: tf.Tensor3D,
  kernels: tf.Tensor2D[],
  biases: tf.Tensor1D[],
): tf.Tensor2D {
  const [b, , u] = seq.shape;
  const tasks = kernels.length;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [h, al] = args as tf.Tensor3D[];
    const ks = args.slice(2, 2 + tasks) as tf.Tensor2D[];
    const bs = args.slice(2 + tasks, 2 + 2 * tasks) as tf.Tensor1D[];
    const save = args[2 + 2 * tasks] as tf.GradSaveFunc;
    const pooled = tf.matMul(al, h, true, false) as tf.Tensor3D; // [B, T, U]
    const ps = Array.from({ length: tasks }, (_, t) => pooledOf(pooled, t));
    const value = tf.concat(ps.map((p, t) => tf.add(tf.matMul(p, ks[t]), bs[t])), 1);
    save([h, al, pooled, ...ks]); // see attentionWeights
    return {
      value: value as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sh, sAl, sPooled] = saved;
        const sks = saved.slice(3) as tf.Tensor2D[];
        const dks: tf.Tensor[] = [], dbs: tf.Tensor[] = [], dps: tf.Tensor[] = [];
        let col = 0;
        for (let t = 0; t < tasks; t++) {
          const n = sks[t].shape[1];
          const dz = tasks === 1 ? dy : tf.slice(dy, [0, col], [b, n]);
          col += n;
          dks.push(tf.matMul(pooledOf(sPooled as tf.Tensor3D, t), dz, true, false));
          dbs.push(tf.sum(dz, 0));
          dps.push(tf.matMul(dz, sks[t], false, true));
        }
        const dPooled = tasks === 1 ? tf.reshape(dps[0], [b, 1, u]) : tf.stack(dps, 1); // [B, T, U]
        const dAlpha = tf.matMul(sh, dPooled, false, true); // [B, W, T]
        const dh = tf.matMul(sAl, dPooled); // [B, W, U]
        return [dh, dAlpha, ...dks, ...dbs];
      },
    };
  });
  return f(seq, alpha, ...kernels, ...biases) as tf.Tensor2D;
}

/** Task t's pooled vectors `[batch, units]` out of `[batch, tasks, units]`. */
function pooledOf(pooled: tf.Tensor3D, t: number): tf.Tensor2D {
  const [b, tasks, u] = pooled.shape;
  if (tasks === 1) return tf.reshape(pooled, [b, u]);
  return tf.reshape(tf.slice(pooled, [0, t, 0], [b, 1, u]), [b, u]);
}
