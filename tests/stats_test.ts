import assert from "node:assert/strict";
import { accuracy, confusionMatrix, perClassRecall, uar } from "../lib/training/metrics.ts";
import { meanStd, pairedBootstrap, zTestOneTailed } from "../lib/evaluation/stats.ts";

Deno.test("UAR is the mean of per-class recalls; missing labels ignored", () => {
  const truth = [0, 0, 0, 0, 1, 1, 2, -1];
  const pred = [0, 0, 0, 1, 1, 0, 2, 2];
  const m = confusionMatrix(truth, pred, 3);
  assert.deepEqual(m, [[3, 1, 0], [1, 1, 0], [0, 0, 1]]);
  assert.deepEqual(perClassRecall(m), [0.75, 0.5, 1]);
  assert.ok(Math.abs(uar(truth, pred, 3) - 0.75) < 1e-12);
  assert.ok(Math.abs(accuracy(truth, pred) - 5 / 7) < 1e-12);
  // A majority-class predictor has chance UAR however skewed the classes are.
  assert.equal(uar([0, 0, 0, 0, 0, 0, 1, 2], [0, 0, 0, 0, 0, 0, 0, 0], 3), 1 / 3);
});

Deno.test("the paper's one-tailed z-test reproduces Table 1's stars for e2e MTL+att vs e2e STL", () => {
  // [MTL+att, STL, N, starred in the paper]
  const cells: [number, number, number, boolean][] = [
    [0.487, 0.453, 1811, true], // arousal dev
    [0.485, 0.451, 1819, true], // arousal test
    [0.662, 0.609, 1811, true], // valence dev
    [0.638, 0.601, 1819, true], // valence test
    [0.534, 0.509, 1811, false], // dominance dev
    [0.516, 0.511, 1819, false], // dominance test
  ];
  for (const [a, b, n, starred] of cells) {
    const { p } = zTestOneTailed(a, b, n);
    assert.equal(p < 0.05, starred, `${a} vs ${b}: p = ${p}`);
  }
  const { z, p } = zTestOneTailed(0.485, 0.451, 1819);
  const pooled = 0.468;
  assert.ok(Math.abs(z - 0.034 / Math.sqrt((2 * pooled * (1 - pooled)) / 1819)) < 1e-9);
  assert.ok(p > 0.015 && p < 0.025);
  assert.ok(zTestOneTailed(0.4, 0.5, 100).p > 0.5, "a worse system is not significant");
});

Deno.test("paired bootstrap: interval covers the observed difference, detects a real gap", () => {
  const n = 300;
  const truth = Array.from({ length: n }, (_, i) => i % 3);
  const good = truth.map((t, i) => (i % 10 < 8 ? t : (t + 1) % 3)); // 80 % right
  const bad = truth.map((t, i) => (i % 10 < 5 ? t : (t + 1) % 3)); // 50 % right
  const r = pairedBootstrap(truth, good, bad, 3, { resamples: 500, seed: 3 });
  assert.ok(Math.abs(r.difference - 0.3) < 1e-9);
  assert.ok(r.low > 0.2 && r.high < 0.4 && r.low < r.difference && r.difference < r.high);
  assert.ok(r.p < 0.01);
  const same = pairedBootstrap(truth, good, good, 3, { resamples: 200 });
  assert.equal(same.difference, 0);
  assert.equal(same.p, 1);
  const again = pairedBootstrap(truth, good, bad, 3, { resamples: 500, seed: 3 });
  assert.deepEqual(again, r, "deterministic from the seed");
});

Deno.test("paired bootstrap over seeds: the seed-averaged difference, on the same resamples", () => {
  const n = 200;
  const truth = Array.from({ length: n }, (_, i) => i % 2);
  const flip = (k: number) => truth.map((t, i) => (i % k === 0 ? 1 - t : t));
  const a1 = flip(4), a2 = flip(6), b1 = flip(2), b2 = flip(3);
  const opts = { resamples: 300, seed: 5 };
  const one = pairedBootstrap(truth, a1, b1, 2, opts);
  // One run each, given as lists, is the plain bootstrap.
  assert.deepEqual(pairedBootstrap(truth, [a1], [b1], 2, opts), one);
  // A run given twice changes nothing: every resample scores the same utterances.
  assert.deepEqual(pairedBootstrap(truth, [a1, a1], [b1, b1], 2, opts), one);
  const two = pairedBootstrap(truth, [a1, a2], [b1, b2], 2, opts);
  const u = (p: number[]) => uar(truth, p, 2);
  const expected = (u(a1) + u(a2)) / 2 - (u(b1) + u(b2)) / 2;
  assert.ok(Math.abs(two.difference - expected) < 1e-12, `${two.difference} vs ${expected}`);
  assert.ok(two.low < two.difference && two.difference < two.high);
  assert.notDeepEqual(two, one);
  assert.throws(() => pairedBootstrap(truth, [a1, a1.slice(1)], b1, 2), /199 predictions/);
});

Deno.test("mean ± sample standard deviation over seeds", () => {
  const r = meanStd([0.5, 0.6, 0.7]);
  assert.ok(Math.abs(r.mean - 0.6) < 1e-12);
  assert.ok(Math.abs(r.std - 0.1) < 1e-12);
  assert.deepEqual(meanStd([0.4]), { mean: 0.4, std: 0, n: 1 });
});
