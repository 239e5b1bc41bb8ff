/**
 * The epoch log and trial log always agree with the checkpoints (issue #9, item 11), and the
 * non-TTY progress output writes a plain line at most every interval (item 13).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import type { Batch } from "../lib/frames/types.ts";
import { EmotionModel } from "../lib/model/model.ts";
import { createProgress, type ProgressUpdate } from "../lib/training/progress.ts";
import { Random } from "../lib/util/random.ts";
import { searchTaskWeights, type WeightTrial } from "../lib/training/search.ts";
import {
  CHECKPOINT_FILE,
  type EpochRecord,
  snapshotWeights,
  train,
  type TrainOptions,
} from "../lib/training/train.ts";

import { sineBatch, tinyConfig } from "./fixtures.ts";

await tf.setBackend("cpu");

// A model small enough that an epoch of two batches takes milliseconds on the cpu backend.
function tinyModel(): EmotionModel {
  return EmotionModel.create(tinyConfig({ seed: 3 }));
}

/** Rows are sines whose frequency follows the arousal class, `windows[r]` windows long. */
function batch(arousal: number[], valence: number[], windows: number[]): Batch {
  return sineBatch(arousal.map((_, r) => `u${r}`), arousal, valence, windows, [0.07, 0.3]);
}

const TRAIN = [batch([0, 1, 1], [0, 2, 1], [5, 4, 6]), batch([1, 0], [1, 0], [6, 3])];
const DEV = [batch([1, 0, 1], [2, 0, 1], [6, 4, 5])];

function options(extra: Partial<TrainOptions> = {}): TrainOptions {
  return {
    // The order depends on the epoch seed, so a resume that replayed the wrong epoch would show.
    train: (_e, seed) => new Random(seed).next() < 0.5 ? TRAIN : [...TRAIN].reverse(),
    dev: () => DEV,
    epochs: 3,
    learningRate: 3e-3,
    progress: "none",
    ...extra,
  };
}

async function readLog(path: string): Promise<unknown[]> {
  const text = await Deno.readTextFile(path);
  assert.ok(text === "" || text.endsWith("\n"), "log does not end with a newline");
  return text.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

/** Records as a log must hold them (JSON drops undefined fields). */
function asLogged(records: EpochRecord[] | WeightTrial[]): unknown[] {
  return records.map((r) => JSON.parse(JSON.stringify(r)));
}

/** Records without their timings, which differ between runs. */
function untimed(records: unknown[]): unknown[] {
  return records.map((r) => {
    const { seconds: _s, cpuSeconds: _c, windowsPerSecond: _w, ...rest } = r as Record<
      string,
      unknown
    >;
    return rest;
  });
}

async function weights(model: EmotionModel): Promise<Float32Array[]> {
  return (await snapshotWeights(model)).map((a) => a.values as Float32Array);
}

async function withTempDirs(n: number, body: (dirs: string[]) => Promise<void>): Promise<void> {
  const dirs: string[] = [];
  for (let i = 0; i < n; i++) dirs.push(await Deno.makeTempDir({ prefix: "training_log_" }));
  try {
    await body(dirs);
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true });
  }
}

Deno.test("a log written ahead of its checkpoint is repaired on resume: one record per epoch", async () => {
  await withTempDirs(3, async ([full, run, spare]) => {
    const ref = tinyModel();
    const rRef = await train(ref, options({ checkpointDir: full, logPath: `${full}/log.jsonl` }));

    // Epoch 1's checkpoint is kept aside, then the run dies after epoch 2.
    const log = `${run}/log.jsonl`, ckpt = `${run}/${CHECKPOINT_FILE}`;
    const first = tinyModel();
    await assert.rejects(
      train(first, {
        ...options({ checkpointDir: run, logPath: log }),
        onEpochEnd: async (r) => {
          if (r.epoch === 1) await Deno.copyFile(ckpt, `${spare}/epoch1.ckpt`);
          if (r.epoch === 2) throw new Error("killed");
        },
      }),
      /killed/,
    );
    first.dispose();
    assert.equal((await readLog(log)).length, 2);
    // The state a kill between an appended log record and the checkpoint write would leave:
    // a two-record log next to the epoch-1 checkpoint.
    await Deno.copyFile(`${spare}/epoch1.ckpt`, ckpt);

    // Merely opening the checkpoint (no epoch left to train) brings the log back to it.
    const opened = tinyModel();
    const rOpened = await train(opened, options({ epochs: 1, checkpointDir: run, logPath: log }));
    opened.dispose();
    assert.equal(rOpened.resumedFromEpoch, 1);
    assert.deepEqual(await readLog(log), asLogged(rOpened.history));
    assert.deepEqual((await readLog(log)).map((r) => (r as EpochRecord).epoch), [1]);

    const resumed = tinyModel();
    const rRes = await train(resumed, options({ checkpointDir: run, logPath: log }));
    assert.equal(rRes.resumedFromEpoch, 1);
    const lines = await readLog(log);
    assert.deepEqual(lines.map((r) => (r as EpochRecord).epoch), [1, 2, 3]);
    assert.deepEqual(lines, asLogged(rRes.history));
    // Same weights and the same log (timings aside) as the run that was never interrupted.
    assert.deepEqual(await weights(resumed), await weights(ref));
    assert.deepEqual(untimed(lines), untimed(await readLog(`${full}/log.jsonl`)));
    assert.equal(rRes.bestEpoch, rRef.bestEpoch);
    // Atomic rewrites leave no temporary files behind.
    assert.deepEqual([...Deno.readDirSync(run)].map((e) => e.name).sort(), [
      CHECKPOINT_FILE,
      "log.jsonl",
    ]);
    for (const m of [ref, resumed]) m.dispose();
  });
});

Deno.test("a fresh start clears the stale epoch log of an earlier attempt", async () => {
  await withTempDirs(2, async ([withCkpt, plain]) => {
    const stale = '{"epoch":1,"loss":99}\n{"epoch":2,"loss":98}\n{"epoch":3,"loss":97}\n' +
      '{"epoch":4,"loss":96}\n';
    // No checkpoint (e.g. a corrupt one was deleted) but the old log is still there.
    const log = `${withCkpt}/log.jsonl`;
    await Deno.writeTextFile(log, stale);
    const seenAfterEpoch1: unknown[][] = [];
    const a = tinyModel();
    const rA = await train(a, {
      ...options({ epochs: 2, checkpointDir: withCkpt, logPath: log }),
      onEpochEnd: async (r) => {
        if (r.epoch === 1) seenAfterEpoch1.push(await readLog(log));
      },
    });
    a.dispose();
    assert.equal(rA.resumedFromEpoch, 0);
    // Already during the run the log holds only this run's epochs.
    assert.deepEqual(seenAfterEpoch1, [asLogged(rA.history.slice(0, 1))]);
    assert.deepEqual(await readLog(log), asLogged(rA.history));
    assert.ok(!(await Deno.readTextFile(log)).includes('"loss":9'));

    // resume: false starts afresh next to an existing checkpoint: its 2 epochs leave the log.
    await Deno.writeTextFile(log, stale, { append: true });
    const b = tinyModel();
    const rB = await train(
      b,
      options({ epochs: 1, checkpointDir: withCkpt, logPath: log, resume: false }),
    );
    b.dispose();
    assert.equal(rB.resumedFromEpoch, 0);
    assert.deepEqual(await readLog(log), asLogged(rB.history));
    assert.equal(rB.history.length, 1);
    // CPU seconds are recorded (Deno has process.cpuUsage) and are a real, positive time.
    const cpu = rB.history[0].cpuSeconds;
    assert.ok(cpu !== undefined && cpu > 0 && cpu < 600, `cpuSeconds ${cpu}`);

    // Without checkpointing every run is fresh, so a rerun replaces the log rather than
    // appending to it.
    const plainLog = `${plain}/log.jsonl`;
    await Deno.writeTextFile(plainLog, stale);
    for (let i = 0; i < 2; i++) {
      const m = tinyModel();
      const r = await train(m, options({ epochs: 2, logPath: plainLog }));
      m.dispose();
      assert.deepEqual(await readLog(plainLog), asLogged(r.history));
    }
  });
});

Deno.test("task-weight search: trials.jsonl and trial logs agree with the trial checkpoints", async () => {
  await withTempDirs(3, async ([full, run, plain]) => {
    const trainOpts = (dir: string, extra: Partial<TrainOptions> = {}) =>
      options({ epochs: 2, logPath: `${dir}/train-log.jsonl`, ...extra });
    const search = (dir: string, extra: Partial<TrainOptions> = {}) =>
      searchTaskWeights(tinyModel, trainOpts(dir, extra), {
        trials: 3,
        seed: 5,
        checkpointDir: dir,
        logPath: `${dir}/trials.jsonl`,
      });
    const ref = await search(full);

    // Stale trials of an earlier attempt, then a kill during trial 1's first epoch.
    await Deno.writeTextFile(
      `${run}/trials.jsonl`,
      '{"trial":0,"devUar":1}\n{"trial":1,"devUar":1}\n{"trial":2,"devUar":1}\n',
    );
    let epochsDone = 0;
    await assert.rejects(
      search(run, {
        onEpochEnd: () => {
          if (++epochsDone === 3) throw new Error("killed");
        },
      }),
      /killed/,
    );
    const afterKill = (await readLog(`${run}/trials.jsonl`)) as WeightTrial[];
    assert.deepEqual(afterKill.map((t) => t.trial), [0]);

    const resumed = await search(run);
    const trials = await readLog(`${run}/trials.jsonl`);
    assert.deepEqual(trials, asLogged(resumed.trials));
    assert.deepEqual(untimed(trials), untimed(await readLog(`${full}/trials.jsonl`)));
    // A trial's seconds come from its epoch records, so a resumed trial keeps its real time.
    assert.equal(resumed.trials[0].seconds, afterKill[0].seconds);
    for (let t = 0; t < 3; t++) {
      const epochs = await readLog(`${run}/trial-${t}/train-log.jsonl`);
      assert.deepEqual(epochs.map((r) => (r as EpochRecord).epoch), [1, 2], `trial ${t}`);
    }
    assert.deepEqual(await weights(resumed.model), await weights(ref.model));
    resumed.model.dispose();
    ref.model.dispose();

    // Without checkpoints, each trial gets its own epoch log instead of overwriting a shared one.
    const s = await searchTaskWeights(tinyModel, trainOpts(plain), { trials: 2, seed: 5 });
    s.model.dispose();
    for (let t = 0; t < 2; t++) {
      const epochs = await readLog(`${plain}/train-log.trial-${t}.jsonl`);
      assert.deepEqual(epochs.map((r) => (r as EpochRecord).epoch), [1, 2], `trial ${t}`);
    }
    assert.equal(s.result.history.length, 2);
  });
});

/** A stream that records what is written to it. */
function capture(): { write(text: string): void; text(): string } {
  const chunks: string[] = [];
  return { write: (t: string) => void chunks.push(t), text: () => chunks.join("") };
}

const update = (batchNo: number, extra: Partial<ProgressUpdate> = {}): ProgressUpdate => ({
  epoch: 2,
  epochs: 5,
  batch: batchNo,
  batches: 40,
  loss: 0.123456,
  windowsPerSecond: 1234.4,
  etaSeconds: 3725,
  ...extra,
});

Deno.test("non-TTY progress: a plain line at most every interval, without ANSI codes", async () => {
  let clock = 0;
  const out = capture();
  const p = createProgress("terminal", {
    stream: out,
    tty: false,
    intervalSeconds: 30,
    now: () => clock,
  });
  // Seconds at which updates arrive; lines are due at 0, 30 and 61 (31 s after 30).
  const times = [0, 10, 29.9, 30, 45, 59.9, 61, 90.5];
  times.forEach((s, i) => {
    clock = s * 1000;
    p.update(update(i + 1));
  });
  p.epochDone("epoch 2/5 loss 0.1200");
  await p.stop();
  const lines = out.text().split("\n");
  assert.equal(lines.pop(), "", "output ends with a newline");
  assert.deepEqual(lines, [
    "epoch 2/5 | batch 1/40 | loss 0.1235 | 1234 windows/s | ETA 1:02:05",
    "epoch 2/5 | batch 4/40 | loss 0.1235 | 1234 windows/s | ETA 1:02:05",
    "epoch 2/5 | batch 7/40 | loss 0.1235 | 1234 windows/s | ETA 1:02:05",
    "epoch 2/5 loss 0.1200",
  ]);
  // No escape sequences or carriage returns, as an in-place bar would write.
  assert.ok(!out.text().includes("\x1b") && !out.text().includes("\r"));

  // The default interval is 30 s; unknown totals and ETA still give a readable line.
  clock = 0;
  const out2 = capture();
  const p2 = createProgress("terminal", { stream: out2, now: () => clock });
  for (const s of [0, 29, 30]) {
    clock = s * 1000;
    p2.update(update(1, { batches: undefined, etaSeconds: undefined }));
  }
  assert.deepEqual(out2.text().split("\n").filter((l) => l), [
    "epoch 2/5 | batch 1 | loss 0.1235 | 1234 windows/s | ETA ?",
    "epoch 2/5 | batch 1 | loss 0.1235 | 1234 windows/s | ETA ?",
  ]);
  assert.throws(() => createProgress("terminal", { stream: out2, intervalSeconds: -1 }), /≥ 0/);
});

Deno.test("non-TTY progress during training: interval 0 gives a line per batch", async () => {
  const out = capture();
  const reporter = createProgress("terminal", { stream: out, tty: false, intervalSeconds: 0 });
  const m = tinyModel();
  await train(m, options({ epochs: 2, progress: reporter, batchesPerEpoch: 2 }));
  m.dispose();
  const lines = out.text().split("\n").filter((l) => l);
  assert.equal(lines.length, 6, out.text());
  assert.match(lines[0], /^epoch 1\/2 \| batch 1\/2 \| loss \d+\.\d{4} \| \d+ windows\/s \| ETA /);
  assert.match(lines[1], /^epoch 1\/2 \| batch 2\/2 \|/);
  assert.match(lines[2], /^epoch 1\/2 loss [\d.]+ \| dev UAR/);
  assert.match(lines[5], /^epoch 2\/2 loss/);
  assert.ok(!out.text().includes("\x1b") && !out.text().includes("\r"));
});
