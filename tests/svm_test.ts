import assert from "node:assert/strict";
import { loadCorpus, type TaskSpec, type Utterance } from "../lib/corpus/mod.ts";
import { uar } from "../lib/training/metrics.ts";
import {
  formatFeatureCsv,
  parseFeatureCsv,
  readFeatureCsv,
} from "../lib/baselines/features_csv.ts";
import { standardiseGlobal, standardisePerSpeaker } from "../lib/baselines/standardise.ts";
import { trainLinearSvm } from "../lib/baselines/svm.ts";
import { runSvmBaseline, type SvmTrainEvent } from "../lib/baselines/svm_baseline.ts";
import { Random } from "../lib/util/random.ts";

/**
 * The toolkit's seeded generator with a one-value Box–Muller (the sine half is dropped, unlike
 * `Random.gauss`, so the synthetic data stay those the expected results were measured on).
 */
function rng(seed: number) {
  const random = new Random(seed);
  const uniform = () => random.next();
  const normal = () => {
    const u = Math.max(uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform());
  };
  return { uniform, normal };
}

/**
 * Gaussian classes around the given centres, per speaker with a speaker-specific offset and
 * gain (what per-speaker standardisation is meant to remove).
 */
function synthCorpus(opts: {
  seed: number;
  speakers: string[];
  perClass: number;
  centres: number[][];
  noise: number;
  speakerShift?: number;
}) {
  const r = rng(opts.seed);
  const d = opts.centres[0].length;
  const utterances: Utterance[] = [];
  const features = new Map<string, Float64Array>();
  for (const spk of opts.speakers) {
    const offset = Array.from({ length: d }, () => (opts.speakerShift ?? 0) * r.normal());
    const gain = 1 + 0.5 * r.uniform();
    opts.centres.forEach((centre, cls) => {
      for (let n = 0; n < opts.perClass; n++) {
        const id = `${spk}_${cls}_${n}`;
        const v = Float64Array.from(
          centre,
          (c, j) => gain * (c + opts.noise * r.normal()) + offset[j],
        );
        features.set(id, v);
        utterances.push({ id, path: `${id}.wav`, speaker: spk, labels: { cls } });
      }
    });
  }
  const task: TaskSpec = { name: "cls", classes: opts.centres.map((_, i) => `c${i}`) };
  return { utterances, features, task };
}

Deno.test("linear SVM separates a separable 3-class problem, deterministically", async () => {
  const centres = [[0, 0, 0, 0], [4, 0, 0, 4], [0, 4, 4, 0]];
  const train = synthCorpus({ seed: 1, speakers: ["a"], perClass: 20, centres, noise: 0.4 });
  const test = synthCorpus({ seed: 2, speakers: ["a"], perClass: 10, centres, noise: 0.4 });
  const rows = (c: typeof train) => c.utterances.map((u) => c.features.get(u.id)!);
  const ys = (c: typeof train) => c.utterances.map((u) => u.labels.cls);
  const model = await trainLinearSvm(rows(train), ys(train), { c: 1 });
  try {
    assert.deepEqual(model.classes, [0, 1, 2]);
    assert.deepEqual(Array.from(model.predict(rows(train))), ys(train));
    assert.deepEqual(Array.from(model.predict(rows(test))), ys(test));
  } finally {
    model.free();
  }
  // Same data in a different order: same predictions (libsvm has no randomness here, and the
  // rows are presented to it grouped by label).
  const perm = rows(train).map((_, i) => i).reverse();
  const again = await trainLinearSvm(
    perm.map((i) => rows(train)[i]),
    perm.map((i) => ys(train)[i]),
    {
      c: 1,
    },
  );
  try {
    assert.deepEqual(Array.from(again.predict(rows(test))), ys(test));
  } finally {
    again.free();
  }
  assert.throws(() => model.predict(rows(test)), /freed/);
  // The asm.js build (fallback for runtimes without WebAssembly) loads and agrees.
  const asm = await trainLinearSvm(rows(train), ys(train), { c: 1, build: "asm" });
  try {
    assert.deepEqual(Array.from(asm.predict(rows(test))), ys(test));
  } finally {
    asm.free();
  }
});

Deno.test("linear SVM: single-class training and bad input", async () => {
  const one = await trainLinearSvm([[0, 1], [1, 0]], [2, 2], { c: 1 });
  assert.deepEqual(Array.from(one.predict([[5, 5]])), [2]);
  await assert.rejects(() => trainLinearSvm([[0, 1], [1]], [0, 1], { c: 1 }), /row 1 has 1/);
  await assert.rejects(() => trainLinearSvm([[0, NaN]], [0], { c: 1 }), /NaN/);
  await assert.rejects(() => trainLinearSvm([[0, 1]], [0], { c: 0 }), /C must be > 0/);
});

Deno.test("per-speaker standardisation: every speaker has mean 0 / std 1; constants become 0", () => {
  const { utterances, features } = synthCorpus({
    seed: 3,
    speakers: ["s1", "s2", "s3"],
    perClass: 7,
    centres: [[0, 0, 5], [2, 1, 5]],
    noise: 1,
    speakerShift: 10,
  });
  // Feature 3 is constant within each speaker (but differs between speakers).
  const rows = utterances.map((u) => [...features.get(u.id)!, u.speaker.length * 100 + 7]);
  const speakers = utterances.map((u) => u.speaker);
  const out = standardisePerSpeaker(rows, speakers);
  for (const spk of new Set(speakers)) {
    const idx = speakers.flatMap((s, i) => (s === spk ? [i] : []));
    for (let j = 0; j < 3; j++) {
      const xs = idx.map((i) => out[i][j]);
      const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
      const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length);
      assert.ok(Math.abs(mean) < 1e-12, `speaker ${spk} feature ${j}: mean ${mean}`);
      assert.ok(Math.abs(sd - 1) < 1e-12, `speaker ${spk} feature ${j}: std ${sd}`);
    }
    for (const i of idx) assert.equal(out[i][3], 0);
  }
});

Deno.test("global standardisation uses only the rows it is fitted on", () => {
  const rows = [[1, 10], [3, 10], [100, -5]];
  const a = standardiseGlobal(rows, [0, 1]);
  assert.deepEqual(Array.from(a[0]), [-1, 0]);
  assert.deepEqual(Array.from(a[1]), [1, 0]);
  assert.deepEqual(Array.from(a[2]), [98, -15]);
  // Changing the row that is not fitted on must not change the others.
  const b = standardiseGlobal([rows[0], rows[1], [-7, 3]], [0, 1]);
  assert.deepEqual(Array.from(b[0]), Array.from(a[0]));
});

Deno.test("LOSO never trains on the held-out speaker (outer and inner folds)", async () => {
  const speakers = ["s1", "s2", "s3", "s4"];
  const { utterances, features, task } = synthCorpus({
    seed: 4,
    speakers,
    perClass: 6,
    centres: [[0, 0], [3, 0], [0, 3]],
    noise: 0.8,
    speakerShift: 1,
  });
  // One utterance without a label: it must be neither trained on nor predicted.
  utterances[0] = { ...utterances[0], labels: {} };
  const speakerOf = new Map(utterances.map((u) => [u.id, u.speaker]));
  const events: SvmTrainEvent[] = [];
  const uars: Record<string, number> = {};
  for (const featureNorm of ["speaker", "global"] as const) {
    events.length = 0;
    const r = await runSvmBaseline({
      features,
      utterances,
      tasks: [task],
      protocol: "loso",
      featureNorm,
      cGrid: [0.01, 1],
      onTrain: (e) => events.push(e),
    });
    const res = r.tasks.cls;
    assert.deepEqual(res.folds.map((f) => f.speaker), speakers);
    // 4 outer folds × (3 inner folds × 2 C + 1 final model).
    assert.equal(events.length, 4 * (3 * 2 + 1));
    for (const e of events) {
      const held = e.fold.match(/^loso:([^/]+)/)![1];
      for (const id of e.trainIds) {
        assert.notEqual(speakerOf.get(id), held, `${e.fold} trained on ${id}`);
        assert.notEqual(id, utterances[0].id);
      }
      for (const id of e.evalIds) {
        const isOuter = !e.fold.includes("/inner:");
        if (isOuter) assert.equal(speakerOf.get(id), held);
        else assert.notEqual(speakerOf.get(id), held);
      }
    }
    assert.equal(res.predictions.size, utterances.length - 1);
    assert.ok(!res.predictions.has(utterances[0].id));
    const ids = [...res.predictions.keys()];
    const truth = ids.map((id) => utterances.find((u) => u.id === id)!.labels.cls);
    const pred = ids.map((id) => res.predictions.get(id)!);
    assert.ok(Math.abs(res.uar - uar(truth, pred, 3)) < 1e-12);
    assert.equal(res.confusion.flat().reduce((a, b) => a + b, 0), ids.length);
    uars[featureNorm] = res.uar;
  }
  // Measured 0.958 (speaker) vs 0.788 (global): the speakers' offsets and gains are what
  // per-speaker standardisation removes.
  assert.ok(uars.speaker > 0.85, `per-speaker LOSO UAR ${uars.speaker}`);
  assert.ok(uars.speaker > uars.global, `speaker ${uars.speaker} vs global ${uars.global}`);
});

/**
 * Two imbalanced classes separated along one of 40 dimensions, with only 30 training rows: a
 * tiny C predicts the majority class (dev UAR 0.5) and a large C fits the noise dimensions, so
 * the dev UAR varies over the grid.
 */
function splitCorpus(seed: number) {
  const r = rng(seed);
  const utterances: Utterance[] = [];
  const features = new Map<string, Float64Array>();
  const truth = new Map<string, number>();
  ["train", "dev", "test"].forEach((partition, p) => {
    for (let n = 0; n < (partition === "train" ? 30 : 60); n++) {
      const cls = n % 3 === 0 ? 1 : 0;
      const id = `${partition}${n}`;
      features.set(
        id,
        Float64Array.from({ length: 40 }, (_, j) => (j === 0 ? 2 * cls : 0) + r.normal()),
      );
      utterances.push({ id, path: "", speaker: `spk${p}`, partition, labels: { y: cls } });
      truth.set(id, cls);
    }
  });
  return { utterances, features, truth, task: { name: "y", classes: ["neg", "pos"] } };
}

Deno.test("split protocol: C is the grid value with the best dev UAR (ties: smaller C)", async () => {
  const grid = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100];
  // Seed 5: measured a strict maximum inside the grid (0.6 at C = 0.1, 0.575 above it);
  // seed 6: a tie of 0.712 from C = 0.1 up to 100.
  for (const seed of [5, 6]) {
    const { utterances, features, truth, task } = splitCorpus(seed);
    const res = (
      await runSvmBaseline({
        features,
        utterances,
        tasks: [task],
        protocol: "split",
        cGrid: [...grid].reverse(),
      })
    ).tasks.y;
    // Dev UAR of every C, measured independently with fixed-C runs.
    const devUars: number[] = [];
    for (const c of grid) {
      const fixed = (
        await runSvmBaseline({ features, utterances, tasks: [task], protocol: "split", c })
      ).tasks.y;
      devUars.push(fixed.devUar);
    }
    assert.deepEqual(res.cScores.map((s) => s.c), grid);
    assert.deepEqual(res.cScores.map((s) => s.uar), devUars);
    const best = Math.max(...devUars);
    const first = devUars.indexOf(best);
    if (seed === 5) {
      assert.ok(first > 0 && first < grid.length - 1 && devUars.lastIndexOf(best) === first);
    } else {
      assert.ok(devUars.lastIndexOf(best) > first, `seed 6 should tie: ${devUars}`);
    }
    assert.equal(res.c, grid[first]);
    assert.equal(res.devUar, best);
    const devIds = [...res.devPredictions.keys()];
    const devUar = uar(
      devIds.map((id) => truth.get(id)!),
      devIds.map((id) => res.devPredictions.get(id)!),
      2,
    );
    assert.ok(Math.abs(devUar - best) < 1e-12);
    assert.equal(res.predictions.size, 60);
    assert.ok([...res.predictions.keys()].every((id) => id.startsWith("test")));
  }
});

Deno.test("runSvmBaseline reports bad input clearly", async () => {
  const utterances: Utterance[] = [
    { id: "a", path: "", speaker: "s1", labels: { y: 0 } },
    { id: "b", path: "", speaker: "s2", labels: { y: 1 } },
  ];
  const task: TaskSpec = { name: "y", classes: ["n", "p"] };
  const features = new Map([["a", Float64Array.of(1, 2)]]);
  await assert.rejects(
    () => runSvmBaseline({ features, utterances, tasks: [task], protocol: "loso", c: 1 }),
    /no features for 1 of 2 utterances \(e\.g\. b\)/,
  );
  features.set("b", Float64Array.of(1, Infinity));
  await assert.rejects(
    () => runSvmBaseline({ features, utterances, tasks: [task], protocol: "loso", c: 1 }),
    /feature 1 of "b" is Infinity/,
  );
  features.set("b", Float64Array.of(1, 3));
  await assert.rejects(
    () => runSvmBaseline({ features, utterances, tasks: [task], protocol: "split", c: 1 }),
    /no labelled "train" utterances/,
  );
  await assert.rejects(
    () => runSvmBaseline({ features, utterances, tasks: [task], protocol: "loso" }),
    /needs >= 2 training speakers/,
  );
});

Deno.test("feature CSV: exact round trip and errors naming the file and line", () => {
  const features = new Map([["x1", Float64Array.of(0.1 + 0.2, -1e-300, 12345.678901234567)]]);
  const text = formatFeatureCsv({ names: ["a", "b", "c"], features });
  const back = parseFeatureCsv(text, "mem.csv");
  assert.deepEqual(back.names, ["a", "b", "c"]);
  assert.deepEqual(Array.from(back.features.get("x1")!), Array.from(features.get("x1")!));
  assert.equal(
    parseFeatureCsv("file,f\nwav/03a01Fa.wav,1\n", "m.csv").features.get("03a01Fa")![0],
    1,
  );
  assert.throws(() => parseFeatureCsv("id,a,b\nx,1\n", "bad.csv"), /bad\.csv:2: 2 columns/);
  assert.throws(() => parseFeatureCsv("id,a\nx,abc\n", "bad.csv"), /bad\.csv:2: column "a"/);
  // Ids with commas, quotes or line breaks (file names are free text) survive the round trip.
  const odd = new Map([['a,b "c"\nd', Float64Array.of(1)], ["plain", Float64Array.of(2)]]);
  const oddBack = parseFeatureCsv(formatFeatureCsv({ names: ["f"], features: odd }), "odd.csv");
  assert.deepEqual([...oddBack.features.keys()], ['a,b "c"\nd', "plain"]);
  assert.throws(() => parseFeatureCsv('id,a\n"x,1\n', "open.csv"), /open\.csv:2: unclosed quote/);
});

const SHARED = new URL("../../shared/", import.meta.url);
const REF_CSV = new URL("reference/egemaps-v02/functionals.csv", SHARED);
const EMODB = new URL("data/emodb/", SHARED);
const haveShared = await Promise.all(
  [REF_CSV, EMODB].map((u) => Deno.stat(u).then(() => true, () => false)),
).then((a) => a.every(Boolean));
if (!haveShared) {
  console.log("svm_test: ../shared EMO-DB reference features absent; real-data test skipped");
}

Deno.test({
  name: "openSMILE reference features, 2-speaker LOSO: 7-class UAR well above chance",
  ignore: !haveShared,
  fn: async () => {
    const table = await readFeatureCsv(REF_CSV.pathname);
    const corpus = await loadCorpus({
      corpus: "emodb",
      data: EMODB.pathname,
      tasks: ["emotion"],
      validate: false,
    });
    const utterances = corpus.utterances.filter((u) => table.features.has(u.id));
    assert.equal(utterances.length, 107);
    const r = await runSvmBaseline({
      features: table.features,
      utterances,
      tasks: corpus.tasks,
      protocol: "loso",
      featureNorm: "speaker",
      c: 0.01,
    });
    // Measured: 52.9 % (speakers 03 and 08, C = 0.01, per-speaker standardisation; scikit-learn's
    // SVC(kernel="linear", C=0.01) gives the same predictions). Chance is 14.3 %; a 2-speaker
    // LOSO trains on one speaker only, hence far below the 10-speaker 78.8 %. Margin: 7 points.
    assert.ok(r.tasks.emotion.uar > 0.46, `7-class UAR ${r.tasks.emotion.uar}`);
  },
});
