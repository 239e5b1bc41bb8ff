/**
 * Checks of the committed synthetic corpus `data.example/`: EmoEvaluation format, audio format,
 * class balance, reproducibility of the generator, and that the labels are learnable from
 * simple acoustic features (nearest centroid, train sessions 1–3, test session 5).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { readWav } from "../lib/audio/mod.ts";
import { parseEmoEvaluation } from "../lib/corpus/iemocap.ts";
import {
  EXAMPLE_SAMPLE_RATE,
  generateExampleSession,
  type Level,
  levelOf,
  partitionOfSession,
  writeExampleCorpus,
} from "../lib/corpus/example/mod.ts";

const ROOT = new URL("../data.example/", import.meta.url).pathname;
const exists = (() => {
  try {
    return Deno.statSync(join(ROOT, "SHA256SUMS")).isFile;
  } catch {
    return false;
  }
})();
if (!exists) console.warn(`example_data_test: ${ROOT}SHA256SUMS missing, corpus tests skipped`);

interface Row {
  id: string;
  session: number;
  speaker: string;
  emotion: string;
  vad: [number, number, number];
  start: number;
  end: number;
  path: string;
}

const SUMMARY =
  /^\[(\d+\.\d{4}) - (\d+\.\d{4})\]\t(Ses0(\d)[FM]_\S+_([FM])\d{3})\t([a-z]{3})\t\[(\d\.\d{4}), (\d\.\d{4}), (\d\.\d{4})\]$/;
const CAT_LINE = /^C-(E\d|[FM]1):\t([A-Z][a-z]+;)( [A-Z][a-z]+;)*\t\(.*\)$/;
const DIM_LINE = /^A-(E\d|[FM]1):\tval ([1-5]); act ([1-5]); dom {2}([1-5]);\t\(.*\)$/;

/** Parses every EmoEvaluation file strictly, asserting the documented format on the way. */
async function readCorpus(): Promise<Row[]> {
  const rows: Row[] = [];
  for (let s = 1; s <= 5; s++) {
    const evalDir = join(ROOT, `Session${s}`, "dialog", "EmoEvaluation");
    const files = [...Deno.readDirSync(evalDir)].map((e) => e.name).filter((n) =>
      n.endsWith(".txt")
    ).sort();
    assert.ok(files.length >= 1, `${evalDir}: no EmoEvaluation files`);
    for (const name of files) {
      const file = join(evalDir, name);
      const dialog = name.replace(/\.txt$/, "");
      const lines = (await Deno.readTextFile(file)).split("\n");
      assert.equal(lines[0], "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", file);
      assert.equal(lines[1], "", `${file}: blank line after the header`);
      let i = 2;
      while (i < lines.length && lines[i] !== "") {
        const m = SUMMARY.exec(lines[i]);
        assert.ok(m, `${file}:${i + 1}: not a summary line: ${JSON.stringify(lines[i])}`);
        assert.ok(m[3].startsWith(dialog + "_"), `${file}:${i + 1}: id not in dialog ${dialog}`);
        const evaluators: number[][] = [];
        let cats = 0;
        i++;
        while (i < lines.length && lines[i] !== "") {
          const c = CAT_LINE.exec(lines[i]);
          const a = DIM_LINE.exec(lines[i]);
          assert.ok(c || a, `${file}:${i + 1}: bad annotator line ${JSON.stringify(lines[i])}`);
          if (c) cats++;
          if (a && a[1].startsWith("E")) evaluators.push([+a[2], +a[3], +a[4]]);
          i++;
        }
        assert.ok(cats >= 3 && evaluators.length >= 2, `${file}: ${m[3]} lacks annotator lines`);
        const vad = [+m[7], +m[8], +m[9]] as [number, number, number];
        for (let k = 0; k < 3; k++) {
          const mean = evaluators.reduce((s, e) => s + e[k], 0) / evaluators.length;
          assert.ok(Math.abs(mean - vad[k]) < 1e-4, `${file}: ${m[3]} bracket ≠ evaluator mean`);
        }
        rows.push({
          id: m[3],
          session: +m[4],
          speaker: `Ses0${m[4]}${m[5]}`,
          emotion: m[6],
          vad,
          start: +m[1],
          end: +m[2],
          path: join(ROOT, `Session${s}`, "sentences", "wav", dialog, `${m[3]}.wav`),
        });
        assert.equal(+m[4], s, `${file}: ${m[3]} is filed under Session${s}`);
        i++; // the blank line closing the block
      }
      assert.ok(lines.slice(i).every((l) => l === ""), `${file}: text after the last block`);
      // The toolkit's own IEMOCAP parser must read the same utterances, with no complaints.
      const parsed = parseEmoEvaluation(lines.join("\n"));
      assert.deepEqual(parsed.problems, [], file);
      assert.deepEqual(
        parsed.entries.map((e) => e.id),
        rows.filter((r) => r.path.includes(`/${dialog}/`)).map((r) => r.id),
        `${file}: parser disagrees`,
      );
    }
  }
  return rows;
}

Deno.test({
  name: "data.example: EmoEvaluation format, labels and audio format",
  ignore: !exists,
  async fn() {
    const rows = await readCorpus();
    assert.ok(rows.length >= 120 && rows.length <= 150, `${rows.length} utterances`);
    assert.equal(new Set(rows.map((r) => r.id)).size, rows.length, "duplicate ids");
    const emotions = new Set(["neu", "hap", "sad", "ang", "exc", "fru", "xxx"]);
    for (const r of rows) assert.ok(emotions.has(r.emotion), `${r.id}: emotion ${r.emotion}`);
    // Both boundary values occur, and so do half-point ratings.
    const all = rows.flatMap((r) => r.vad);
    assert.ok(all.includes(2) && all.includes(4), "no rating exactly on 2.0 and 4.0");
    assert.ok(all.some((x) => x % 1 === 0.5), "no .5 ratings");
    for (let s = 1; s <= 5; s++) {
      const speakers = new Set(rows.filter((r) => r.session === s).map((r) => r.speaker));
      assert.deepEqual([...speakers].sort(), [`Ses0${s}F`, `Ses0${s}M`]);
    }
    for (const part of ["train", "dev", "test"]) {
      const rs = rows.filter((r) => partitionOfSession(r.session) === part);
      for (let k = 0; k < 3; k++) {
        for (const level of ["low", "mid", "high"] as Level[]) {
          const share = rs.filter((r) => levelOf(r.vad[k]) === level).length / rs.length;
          assert.ok(share >= 0.15, `${part}: dimension ${k} ${level} only ${share}`);
        }
      }
    }
    // Emotion codes agree with the dimensions where it matters most.
    for (const r of rows) {
      if (r.emotion === "sad") assert.notEqual(levelOf(r.vad[0]), "high", r.id);
      if (r.emotion === "ang") assert.equal(levelOf(r.vad[0]), "low", r.id);
      if (r.emotion === "exc" || r.emotion === "hap") assert.notEqual(levelOf(r.vad[0]), "low");
    }
    let bytes = 0;
    for (const r of rows) {
      bytes += (await Deno.stat(r.path)).size;
      const audio = await readWav(r.path);
      assert.equal(audio.sourceSampleRate, 16000, r.path);
      assert.equal(audio.sourceChannels, 1, r.path);
      assert.equal(audio.sourceEncoding, "pcm16", r.path);
      const sec = audio.originalLength / 16000;
      assert.ok(sec >= 0.6 && sec <= 1.2, `${r.path}: ${sec} s`);
      assert.ok(Math.abs(r.end - r.start - sec) < 2e-4, `${r.path}: times ≠ length`);
      let peak = 0;
      for (const x of audio.samples) peak = Math.max(peak, Math.abs(x));
      assert.ok(peak > 0.01 && peak < 1, `${r.path}: peak ${peak}`);
    }
    assert.ok(bytes < 5e6, `wav files take ${bytes} bytes`);
  },
});

Deno.test({
  name: "data.example: SHA256SUMS matches and regenerating a session gives identical bytes",
  ignore: !exists,
  async fn() {
    const sums = (await Deno.readTextFile(join(ROOT, "SHA256SUMS"))).trim().split("\n");
    assert.ok(sums.length > 100, "SHA256SUMS too short");
    let total = 0;
    for (const line of sums) {
      const [hash, rel] = line.split("  ");
      const bytes = await Deno.readFile(join(ROOT, rel));
      total += bytes.length;
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
      const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
      assert.equal(hex, hash, `${rel}: content differs from SHA256SUMS`);
    }
    assert.ok(total <= 5e6, `data.example is ${total} bytes`);
    const tmp = await Deno.makeTempDir({ prefix: "example-data-" });
    try {
      const summary = await writeExampleCorpus(tmp, { sessions: [5] });
      assert.ok(summary.files.length > 20);
      for (const f of summary.files) {
        const fresh = await Deno.readFile(join(tmp, f.path));
        const committed = await Deno.readFile(join(ROOT, f.path));
        assert.deepEqual(fresh, committed, `${f.path} differs after regeneration`);
      }
      // A different seed must change the audio (the seed is really used).
      const other = generateExampleSession(5, { seed: 1 });
      const same = generateExampleSession(5);
      assert.notDeepEqual(other.wavs[0], same.wavs[0]);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

/**
 * Simple utterance-level features: level, F0 median/spread/slope, ZCR, spectral tilt,
 * syllable-to-syllable intensity spread, voiced-run length, voiced fraction, periodicity, H1–H2.
 */
function features(x: Float32Array): number[] {
  const frame = 400;
  const hop = 160;
  const minLag = 25; // 640 Hz
  const maxLag = 320; // 50 Hz
  const energies: number[] = [];
  for (let s = 0; s + frame <= x.length; s += hop) {
    let e = 0;
    for (let i = s; i < s + frame; i++) e += x[i] * x[i];
    energies.push(10 * Math.log10(e / frame + 1e-12));
  }
  const maxDb = Math.max(...energies);
  const active: number[] = [];
  const pitch: (number | null)[] = [];
  const strength: number[] = [];
  const h1h2: number[] = [];
  let zcr = 0;
  let hf = 0;
  let lf = 0;
  for (let k = 0; k < energies.length; k++) {
    if (energies[k] < maxDb - 30) {
      pitch.push(null);
      continue;
    }
    const s = k * hop;
    active.push(energies[k]);
    for (let i = s + 1; i < s + frame; i++) {
      if ((x[i] >= 0) !== (x[i - 1] >= 0)) zcr++;
      const d = x[i] - x[i - 1];
      hf += d * d;
      lf += x[i] * x[i];
    }
    // Normalised autocorrelation; the global maximum, moved to half its lag when that peak is
    // nearly as strong (a period-doubling guard).
    const corr = new Float64Array(maxLag + 1);
    let best = 0;
    let lag = 0;
    for (let l = minLag; l <= maxLag; l++) {
      let r = 0;
      let e1 = 0;
      let e2 = 0;
      for (let i = s; i + l < s + frame; i++) {
        r += x[i] * x[i + l];
        e1 += x[i] * x[i];
        e2 += x[i + l] * x[i + l];
      }
      corr[l] = r / Math.sqrt(e1 * e2 + 1e-12);
      if (corr[l] > best) {
        best = corr[l];
        lag = l;
      }
    }
    for (let half = Math.round(lag / 2); half >= minLag; half = Math.round(lag / 2)) {
      let peak = half;
      for (let l = Math.max(minLag, half - 2); l <= half + 2; l++) {
        if (corr[l] > corr[peak]) peak = l;
      }
      if (corr[peak] < 0.95 * best) break;
      lag = peak;
    }
    const voiced = best > 0.7;
    if (voiced) {
      strength.push(best);
      h1h2.push(harmonicDb(x, s, frame, 1 / lag) - harmonicDb(x, s, frame, 2 / lag));
    }
    pitch.push(voiced ? 12 * Math.log2(EXAMPLE_SAMPLE_RATE / lag) : null);
  }
  // Median-filter the pitch within voiced runs, and collect each run's peak level and length.
  const t: number[] = [];
  const f0: number[] = [];
  const runPeak: number[] = [];
  const runLen: number[] = [];
  for (let k = 0; k < pitch.length;) {
    if (pitch[k] === null) {
      k++;
      continue;
    }
    let end = k;
    while (end < pitch.length && pitch[end] !== null) end++;
    const run = pitch.slice(k, end) as number[];
    for (let j = 0; j < run.length; j++) {
      const win = run.slice(Math.max(0, j - 2), j + 3).sort((p, q) => p - q);
      t.push((k + j) / pitch.length);
      f0.push(win[win.length >> 1]);
    }
    if (run.length >= 3) {
      runPeak.push(Math.max(...energies.slice(k, end)));
      runLen.push(run.length);
    }
    k = end;
  }
  const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / Math.max(1, a.length);
  const sd = (a: number[]) => Math.sqrt(mean(a.map((v) => (v - mean(a)) ** 2)));
  const median = (a: number[]) => {
    const b = [...a].sort((p, q) => p - q);
    return b.length ? b[b.length >> 1] : 0;
  };
  // Theil–Sen slope of pitch over time: robust to the remaining octave errors.
  const slopes: number[] = [];
  for (let i = 0; i < t.length; i++) {
    for (let j = i + 1; j < t.length; j++) {
      if (t[j] > t[i]) slopes.push((f0[j] - f0[i]) / (t[j] - t[i]));
    }
  }
  return [
    10 * Math.log10(mean(active.map((v) => 10 ** (v / 10)))),
    median(f0),
    sd(f0),
    median(slopes),
    zcr / Math.max(1, active.length),
    10 * Math.log10(hf / (lf + 1e-12)),
    sd(runPeak),
    mean(runLen),
    f0.length / Math.max(1, active.length),
    mean(strength),
    mean(h1h2),
  ];
}

/** Level in dB of one frequency (cycles per sample) in a Hann-windowed frame (Goertzel). */
function harmonicDb(x: Float32Array, start: number, len: number, freq: number): number {
  const w = 2 * Math.cos(2 * Math.PI * freq);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < len; i++) {
    const s0 = x[start + i] * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / len)) + w * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return 10 * Math.log10(s1 * s1 + s2 * s2 - w * s1 * s2 + 1e-20);
}

/** Standardises each feature within each speaker (speaker normalisation, as is usual in SER). */
function speakerNormalise(rows: { speaker: string; f: number[] }[]): number[][] {
  const out: number[][] = rows.map((r) => [...r.f]);
  for (const spk of new Set(rows.map((r) => r.speaker))) {
    const idx = rows.map((r, i) => (r.speaker === spk ? i : -1)).filter((i) => i >= 0);
    for (let k = 0; k < rows[0].f.length; k++) {
      const vals = idx.map((i) => rows[i].f[k]);
      const m = vals.reduce((p, q) => p + q, 0) / vals.length;
      const s = Math.sqrt(vals.reduce((p, q) => p + (q - m) ** 2, 0) / vals.length) || 1;
      for (const i of idx) out[i][k] = (rows[i].f[k] - m) / s;
    }
  }
  return out;
}

/** Unweighted average recall of a nearest-centroid classifier. */
function nearestCentroidUar(
  trainX: number[][],
  trainY: number[],
  testX: number[][],
  testY: number[],
): number {
  const dims = trainX[0].length;
  const centroids = [0, 1, 2].map((c) => {
    const xs = trainX.filter((_, i) => trainY[i] === c);
    return Array.from({ length: dims }, (_, k) => xs.reduce((s, x) => s + x[k], 0) / xs.length);
  });
  const recalls = [0, 1, 2].map((c) => {
    const idx = testY.map((y, i) => (y === c ? i : -1)).filter((i) => i >= 0);
    const hits = idx.filter((i) => {
      const dist = centroids.map((m) => m.reduce((s, v, k) => s + (v - testX[i][k]) ** 2, 0));
      return dist.indexOf(Math.min(...dist)) === c;
    }).length;
    return hits / idx.length;
  });
  return recalls.reduce((a, b) => a + b, 0) / 3;
}

Deno.test({
  name: "data.example: simple features + nearest centroid beat chance on session 5 per dimension",
  ignore: !exists,
  async fn() {
    const rows = (await readCorpus()).filter((r) => r.session !== 4);
    const feats: { speaker: string; f: number[] }[] = [];
    for (const r of rows) {
      feats.push({ speaker: r.speaker, f: features((await readWav(r.path)).samples) });
    }
    const x = speakerNormalise(feats);
    const train = rows.map((r, i) => (r.session <= 3 ? i : -1)).filter((i) => i >= 0);
    const test = rows.map((r, i) => (r.session === 5 ? i : -1)).filter((i) => i >= 0);
    const levels: Level[] = ["low", "mid", "high"];
    const names = ["valence", "arousal", "dominance"];
    const report: string[] = [];
    for (let k = 0; k < 3; k++) {
      const y = rows.map((r) => levels.indexOf(levelOf(r.vad[k])));
      const uar = nearestCentroidUar(
        train.map((i) => x[i]),
        train.map((i) => y[i]),
        test.map((i) => x[i]),
        test.map((i) => y[i]),
      );
      report.push(`${names[k]} ${(100 * uar).toFixed(1)} %`);
      // Chance is 33.3 %; the margin leaves room for a weaker model to still learn something.
      assert.ok(uar >= 0.5, `${names[k]}: nearest-centroid UAR ${uar} on session 5`);
    }
    console.log(`nearest-centroid UAR on session 5: ${report.join(", ")}`);
  },
});
