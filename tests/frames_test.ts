import assert from "node:assert/strict";
import type { Utterance } from "../lib/corpus/types.ts";
import {
  AudioCache,
  batches,
  computeStandardisation,
  featureStatistics,
  frameSignal,
  planBatches,
  spanSamples,
  windowCount,
  windowSpec,
} from "../lib/frames/mod.ts";

Deno.test("window geometry: 40 ms / 10 ms at 16 kHz is 640 / 160 samples, configurable", () => {
  assert.deepEqual(windowSpec(), { sampleRate: 16000, windowSamples: 640, hopSamples: 160 });
  assert.deepEqual(windowSpec({ windowMs: 25, hopMs: 10 }), {
    sampleRate: 16000,
    windowSamples: 400,
    hopSamples: 160,
  });
});

Deno.test("window counts and tails", () => {
  assert.equal(windowCount(640), 1);
  assert.equal(windowCount(100), 1);
  assert.equal(windowCount(641), 2);
  assert.equal(windowCount(800), 2);
  assert.equal(windowCount(801), 3);
  assert.equal(windowCount(16000), 97); // 1 s: (16000 − 640) / 160 + 1
  assert.equal(spanSamples(97), 16000);
  const x = Float32Array.from({ length: 1000 }, (_, i) => i + 1);
  const frames = frameSignal(x);
  assert.equal(frames.length, 4 * 640); // windows at 0, 160, 320, 480
  assert.equal(frames[640], 161); // window 1 starts at sample 160
  assert.equal(frames[3 * 640 + 519], 1000); // last real sample of window 3
  assert.equal(frames[3 * 640 + 520], 0); // the tail is zero-padded
  assert.equal(frames[4 * 640 - 1], 0);
});

function fakeUtterances(lengths: number[]): Utterance[] {
  return lengths.map((n, i) => ({
    id: `u${i}`,
    path: `u${i}.wav`,
    speaker: `s${i % 3}`,
    labels: (i % 4 === 3 ? { a: i % 3 } : { a: i % 3, b: i % 2 }) as Record<string, number>,
    samples: n,
  }));
}

const signalOf = (u: Utterance) =>
  Float32Array.from(
    { length: u.samples! },
    (_, i) => Math.sin(i * 0.01 * (1 + Number(u.id.slice(1)))),
  );

Deno.test("standardisation uses the training utterances only and is exact", async () => {
  const utts = fakeUtterances([1000, 3000, 500]);
  const s = await computeStandardisation(utts, (u) => Promise.resolve(signalOf(u)));
  const all = utts.flatMap((u) => [...signalOf(u)]);
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  const std = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length);
  assert.ok(Math.abs(s.mean - mean) < 1e-9);
  assert.ok(Math.abs(s.std - std) < 1e-9);
});

Deno.test("batch planning: deterministic from the seed, every utterance once, small padding", () => {
  const lengths = Array.from({ length: 200 }, (_, i) => 1000 + ((i * 7919) % 50000));
  const utts = fakeUtterances(lengths);
  const a = planBatches(utts, { batchSize: 8, shuffle: true, seed: 1 });
  const b = planBatches(utts, { batchSize: 8, shuffle: true, seed: 1 });
  const c = planBatches(utts, { batchSize: 8, shuffle: true, seed: 2 });
  const ids = (p: Utterance[][]) => p.map((g) => g.map((u) => u.id).join(",")).join("|");
  assert.equal(ids(a), ids(b));
  assert.notEqual(ids(a), ids(c));
  assert.deepEqual(a.flat().map((u) => u.id).sort(), utts.map((u) => u.id).sort());
  const padding = (p: Utterance[][]) =>
    p.reduce(
      (sum, g) =>
        sum + g.reduce((s, u) => s + Math.max(...g.map((v) => v.samples!)) - u.samples!, 0),
      0,
    );
  const unbucketed = planBatches(utts, { batchSize: 8, shuffle: true, seed: 1, bucketBatches: 1 });
  assert.ok(
    padding(a) < padding(unbucketed) / 3,
    `bucketing cuts padding (${padding(a)} vs ${padding(unbucketed)})`,
  );
  const evalPlan = planBatches(utts, { batchSize: 8 });
  assert.equal(ids(evalPlan), ids(planBatches([...utts].reverse(), { batchSize: 8 })));
});

Deno.test("raw batches: standardised, zero-padded rows, masks, lengths, labels with −1 for missing", async () => {
  const utts = fakeUtterances([640, 2000, 5000, 300]);
  const st = { mean: 0.1, std: 2 };
  const tasks = [{ name: "a", classes: ["x", "y", "z"] }, { name: "b", classes: ["p", "q"] }];
  const got = [];
  for await (
    const batch of batches(utts, tasks, {
      batchSize: 4,
      standardisation: st,
      read: (u) => Promise.resolve(signalOf(u)),
    })
  ) {
    got.push(batch);
  }
  assert.equal(got.length, 1);
  const batch = got[0];
  // Evaluation order is by length: u3 (300), u0 (640), u1 (2000), u2 (5000).
  assert.deepEqual(batch.ids, ["u3", "u0", "u1", "u2"]);
  assert.deepEqual([...batch.lengths], [1, 1, windowCount(2000), windowCount(5000)]);
  assert.equal(batch.windows, windowCount(5000));
  assert.equal(batch.samplesPerRow, spanSamples(batch.windows));
  assert.equal(batch.signal!.length, 4 * batch.samplesPerRow);
  const row2 = batch.signal!.subarray(2 * batch.samplesPerRow, 3 * batch.samplesPerRow);
  const raw = signalOf(utts[1]);
  assert.ok(Math.abs(row2[10] - (raw[10] - 0.1) / 2) < 1e-6);
  assert.equal(row2[2000], 0, "padding after the signal is zero");
  const mask = batch.mask;
  assert.equal(mask[2 * batch.windows + batch.lengths[2] - 1], 1);
  assert.equal(mask[2 * batch.windows + batch.lengths[2]], 0);
  assert.deepEqual([...batch.labels.a], [0, 0, 1, 2]);
  assert.deepEqual([...batch.labels.b], [-1, 0, 1, 0]);
});

Deno.test("feature batches are standardised per dimension and zero on padding", async () => {
  const utts = fakeUtterances([1600, 3200]);
  const dim = 2;
  const frames = new Map([
    ["u0", Float32Array.from([1, 10, 3, 30])],
    ["u1", Float32Array.from([2, 20, 4, 40, 6, 60])],
  ]);
  const stats = featureStatistics([...frames.values()], dim);
  assert.ok(Math.abs(stats.mean[0] - 16 / 5) < 1e-6);
  const tasks = [{ name: "a", classes: ["x", "y", "z"] }];
  const [batch] = await Array.fromAsync(
    batches(utts, tasks, {
      batchSize: 2,
      features: { dim, load: (u) => Promise.resolve(frames.get(u.id)!), ...stats },
    }),
  );
  assert.equal(batch.windows, 3);
  assert.deepEqual([...batch.lengths], [2, 3]);
  assert.equal(batch.featureDim, 2);
  const f = batch.features!;
  assert.ok(Math.abs(f[0] - (1 - stats.mean[0]) / stats.std[0]) < 1e-6);
  assert.equal(f[4], 0);
  assert.equal(f[5], 0);
});

Deno.test("the audio cache stays within its byte limit", async () => {
  let reads = 0;
  const cache = new AudioCache(3 * 4000, (u) => {
    reads++;
    return Promise.resolve(new Float32Array(u.samples!));
  });
  const utts = fakeUtterances([1000, 1000, 1000, 1000]);
  for (const u of utts) await cache.get(u);
  assert.ok(cache.bytes <= 12000);
  await cache.get(utts[3]);
  assert.equal(reads, 4, "a recent entry is served from the cache");
  await cache.get(utts[0]);
  assert.equal(reads, 5, "the oldest entry was evicted");
});
