/**
 * uploadTensor (lib/model/webgpu_program.ts), the model's input upload on webgpu: the values
 * arrive bit for bit, a buffer back in tfjs's pool is rewritten only after the commands that
 * read it, and repeated uploads do not grow the GPU memory in use.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { uploadTensor } from "../lib/model/webgpu_program.ts";
import { noise } from "./numeric.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("webgpu upload");

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

webgpuTest(
  "webgpu upload: values arrive bit for bit, also from a view into a larger array",
  async () => {
    await initBackend("webgpu");
    const whole = noise(3 * 1000 + 7, 3, 5);
    whole[5] = -0, whole[6] = NaN, whole[7] = Infinity, whole[8] = 1e-45;
    for (
      const [values, shape] of [[whole, [whole.length]], [whole.subarray(7, 3007), [
        3,
        1000,
      ]]] as const
    ) {
      const t = uploadTensor(values, [...shape]);
      assert.deepEqual(t.shape, shape);
      assert.deepEqual(bits(await t.data() as Float32Array), bits(values));
      t.dispose();
    }
    assert.throws(() => uploadTensor(whole, [2, 5]), /uploadTensor: 3007 values for shape/);
  },
);

webgpuTest(
  "webgpu upload: a pooled buffer is rewritten only after the work that reads it",
  async () => {
    await initBackend("webgpu");
    const n = 4096;
    const a = noise(n, 1), b = noise(n, 2);
    // The first upload's tensor is read by an op that is recorded but not yet submitted, then
    // disposed; the next uploads of the same size must not overwrite what that op reads.
    const ta = uploadTensor(a, [n]);
    const doubled = tf.mul(ta, 2);
    ta.dispose();
    const tb = uploadTensor(b, [n]), tb2 = uploadTensor(b, [n]);
    const [d, gb, gb2] = await Promise.all([doubled.data(), tb.data(), tb2.data()]);
    assert.deepEqual(d, a.map((x) => Math.fround(2 * x)));
    assert.deepEqual(gb, b);
    assert.deepEqual(gb2, b);
    tf.dispose([doubled, tb, tb2]);
    // Steady state: uploading and disposing does not hold on to GPU memory.
    const used = () => (tf.memory() as { numBytesInGPU?: number }).numBytesInGPU ?? 0;
    const before = used();
    for (let i = 0; i < 20; i++) {
      const t = uploadTensor(i % 2 ? a : b, [n]);
      const s = tf.sum(t);
      await s.data();
      tf.dispose([t, s]);
    }
    assert.ok(used() <= before, `GPU bytes in use ${used()} after, ${before} before`);
  },
);
