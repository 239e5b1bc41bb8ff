/**
 * The GPU buffers behind tensors on webgpu (lib/model/webgpu_buffers.ts, installed by
 * `initBackend("webgpu")`). Uploads: a tensor's values arrive bit for bit in every dtype a buffer
 * holds, a buffer back in tfjs's pool is rewritten only after the commands that read it, and
 * repeated uploads create no GPU buffers and hold no memory (where tfjs's own upload, used with own
 * kernels switched off, creates a staging buffer for each). The pool: its free buffers stay within
 * the peak in use, the most recently released are the ones kept, and training on batches of many
 * lengths does not grow the GPU memory with each length.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import { defaultModelConfig, EmotionModel } from "../lib/model/model.ts";
import { boundBufferPool } from "../lib/model/webgpu_buffers.ts";
import { train } from "../lib/training/train.ts";
import { setOwnKernels } from "../lib/model/own_kernels.ts";
import { hostCallTotals, installHostCallCounter } from "../lib/model/webgpu_dispatches.ts";
import { twoRowBatch } from "./fixtures.ts";
import { noise } from "./numeric.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

webgpuOrSkip("webgpu buffers");

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

/** tfjs-backend-webgpu's pool totals (bytes). */
function poolBytes(): { used: number; allocated: number } {
  const m = (tf.backend() as unknown as {
    bufferManager: { numBytesUsed: number; numBytesAllocated: number };
  }).bufferManager;
  return { used: m.numBytesUsed, allocated: m.numBytesAllocated };
}

webgpuTest(
  "webgpu pool: free buffers stay within the peak in use, the most recently released kept",
  async () => {
    await initBackend("webgpu");
    assert.ok(installHostCallCounter());
    const installed = (tf.backend() as unknown as { bufferManager: { bounded?: unknown } })
      .bufferManager.bounded;
    assert.ok(installed, "initBackend bounds the pool");
    const pool = boundBufferPool();
    assert.equal(pool, installed, "installed once");
    const evicted = pool.evictedBuffers;
    /** A result of `size` values computed and read, then disposed: its buffers go back. */
    const values = noise(220_000, 3);
    const once = async (size: number) => {
      const t = tf.tidy(() => tf.mul(tf.tensor(values.subarray(0, size)), 2));
      await t.data();
      t.dispose();
    };
    // 200 sizes of up to 1.6 MB each: tfjs alone would keep every one of them.
    for (let i = 0; i < 200; i++) await once(200_000 + 64 * i);
    const { used, allocated } = poolBytes();
    assert.ok(pool.evictedBuffers > evicted, "old sizes' buffers were destroyed");
    assert.ok(
      allocated - used <= pool.peakBytesInUse,
      `free ${allocated - used} bytes, peak in use ${pool.peakBytesInUse}`,
    );
    // The last size's buffers are the most recently released: computing it again creates none.
    const before = hostCallTotals().createBuffer;
    await once(200_000 + 64 * 199);
    assert.equal(hostCallTotals().createBuffer - before, 0);
    // Same-sized work again and again evicts nothing, and the bookkeeping does not grow with it.
    for (let i = 0; i < 1000; i++) await once(1000);
    // 1,000 rounds release some 5,000 buffers (input, output, uniforms, the read's staging).
    const free = (tf.backend() as unknown as { bufferManager: { numFreeBuffers: number } })
      .bufferManager.numFreeBuffers;
    assert.ok(pool.queued <= 2 * free + 1025, `${pool.queued} queued for ${free} free buffers`);
  },
);

webgpuTest(
  "webgpu pool: training on batches of 24 lengths holds at most twice its peak working set",
  async () => {
    await initBackend("webgpu");
    const pool = boundBufferPool();
    const tasks = [{ name: "arousal", classes: ["low", "mid", "high"] }];
    const config = defaultModelConfig(tasks, {
      conv: { filters: 4, kernel: 4, pool: 2, channelPool: 2 },
      gru: { units: 8, layers: 1 },
    });
    // Padded to their longest utterance, a corpus's batches differ in length, and each length
    // is a new working set of buffer sizes.
    const batches = Array.from(
      { length: 24 },
      (_, i) => twoRowBatch(10 + 3 * i, ["arousal"], { labels: [0, 2] }),
    );
    const model = EmotionModel.create(config);
    const evicted = pool.evictedBuffers;
    try {
      await train(model, { train: () => batches, epochs: 1, learningRate: 1e-4, progress: "none" });
    } finally {
      model.dispose();
    }
    const { used, allocated } = poolBytes();
    assert.ok(pool.evictedBuffers > evicted, "earlier lengths' buffers were destroyed");
    assert.ok(
      allocated <= used + pool.peakBytesInUse,
      `allocated ${allocated} bytes: ${used} in use, peak ${pool.peakBytesInUse}`,
    );
  },
);
