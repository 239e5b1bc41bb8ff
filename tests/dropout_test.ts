/**
 * The dropout multiplier (lib/model/dropout.ts): the integer Alea and its jumps draw what
 * `tf.randomUniform` draws (on cpu), the keep threshold decides as tf.dropout's float32
 * arithmetic does, and on a WebGPU adapter (lavapipe here) the GPU program's multiplier equals
 * the cpu backend's bit for bit: one draw over the whole batch, and row groups with padding
 * whose blocks of draws cross rows.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import {
  aleaIntegers,
  aleaState,
  aleaStateAfter,
  BLOCK,
  type DropoutDraw,
  dropoutMultiplier,
  keepThreshold,
} from "../lib/model/dropout.ts";
import { dispatchCount, installDispatchCounter } from "../lib/model/webgpu_dispatches.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("webgpu dropout");

/** tfjs's uniforms for `seed` (cpu backend). */
async function tfjsUniforms(seed: number, n: number): Promise<Float32Array> {
  await initBackend("cpu");
  const u = tf.randomUniform([n], 0, 1, "float32", seed);
  const values = await u.data() as Float32Array;
  u.dispose();
  return values;
}

const asUniforms = (x: Uint32Array) => Float32Array.from(x, (v) => v * 2 ** -32);

Deno.test("integer Alea draws tf.randomUniform's numbers, and jumps land where stepping does", async () => {
  for (const seed of [0, 1, 7919, 123456789, 2 ** 31 - 1]) {
    const n = 3 * BLOCK + 17;
    const ours = asUniforms(aleaIntegers(aleaState(seed), n));
    assert.deepEqual(ours, await tfjsUniforms(seed, n), `seed ${seed}`);
  }
  const seed = 4242, stepped = aleaIntegers(aleaState(seed), 5 * BLOCK + 3);
  for (const skip of [1, 2, 3, BLOCK - 1, BLOCK, 2 * BLOCK + 1, 5 * BLOCK]) {
    const jumped = aleaIntegers(aleaStateAfter(seed, skip), 3);
    assert.deepEqual(jumped, stepped.slice(skip, skip + 3), `skip ${skip}`);
  }
  await initBackend("wasm");
});

Deno.test("the keep threshold decides as tf.dropout's float32 floor(u + p) does", () => {
  for (const keep of [0.9, 0.5, 0.8, 0.1, 0.999]) {
    const p = Math.fround(1 - (1 - keep));
    const t = keepThreshold(1 - (1 - keep));
    const keeps = (x: number) => Math.floor(Math.fround(Math.fround(x * 2 ** -32) + p)) >= 1;
    assert.ok(keeps(t) && !keeps(t - 1), `keep ${keep}: threshold ${t}`);
    // The float32 uniforms near the threshold are coarse: the threshold is not 2³²·(1 − p).
    assert.ok(Math.abs(t - 2 ** 32 * (1 - p)) < 2 ** 9, `keep ${keep}`);
  }
});

/** The multiplier for `draws` on the active backend, read back. */
async function multiplier(
  draws: DropoutDraw[],
  batch: number,
  windows: number,
  dim: number,
  keep: number,
): Promise<Float32Array> {
  const m = dropoutMultiplier(draws, batch, windows, dim, keep);
  assert.deepEqual(m.shape, [batch, windows, dim]);
  const values = await m.data() as Float32Array;
  m.dispose();
  return values;
}

Deno.test("dropoutMultiplier refuses draws that do not cover the batch's rows in order", () => {
  const bad: DropoutDraw[][] = [
    [{ rows: [0, 2], windows: 5, seed: 1 }],
    [{ rows: [0, 1], windows: 5, seed: 1 }, { rows: [2, 3], windows: 5, seed: 2 }],
    [{ rows: [0, 3], windows: 6, seed: 1 }],
  ];
  for (const draws of bad) {
    assert.throws(() => dropoutMultiplier(draws, 3, 5, 4, 0.9), /dropoutMultiplier/);
  }
});

/** Shapes: one draw over a batch; three row groups, two trimmed and padded, blocks crossing rows. */
const CASES: { name: string; batch: number; windows: number; dim: number; draws: DropoutDraw[] }[] =
  [
    {
      name: "one draw",
      batch: 3,
      windows: 7,
      dim: 1280,
      draws: [{ rows: [0, 3], windows: 7, seed: 99 }],
    },
    {
      name: "row groups with padding",
      batch: 5,
      windows: 9,
      dim: 1000,
      draws: [
        { rows: [0, 2], windows: 6, seed: 5 },
        { rows: [2, 4], windows: 9, seed: 5 + 7919 },
        { rows: [4, 5], windows: 3, seed: 5 + 2 * 7919 },
      ],
    },
  ];

webgpuTest(
  "webgpu dropout: the GPU's multiplier equals the cpu backend's bit for bit",
  async () => {
    for (const keep of [0.9, 0.5]) {
      for (const c of CASES) {
        await initBackend("cpu");
        const want = await multiplier(c.draws, c.batch, c.windows, c.dim, keep);
        await initBackend("webgpu");
        // Leave a buffer of the output's size full of non-zeros for tfjs to reuse: the padding
        // must be written, not found zero in a fresh buffer.
        const stale = tf.fill([c.batch, c.windows, c.dim], 3);
        await stale.data();
        stale.dispose();
        const counting = installDispatchCounter();
        const before = dispatchCount();
        const got = await multiplier(c.draws, c.batch, c.windows, c.dim, keep);
        if (counting) assert.equal(dispatchCount() - before, 1, `${c.name}: one dispatch`);
        let differ = 0;
        for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) differ++;
        assert.equal(differ, 0, `${c.name}, keep ${keep}: ${differ} of ${want.length} differ`);
        // Not vacuous: both values occur, at about the keep rate, and padding is 0.
        const kept = want.filter((v) => v !== 0).length;
        const drawn = c.draws.reduce((s, d) => s + (d.rows[1] - d.rows[0]) * d.windows, 0) * c.dim;
        assert.ok(Math.abs(kept / drawn - keep) < 0.02, `${c.name}: kept ${kept} of ${drawn}`);
      }
    }
  },
);
