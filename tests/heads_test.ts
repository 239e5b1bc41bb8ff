import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { type HeadWeights, taskHeads } from "../lib/model/heads.ts";
import { registerGradients } from "../lib/model/gradients.ts";
import { maxAbs, maxAbsDiff, noise } from "./numeric.ts";

await initBackend("wasm");
registerGradients();

/**
 * The heads as plain tfjs ops, differentiated by autodiff: per task a masked softmax of h · a_t
 * (or the last real window's output), the pooled vector and a dense layer. This is the
 * formulation the model used before taskHeads.
 */
function referenceHeads(seq: tf.Tensor3D, lengths: Int32Array, w: HeadWeights) {
  const [b, nw, u] = seq.shape;
  const m = new Float32Array(b * nw);
  const last = new Float32Array(b * nw);
  for (let r = 0; r < b; r++) {
    m.fill(1, r * nw, r * nw + lengths[r]);
    last[r * nw + lengths[r] - 1] = 1;
  }
  const mask = tf.tensor2d(m, [b, nw]);
  const logits: tf.Tensor2D[] = [], attention: tf.Tensor2D[] = [];
  w.kernels.forEach((k, t) => {
    let pooled: tf.Tensor2D;
    if (w.attention) {
      const scores = tf.reshape(tf.matMul(tf.reshape(seq, [b * nw, u]), w.attention[t]), [b, nw]);
      const masked = tf.add(tf.mul(scores, mask), tf.mul(tf.sub(1, mask), -1e30));
      const shifted = tf.sub(scores, tf.max(masked, 1, true));
      const e = tf.mul(tf.exp(tf.minimum(shifted, 0)), mask);
      const alpha = tf.div(e, tf.sum(e, 1, true)) as tf.Tensor2D;
      attention.push(alpha);
      pooled = tf.sum(tf.mul(seq, tf.expandDims(alpha, 2)), 1) as tf.Tensor2D;
    } else {
      pooled = tf.sum(tf.mul(seq, tf.tensor3d(last, [b, nw, 1])), 1) as tf.Tensor2D;
    }
    logits.push(tf.add(tf.matMul(pooled, k), w.biases[t]) as tf.Tensor2D);
  });
  return { logits, attention: w.attention ? attention : undefined };
}

interface Case {
  classes: number[];
  attention: boolean;
}

function setup(c: Case, lengths: number[], windows: number, u: number, seed: number) {
  const b = lengths.length;
  const seq = tf.tensor3d(noise(b * windows * u, seed, 2), [b, windows, u]);
  const weights: HeadWeights = {
    attention: c.attention
      ? c.classes.map((_, t) => tf.tensor2d(noise(u, seed + 10 + t, 0.8), [u, 1]))
      : undefined,
    kernels: c.classes.map((n, t) => tf.tensor2d(noise(u * n, seed + 20 + t, 0.5), [u, n])),
    biases: c.classes.map((n, t) => tf.tensor1d(noise(n, seed + 30 + t, 0.3))),
  };
  return { seq, weights, lengths: Int32Array.from(lengths) };
}

/** A scalar that depends on every logit differently, so every gradient path is exercised. */
function probe(logits: tf.Tensor2D[], seed: number): tf.Scalar {
  return tf.addN(
    logits.map((l, t) => tf.sum(tf.mul(tf.tanh(l), tf.tensor(noise(l.size, seed + t), l.shape)))),
  ) as tf.Scalar;
}

const CASES: Case[] = [
  { classes: [3, 2, 7], attention: true },
  { classes: [3, 2, 7], attention: false },
  { classes: [4], attention: true },
  { classes: [2], attention: false },
];

Deno.test("taskHeads equals the plain per-task formulation: logits, attention and every gradient", () => {
  for (const c of CASES) {
    tf.tidy(() => {
      const windows = 9, u = 6;
      const { seq, weights, lengths } = setup(c, [9, 4, 1, 7], windows, u, 5);
      const inputs = [seq, ...(weights.attention ?? []), ...weights.kernels, ...weights.biases];
      const run = (heads: typeof taskHeads) => {
        const g = tf.grads((...xs: tf.Tensor[]) => {
          const n = c.classes.length;
          const w: HeadWeights = {
            attention: c.attention ? xs.slice(1, 1 + n) as tf.Tensor2D[] : undefined,
            kernels: xs.slice(
              c.attention ? 1 + n : 1,
              (c.attention ? 1 + n : 1) + n,
            ) as tf.Tensor2D[],
            biases: xs.slice((c.attention ? 1 + n : 1) + n) as tf.Tensor1D[],
          };
          return probe(heads(xs[0] as tf.Tensor3D, lengths, w).logits, 77);
        });
        const out = heads(seq, lengths, weights);
        return { out, grads: g(inputs) };
      };
      const ours = run(taskHeads);
      const ref = run(referenceHeads);
      const what = `${c.classes.join("/")} classes, ${c.attention ? "attention" : "last"}`;
      ours.out.logits.forEach((l, t) => {
        const d = maxAbsDiff(l.dataSync(), ref.out.logits[t].dataSync());
        assert.ok(d < 1e-5, `${what}: task ${t} logits differ by ${d}`);
      });
      assert.equal(ours.out.attention === undefined, !c.attention, `${what}: attention present`);
      ours.out.attention?.forEach((a, t) => {
        assert.deepEqual(a.shape, [4, windows]);
        const d = maxAbsDiff(a.dataSync(), ref.out.attention![t].dataSync());
        assert.ok(d < 1e-6, `${what}: task ${t} attention differs by ${d}`);
      });
      ours.grads.forEach((g, i) => {
        const r = ref.grads[i].dataSync();
        const scale = Math.max(maxAbs(r), 1e-3);
        const d = maxAbsDiff(g.dataSync(), r);
        assert.ok(d < 1e-5 * scale + 1e-7, `${what}: gradient of input ${i} differs by ${d}`);
        assert.ok(maxAbs(r) > 0, `${what}: input ${i} has a gradient at all`);
      });
      // Padding windows get no gradient: rows 1–3 end before window 9.
      const dSeq = ours.grads[0].arraySync() as number[][][];
      for (const [r, len] of [[1, 4], [2, 1], [3, 7]]) {
        for (let w = len; w < windows; w++) {
          assert.ok(dSeq[r][w].every((v) => v === 0), `${what}: gradient on padding ${r}/${w}`);
        }
      }
    });
  }
});

Deno.test("taskHeads: what lies in the padding never changes a row's logits", () => {
  for (const c of CASES) {
    tf.tidy(() => {
      const { seq, weights, lengths } = setup(c, [5, 2], 5, 4, 9);
      const data = seq.arraySync();
      for (let w = 2; w < 5; w++) data[1][w] = data[1][w].map((v) => 1e3 * v + 50);
      const a = taskHeads(seq, lengths, weights);
      const b = taskHeads(tf.tensor3d(data), lengths, weights);
      a.logits.forEach((l, t) => {
        assert.deepEqual(l.dataSync(), b.logits[t].dataSync(), `task ${t} logits`);
      });
    });
  }
});
