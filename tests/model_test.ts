import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/model/backend.ts";
import {
  conv2dFilterGradNHWC,
  conv2dInputGradNHWC,
  convBiasRelu,
  convBiasReluPool,
  type PoolSizes,
} from "../lib/model/conv.ts";
import { setOwnKernels } from "../lib/model/own_kernels.ts";
import {
  fastFrontEnd,
  frontEnd,
  type FrontEndGeometry,
  type FrontEndWeights,
  naiveFrontEnd,
  samplesFor,
} from "../lib/model/frontend.ts";
import { defaultModelConfig, EmotionModel } from "../lib/model/model.ts";
import { gru, gruReference } from "../lib/model/gru.ts";
import { GradientWorkers } from "../lib/model/parallel.ts";
import type { ModelConfig, ModelInput } from "../lib/model/types.ts";
import { maxAbs, maxAbsDiff, noise } from "./numeric.ts";
import { webgpuOrSkip, webgpuTest } from "./webgpu_adapter.ts";

await initBackend("wasm");

const TASKS = [
  { name: "arousal", classes: ["low", "mid", "high"] },
  { name: "valence", classes: ["neg", "pos"] },
];
const PAPER_GEOMETRY: FrontEndGeometry = {
  windowSamples: 640,
  hopSamples: 160,
  kernel: 40,
  filters: 40,
  pool: 2,
  channelPool: 10,
};

/** A small config: paper CNN (or features), tiny GRU so tests stay fast. */
function smallConfig(
  tasks: typeof TASKS,
  pooling: "last" | "attention",
  raw: boolean,
): ModelConfig {
  return defaultModelConfig(tasks, {
    pooling,
    gru: { units: 8, layers: 2 },
    seed: 3,
    ...(raw ? {} : { input: { kind: "features", dim: 5 } }),
  });
}

function inputFor(
  config: ModelConfig,
  lengths: number[],
  windows: number,
  seed: number,
): ModelInput {
  const b = lengths.length;
  const base = { batchSize: b, windows, lengths: Int32Array.from(lengths) };
  if (config.input.kind === "raw") {
    return { ...base, signal: noise(b * samplesFor(windows, { ...PAPER_GEOMETRY }), seed) };
  }
  return { ...base, features: noise(b * windows * config.input.dim, seed) };
}

/** Copies row `r` of a raw/feature input into a batch of its own with `windows` windows. */
function rowAlone(config: ModelConfig, input: ModelInput, r: number): ModelInput {
  const len = input.lengths[r];
  if (config.input.kind === "raw") {
    const per = samplesFor(input.windows, PAPER_GEOMETRY);
    const own = samplesFor(len, PAPER_GEOMETRY);
    return {
      batchSize: 1,
      windows: len,
      lengths: Int32Array.of(len),
      signal: input.signal!.slice(r * per, r * per + own),
    };
  }
  const d = config.input.dim;
  return {
    batchSize: 1,
    windows: len,
    lengths: Int32Array.of(len),
    features: input.features!.slice(r * input.windows * d, (r * input.windows + len) * d),
  };
}

Deno.test("shapes of every variant: STL/MTL × last/attention × raw/features", () => {
  for (const tasks of [TASKS.slice(0, 1), TASKS]) {
    for (const pooling of ["last", "attention"] as const) {
      for (const raw of [true, false]) {
        const config = smallConfig(tasks, pooling, raw);
        const model = EmotionModel.create(config);
        const input = inputFor(config, [5, 3, 4], 5, 1);
        tf.tidy(() => {
          const out = model.apply(input, { training: true, dropoutSeed: 1 });
          assert.deepEqual(Object.keys(out.logits), tasks.map((t) => t.name));
          for (const t of tasks) assert.deepEqual(out.logits[t.name].shape, [3, t.classes.length]);
          if (pooling === "attention") {
            for (const t of tasks) assert.deepEqual(out.attention![t.name].shape, [3, 5]);
          } else {
            assert.equal(out.attention, undefined);
          }
        });
        const names = model.getWeights().map((w) => w.name);
        assert.equal(names.includes("conv1/kernel"), raw);
        assert.equal(
          names.filter((n) => n.endsWith("/attention")).length,
          pooling === "attention" ? tasks.length : 0,
        );
        model.dispose();
      }
    }
  }
});

Deno.test("padding never changes an utterance's outputs; attention sums to 1 over real windows", () => {
  for (const pooling of ["last", "attention"] as const) {
    for (const raw of [true, false]) {
      const config = smallConfig(TASKS, pooling, raw);
      const model = EmotionModel.create(config);
      // Padding filled with noise, not zeros: it must be ignored whatever it holds.
      const input = inputFor(config, [7, 3], 7, 11);
      tf.tidy(() => {
        const padded = model.apply(input, { training: false });
        for (let r = 0; r < 2; r++) {
          const alone = model.apply(rowAlone(config, input, r), { training: false });
          for (const t of TASKS) {
            const k = t.classes.length;
            const row = padded.logits[t.name].dataSync().slice(r * k, (r + 1) * k);
            assert.ok(maxAbsDiff(row, alone.logits[t.name].dataSync()) < 1e-5, `${pooling} ${raw}`);
          }
        }
        if (pooling === "attention") {
          for (const t of TASKS) {
            const a = padded.attention![t.name].arraySync();
            for (const [r, len] of [[0, 7], [1, 3]]) {
              const sum = a[r].slice(0, len).reduce((x, y) => x + y, 0);
              assert.ok(Math.abs(sum - 1) < 1e-5, `attention sums to ${sum}`);
              assert.ok(a[r].slice(0, len).every((v) => v > 0));
              assert.ok(a[r].slice(len).every((v) => v === 0), "attention on padding");
            }
          }
        }
      });
      model.dispose();
    }
  }
});

function randomFrontEndWeights(seed: number, k = 40, f = 40): FrontEndWeights {
  return {
    w1: tf.tensor3d(noise(k * f, seed, 0.15), [k, 1, f]),
    b1: tf.tensor1d(noise(f, seed + 1, 0.1)),
    w2: tf.tensor3d(noise(k * f * f, seed + 2, 0.03), [k, f, f]),
    b2: tf.tensor1d(noise(f, seed + 3, 0.1)),
  };
}

function frontEndGrads(
  fn: (w: FrontEndWeights) => tf.Tensor,
  w: FrontEndWeights,
  dy: tf.Tensor,
): { value: Float32Array; grads: Float32Array[] } {
  return tf.tidy(() => {
    const value = fn(w).dataSync() as Float32Array;
    const g = tf.grads((w1, b1, w2, b2) => fn({ w1, b1, w2, b2 } as FrontEndWeights))([
      w.w1,
      w.b1,
      w.w2,
      w.b2,
    ], dy);
    return { value, grads: g.map((t) => t.dataSync() as Float32Array) };
  });
}

Deno.test("fast front-end equals the naive per-window computation (values and gradients)", () => {
  const w = randomFrontEndWeights(5);
  const b = 2, windows = 9;
  const signal = tf.tensor2d(noise(b * samplesFor(windows, PAPER_GEOMETRY), 9), [
    b,
    samplesFor(windows, PAPER_GEOMETRY),
  ]);
  const dy = tf.tensor3d(noise(b * windows * 1280, 13), [b, windows, 1280]);
  const naive = frontEndGrads((ws) => naiveFrontEnd(signal, windows, PAPER_GEOMETRY, ws), w, dy);
  const fast = frontEndGrads((ws) => fastFrontEnd(signal, windows, PAPER_GEOMETRY, ws), w, dy);
  // Checkpointed/chunked computation (chunks of 2 windows per row) must agree as well.
  const chunked = frontEndGrads(
    (ws) => frontEnd(signal, windows, PAPER_GEOMETRY, ws, { checkpointAbove: 1, chunkWindows: 4 }),
    w,
    dy,
  );
  assert.ok(maxAbs(naive.value) > 0.1, "front-end output is not trivially zero");
  assert.ok(maxAbsDiff(naive.value, fast.value) < 1e-5, "fast values");
  assert.ok(maxAbsDiff(naive.value, chunked.value) < 1e-5, "chunked values");
  for (let i = 0; i < 4; i++) {
    const scale = Math.max(1, maxAbs(naive.grads[i]));
    assert.ok(maxAbsDiff(naive.grads[i], fast.grads[i]) / scale < 1e-4, `fast grad ${i}`);
    assert.ok(maxAbsDiff(naive.grads[i], chunked.grads[i]) / scale < 1e-4, `chunked grad ${i}`);
  }
  tf.dispose([signal, dy, w.w1, w.b1, w.w2, w.b2]);
});

Deno.test("fast front-end equals naive for 1–2 windows and for other geometries", () => {
  const geometries: FrontEndGeometry[] = [
    PAPER_GEOMETRY,
    { windowSamples: 64, hopSamples: 16, kernel: 9, filters: 8, pool: 2, channelPool: 4 },
    { windowSamples: 96, hopSamples: 24, kernel: 6, filters: 6, pool: 3, channelPool: 3 },
  ];
  for (const g of geometries) {
    for (const windows of [1, 2, 6]) {
      const w = randomFrontEndWeights(7, g.kernel, g.filters);
      const s = samplesFor(windows, g);
      const signal = tf.tensor2d(noise(s, windows), [1, s]);
      const dim = (g.windowSamples / g.pool) * (g.filters / g.channelPool);
      const dy = tf.tensor3d(noise(windows * dim, 3), [1, windows, dim]);
      const naive = frontEndGrads((ws) => naiveFrontEnd(signal, windows, g, ws), w, dy);
      const fast = frontEndGrads((ws) => fastFrontEnd(signal, windows, g, ws), w, dy);
      const label = `kernel ${g.kernel}, ${windows} windows`;
      assert.ok(maxAbsDiff(naive.value, fast.value) < 1e-5, label);
      for (let i = 0; i < 4; i++) {
        const scale = Math.max(1, maxAbs(naive.grads[i]));
        assert.ok(maxAbsDiff(naive.grads[i], fast.grads[i]) / scale < 1e-4, `${label} grad ${i}`);
      }
      tf.dispose([signal, dy, w.w1, w.b1, w.w2, w.b2]);
    }
  }
});

Deno.test("wasm Slice/Unpack/SplitV replacements agree with the cpu backend", async () => {
  const shape = [3, 4, 5, 6];
  const data = noise(3 * 4 * 5 * 6, 31);
  const cases: [number[], number[]][] = [
    [[0, 0, 0, 0], [3, 4, 5, 6]],
    [[1, 0, 0, 0], [2, 4, 5, 6]],
    [[0, 1, 2, 3], [3, 2, 3, 2]],
    [[2, 3, 0, 0], [1, 1, 5, 6]],
    [[0, 0, 4, 0], [3, 4, 1, 6]],
  ];
  const run = () =>
    tf.tidy(() => {
      const x = tf.tensor4d(data, shape as [number, number, number, number]);
      const xi = tf.cast(tf.mul(x, 100), "int32");
      const out: number[][] = [];
      for (const [b, s] of cases) {
        out.push([...tf.slice(x, b, s).dataSync()], [...tf.slice(xi, b, s).dataSync()]);
      }
      for (const t of tf.unstack(x, 2)) out.push([...t.dataSync()]);
      for (const t of tf.split(x, [1, 3, 2], 3)) out.push([...t.dataSync()]);
      return out;
    });
  const ours = run();
  await initBackend("cpu");
  try {
    assert.deepEqual(ours, run());
  } finally {
    await initBackend("wasm");
  }
});

Deno.test("hand-written GRU backward (own kernels and tfjs ops) equals autodiff of the reference GRU", () => {
  const b = 3, nw = 6, d = 5, u = 4;
  const args = [
    tf.tensor3d(noise(b * nw * d, 1), [b, nw, d]),
    tf.tensor2d(noise(d * 3 * u, 2, 0.5), [d, 3 * u]),
    tf.tensor2d(noise(u * 3 * u, 3, 0.5), [u, 3 * u]),
    tf.tensor1d(noise(3 * u, 4, 0.3)),
  ] as const;
  const dy = tf.tensor3d(noise(b * nw * u, 5), [b, nw, u]);
  const run = (fn: typeof gru) =>
    tf.tidy(() => {
      const value = fn(...args).dataSync();
      const g = tf.grads((x, k, r, bb) =>
        fn(x as tf.Tensor3D, k as tf.Tensor2D, r as tf.Tensor2D, bb as tf.Tensor1D)
      )([...args], dy);
      return [value, ...g.map((t) => t.dataSync())];
    });
  const ref = run(gruReference), ours = run(gru); // ours: the recurrence on our own GEMM
  setOwnKernels(false);
  const tfOps = run(gru); // the same backward pass in tfjs ops
  setOwnKernels(true);
  for (let i = 0; i < ref.length; i++) {
    assert.ok(maxAbs(ref[i]) > 0.01, `reference ${i} is not trivially zero`);
    assert.ok(maxAbsDiff(ref[i], ours[i]) < 1e-5, `output/gradient ${i}`);
    assert.ok(maxAbsDiff(ref[i], tfOps[i]) < 1e-5, `output/gradient ${i} (tfjs ops)`);
  }
  tf.dispose([...args, dy]);
});

Deno.test("naive front-end equals tf.conv1d 'same' per window on the cpu backend", async () => {
  const w = randomFrontEndWeights(21);
  const windows = 3;
  const s = noise(samplesFor(windows, PAPER_GEOMETRY), 17);
  const ours = tf.tidy(() =>
    naiveFrontEnd(tf.tensor2d(s, [1, s.length]), windows, PAPER_GEOMETRY, w).dataSync()
  );
  const wData = [w.w1, w.b1, w.w2, w.b2].map((t) => t.dataSync());
  await initBackend("cpu");
  try {
    const ref = tf.tidy(() => {
      const [w1, b1, w2, b2] = [
        tf.tensor3d(wData[0], [40, 1, 40]),
        tf.tensor1d(wData[1]),
        tf.tensor3d(wData[2], [40, 40, 40]),
        tf.tensor1d(wData[3]),
      ];
      const out: number[] = [];
      for (let i = 0; i < windows; i++) {
        const x = tf.tensor3d(s.slice(160 * i, 160 * i + 640), [1, 640, 1]);
        const c1 = tf.relu(tf.add(tf.conv1d(x, w1, 1, "same"), b1));
        const p1 = tf.max(tf.reshape(c1, [1, 320, 2, 40]), 2) as tf.Tensor3D;
        const c2 = tf.relu(tf.add(tf.conv1d(p1, w2, 1, "same"), b2));
        out.push(...tf.max(tf.reshape(c2, [320, 4, 10]), 2).dataSync());
      }
      return out;
    });
    assert.ok(maxAbsDiff(ours, ref) < 1e-5);
  } finally {
    await initBackend("wasm");
  }
  tf.dispose([w.w1, w.b1, w.w2, w.b2]);
});

async function checkConvGradients(cin: number) {
  const n = 3, len = 50, cout = 5, k = 7, pb = 3, pa = 2;
  const lout = len + pb + pa - k + 1;
  const xs = noise(n * len * cin, 1), ws = noise(k * cin * cout, 2, 0.5);
  const bs = noise(cout, 3, 0.2), dys = noise(n * lout * cout, 4);
  // wasm: our fused layer's gradients and the registered Conv2D gradient functions.
  const ours = tf.tidy(() => {
    const x = tf.tensor3d(xs, [n, len, cin]), w = tf.tensor3d(ws, [k, cin, cout]);
    const g = tf.grads((a, b, c) =>
      convBiasRelu(a as tf.Tensor3D, b as tf.Tensor3D, c as tf.Tensor1D, pb, pa)
    )([x, w, tf.tensor1d(bs)], tf.tensor3d(dys, [n, lout, cout]));
    const x4 = tf.reshape(x, [n, 1, len, cin]) as tf.Tensor4D;
    const w4 = tf.reshape(w, [1, k, cin, cout]) as tf.Tensor4D;
    const dy4 = tf.tensor4d(dys, [n, 1, lout, cout]);
    const attrs = { strides: 1, dilations: 1, dataFormat: "NHWC", pad: "explicit" };
    const plain = [
      conv2dInputGradNHWC(tf.pad(x4, [[0, 0], [0, 0], [pb, pa], [0, 0]]), w4, dy4, attrs),
      conv2dFilterGradNHWC(tf.pad(x4, [[0, 0], [0, 0], [pb, pa], [0, 0]]), w4, dy4, attrs),
    ];
    return [...g, ...plain].map((t) => t.dataSync());
  });
  await initBackend("cpu");
  try {
    const ref = tf.tidy(() => {
      const x = tf.tensor4d(xs, [n, 1, len, cin]), w = tf.tensor4d(ws, [1, k, cin, cout]);
      const conv = { strides: [1, 1], dilations: [1, 1], dataFormat: "NHWC" };
      const pad = [[0, 0], [0, 0], [pb, pa], [0, 0]];
      const y = tf.relu(
        tf.add(
          tf.conv2d(x, w, 1, pad as [[0, 0], [0, 0], [number, number], [0, 0]]),
          tf.tensor1d(bs),
        ),
      );
      const dpre = tf.mul(tf.tensor4d(dys, [n, 1, lout, cout]), tf.step(y));
      const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: object) =>
        tf.engine().runKernel(
          name,
          inputs as tf.NamedTensorMap,
          attrs as tf.NamedAttrMap,
        ) as tf.Tensor;
      const dx = run("Conv2DBackpropInput", { dy: dpre, filter: w }, {
        ...conv,
        pad,
        inputShape: [n, 1, len, cin],
      });
      const dw = run("Conv2DBackpropFilter", { x, dy: dpre }, {
        ...conv,
        pad,
        filterShape: [1, k, cin, cout],
      });
      const db = tf.sum(dpre, [0, 1, 2]);
      // Unfused layer (unpadded input positions only) and plain conv on the padded input.
      const xp = tf.pad(x, pad as [number, number][]);
      const dyPlain = tf.tensor4d(dys, [n, 1, lout, cout]);
      const dxPlain = run("Conv2DBackpropInput", { dy: dyPlain, filter: w }, {
        ...conv,
        pad: "valid",
        inputShape: xp.shape,
      });
      const dwPlain = run("Conv2DBackpropFilter", { x: xp, dy: dyPlain }, {
        ...conv,
        pad: "valid",
        filterShape: [1, k, cin, cout],
      });
      return [dx, dw, db, dxPlain, dwPlain].map((t) => t.dataSync());
    });
    for (let i = 0; i < ref.length; i++) {
      const scale = Math.max(1, maxAbs(ref[i]));
      assert.ok(maxAbs(ref[i]) > 0.05, `reference ${i} is not trivially zero`);
      assert.ok(maxAbsDiff(ours[i], ref[i]) / scale < 1e-5, `gradient ${i}`);
    }
  } finally {
    await initBackend("wasm");
  }
}

Deno.test("supplied conv gradients on wasm match the cpu backend's Conv2DBackprop kernels", async () => {
  await checkConvGradients(4); // Winograd on our own GEMM, the default for cin > 1
  await checkConvGradients(1); // conv1's single input channel: our GEMM directly
  setOwnKernels(false);
  try {
    await checkConvGradients(4); // XNNPACK's convolutions
    await checkConvGradients(1); // conv1 on XNNPACK takes a separate matmul route
  } finally {
    setOwnKernels(true);
  }
});

Deno.test("fused conv + bias + ReLU + max-pool (own kernels) equals tfjs's ops, values and gradients", () => {
  const x = tf.randomUniform([3, 24, 8], -1, 1, "float32", 3) as tf.Tensor3D;
  const w = tf.randomUniform([5, 8, 8], -0.4, 0.4, "float32", 4) as tf.Tensor3D;
  const b = tf.randomUniform([8], -0.2, 0.2, "float32", 5) as tf.Tensor1D;
  const pools: PoolSizes[] = [{ time: 2 }, { channels: 4 }, { time: 2, channels: 2 }, {}];
  for (const pool of pools) {
    const run = () =>
      tf.tidy(() => {
        const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => {
          const y = convBiasReluPool(
            xx as tf.Tensor3D,
            ww as tf.Tensor3D,
            bb as tf.Tensor1D,
            2,
            2,
            true,
            pool,
          );
          // A weighted sum, so that every output's gradient differs.
          return tf.sum(tf.mul(y, tf.reshape(tf.range(1, y.size + 1), y.shape)));
        };
        const grads = tf.grads(f)([x, w, b]);
        return [f(x, w, b), ...grads].map((t) => (t.dataSync() as Float32Array).slice());
      });
    const own = run();
    setOwnKernels(false);
    let ref: Float32Array[];
    try {
      ref = run();
    } finally {
      setOwnKernels(true);
    }
    own.forEach((got, i) => {
      let scale = 0, err = 0;
      for (let j = 0; j < got.length; j++) {
        scale = Math.max(scale, Math.abs(ref[i][j]));
        err = Math.max(err, Math.abs(got[j] - ref[i][j]));
      }
      assert.ok(
        scale > 0 && err <= 1e-4 * scale,
        `${JSON.stringify(pool)} output ${i}: ${err} of ${scale}`,
      );
    });
  }
  tf.dispose([x, w, b]);
});

Deno.test("same seed gives identical initial weights on cpu and wasm; another seed differs", async () => {
  const config = smallConfig(TASKS, "attention", true);
  const read = (m: EmotionModel) => m.getWeights().map((w) => [w.name, w.tensor.dataSync()]);
  const onWasm = EmotionModel.create(config);
  const wasmWeights = read(onWasm);
  const other = EmotionModel.create({ ...config, seed: 4 });
  assert.notDeepEqual(read(other)[0][1], wasmWeights[0][1]);
  await initBackend("cpu");
  try {
    const onCpu = EmotionModel.create(config);
    assert.deepEqual(read(onCpu), wasmWeights);
    onCpu.dispose();
  } finally {
    await initBackend("wasm");
  }
  onWasm.dispose();
  other.dispose();
});

Deno.test("row-group recomputation for large batches gives the same outputs and gradients", () => {
  for (const pooling of ["last", "attention"] as const) {
    const config = { ...smallConfig(TASKS, pooling, true), dropoutKeep: 1 };
    const model = EmotionModel.create(config);
    const input = inputFor(config, [5, 2, 4, 5], 5, 41);
    const run = (maxWindows: number) =>
      tf.tidy(() => {
        model.maxWindowsPerPass = maxWindows;
        const out = model.apply(input, { training: true });
        const outs = [...Object.values(out.logits), ...Object.values(out.attention ?? {})];
        const { value, grads } = tf.variableGrads(() => {
          const o = model.apply(input, { training: true });
          return tf.addN(
            Object.values(o.logits).map((l, i) => tf.sum(tf.mul(l, i + 1))),
          ) as tf.Scalar;
        }, model.trainableVariables());
        return [
          value.dataSync(),
          ...outs.map((t) => t.dataSync()),
          ...model.trainableVariables().map((v) => grads[v.name].dataSync()),
        ];
      });
    const before = tf.memory().numTensors;
    const whole = run(1e9), grouped = run(8); // 8 windows: groups [0,1) [1,3) [3,4)…
    assert.equal(tf.memory().numTensors, before, "no tensors leak");
    assert.equal(whole.length, grouped.length);
    for (let i = 0; i < whole.length; i++) {
      const scale = Math.max(1, maxAbs(whole[i]));
      assert.ok(maxAbsDiff(whole[i], grouped[i]) / scale < 1e-4, `${pooling} tensor ${i}`);
    }
    model.dispose();
  }
});

Deno.test("setWeights round-trips and rejects wrong names or shapes", () => {
  const config = smallConfig(TASKS, "last", false);
  const a = EmotionModel.create(config), b = EmotionModel.create({ ...config, seed: 99 });
  b.setWeights(a.getWeights());
  for (const [i, w] of b.getWeights().entries()) {
    assert.deepEqual(w.tensor.dataSync(), a.getWeights()[i].tensor.dataSync());
  }
  const bad = a.getWeights().slice(1);
  assert.throws(() => b.setWeights(bad), /missing 'gru1\/kernel'/);
  a.dispose();
  b.dispose();
});

Deno.test("bad input gets a clear error", () => {
  const model = EmotionModel.create(smallConfig(TASKS, "last", true));
  const input = inputFor(model.config, [3], 3, 1);
  assert.throws(
    () => model.apply({ ...input, signal: input.signal!.slice(1) }, { training: false }),
    /signal has 959 samples, expected 960/,
  );
  assert.throws(
    () => model.apply({ ...input, lengths: Int32Array.of(4) }, { training: false }),
    /length 4 outside \[1, 3\]/,
  );
  model.dispose();
});

Deno.test("a 3,500-window utterance trains on wasm without running out of memory", () => {
  // Paper CNN (the memory hog) with a tiny GRU to keep the test short.
  const config = defaultModelConfig(TASKS.slice(0, 1), {
    gru: { units: 4, layers: 1 },
    pooling: "attention",
  });
  const model = EmotionModel.create(config);
  const windows = 3500;
  const input: ModelInput = {
    batchSize: 1,
    windows,
    lengths: Int32Array.of(windows),
    signal: noise(samplesFor(windows, PAPER_GEOMETRY), 5),
  };
  const before = tf.memory().numTensors;
  const grads = tf.tidy(() => {
    const { grads } = tf.variableGrads(() =>
      tf.sum(model.apply(input, { training: true, dropoutSeed: 1 }).logits.arousal) as tf.Scalar
    );
    return Object.values(grads).map((g) => g.dataSync());
  });
  assert.ok(grads.every((g) => g.every(Number.isFinite)));
  assert.ok(maxAbs(grads[2]) > 0, "conv2 kernel gets a gradient");
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
  console.log(`wasm heap after 1 × ${windows} windows: ${(heap / 2 ** 20).toFixed(0)} MiB`);
  assert.ok(heap < 3 * 2 ** 30, "wasm heap stays well under 4 GiB");
  model.dispose();
});

Deno.test("data-parallel gradient workers sum to the single-engine gradient", async () => {
  const config = { ...smallConfig(TASKS, "attention", true), dropoutKeep: 1 };
  const input = inputFor(config, [4, 2, 3], 4, 21);
  const labels = { arousal: Int32Array.of(0, 2, 1), valence: Int32Array.of(1, -1, 0) };
  const rowWeights = {
    arousal: new Float32Array(3).fill(1 / 3),
    valence: Float32Array.of(0.5, 0, 0.5),
  };
  const model = EmotionModel.create(config);
  const { value, grads } = tf.variableGrads(() => {
    const out = model.apply(input, { training: true });
    const terms = TASKS.map((t) => {
      const y = tf.oneHot(
        tf.tensor1d(Int32Array.from(labels[t.name as "arousal"], (v) => Math.max(v, 0)), "int32"),
        t.classes.length,
      );
      const nll = tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(out.logits[t.name])), 1));
      return tf.sum(tf.mul(nll, tf.tensor1d(rowWeights[t.name as "arousal"])));
    });
    return tf.addN(terms) as tf.Scalar;
  }, model.trainableVariables());
  const ref = model.trainableVariables().map((v) => grads[v.name].dataSync());
  const refLoss = value.dataSync()[0];
  const pool = await GradientWorkers.create(config, 2, "wasm");
  try {
    const weights = model.trainableVariables().map((v) => v.dataSync() as Float32Array);
    const res = await pool.gradients(config, weights, input, labels, rowWeights, 1);
    assert.ok(Math.abs(res.loss - refLoss) < 1e-5);
    for (let i = 0; i < ref.length; i++) {
      assert.ok(maxAbsDiff(res.grads[i], ref[i]) / Math.max(1, maxAbs(ref[i])) < 1e-4, `${i}`);
    }
  } finally {
    pool.dispose();
    tf.dispose([value, ...Object.values(grads)]);
    model.dispose();
  }
});

webgpuOrSkip("webgpu model output");

webgpuTest("webgpu gives the same forward outputs as cpu on a small model", async () => {
  const config = smallConfig(TASKS, "attention", true);
  const input = inputFor(config, [4, 2], 4, 8);
  const run = async () => {
    const m = EmotionModel.create(config);
    const out = m.apply(input, { training: false });
    const v = await Promise.all([...Object.values(out.logits), ...Object.values(out.attention!)]
      .map((t) => t.data()));
    tf.dispose([...Object.values(out.logits), ...Object.values(out.attention!)]);
    m.dispose();
    return v;
  };
  await initBackend("cpu");
  const ref = await run();
  const info = await initBackend("webgpu");
  assert.match(info.device, /^webgpu/);
  const gpu = await run();
  for (let i = 0; i < ref.length; i++) assert.ok(maxAbsDiff(ref[i], gpu[i]) < 1e-4);
});
