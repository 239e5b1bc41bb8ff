/**
 * The fused Adam update on webgpu (lib/training/adam_webgpu.ts) on a real WebGPU adapter —
 * Mesa's lavapipe here: the same parameters and moments as adam.ts's tfjs-op update on cpu over
 * several steps (two chunks of variables, one variable without a gradient in one step), a
 * state read mid-run that continues on either backend, and a dispatch count of
 * variables + chunks per step.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { Adam, type AdamState } from "../lib/training/adam.ts";
import { CHUNK, chunksOf } from "../lib/training/adam_webgpu.ts";
import { dispatchCount, installDispatchCounter } from "../lib/model/webgpu_dispatches.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";
import { maxAbsDiff, noise } from "./numeric.ts";

webgpuOrSkip("webgpu Adam");

/** Variables of assorted shapes: more than one chunk, the last one partial. */
const SHAPES: number[][] = [[3, 4], [7], [2, 3, 5], [1], [130], [4, 4], [9, 2], [33], [5, 1]];
const STEPS = 4;
/** Variable 2 has no gradient at step 1 (not connected to that step's loss). */
const gradOf = (i: number, step: number) =>
  i === 2 && step === 1
    ? undefined
    : tf.tensor(noise(tf.util.sizeFromShape(SHAPES[i]), 100 * step + i, 2), SHAPES[i]);

interface Run {
  params: Float32Array[];
  state: AdamState;
}

/** Adam from fixed starting values over {@link STEPS} steps on the active backend. */
async function runAdam(l2 = 0): Promise<Run> {
  const vars = SHAPES.map((s, i) =>
    tf.variable(tf.tensor(noise(tf.util.sizeFromShape(s), i + 1), s), true)
  );
  const adam = new Adam(vars, { learningRate: 0.01, l2 });
  for (let step = 0; step < STEPS; step++) {
    const grads = SHAPES.map((_, i) => gradOf(i, step));
    adam.apply(grads);
    tf.dispose(grads.filter((g): g is tf.Tensor => g !== undefined));
  }
  const params = await Promise.all(vars.map((v) => v.data() as Promise<Float32Array>));
  const state = await adam.getState();
  adam.dispose();
  tf.dispose(vars);
  return { params, state };
}

function assertClose(a: Run, b: Run, what: string) {
  for (let i = 0; i < SHAPES.length; i++) {
    // Parameters move by ~lr per step; moments are O(1) (m) and O(4) (v).
    assert.ok(maxAbsDiff(a.params[i], b.params[i]) < 1e-6, `${what}: parameter ${i}`);
    assert.ok(maxAbsDiff(a.state.m[i].values, b.state.m[i].values) < 1e-6, `${what}: m ${i}`);
    assert.ok(maxAbsDiff(a.state.v[i].values, b.state.v[i].values) < 1e-5, `${what}: v ${i}`);
    assert.deepEqual(a.state.m[i].shape, SHAPES[i]);
  }
  assert.equal(a.state.step, b.state.step);
}

webgpuTest("webgpu Adam: fused update equals adam.ts's tfjs ops on cpu", async () => {
  await initBackend("cpu");
  const ref = await runAdam();
  await initBackend("webgpu");
  const ours = await runAdam();
  assertClose(ours, ref, "webgpu vs cpu");
  // Variable 2 had no gradient at step 1: cpu left its moments alone there (had the fused
  // update decayed them instead, m and v of variable 2 would differ by ~10 % and ~0.1 %).
  assert.ok(ref.state.m[2].values.some((x) => x !== 0));
});

/** Variables at the fixed starting values, on the active backend. */
const startVariables = (values?: Float32Array[]) =>
  SHAPES.map((s, i) =>
    tf.variable(tf.tensor(values?.[i] ?? noise(tf.util.sizeFromShape(s), i + 1), s), true)
  );

/** Steps [from, to) of the gradient sequence; the dispatch count of each. */
function steps(adam: Adam, from: number, to: number): number[] {
  const counts: number[] = [];
  for (let step = from; step < to; step++) {
    const grads = SHAPES.map((_, i) => gradOf(i, step));
    const before = dispatchCount();
    adam.apply(grads);
    counts.push(dispatchCount() - before);
    tf.dispose(grads.filter((g): g is tf.Tensor => g !== undefined));
  }
  return counts;
}

webgpuTest(
  "webgpu Adam with the L2 term: λW added in the moments program, equal to cpu; " +
    "variables + chunks dispatches per step",
  async () => {
    const l2 = 0.3; // large, so that a lost or doubled λW shows
    await initBackend("cpu");
    const plain = await runAdam();
    const ref = await runAdam(l2);
    await initBackend("webgpu");
    assertClose(await runAdam(l2), ref, "webgpu vs cpu, with L2");
    // The L2 term changed the matrices (and the moments of variable 2, which had no loss
    // gradient at step 1), not the rank-1 variables.
    assert.ok(maxAbsDiff(ref.params[0], plain.params[0]) > 1e-4);
    assert.ok(maxAbsDiff(ref.state.m[2].values, plain.state.m[2].values) > 1e-3);
    assert.equal(maxAbsDiff(ref.params[1], plain.params[1]), 0);
    // Every variable is updated at every step (variable 2 by λW alone at step 1), in chunks of
    // six inputs where a covered variable takes two. (Step 0 also packs the moments.)
    assert.ok(installDispatchCounter());
    const covered = SHAPES.map((s) => s.length >= 2);
    const chunks = chunksOf(SHAPES.map((s) => tf.util.sizeFromShape(s)), covered).length;
    assert.ok(chunks > Math.ceil(SHAPES.length / CHUNK));
    const vars = startVariables();
    const adam = new Adam(vars, { learningRate: 0.01, l2 });
    const counts = steps(adam, 0, STEPS);
    assert.deepEqual(counts.slice(1), [1, 2, 3].map(() => chunks + SHAPES.length));
    adam.dispose();
    tf.dispose(vars);
  },
);

webgpuTest(
  "webgpu Adam: a state read mid-run restores on webgpu and on cpu; variables + chunks " +
    "dispatches per step",
  async () => {
    await initBackend("cpu");
    const ref = await runAdam();
    await initBackend("webgpu");
    assert.ok(installDispatchCounter());
    const vars = startVariables();
    const adam = new Adam(vars, { learningRate: 0.01 });
    const counts = steps(adam, 0, 2);
    const chunks = Math.ceil(SHAPES.length / CHUNK);
    // Step 1: one program per chunk and one per variable with a gradient (not variable 2).
    // (Step 0 also packs the moments, one concat per chunk.)
    assert.equal(counts[1], chunks + SHAPES.length - 1, `dispatches ${counts}`);
    const mid = await adam.getState(); // read from the packed moments
    const midParams = await Promise.all(vars.map((v) => v.data() as Promise<Float32Array>));
    // Restored on webgpu (unpacks, then packs again on the next step) ...
    adam.setState(mid);
    steps(adam, 2, STEPS);
    const onGpu = {
      params: await Promise.all(vars.map((v) => v.data() as Promise<Float32Array>)),
      state: await adam.getState(),
    };
    assertClose(onGpu, ref, "webgpu, restored mid-run");
    adam.dispose();
    tf.dispose(vars);
    // ... and on cpu, continuing with tfjs ops.
    await initBackend("cpu");
    const cpuVars = startVariables(midParams);
    const cpuAdam = new Adam(cpuVars, { learningRate: 0.01 });
    cpuAdam.setState(mid);
    steps(cpuAdam, 2, STEPS);
    const onCpu = {
      params: await Promise.all(cpuVars.map((v) => v.data() as Promise<Float32Array>)),
      state: await cpuAdam.getState(),
    };
    assertClose(onCpu, ref, "cpu, restored from a webgpu state");
    cpuAdam.dispose();
    tf.dispose(cpuVars);
  },
);
