import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeWav16 } from "../lib/audio/mod.ts";
import {
  corpusReport,
  discretiseRating,
  EMODB_DEFAULT_SPLIT,
  iemocapSpeaker,
  leaveOneSpeakerOut,
  loadCorpus,
  parseCsv,
  parseEmodbName,
  parseEmoEvaluation,
  parseSessionSplit,
  partition,
} from "../lib/corpus/mod.ts";

const EVAL_TEXT = [
  "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]",
  "",
  "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]",
  "C-E2:\tNeutral;\t()",
  "C-E3:\tNeutral;\t()",
  "A-E3:\tval 3; act 2; dom  2;\t()",
  "",
  "[10.0100 - 11.3925]\tSes01F_impro01_M001\tang\t[2.0000, 4.0000, 2.0001]",
  "C-E1:\tAnger;\t()",
  "",
  "[12.0 - 13.0]\tSes01F_impro01_F002\txxx\t[5.5000, 1.0000, 3.0000]",
  "[14.0 - 15.0]\tSes01F_impro01_F003\thap\t[3.0000, oops, 3.0000]",
  "[16.0 - 17.0]\tSes01F_impro01_M004 missing the bracket",
  "garbage line",
  "",
].join("\n");

Deno.test("EmoEvaluation: utterance lines parsed, annotator lines skipped, malformed lines reported", () => {
  const { entries, problems } = parseEmoEvaluation(EVAL_TEXT);
  assert.deepEqual(entries.map((e) => e.id), [
    "Ses01F_impro01_F000",
    "Ses01F_impro01_M001",
    "Ses01F_impro01_F002",
  ]);
  const e = entries[1];
  // The bracket is [valence, activation, dominance].
  assert.equal(e.valence, 2);
  assert.equal(e.arousal, 4);
  assert.equal(e.dominance, 2.0001);
  assert.equal(e.emotion, "ang");
  assert.equal(e.start, 10.01);
  assert.equal(problems.length, 3);
  assert.deepEqual(problems.map((p) => p.line), [12, 13, 14]);
});

Deno.test("discretisation: low = [1, 2], mid = (2, 4), high = [4, 5]", () => {
  assert.equal(discretiseRating(1), 0);
  assert.equal(discretiseRating(2.0), 0);
  assert.equal(discretiseRating(2.0001), 1);
  assert.equal(discretiseRating(3.9999), 1);
  assert.equal(discretiseRating(4.0), 2);
  assert.equal(discretiseRating(5), 2);
  assert.equal(discretiseRating(0.5), null);
  assert.equal(discretiseRating(5.5), null);
  assert.equal(discretiseRating(NaN), null);
});

Deno.test("IEMOCAP speaker = session + gender letter of the id's last part", () => {
  assert.equal(iemocapSpeaker("Ses01F_impro01_M003"), "Ses01M");
  assert.equal(iemocapSpeaker("Ses05M_script02_2_F014"), "Ses05F");
  assert.throws(() => iemocapSpeaker("03a01Fa"), /not an IEMOCAP utterance id/);
});

Deno.test("session split parsing", () => {
  assert.deepEqual(parseSessionSplit("train=1,2,3;dev=4;test=5"), {
    train: [1, 2, 3],
    dev: [4],
    test: [5],
  });
  assert.deepEqual(parseSessionSplit("train=1,2,3,4;test=5").dev, []);
  assert.throws(() => parseSessionSplit("train=1,2;dev=2"), /repeated/);
  assert.throws(() => parseSessionSplit("valid=4"), /bad session split/);
});

/** Writes a miniature IEMOCAP tree: sessions 1–5, one dialogue each, a few utterances. */
async function makeIemocapTree(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "iemocap-fixture-" });
  const tone = (n: number, f: number) =>
    Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin((2 * Math.PI * f * i) / 16000));
  for (let s = 1; s <= 5; s++) {
    const dialog = `Ses0${s}F_impro01`;
    const evalDir = join(root, `Session${s}`, "dialog", "EmoEvaluation");
    const wavDir = join(root, `Session${s}`, "sentences", "wav", dialog);
    await Deno.mkdir(evalDir, { recursive: true });
    await Deno.mkdir(wavDir, { recursive: true });
    const lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""];
    const utts = [
      ["F000", "neu", "[2.5000, 2.5000, 2.5000]", 8000],
      ["M001", "ang", "[1.5000, 4.5000, 4.0000]", 4800],
      ["F002", "sad", "[1.0000, 1.5000, 2.0000]", 320], // shorter than one window
    ] as const;
    for (const [suffix, emo, dims, n] of utts) {
      const id = `${dialog}_${suffix}`;
      lines.push(`[1.0 - 2.0]\t${id}\t${emo}\t${dims}`, "C-E1:\tNeutral;\t()", "");
      await Deno.writeFile(join(wavDir, `${id}.wav`), encodeWav16(tone(n, 200 + 50 * s), 16000));
    }
    // An annotated utterance whose wav is missing, and one with a rating outside [1, 5].
    lines.push(`[3.0 - 4.0]\t${dialog}_M003\tfru\t[2.0000, 3.0000, 3.0000]`, "");
    lines.push(`[5.0 - 6.0]\t${dialog}_F004\thap\t[6.0000, 3.0000, 3.0000]`, "");
    await Deno.writeFile(join(wavDir, `${dialog}_F004.wav`), encodeWav16(tone(3200, 300), 16000));
    await Deno.writeTextFile(join(evalDir, `${dialog}.txt`), lines.join("\n"));
  }
  // A corrupt wav in session 2.
  await Deno.writeTextFile(
    join(root, "Session2", "sentences", "wav", "Ses02F_impro01", "Ses02F_impro01_M001.wav"),
    "not audio",
  );
  return root;
}

Deno.test("IEMOCAP loader: layout, labels, speakers, session split, skipped files, report", async () => {
  const root = await makeIemocapTree();
  try {
    const corpus = await loadCorpus({ corpus: "iemocap", data: root });
    // 5 sessions × 4 annotated utterances with audio, minus the corrupt one.
    assert.equal(corpus.utterances.length, 19);
    const u = corpus.utterances.find((u) => u.id === "Ses01F_impro01_M001")!;
    assert.equal(u.speaker, "Ses01M");
    assert.equal(u.partition, "train");
    assert.deepEqual(
      { a: u.labels.arousal, v: u.labels.valence, d: u.labels.dominance },
      { a: 2, v: 0, d: 2 },
    );
    assert.equal(u.labels.emotion, 4); // ang
    assert.equal(u.labels.emotion4, 3); // angry
    assert.equal(u.samples, 4800);
    const bad = corpus.utterances.find((u) => u.id === "Ses01F_impro01_F004")!;
    assert.equal(bad.labels.valence, undefined, "valence 6.0 is out of range → missing");
    assert.equal(bad.labels.arousal, 1);
    assert.deepEqual(
      new Set(corpus.utterances.map((u) => u.partition)),
      new Set(["train", "dev", "test"]),
    );
    assert.ok(
      corpus.utterances.filter((u) => u.id.startsWith("Ses04")).every((u) => u.partition === "dev"),
    );
    assert.ok(
      corpus.utterances.filter((u) => u.id.startsWith("Ses05")).every((u) =>
        u.partition === "test"
      ),
    );
    const reasons = corpus.skipped.map((s) => `${s.file}: ${s.reason}`).join("\n");
    assert.match(reasons, /Ses02F_impro01_M001\.wav: not a RIFF\/WAVE file/);
    assert.match(reasons, /Ses03F_impro01_M003\.wav: file not found/);
    assert.match(reasons, /valence rating 6 outside \[1, 5\]/);
    const report = corpusReport(corpus);
    assert.equal(report.partitions.train.n, 11);
    assert.equal(report.partitions.dev.n, 4);
    assert.equal(report.partitions.test.n, 4);
    assert.equal(report.padded, 5, "one sub-window file per session is zero-padded");
    assert.equal(report.partitions.test.classes.arousal.high, 1);
    assert.deepEqual(report.speakers.dev, ["Ses04F", "Ses04M"]);
    // Configurable split.
    const other = await loadCorpus({
      corpus: "iemocap",
      data: root,
      sessionSplit: parseSessionSplit("train=2,3,4;dev=5;test=1"),
      validate: false,
    });
    assert.ok(
      other.utterances.filter((u) => u.id.startsWith("Ses01")).every((u) => u.partition === "test"),
    );
    await assert.rejects(
      () => loadCorpus({ corpus: "iemocap", data: root, strict: true }),
      /Ses0\d/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("CSV parsing handles quotes, doubled quotes, CRLF and blank lines", () => {
  assert.deepEqual(parseCsv('a,b,c\r\n"x, y","say ""hi""",3\n\n1,,2\n'), [
    ["a", "b", "c"],
    ["x, y", 'say "hi"', "3"],
    ["1", "", "2"],
  ]);
});

Deno.test("manifest corpus: tasks, class order, missing labels, errors", async () => {
  const dir = await Deno.makeTempDir({ prefix: "manifest-" });
  try {
    const tone = Float32Array.from({ length: 3200 }, (_, i) => 0.2 * Math.sin(i / 5));
    await Deno.mkdir(join(dir, "audio"));
    for (const n of ["a", "b", "c"]) {
      await Deno.writeFile(join(dir, "audio", `${n}.wav`), encodeWav16(tone, 16000));
    }
    const manifest = join(dir, "corpus.csv");
    await Deno.writeTextFile(
      manifest,
      [
        "path,speaker,partition,emotion,arousal[low|mid|high]",
        "audio/a.wav,s1,train,sad,low",
        "audio/b.wav,s2,test,happy,",
        "audio/c.wav,s3,dev,happy,high",
        "audio/missing.wav,s3,dev,sad,mid",
        "audio/d.wav,s3,dev,happy,extreme",
      ].join("\n"),
    );
    const corpus = await loadCorpus({ corpus: "manifest", data: manifest });
    assert.deepEqual(corpus.tasks, [
      { name: "emotion", classes: ["happy", "sad"] },
      { name: "arousal", classes: ["low", "mid", "high"] },
    ]);
    assert.equal(corpus.utterances.length, 3);
    const b = corpus.utterances.find((u) => u.id === "audio/b")!;
    assert.deepEqual(b.labels, { emotion: 0 });
    assert.equal(b.partition, "test");
    const reasons = corpus.skipped.map((s) => `${s.file}: ${s.reason}`).join("\n");
    assert.match(reasons, /missing\.wav: file not found/);
    assert.match(reasons, /corpus\.csv:6: value 'extreme' of task arousal/);
    const noSpeaker = join(dir, "bad.csv");
    await Deno.writeTextFile(noSpeaker, "path,emotion\naudio/a.wav,sad\n");
    await assert.rejects(
      () => loadCorpus({ corpus: "manifest", data: noSpeaker }),
      /bad\.csv: missing required column 'speaker'/,
    );
    await assert.rejects(
      () => loadCorpus({ corpus: "manifest", data: manifest, tasks: ["valence"] }),
      /no column for task 'valence'/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EMO-DB file names and leave-one-speaker-out folds", () => {
  assert.deepEqual(parseEmodbName("03a01Fa.wav"), {
    speaker: "03",
    text: "a01",
    emotion: "happiness",
    version: "a",
  });
  assert.equal(parseEmodbName("03a01Xa.wav"), null);
  const utts = ["a", "b", "c"].flatMap((s) =>
    [1, 2].map((i) => ({ id: `${s}${i}`, path: "", speaker: s, labels: {} }))
  );
  const folds = leaveOneSpeakerOut(utts, 1);
  assert.equal(folds.length, 3);
  for (const f of folds) {
    assert.ok(f.test.every((u) => u.speaker === f.name));
    assert.ok(f.train.every((u) => u.speaker !== f.name));
    assert.ok(f.dev.every((u) => u.speaker !== f.name));
    assert.equal(f.train.length + f.dev.length + f.test.length, 6);
  }
});

const EMODB = new URL("../../shared/data/emodb", import.meta.url).pathname;
const haveEmodb = await Deno.stat(join(EMODB, "wav")).then(() => true, () => false);
if (!haveEmodb) console.warn("corpus_test: ../shared/data/emodb absent; skipping the EMO-DB test");

Deno.test({
  name: "EMO-DB from ../shared: 535 utterances, 10 speakers, default split sizes",
  ignore: !haveEmodb,
  fn: async () => {
    const corpus = await loadCorpus({ corpus: "emodb", data: EMODB });
    assert.equal(corpus.utterances.length, 535);
    assert.equal(corpus.skipped.length, 0);
    const perSpeaker: Record<string, number> = {};
    for (const u of corpus.utterances) perSpeaker[u.speaker] = (perSpeaker[u.speaker] ?? 0) + 1;
    // Counts from the corpus README.
    assert.deepEqual(perSpeaker, {
      "03": 49,
      "08": 58,
      "09": 43,
      "10": 38,
      "11": 55,
      "12": 35,
      "13": 61,
      "14": 69,
      "15": 56,
      "16": 71,
    });
    const sizes = Object.fromEntries(
      Object.keys(EMODB_DEFAULT_SPLIT).map((p) => [p, partition(corpus.utterances, p).length]),
    );
    assert.deepEqual(sizes, { train: 309, dev: 99, test: 127 });
    const emotions: Record<string, number> = {};
    for (const u of corpus.utterances) {
      emotions[u.meta!.emotion] = (emotions[u.meta!.emotion as string] ?? 0) + 1;
    }
    assert.equal(emotions.anger, 127);
    assert.equal(emotions.disgust, 46);
    const report = corpusReport(corpus);
    assert.ok(Math.abs(report.seconds - 1487) < 1, `total ${report.seconds} s`);
    assert.equal(report.partitions.train.classes.arousal2.high, 78 + 39 + 40);
    assert.equal(leaveOneSpeakerOut(corpus.utterances).length, 10);
  },
});
