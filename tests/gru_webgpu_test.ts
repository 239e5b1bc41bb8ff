/**
 * The webgpu GRU (lib/model/gru_webgpu.ts: the recurrence in WGSL programs of our own) on a real
 * WebGPU adapter — Mesa's lavapipe here, a GPU on a lent machine: its values and all four
 * gradients equal the autodiff reference computed on the cpu backend, and one forward and
 * backward pass launches the same number of dispatches at any sequence length.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { gru, gruReference } from "../lib/model/gru.ts";
import "../lib/model/model.ts"; // registers the gradients tfjs-core lacks under Deno
import { setOwnKernels } from "../lib/model/own_kernels.ts";
import { dispatchCount, installDispatchCounter } from "../lib/model/webgpu_dispatches.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";
import { maxAbs, maxAbsDiff, noise } from "./numeric.ts";

webgpuOrSkip("webgpu GRU");

interface Shape {
  b: number;
  nw: number;
  d: number;
  u: number;
  /** Scale of the weights (small for large U, so the recurrence is not chaotic). */
  scale: number;
}

/** Output and gradients (x, kernel, recurrent, bias) of `fn` for a fixed output gradient. */
async function outputsAndGrads(fn: typeof gru, s: Shape): Promise<Float32Array[]> {
  const { b, nw, d, u, scale } = s;
  const args = [
    tf.tensor3d(noise(b * nw * d, 1), [b, nw, d]),
    tf.tensor2d(noise(d * 3 * u, 2, scale), [d, 3 * u]),
    tf.tensor2d(noise(u * 3 * u, 3, scale), [u, 3 * u]),
    tf.tensor1d(noise(3 * u, 4, 0.3)),
  ] as const;
  const dy = tf.tensor3d(noise(b * nw * u, 5), [b, nw, u]);
  const value = fn(...args);
  const grads = tf.grads((x, k, r, bb) =>
    fn(x as tf.Tensor3D, k as tf.Tensor2D, r as tf.Tensor2D, bb as tf.Tensor1D)
  )([...args], dy);
  const out = await Promise.all([value, ...grads].map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([...args, dy, value, ...grads]);
  return out;
}

const NAMES = ["output", "dx", "dkernel", "drecurrent", "dbias"];

webgpuTest("webgpu GRU: output and all gradients equal the autodiff reference on cpu", async () => {
  const shapes: Shape[] = [
    { b: 3, nw: 24, d: 5, u: 8, scale: 0.5 },
    // The paper's width: one invocation per unit.
    { b: 2, nw: 20, d: 6, u: 128, scale: 0.1 },
    // Wider than one workgroup (256): each invocation loops over several units.
    { b: 2, nw: 20, d: 3, u: 260, scale: 0.06 },
    // Long enough that loops over 128 units inside the loop over 300 steps would pass Mesa's
    // lavapipe limit of 65,535 loop iterations per invocation, past which it silently stops
    // looping (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, shared by all loops of a shader).
    { b: 1, nw: 300, d: 4, u: 128, scale: 0.1 },
  ];
  for (const s of shapes) {
    await initBackend("cpu");
    const ref = await outputsAndGrads(gruReference, s);
    await initBackend("webgpu");
    const ours = await outputsAndGrads(gru, s);
    for (let i = 0; i < ref.length; i++) {
      const m = maxAbs(ref[i]);
      assert.ok(m > 0.01, `${NAMES[i]}: reference is not trivially zero`);
      const rel = maxAbsDiff(ref[i], ours[i]) / m;
      assert.ok(rel < 1e-4, `${NAMES[i]} at ${JSON.stringify(s)}: relative error ${rel}`);
    }
  }
});

/** Dispatches of one GRU forward and backward pass (tf.grads: value and the four gradients). */
async function gruDispatches(nw: number): Promise<number> {
  const [b, d, u] = [2, 3, 4];
  const args = [
    tf.tensor3d(noise(b * nw * d, 1), [b, nw, d]),
    tf.tensor2d(noise(d * 3 * u, 2, 0.5), [d, 3 * u]),
    tf.tensor2d(noise(u * 3 * u, 3, 0.5), [u, 3 * u]),
    tf.tensor1d(noise(3 * u, 4, 0.3)),
  ] as const;
  const dy = tf.tensor3d(noise(b * nw * u, 5), [b, nw, u]);
  const before = dispatchCount();
  const grads = tf.grads((x, k, r, bb) =>
    gru(x as tf.Tensor3D, k as tf.Tensor2D, r as tf.Tensor2D, bb as tf.Tensor1D)
  )([...args], dy);
  const n = dispatchCount() - before;
  await Promise.all(grads.map((t) => t.data()));
  tf.dispose([...args, dy, ...grads]);
  return n;
}

webgpuTest(
  "webgpu GRU: one forward and backward pass costs the same dispatches at 20 and 80 steps",
  async () => {
    await initBackend("webgpu");
    assert.ok(installDispatchCounter());
    await gruDispatches(20); // compiles the pipelines
    const short = await gruDispatches(20), long = await gruDispatches(80);
    assert.equal(long, short, `dispatches at 80 steps (${long}) vs 20 (${short})`);
    assert.ok(short > 0 && short < 30, `a handful of dispatches, not per step: ${short}`);
    // The counter sees the per-step growth of the tfjs-op path, so equality above means
    // something.
    setOwnKernels(false);
    try {
      const opsShort = await gruDispatches(20), opsLong = await gruDispatches(80);
      assert.ok(opsLong > opsShort + 60 * 10, `tfjs ops: ${opsShort} → ${opsLong}`);
    } finally {
      setOwnKernels(true);
    }
  },
);

webgpuTest(
  "webgpu GRU: on a software adapter, a sequence past its loop limit is refused, not computed",
  async () => {
    const info = await initBackend("webgpu");
    if (!info.adapter?.software) {
      console.log(`not a software adapter (${info.device}): no loop limit to check`);
      return;
    }
    // 4,000 steps of 128 units: past lavapipe's 65,535 loop iterations per invocation (the
    // forward program went wrong from 3,856 steps before the guard existed).
    const [b, nw, d, u] = [1, 4000, 2, 128];
    const x = tf.tensor3d(noise(b * nw * d, 1), [b, nw, d]);
    const k = tf.tensor2d(noise(d * 3 * u, 2, 0.3), [d, 3 * u]);
    const r = tf.tensor2d(noise(u * 3 * u, 3, 0.1), [u, 3 * u]);
    const bias = tf.tensor1d(noise(3 * u, 4, 0.1));
    try {
      assert.throws(
        () => gru(x, k, r, bias),
        /GruForwardProgram would loop \d+ times per invocation/,
      );
    } finally {
      tf.dispose([x, k, r, bias]);
    }
  },
);
