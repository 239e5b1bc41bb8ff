/**
 * The webgpu CNN front-end (lib/model/frontend_webgpu.ts: WGSL programs of our own) on a real
 * WebGPU adapter — Mesa's lavapipe here, a GPU on a lent machine: its output and the gradients
 * of a scalar loss w.r.t. all four weights equal `naiveFrontEnd` (the paper's per-window
 * reference) on the cpu backend, and one forward and backward pass launches the same number
 * of dispatches at any number of windows.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import {
  fastFrontEnd,
  frontEnd,
  type FrontEndGeometry,
  type FrontEndWeights,
  naiveFrontEnd,
  samplesFor,
} from "../lib/model/frontend.ts";
import {
  computedPositions,
  frontEndWebGpu,
  setConv2Tiling,
  webgpuCheckpointWindows,
  webgpuWindowsPerCall,
} from "../lib/model/frontend_webgpu.ts";
import "../lib/model/model.ts"; // registers the gradients tfjs-core lacks under Deno
import { setOwnKernels } from "../lib/model/own_kernels.ts";
import { dispatchCount, installDispatchCounter } from "../lib/model/webgpu_dispatches.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";
import { maxAbs, maxAbsDiff, noise } from "./numeric.ts";

webgpuOrSkip("webgpu front-end");

type FrontEndFn = typeof naiveFrontEnd;

interface Case {
  b: number;
  windows: number;
  g: FrontEndGeometry;
}

/**
 * Output and gradients (w1, b1, w2, b2) of `sum(out ⊙ dy)` for `fn`. Weights scaled like
 * Glorot so both ReLUs pass about half their inputs; the biases are small and mixed in sign.
 */
async function outputsAndGrads(fn: FrontEndFn, c: Case): Promise<Float32Array[]> {
  const { b, windows, g } = c;
  const { kernel: k, filters: f } = g;
  const s = samplesFor(windows, g);
  const signal = tf.tensor2d(noise(b * s, 1), [b, s]);
  const ws = [
    tf.tensor3d(noise(k * f, 2, Math.sqrt(6 / (k + f))), [k, 1, f]),
    tf.tensor1d(noise(f, 3, 0.1)),
    tf.tensor3d(noise(k * f * f, 4, Math.sqrt(6 / (k * f + f))), [k, f, f]),
    tf.tensor1d(noise(f, 5, 0.1)),
  ];
  const dim = (g.windowSamples / g.pool) * (g.filters / g.channelPool);
  const dy = tf.tensor3d(noise(b * windows * dim, 6), [b, windows, dim]);
  const apply = (w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor, b2: tf.Tensor) =>
    fn(signal, windows, g, { w1, b1, w2, b2 } as FrontEndWeights);
  const value = apply(ws[0], ws[1], ws[2], ws[3]);
  const grads = tf.grads((w1, b1, w2, b2) => apply(w1, b1, w2, b2))(ws, dy);
  const out = await Promise.all([value, ...grads].map((t) => t.data() as Promise<Float32Array>));
  tf.dispose([signal, ...ws, dy, value, ...grads]);
  return out;
}

const NAMES = ["output", "dw1", "db1", "dw2", "db2"];

const SMALL: FrontEndGeometry = {
  windowSamples: 64,
  hopSamples: 16,
  kernel: 8,
  filters: 8,
  pool: 2,
  channelPool: 4,
};

/** The paper's geometry. */
const PAPER: FrontEndGeometry = {
  windowSamples: 640,
  hopSamples: 160,
  kernel: 40,
  filters: 40,
  pool: 2,
  channelPool: 10,
};

webgpuTest("webgpu front-end: output and weight gradients equal naiveFrontEnd on cpu", async () => {
  const cases: Case[] = [
    { b: 2, windows: 3, g: SMALL },
    // Odd kernel (symmetric padding), pool 3, one channel per group, hop not a multiple of
    // the pool: the programs assume none of the paper's coincidences.
    {
      b: 1,
      windows: 4,
      g: { windowSamples: 48, hopSamples: 13, kernel: 5, filters: 6, pool: 3, channelPool: 1 },
    },
    // Long windows: 2 windows per partial sum of the weight gradients (CHUNK 4096 / 2048
    // pooled positions), so 3 windows make two partial sums, the second one short.
    {
      b: 1,
      windows: 3,
      g: {
        windowSamples: 4096,
        hopSamples: 1000,
        kernel: 3,
        filters: 2,
        pool: 2,
        channelPool: 2,
      },
    },
    // Weights past one chunk of workgroup memory (K·F = 3,200 > 2,560): conv1's taps in two
    // chunks, the second short, and conv2's 64 channels in chunks of 5, the last short.
    {
      b: 1,
      windows: 3,
      g: { windowSamples: 128, hopSamples: 32, kernel: 50, filters: 64, pool: 2, channelPool: 8 },
    },
    // Tiny windows, many of them: 70,000 one-tile windows pass WebGPU's 65,535 workgroups per
    // dimension, so the tiled programs run on a two-dimensional grid.
    {
      b: 1,
      windows: 70000,
      g: { windowSamples: 8, hopSamples: 4, kernel: 3, filters: 2, pool: 2, channelPool: 1 },
    },
    // The paper's sizes, few windows (lavapipe is slow): all full (the last 3 of a row).
    { b: 1, windows: 2, g: PAPER },
    // Rows long enough that windows take their interior from their neighbours (frontend_
    // webgpu.ts's sharing): SMALL's windows 0–6 of 9 take [13, 26) from windows up to 2 ahead,
    // the paper's windows 0–4 of 8 take [109, 290) from windows up to 3 ahead.
    { b: 2, windows: 9, g: SMALL },
    { b: 2, windows: 8, g: PAPER },
  ];
  for (const c of cases) {
    await initBackend("cpu");
    const ref = await outputsAndGrads(naiveFrontEnd, c);
    await initBackend("webgpu");
    const ours = await outputsAndGrads(frontEndWebGpu, c);
    // What the model calls on webgpu routes to the same programs.
    const routed = await outputsAndGrads(fastFrontEnd, c);
    for (let i = 0; i < ref.length; i++) {
      const m = maxAbs(ref[i]);
      assert.ok(m > 0.01, `${NAMES[i]}: reference is not trivially zero`);
      const rel = maxAbsDiff(ref[i], ours[i]) / m;
      assert.ok(rel < 1e-4, `${NAMES[i]} at ${JSON.stringify(c)}: relative error ${rel}`);
      assert.deepEqual(routed[i], ours[i], `${NAMES[i]}: fastFrontEnd routes to webgpu`);
    }
  }
});

webgpuTest(
  "webgpu front-end: every conv2 register block gives naiveFrontEnd's values",
  async () => {
    // setConv2Tiling is for benchmarks comparing blocks on a GPU: each must compute the same.
    const cases: Case[] = [{ b: 2, windows: 9, g: SMALL }, { b: 1, windows: 6, g: PAPER }];
    await initBackend("cpu");
    const refs = [];
    for (const c of cases) refs.push(await outputsAndGrads(naiveFrontEnd, c));
    await initBackend("webgpu");
    for (const t of [{ pt: 8, nl: 8 }, { pt: 3, nl: 32 }, { pt: 1, nl: 16 }]) {
      const before = setConv2Tiling(t);
      try {
        for (const [k, c] of cases.entries()) {
          const ours = await outputsAndGrads(frontEndWebGpu, c);
          for (let i = 0; i < ours.length; i++) {
            const rel = maxAbsDiff(refs[k][i], ours[i]) / maxAbs(refs[k][i]);
            assert.ok(
              rel < 1e-4,
              `${NAMES[i]}, block ${JSON.stringify(t)}, ${JSON.stringify(c)}: ${rel}`,
            );
          }
        }
      } finally {
        setConv2Tiling(before);
      }
    }
    assert.throws(() => setConv2Tiling({ pt: 0, nl: 16 }), /pt must be/);
  },
);

webgpuTest(
  "webgpu front-end: frontEnd's checkpointed chunks (nested tf.grads) run it too",
  async () => {
    const c: Case = { b: 2, windows: 5, g: SMALL };
    // Chunks of 1 window per row, each recomputed in the backward pass.
    const chunked: FrontEndFn = (signal, windows, g, w) =>
      frontEnd(signal, windows, g, w, { checkpointAbove: 1, chunkWindows: 2 });
    await initBackend("cpu");
    const ref = await outputsAndGrads(naiveFrontEnd, c);
    await initBackend("webgpu");
    const ours = await outputsAndGrads(chunked, c);
    for (let i = 0; i < ref.length; i++) {
      const rel = maxAbsDiff(ref[i], ours[i]) / maxAbs(ref[i]);
      assert.ok(rel < 1e-4, `${NAMES[i]}, chunked: relative error ${rel}`);
    }
  },
);

webgpuTest(
  "webgpu front-end: a batch split only by the calls' size keeps its activations (no recompute)",
  async () => {
    const c: Case = { b: 2, windows: 7, g: SMALL };
    // Calls of at most 4 windows (2 per row), within the checkpoint threshold: 4 kept chunks.
    const kept: FrontEndFn = (signal, windows, g, w) =>
      frontEnd(signal, windows, g, w, { windowsPerCall: 4 });
    const recomputed: FrontEndFn = (signal, windows, g, w) =>
      frontEnd(signal, windows, g, w, { windowsPerCall: 4, checkpointAbove: 1 });
    await initBackend("cpu");
    const ref = await outputsAndGrads(naiveFrontEnd, c);
    await initBackend("webgpu");
    for (const [name, fn] of [["kept", kept], ["recomputed", recomputed]] as const) {
      const ours = await outputsAndGrads(fn, c);
      for (let i = 0; i < ref.length; i++) {
        const rel = maxAbsDiff(ref[i], ours[i]) / maxAbs(ref[i]);
        assert.ok(rel < 1e-4, `${NAMES[i]}, ${name} chunks: relative error ${rel}`);
      }
    }
    // Recomputing runs every chunk's forward programs again in the backward pass.
    assert.ok(installDispatchCounter());
    await frontEndDispatches(7, kept);
    await frontEndDispatches(7, recomputed);
    const nKept = await frontEndDispatches(7, kept);
    const nRecomputed = await frontEndDispatches(7, recomputed);
    const nOne = await frontEndDispatches(7);
    assert.ok(nKept < nRecomputed, `kept chunks ${nKept} vs recomputed ${nRecomputed}`);
    assert.ok(nKept > nOne, `4 calls (${nKept}) vs one piece (${nOne})`);
  },
);

/** Dispatches of one forward and backward pass (tf.grads: the four weight gradients). */
async function frontEndDispatches(
  windows: number,
  fn: FrontEndFn = fastFrontEnd,
): Promise<number> {
  const g = SMALL, b = 2;
  const s = samplesFor(windows, g);
  const signal = tf.tensor2d(noise(b * s, 1), [b, s]);
  const ws = [
    tf.tensor3d(noise(g.kernel * g.filters, 2, 0.5), [g.kernel, 1, g.filters]),
    tf.tensor1d(noise(g.filters, 3, 0.1)),
    tf.tensor3d(noise(g.kernel * g.filters ** 2, 4, 0.3), [g.kernel, g.filters, g.filters]),
    tf.tensor1d(noise(g.filters, 5, 0.1)),
  ];
  const dim = (g.windowSamples / g.pool) * (g.filters / g.channelPool);
  const dy = tf.tensor3d(noise(b * windows * dim, 6), [b, windows, dim]);
  const before = dispatchCount();
  const grads = tf.grads((w1, b1, w2, b2) =>
    fn(signal, windows, g, { w1, b1, w2, b2 } as FrontEndWeights)
  )(ws, dy);
  const n = dispatchCount() - before;
  await Promise.all(grads.map((t) => t.data()));
  tf.dispose([signal, ...ws, dy, ...grads]);
  return n;
}

webgpuTest(
  "webgpu front-end: a forward and backward pass costs the same dispatches at 3 and 12 " +
    "windows",
  async () => {
    await initBackend("webgpu");
    assert.ok(installDispatchCounter());
    await frontEndDispatches(3); // compiles the pipelines
    const short = await frontEndDispatches(3), long = await frontEndDispatches(12);
    assert.equal(long, short, `dispatches at 12 windows (${long}) vs 3 (${short})`);
    assert.ok(short > 0 && short <= 12, `a handful of dispatches: ${short}`);
    // tfjs's ops (own kernels off) cost more, so the count above is of our programs.
    setOwnKernels(false);
    try {
      const ops = await frontEndDispatches(3);
      assert.ok(ops > short * 3, `tfjs ops: ${ops} vs ${short}`);
    } finally {
      setOwnKernels(true);
    }
  },
);

webgpuTest(
  "webgpu front-end: frontEnd keeps a batch within the device's budget in one piece",
  async () => {
    await initBackend("webgpu");
    assert.ok(installDispatchCounter());
    // 2 × 1,600 windows: past the CPU backends' checkpointing threshold (3,072), within
    // webgpu's (webgpuCheckpointWindows) and the binding limit for this small geometry.
    const windows = 1600;
    assert.ok(2 * windows > 3072 && 2 * windows <= webgpuCheckpointWindows(SMALL));
    assert.ok(2 * windows <= webgpuWindowsPerCall(SMALL));
    const direct = await frontEndDispatches(windows, fastFrontEnd);
    const viaFrontEnd = await frontEndDispatches(windows, (s, w, g, ws) => frontEnd(s, w, g, ws));
    assert.equal(viaFrontEnd, direct, "no chunks, no recomputation");
    // The paper's geometry: 16 × 500 windows fit the budget (220 KB of buffers per window).
    assert.equal(webgpuCheckpointWindows(PAPER), 8192);
  },
);

Deno.test("webgpu front-end: which conv2 outputs a window computes itself", () => {
  // The paper's geometry: interior [29, 290) equals the row's conv2 output; a window computes
  // its edges and its own 80 positions [29, 109), and takes [109, 290) from the 3 windows after it.
  const own = computedPositions(PAPER, 0, 8);
  assert.equal(own.length, 29 + 80 + 30);
  assert.deepEqual([own[0], own[108], own[109]], [0, 108, 290]);
  assert.equal(computedPositions(PAPER, 4, 8).length, 139);
  for (const i of [5, 6, 7]) {
    assert.equal(computedPositions(PAPER, i, 8).length, 320, `window ${i}`);
  }
  // A hop that is not a multiple of the pool shares nothing.
  const odd = { ...PAPER, hopSamples: 161 };
  assert.equal(computedPositions(odd, 0, 8).length, 320);
});

Deno.test("webgpu front-end: windows per call follow the device's storage buffer binding limit", () => {
  // The paper's geometry: 320 pooled positions × 2·40 packed conv1 values × 4 bytes per window.
  assert.equal(webgpuWindowsPerCall(PAPER, 134217728), 1310); // WebGPU's default 128 MiB
  assert.equal(webgpuWindowsPerCall(PAPER, 2 ** 31 - 1), 20971); // a GPU's 2 GiB
  // One partial sum of dW2 and db2 (K·F·F + F = 64,040 values) is the floor: 2 windows fit.
  assert.equal(webgpuWindowsPerCall(PAPER, 64040 * 4), 2);
  assert.equal(webgpuWindowsPerCall(PAPER, 64040 * 4 - 1), 0);
});

webgpuTest(
  "webgpu front-end: a batch past the binding limit is split by frontEnd and refused unsplit",
  async () => {
    await initBackend("webgpu");
    // Long windows, few filters and a 1-tap kernel: large buffers per window for little
    // arithmetic, so the device's limit (lavapipe: 128 MiB, 512 windows here) is passed at a
    // few hundred windows.
    const g: FrontEndGeometry = {
      windowSamples: 4096,
      hopSamples: 4096,
      kernel: 1,
      filters: 8,
      pool: 1,
      channelPool: 2,
    };
    const most = webgpuWindowsPerCall(g);
    const windows = most + 100, half = Math.ceil(windows / 2);
    assert.ok(half <= most, `the halves fit (${most} windows per call)`);
    const signal = tf.tensor2d(noise(samplesFor(windows, g), 21, 0.5), [1, samplesFor(windows, g)]);
    const w: FrontEndWeights = {
      w1: tf.tensor3d(noise(g.filters, 22, 0.5), [1, 1, g.filters]),
      b1: tf.tensor1d(noise(g.filters, 23, 0.1)),
      w2: tf.tensor3d(noise(g.filters * g.filters, 24, 0.2), [1, g.filters, g.filters]),
      b2: tf.tensor1d(noise(g.filters, 25, 0.1)),
    };
    try {
      const whole = await frontEnd(signal, windows, g, w).data();
      // Reference: the two halves, each within the limit.
      const part = (a: number, n: number) =>
        fastFrontEnd(
          tf.slice(signal, [0, a * g.hopSamples], [1, samplesFor(n, g)]) as tf.Tensor2D,
          n,
          g,
          w,
        ).data();
      const first = await part(0, half), second = await part(half, windows - half);
      const ref = new Float32Array(whole.length);
      ref.set(first);
      ref.set(second, first.length);
      assert.ok(maxAbs(ref) > 0.01, "the reference is not zeros");
      assert.ok(maxAbsDiff(whole, ref) < 1e-5 * maxAbs(ref), "frontEnd equals its halves");
      // Unsplit, the programs would leave their work undone: refused with the reason instead.
      assert.throws(() => fastFrontEnd(signal, windows, g, w), /binding limit/);
    } finally {
      tf.dispose([signal, ...Object.values(w)]);
    }
  },
);
