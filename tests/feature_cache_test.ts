import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeWav16, readWav } from "../lib/audio/mod.ts";
import type { CorpusReport } from "../lib/corpus/report.ts";
import { formatCorpusReport } from "../lib/corpus/report.ts";
import type { Utterance } from "../lib/corpus/types.ts";
import { EGEMAPS_LLD_NAMES, extractEgemaps } from "../lib/features/egemaps/mod.ts";
import { resolveExperiment, SMOKE_OVERLAY } from "../lib/experiment/config.ts";
import { corpusFeatures } from "../lib/experiment/features.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { withTempDir } from "./temp_dir.ts";

const SR = 16000;

/** A 0.5 s vowel-like tone: harmonics of `f0` with a little deterministic noise. */
function tone(f0: number, seed: number, seconds = 0.5): Float32Array {
  const n = Math.round(seconds * SR);
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    let v = 0;
    for (let h = 1; h <= 5; h++) v += Math.sin(2 * Math.PI * f0 * h * i / SR) / h;
    x[i] = 0.3 * v + 0.01 * (s / 2147483648 - 0.5);
  }
  return x;
}

async function writeTone(path: string, f0: number, seed = 1): Promise<void> {
  await Deno.mkdir(join(path, ".."), { recursive: true });
  await Deno.writeFile(path, encodeWav16(tone(f0, seed), SR));
}

function utt(id: string, path: string): Utterance {
  return { id, path, speaker: "s1", labels: {} };
}

/** The features of a file extracted directly, without any cache. */
async function fresh(path: string): Promise<{ functionals: Float64Array; lld: Float32Array }> {
  const audio = await readWav(path);
  const f = extractEgemaps(audio.samples, audio.sampleRate);
  const d = EGEMAPS_LLD_NAMES.length;
  const lld = new Float32Array(f.lld.values.length * d);
  f.lld.values.forEach((row, i) => lld.set(row, i * d));
  return { functionals: Float64Array.from(f.functionals.values), lld };
}

async function lldFiles(cache: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(join(cache, "lld"))) names.push(e.name);
  return names.sort();
}

Deno.test("feature cache: same relative paths in two corpora get each their own features", () =>
  withTempDir("feat-corpora-", async (root) => {
    const cache = join(root, "out", "features");
    const a = join(root, "A", "audio", "u01.wav"), b = join(root, "B", "audio", "u01.wav");
    await writeTone(a, 120);
    await writeTone(b, 240, 7);
    const wantA = await fresh(a), wantB = await fresh(b);
    assert.notDeepEqual(wantA.functionals, wantB.functionals, "fixture: the audio differs");

    const first = await corpusFeatures([utt("u01", a)], cache);
    assert.deepEqual(first.functionals.get("u01"), wantA.functionals);

    const logB: string[] = [];
    const second = await corpusFeatures([utt("u01", b)], cache, (l) => logB.push(l));
    assert.deepEqual(second.functionals.get("u01"), wantB.functionals);
    assert.deepEqual(await second.loadLld(utt("u01", b)), wantB.lld);
    assert.ok(logB.some((l) => l.includes("recomputing") && l.includes(b)), logB.join("\n"));
    assert.ok(logB.some((l) => l.includes("extracting 1 files (0 cached)")), logB.join("\n"));

    // Back to A: both entries live side by side, so A is read from the cache, not extracted.
    const logA: string[] = [];
    const third = await corpusFeatures([utt("u01", a)], cache, (l) => logA.push(l));
    assert.deepEqual(third.functionals.get("u01"), wantA.functionals);
    assert.deepEqual(await third.loadLld(utt("u01", a)), wantA.lld);
    assert.ok(!logA.some((l) => l.includes("extracting")), logA.join("\n"));
    assert.equal((await lldFiles(cache)).length, 2);
  }));

Deno.test("feature cache: an audio file rewritten in place is recomputed", () =>
  withTempDir("feat-rewrite-", async (root) => {
    const cache = join(root, "features"), wav = join(root, "u.wav");
    await writeTone(wav, 150);
    await corpusFeatures([utt("u", wav)], cache);
    await writeTone(wav, 300, 3);
    const log: string[] = [];
    const again = await corpusFeatures([utt("u", wav)], cache, (l) => log.push(l));
    const want = await fresh(wav);
    assert.deepEqual(again.functionals.get("u"), want.functionals);
    assert.deepEqual(await again.loadLld(utt("u", wav)), want.lld);
    assert.ok(log.some((l) => l.includes("recomputing")), log.join("\n"));
  }));

Deno.test("feature cache: ids that differ only outside ASCII never share a cache file", () =>
  withTempDir("feat-unicode-", async (root) => {
    const cache = join(root, "features");
    const ids = ["03ä", "03ö", "03日本"];
    const us = ids.map((id) => utt(id, join(root, `${id}.wav`)));
    for (const [i, u] of us.entries()) await writeTone(u.path, 100 + 60 * i, i + 1);
    const want = await Promise.all(us.map((u) => fresh(u.path)));
    for (const round of ["extracted", "cached"]) {
      const f = await corpusFeatures(us, cache);
      for (const [i, u] of us.entries()) {
        assert.deepEqual(f.functionals.get(u.id), want[i].functionals, `${round} ${u.id}`);
        assert.deepEqual(await f.loadLld(u), want[i].lld, `${round} ${u.id}`);
      }
    }
    assert.notDeepEqual(want[0].lld, want[1].lld, "fixture: the contours differ");
    assert.equal((await lldFiles(cache)).length, 3);
  }));

Deno.test("feature cache: a truncated LLD file is recomputed, between runs and within one", () =>
  withTempDir("feat-truncated-", async (root) => {
    const cache = join(root, "features"), wav = join(root, "u.wav");
    await writeTone(wav, 180);
    const want = await fresh(wav);
    await corpusFeatures([utt("u", wav)], cache);
    const [name] = await lldFiles(cache);
    const file = join(cache, "lld", name);
    const full = await Deno.readFile(file);
    assert.equal(full.byteLength, want.lld.byteLength);

    // Between runs: the index's byte length catches it before anything is read.
    await Deno.truncate(file, full.byteLength - 25 * 4 * 3);
    const log: string[] = [];
    const next = await corpusFeatures([utt("u", wav)], cache, (l) => log.push(l));
    assert.ok(log.some((l) => l.includes(`expected ${full.byteLength}`)), log.join("\n"));
    assert.deepEqual(await next.loadLld(utt("u", wav)), want.lld);

    // Within a run: truncated, then corrupted at the same length (only the checksum sees it).
    await Deno.truncate(file, 100);
    const logLoad: string[] = [];
    const loaded = await corpusFeatures([utt("u", wav)], cache, (l) => logLoad.push(l));
    assert.ok(logLoad.some((l) => l.includes("expected")), "caught at startup");
    await Deno.truncate(file, 100);
    assert.deepEqual(await loaded.loadLld(utt("u", wav)), want.lld);
    const bytes = await Deno.readFile(file);
    bytes[8] ^= 0xff;
    await Deno.writeFile(file, bytes);
    const logSum: string[] = [];
    const summed = await corpusFeatures([utt("u", wav)], cache, (l) => logSum.push(l));
    assert.deepEqual(await summed.loadLld(utt("u", wav)), want.lld);
    assert.ok(logSum.some((l) => l.includes("checksum")), logSum.join("\n"));
    assert.deepEqual(await Deno.readFile(file), full, "the repaired file is written back");
  }));

Deno.test("feature cache: a broken index or a stale extractor version is recomputed", () =>
  withTempDir("feat-index-", async (root) => {
    const cache = join(root, "features"), wav = join(root, "u.wav");
    await writeTone(wav, 200);
    const want = await fresh(wav);
    await corpusFeatures([utt("u", wav)], cache);
    const indexPath = join(cache, "index.json");
    const index = JSON.parse(await Deno.readTextFile(indexPath));
    const [key] = Object.keys(index.entries);
    index.entries[key].extractor = "0";
    index.entries[key].functionals[0] = 12345;
    await Deno.writeTextFile(indexPath, JSON.stringify(index));
    const log: string[] = [];
    const f = await corpusFeatures([utt("u", wav)], cache, (l) => log.push(l));
    assert.deepEqual(f.functionals.get("u"), want.functionals);
    assert.ok(log.some((l) => l.includes("version 0")), log.join("\n"));

    await Deno.writeTextFile(indexPath, '{"format": 2, "entr');
    const log2: string[] = [];
    const g = await corpusFeatures([utt("u", wav)], cache, (l) => log2.push(l));
    assert.deepEqual(g.functionals.get("u"), want.functionals);
    assert.ok(log2.some((l) => l.includes(indexPath) && l.includes("unreadable")), log2.join("\n"));
  }));

Deno.test("feature cache: failures are skipped with the file named; duplicate ids are refused", () =>
  withTempDir("feat-skip-", async (root) => {
    const cache = join(root, "features"), good = join(root, "good.wav");
    const missing = join(root, "missing.wav"), broken = join(root, "broken.wav");
    await writeTone(good, 130);
    await Deno.writeTextFile(broken, "not a wav");
    const f = await corpusFeatures(
      [utt("g", good), utt("m", missing), utt("b", broken)],
      cache,
    );
    assert.deepEqual([...f.functionals.keys()], ["g"]);
    assert.deepEqual(f.skipped.map((s) => s.file), [missing, broken]);
    assert.ok(f.skipped.every((s) => s.reason.startsWith("eGeMAPS extraction failed")));
    await assert.rejects(() => f.loadLld(utt("m", missing)), new RegExp("missing\\.wav"));
    await assert.rejects(
      () => corpusFeatures([utt("g", good), utt("g", broken)], cache),
      /duplicate utterance id 'g'/,
    );
  }));

Deno.test("formatCorpusReport: the '… and N more' line names where the full list is", () => {
  const report: CorpusReport = {
    corpus: "manifest",
    utterances: 0,
    partitions: {},
    speakers: {},
    padded: 0,
    seconds: 0,
    skipped: Array.from({ length: 12 }, (_, i) => ({ file: `f${i}.wav`, reason: "missing" })),
    notes: [],
  };
  assert.match(formatCorpusReport(report, 10), /… and 2 more \(see --json\)/);
  const text = formatCorpusReport(report, 10, "see /run/corpus-report.json");
  assert.match(text, /… and 2 more \(see \/run\/corpus-report\.json\)/);
  assert.doesNotMatch(text, /--json/);
});

Deno.test({
  name: "runExperiment writes the full load report with the eGeMAPS failures to corpus-report.json",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withTempDir("feat-report-", async (out) => {
      const config = await resolveExperiment({
        corpus: "example",
        overlays: [SMOKE_OVERLAY],
        values: { systems: ["os-svm"], backend: "wasm", out },
      });
      const lines: string[] = [];
      await runExperiment(config, { log: (l) => lines.push(l), progress: "none" });
      const report = JSON.parse(
        await Deno.readTextFile(join(out, "corpus-report.json")),
      ) as CorpusReport & { egemapsSkipped: unknown[] };
      assert.equal(report.corpus, "example");
      assert.equal(report.utterances, 24, "8 per partition under SMOKE");
      assert.deepEqual(Object.keys(report.partitions).sort(), ["dev", "test", "train"]);
      assert.ok(Array.isArray(report.skipped));
      assert.deepEqual(report.egemapsSkipped, []);
      assert.ok(lines.some((l) => l.startsWith("corpus example")), lines.join("\n"));
    }),
});
