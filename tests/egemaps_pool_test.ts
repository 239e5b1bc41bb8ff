/**
 * eGeMAPS on every core: EgemapsPool against the calling thread's extractEgemaps, and the
 * feature cache and the egemaps CLI with several workers against one — the same features, the
 * same failures in the same order.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeWav16 } from "../lib/audio/mod.ts";
import type { Utterance } from "../lib/corpus/types.ts";
import { EgemapsPool, extractEgemaps } from "../lib/features/egemaps/mod.ts";
import { corpusFeatures } from "../lib/experiment/features.ts";
import { withTempDir } from "./temp_dir.ts";

const SR = 16000;
const REPO = new URL("..", import.meta.url).pathname;
const dec = new TextDecoder();

/** A harmonic tone with a little deterministic noise; `f0` and `seed` make files differ. */
function tone(f0: number, seed: number, seconds = 0.6): Float32Array {
  const x = new Float32Array(Math.round(seconds * SR));
  let s = seed;
  for (let i = 0; i < x.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    let v = 0;
    for (let h = 1; h <= 4; h++) v += Math.sin(2 * Math.PI * f0 * h * i / SR) / h;
    x[i] = 0.3 * v + 0.02 * (s / 2147483648 - 0.5);
  }
  return x;
}

/** Six good files and, third and fifth, two that cannot be read. */
async function corpus(dir: string): Promise<Utterance[]> {
  const us: Utterance[] = [];
  for (let i = 0; i < 8; i++) {
    const path = join(dir, `u${i}.wav`);
    if (i === 2) await Deno.writeTextFile(path, "not a wav");
    else if (i !== 4) await Deno.writeFile(path, encodeWav16(tone(100 + 23 * i, i + 1), SR));
    us.push({ id: `u${i}`, path, speaker: "s1", labels: {} });
  }
  return us;
}

Deno.test("EgemapsPool: 3 workers give extractEgemaps' results bit for bit; a worker's error keeps its class and message", async () => {
  const signals = [130, 170, 210, 250, 290].map((f0, i) => tone(f0, i + 3, 0.4 + 0.1 * i));
  const want = signals.map((x) => extractEgemaps(x, SR));
  const pool = EgemapsPool.create(3);
  try {
    assert.equal(pool.size, 3);
    const got = await Promise.all(signals.map((x) => pool.extract(x, SR)));
    got.forEach((g, i) => {
      assert.deepEqual(g.functionals.values, want[i].functionals.values, `file ${i} functionals`);
      assert.deepEqual(g.functionals.names, want[i].functionals.names);
      assert.deepEqual(g.lld.frameTimes, want[i].lld.frameTimes);
      assert.equal(g.lld.values.length, want[i].lld.values.length);
      g.lld.values.forEach((row, k) => assert.deepEqual(row, want[i].lld.values[k]));
    });
    assert.equal(signals[0].length, 0.4 * SR, "the caller's samples stay usable");

    let inline: Error | undefined;
    try {
      extractEgemaps(new Float32Array(100), SR);
    } catch (e) {
      inline = e as Error;
    }
    await assert.rejects(() => pool.extract(new Float32Array(100), SR), (e: Error) => {
      assert.ok(e instanceof RangeError);
      assert.equal(e.message, inline?.message);
      return true;
    });
    const again = await pool.extract(signals[1], SR);
    assert.deepEqual(again.functionals.values, want[1].functionals.values, "works after an error");
  } finally {
    pool.close();
  }
  await assert.rejects(() => pool.extract(signals[0], SR), /after close/);
  assert.throws(() => EgemapsPool.create(0), RangeError);
});

Deno.test("feature cache: extraction on 3 workers stores and returns what 1 worker does, failures in corpus order", () =>
  withTempDir("egemaps-pool-", async (dir) => {
    const us = await corpus(dir);
    const one = await corpusFeatures(us, join(dir, "one"));
    const logs: string[] = [];
    const three = await corpusFeatures(us, join(dir, "three"), (l) => logs.push(l), {
      workers: 3,
    });
    // The missing file is skipped before extraction, the unreadable one by it.
    assert.ok(logs.some((l) => l.includes("extracting 7 files (0 cached) on 3 workers")), logs[0]);
    assert.deepEqual([...three.functionals.keys()], [...one.functionals.keys()]);
    assert.equal(one.functionals.size, 6);
    for (const [id, v] of one.functionals) assert.deepEqual(three.functionals.get(id), v, id);
    assert.deepEqual(three.skipped, one.skipped);
    // Unreadable before extraction first (the missing u4), then failed extractions (u2).
    assert.deepEqual(three.skipped.map((s) => s.file), [us[4].path, us[2].path]);
    for (const u of us.filter((u) => one.functionals.has(u.id))) {
      assert.deepEqual(await three.loadLld(u), await one.loadLld(u), u.id);
    }
    // The cache written by the workers is complete: a second run only retries the failure.
    const again: string[] = [];
    await corpusFeatures(us, join(dir, "three"), (l) => again.push(l), { workers: 3 });
    assert.ok(again.some((l) => l.includes("extracting 1 files (6 cached)")), again.join("\n"));
  }));

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  const r = await new Deno.Command("deno", {
    args: ["run", "--allow-read", "--allow-write", join(REPO, "scripts", "egemaps.ts"), ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: r.code, stderr: dec.decode(r.stderr) };
}

Deno.test("egemaps CLI: --workers 3 writes the CSV and LLD files of --workers 1, messages in input order; --workers 0 is refused", () =>
  withTempDir("egemaps-pool-", async (dir) => {
    const us = await corpus(dir);
    const inputs = us.filter((_, i) => i !== 4).map((u) => u.path); // one unreadable among them
    const runs = [];
    for (const w of ["1", "3"]) {
      await Deno.mkdir(join(dir, `w${w}`));
      const out = join(dir, `w${w}`, "f.csv"), lld = join(dir, `w${w}`, "lld");
      const r = await cli([...inputs, "--out", out, "--lld-dir", lld, "--workers", w]);
      assert.equal(r.code, 0, r.stderr);
      const llds: string[] = [];
      for (const p of inputs) {
        const name = p.replace(/\.wav$/, ".csv").replace(/^\//, "");
        llds.push(await Deno.readTextFile(join(lld, name)).catch(() => "(none)"));
      }
      // The summary line's timing differs between runs; everything before it must not.
      const messages = r.stderr.split("\n").filter((l) => !l.includes("elapsed"));
      runs.push({ csv: await Deno.readTextFile(out), llds, messages });
    }
    assert.equal(runs[1].csv, runs[0].csv);
    assert.deepEqual(runs[1].llds, runs[0].llds);
    assert.deepEqual(runs[1].messages, runs[0].messages);
    assert.equal(runs[0].csv.trim().split("\n").length, 1 + 6);

    const bad = await cli([inputs[0], "--out", join(dir, "x.csv"), "--workers", "0"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--workers must be a positive integer/);
  }));
