/**
 * Uploads on webgpu (lib/model/webgpu_program.ts's `installDirectUploads`, installed by
 * `initBackend("webgpu")`): a tensor's values arrive bit for bit in every dtype a buffer holds, a
 * buffer back in tfjs's pool is rewritten only after the commands that read it, and repeated
 * uploads create no GPU buffers and hold no memory (where tfjs's own upload, used with own
 * kernels switched off, creates a staging buffer for each).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { setOwnKernels } from "../lib/model/own_kernels.ts";
import { hostCallTotals, installHostCallCounter } from "../lib/model/webgpu_dispatches.ts";
import { noise } from "./numeric.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("webgpu upload");

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Uploads `t` now, as an op using it would, so that `data()` reads the GPU buffer back. */
function upload(t: tf.Tensor): void {
  (tf.backend() as unknown as { uploadToGPU(id: object): void }).uploadToGPU(t.dataId);
  const record = (tf.backend() as unknown as {
    tensorMap: { get(id: object): { resource?: unknown; values: unknown } };
  }).tensorMap.get(t.dataId);
  assert.ok(record.resource, "the tensor has a GPU buffer");
  assert.equal(record.values, null, "no host copy stays after the upload");
}

webgpuTest(
  "webgpu upload: float32, int32 and bool values arrive bit for bit, also from a view",
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
      const t = tf.tensor(values, [...shape]);
      upload(t);
      assert.deepEqual(t.shape, shape);
      assert.deepEqual(bits(await t.data() as Float32Array), bits(values));
      t.dispose();
    }
    const ints = Int32Array.from({ length: 1001 }, (_, i) => (i * 2654435761) | 0);
    const ti = tf.tensor(ints, [ints.length], "int32");
    upload(ti);
    assert.deepEqual(await ti.data(), ints);
    const flags = Array.from({ length: 37 }, (_, i) => i % 3 === 0);
    const tb = tf.tensor(flags, [flags.length], "bool");
    upload(tb);
    assert.deepEqual(Array.from(await tb.data()), flags.map(Number));
    // And through ops, as the model uses them.
    const sum = tf.sum(tf.cast(tb, "int32"));
    assert.equal((await sum.data())[0], flags.filter((f) => f).length);
    tf.dispose([ti, tb, sum]);
  },
);

webgpuTest(
  "webgpu upload: a pooled buffer is rewritten only after the work that reads it",
  async () => {
    await initBackend("webgpu");
    const n = 4096;
    const a = noise(n, 1), b = noise(n, 2);
    // The first tensor is read by an op that is recorded but not yet submitted, then disposed;
    // the next uploads of the same size must not overwrite what that op reads.
    const ta = tf.tensor(a, [n]);
    const doubled = tf.mul(ta, 2);
    ta.dispose();
    const tb = tf.tensor(b, [n]), tb2 = tf.tensor(b, [n]);
    upload(tb), upload(tb2);
    const [d, gb, gb2] = await Promise.all([doubled.data(), tb.data(), tb2.data()]);
    assert.deepEqual(d, a.map((x) => Math.fround(2 * x)));
    assert.deepEqual(gb, b);
    assert.deepEqual(gb2, b);
    tf.dispose([doubled, tb, tb2]);
  },
);

webgpuTest(
  "webgpu upload: repeated uploads create no GPU buffers and hold no memory",
  async () => {
    await initBackend("webgpu");
    assert.ok(installHostCallCounter());
    const n = 4096;
    const a = noise(n, 1), b = noise(n, 2);
    const used = () => (tf.memory() as { numBytesInGPU?: number }).numBytesInGPU ?? 0;
    /** GPU buffers created by `rounds` uploads of a signal and a scalar, each summed and read. */
    const buffersCreated = async (rounds: number) => {
      const before = hostCallTotals().createBuffer;
      for (let i = 0; i < rounds; i++) {
        const s = tf.tidy(() => tf.mul(tf.sum(tf.tensor(i % 2 ? a : b, [n])), tf.scalar(i)));
        await s.data();
        s.dispose();
      }
      return hostCallTotals().createBuffer - before;
    };
    await buffersCreated(2); // the pool's first buffers of these sizes
    const bytes = used();
    assert.equal(await buffersCreated(20), 0, "no new buffers once the pool has them");
    assert.ok(used() <= bytes, `GPU bytes in use ${used()} after, ${bytes} before`);
    // tfjs's own upload, for comparison: a new staging buffer for each of the two uploads.
    setOwnKernels(false);
    try {
      assert.equal(await buffersCreated(5), 10);
    } finally {
      setOwnKernels(true);
    }
  },
);
