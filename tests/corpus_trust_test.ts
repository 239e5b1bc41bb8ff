/**
 * Trust checks of the corpus loaders (issue #9): symbolic links in EMO-DB and IEMOCAP trees
 * (followed, broken ones reported by name, duplicates caught), the manifest's checks (unclosed
 * quotes, partition spellings, duplicate columns, phantom classes, one wav under several
 * spellings, a manifest reached through a link), and a seeded fuzz/property test of `parseCsv`
 * and `loadManifest`. Every fixture is built in a temporary folder.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeWav16 } from "../lib/audio/mod.ts";
import { loadCorpus } from "../lib/corpus/mod.ts";
import { loadEmodb } from "../lib/corpus/emodb.ts";
import { loadIemocap } from "../lib/corpus/iemocap.ts";
import { loadManifest, parseCsv, parseCsvRows } from "../lib/corpus/manifest.ts";
import type { Corpus } from "../lib/corpus/types.ts";
import { withTempDir } from "./temp_dir.ts";

const tone = (n: number) => Float32Array.from({ length: n }, (_, i) => 0.2 * Math.sin(i / 7));
const wav = (n = 3200) => encodeWav16(tone(n), 16000);

const reasonsOf = (items: { file: string; reason: string }[] | undefined) =>
  (items ?? []).map((s) => `${s.file}: ${s.reason}`).join("\n");

// ---------------------------------------------------------------- EMO-DB

Deno.test("EMO-DB: symlinked wavs are followed; dangling links, loops, folders and duplicates are reported by name", async () => {
  await withTempDir("emodb-links-", async (dir) => {
    const store = join(dir, "store");
    const real = join(dir, "real-wav");
    await Deno.mkdir(store);
    await Deno.mkdir(real);
    await Deno.writeFile(join(real, "03a01Fa.wav"), wav());
    await Deno.writeFile(join(store, "x.wav"), wav(4800));
    await Deno.writeFile(join(store, "y.wav"), wav(1600));
    await Deno.mkdir(join(store, "folder.wav"));
    // Kaldi-style: links to files elsewhere, relative and absolute.
    await Deno.symlink("../store/x.wav", join(real, "03a01Nc.wav"));
    await Deno.symlink(join(store, "y.wav"), join(real, "08a01Wa.wav"));
    // A link to a link.
    await Deno.symlink("08a01Wa.wav", join(real, "09a01Wa.wav"));
    await Deno.symlink("../store/nowhere.wav", join(real, "10a01Ta.wav"));
    await Deno.symlink("11a01La.wav", join(real, "11a01La.wav"));
    await Deno.symlink("12a01Tb.wav", join(real, "12a01Ta.wav"));
    await Deno.symlink("12a01Ta.wav", join(real, "12a01Tb.wav"));
    await Deno.symlink("../store/folder.wav", join(real, "13a01Na.wav"));
    // The whole wav/ folder is itself a link.
    await Deno.symlink(real, join(dir, "wav"));

    const corpus = await loadEmodb(dir);
    assert.deepEqual(corpus.utterances.map((u) => u.id), ["03a01Fa", "03a01Nc", "08a01Wa"]);
    const reasons = reasonsOf(corpus.skipped);
    assert.match(reasons, /wav\/09a01Wa\.wav: duplicate audio: the same file as 08a01Wa\.wav/);
    assert.match(reasons, /wav\/10a01Ta\.wav: dangling symbolic link .*nowhere\.wav/);
    assert.match(reasons, /wav\/11a01La\.wav: symbolic link loop/);
    assert.match(reasons, /wav\/12a01Ta\.wav: symbolic link loop/);
    assert.match(reasons, /wav\/12a01Tb\.wav: symbolic link loop/);
    assert.match(reasons, /wav\/13a01Na\.wav: is a folder/);
    assert.equal(corpus.skipped.length, 6, reasons);

    // The linked audio is readable through the loader's paths.
    const checked = await loadCorpus({ corpus: "emodb", data: dir });
    assert.deepEqual(checked.utterances.map((u) => u.samples), [3200, 4800, 1600]);
  });
});

// ---------------------------------------------------------------- IEMOCAP

/** Writes one session folder `dir`: one dialogue's EmoEvaluation file and its wavs. */
async function writeSession(dir: string, s: number, ids: string[]): Promise<void> {
  const dialog = `Ses0${s}F_impro01`;
  const evalDir = join(dir, "dialog", "EmoEvaluation");
  const wavDir = join(dir, "sentences", "wav", dialog);
  await Deno.mkdir(evalDir, { recursive: true });
  await Deno.mkdir(wavDir, { recursive: true });
  const lines = ids.map((id) => `[1.0 - 2.0]\t${dialog}_${id}\tneu\t[2.5000, 2.5000, 2.5000]`);
  await Deno.writeTextFile(join(evalDir, `${dialog}.txt`), lines.join("\n") + "\n");
  for (const id of ids) await Deno.writeFile(join(wavDir, `${dialog}_${id}.wav`), wav());
}

Deno.test("IEMOCAP: symlinked sessions and EmoEvaluation files are followed; broken links and duplicates are reported, never a crash", async () => {
  await withTempDir("iemocap-links-", async (dir) => {
    const root = join(dir, "IEMOCAP_full_release");
    const elsewhere = join(dir, "elsewhere");
    await Deno.mkdir(root);
    await writeSession(join(root, "Session1"), 1, ["F000", "M001"]);
    // Session 2 lives elsewhere and is linked in, as data preparation does.
    await writeSession(join(elsewhere, "Session2"), 2, ["F000"]);
    await Deno.symlink(join(elsewhere, "Session2"), join(root, "Session2"));
    // Session 3 is a second name for session 1's folder.
    await Deno.symlink("Session1", join(root, "Session3"));
    await Deno.symlink(join(dir, "gone"), join(root, "Session4"));
    await Deno.symlink("Session5", join(root, "Session5"));
    const evalDir = join(root, "Session1", "dialog", "EmoEvaluation");
    // A second name for an EmoEvaluation file would double its utterances.
    await Deno.symlink("Ses01F_impro01.txt", join(evalDir, "copy.txt"));
    await Deno.symlink("missing.txt", join(evalDir, "dangling.txt"));
    await Deno.symlink("loop.txt", join(evalDir, "loop.txt"));
    // A linked EmoEvaluation file from elsewhere, with a wav link that dangles.
    const otherEval = join(elsewhere, "Ses01F_impro02.txt");
    await Deno.writeTextFile(
      otherEval,
      "[1.0 - 2.0]\tSes01F_impro02_F000\tang\t[1.0000, 4.5000, 4.0000]\n" +
        // The same id as in Ses01F_impro01.txt: must not be counted twice.
        "[3.0 - 4.0]\tSes01F_impro01_M001\tang\t[1.0000, 4.5000, 4.0000]\n",
    );
    await Deno.symlink(otherEval, join(evalDir, "Ses01F_impro02.txt"));
    const wav2 = join(root, "Session1", "sentences", "wav", "Ses01F_impro02");
    await Deno.mkdir(wav2);
    await Deno.symlink("nowhere.wav", join(wav2, "Ses01F_impro02_F000.wav"));

    const corpus = await loadIemocap(root);
    assert.deepEqual(corpus.utterances.map((u) => u.id).sort(), [
      "Ses01F_impro01_F000",
      "Ses01F_impro01_M001",
      "Ses01F_impro02_F000",
      "Ses02F_impro01_F000",
    ]);
    assert.equal(corpus.utterances.find((u) => u.id === "Ses02F_impro01_F000")!.partition, "train");
    const reasons = reasonsOf(corpus.skipped);
    assert.match(reasons, /Session3: the same folder as .*Session1/);
    assert.match(reasons, /Session4: dangling symbolic link .*gone/);
    assert.match(reasons, /Session5: symbolic link loop/);
    assert.match(reasons, /copy\.txt: the same file as .*Ses01F_impro01\.txt/);
    assert.match(reasons, /dangling\.txt: dangling symbolic link .*missing\.txt/);
    assert.match(reasons, /loop\.txt: symbolic link loop/);
    assert.match(
      reasons,
      /Ses01F_impro02\.txt \(Ses01F_impro01_M001\): duplicate utterance id .*first in .*Ses01F_impro01\.txt/,
    );
    assert.equal(corpus.skipped.length, 7, reasons);

    // Reading the audio follows the linked session; the dangling wav link is reported by name.
    const checked = await loadCorpus({ corpus: "iemocap", data: root });
    assert.equal(checked.utterances.length, 3);
    assert.ok(checked.utterances.every((u) => u.samples === 3200));
    assert.match(reasonsOf(checked.skipped), /Ses01F_impro02_F000\.wav: file not found/);
  });
});

// ---------------------------------------------------------------- manifest

/** Writes audio/a.wav, audio/b.wav, audio/c.wav, audio/d.wav under `dir`. */
async function writeAudio(dir: string): Promise<void> {
  await Deno.mkdir(join(dir, "audio"), { recursive: true });
  for (const n of ["a", "b", "c", "d"]) await Deno.writeFile(join(dir, "audio", `${n}.wav`), wav());
}

Deno.test("parseCsvRows: line numbers across quoted line breaks, CRLF and blank lines", () => {
  const rows = parseCsvRows('h1,h2\r\n\r\n"multi\nline",x\n"a\r\nb"",""c",y\n\nlast,z');
  assert.deepEqual(rows, [
    { cells: ["h1", "h2"], line: 1 },
    { cells: ["multi\nline", "x"], line: 3 },
    { cells: ['a\r\nb","c', "y"], line: 5 },
    { cells: ["last", "z"], line: 8 },
  ]);
});

Deno.test("manifest: an unclosed quote is an error naming the file and the line it opened on", async () => {
  await withTempDir("manifest-quote-", async (dir) => {
    await writeAudio(dir);
    const file = join(dir, "corpus.csv");
    await Deno.writeTextFile(
      file,
      'path,speaker,emotion\naudio/a.wav,s1,sad\naudio/b.wav,s2,"happy\naudio/c.wav,s3,sad\n' +
        "audio/d.wav,s4,sad\n",
    );
    await assert.rejects(
      () => loadManifest(file),
      (e: Error) => {
        assert.ok(e.message.startsWith(`manifest ${file}:3: unclosed quote`), e.message);
        return true;
      },
    );
    assert.throws(() => parseCsv('a\n"b\n\nc', "x.csv"), /^Error: x\.csv:2: unclosed quote/);
  });
});

Deno.test("manifest: partition spellings are mapped with one note per spelling; eval and unknown values are skipped by line", async () => {
  await withTempDir("manifest-partition-", async (dir) => {
    await Deno.mkdir(join(dir, "audio"));
    const names = "abcdefghijk".split("");
    for (const n of names) await Deno.writeFile(join(dir, "audio", `${n}.wav`), wav());
    const partitions = [
      "Train",
      "TEST",
      "validation",
      "valid",
      "train",
      "Train",
      "eval",
      "holdout",
      "",
      "val",
      "Development",
    ];
    const file = join(dir, "m.csv");
    await Deno.writeTextFile(
      file,
      ["path,speaker,partition,emotion"]
        .concat(names.map((n, k) => `audio/${n}.wav,s${k},${partitions[k]},sad`)).join("\n"),
    );
    const corpus = await loadManifest(file);
    const byId = Object.fromEntries(corpus.utterances.map((u) => [u.id, u.partition]));
    assert.deepEqual(byId, {
      "audio/a": "train",
      "audio/b": "test",
      "audio/c": "dev",
      "audio/d": "dev",
      "audio/e": "train",
      "audio/f": "train",
      "audio/i": undefined,
      "audio/j": "dev",
      "audio/k": "dev",
    });
    const notes = reasonsOf(corpus.notes);
    assert.match(notes, /m\.csv:2: partition 'Train' read as 'train' \(2 rows, first at line 2\)/);
    assert.match(notes, /m\.csv:3: partition 'TEST' read as 'test' \(1 row, first at line 3\)/);
    assert.match(notes, /m\.csv:4: partition 'validation' read as 'dev'/);
    assert.match(notes, /m\.csv:5: partition 'valid' read as 'dev'/);
    assert.match(notes, /m\.csv:11: partition 'val' read as 'dev'/);
    assert.match(notes, /m\.csv:12: partition 'Development' read as 'dev'/);
    assert.match(notes, /m\.csv:10: 1 row has an empty partition .*no split/);
    assert.equal(corpus.notes!.length, 7, notes);
    const reasons = reasonsOf(corpus.skipped);
    assert.match(reasons, /m\.csv:8: partition 'eval' is ambiguous/);
    assert.match(reasons, /m\.csv:9: unknown partition 'holdout'/);
    assert.equal(corpus.skipped.length, 2, reasons);
  });
});

Deno.test("manifest: duplicate columns and duplicate tasks are errors naming the file and the column", async () => {
  await withTempDir("manifest-columns-", async (dir) => {
    await writeAudio(dir);
    const cases: [string, RegExp][] = [
      ["path,speaker,emotion,emotion", /:1: duplicate column 'emotion' \(columns 3 and 4\)/],
      ["path,speaker,path", /:1: duplicate column 'path'/],
      ["path,speaker,emotion,emotion[sad|happy]", /:1: duplicate task 'emotion'/],
      ["path,speaker,emotion[sad|sad]", /empty or repeated class/],
      ["path,speaker,emotion[sad", /'emotion\[sad' is not a task header/],
    ];
    for (const [k, [header, pattern]] of cases.entries()) {
      const file = join(dir, `c${k}.csv`);
      await Deno.writeTextFile(file, `${header}\naudio/a.wav,s1${",sad".repeat(2)}\n`);
      await assert.rejects(() => loadManifest(file), (e: Error) => {
        assert.ok(e.message.startsWith(`manifest ${file}`), e.message);
        assert.match(e.message, pattern);
        return true;
      });
    }
  });
});

Deno.test("manifest: classes come from the accepted rows only (no phantom classes)", async () => {
  await withTempDir("manifest-classes-", async (dir) => {
    await writeAudio(dir);
    const file = join(dir, "m.csv");
    await Deno.writeTextFile(
      file,
      [
        "path,speaker,partition,emotion,arousal[low|high]",
        "audio/a.wav,s1,train,sad,low",
        "audio/b.wav,s2,test,happy,high",
        "audio/c.wav,s3,test,angry,extreme", // bad fixed label → skipped
        "audio/missing.wav,s3,dev,bored,low", // missing file → skipped
        "audio/d.wav,s3,holdout,calm,low", // unknown partition → skipped
        "audio/a.wav,s4,dev,fearful,low", // duplicate audio → skipped
        "audio/c.wav,s3,test,surprised", // wrong cell count → skipped
      ].join("\n"),
    );
    const corpus = await loadManifest(file);
    assert.deepEqual(corpus.tasks[0], { name: "emotion", classes: ["happy", "sad"] });
    assert.equal(corpus.utterances.length, 2);
    assert.equal(corpus.skipped.length, 5, reasonsOf(corpus.skipped));
  });
});

Deno.test("manifest: one wav under several spellings or links is accepted once; ids do not depend on spelling", async () => {
  await withTempDir("manifest-spelling-", async (dir) => {
    await writeAudio(dir);
    await Deno.symlink("audio/a.wav", join(dir, "link.wav"));
    await Deno.symlink(join(dir, "audio", "a.wav"), join(dir, "audio", "other-link.wav"));
    const file = join(dir, "m.csv");
    await Deno.writeTextFile(
      file,
      [
        "path,speaker,partition,emotion",
        "./audio//a.wav,s1,train,sad",
        "audio/a.wav,s1,test,sad",
        `${join(dir, "audio", "a.wav")},s1,train,sad`,
        "audio/../audio/a.wav,s1,train,sad",
        "link.wav,s1,test,sad",
        "audio/other-link.wav,s1,dev,sad",
        "./audio/b.wav,s2,train,happy",
        `${join(dir, "audio", "c.wav")},s3,train,happy`,
      ].join("\n"),
    );
    const corpus = await loadManifest(file);
    assert.deepEqual(corpus.utterances.map((u) => u.id), ["audio/a", "audio/b", "audio/c"]);
    assert.equal(corpus.utterances[0].path, join(dir, "audio", "a.wav"));
    const reasons = reasonsOf(corpus.skipped);
    for (const line of [3, 4, 5, 6, 7]) {
      assert.match(reasons, new RegExp(`m\\.csv:${line}: duplicate audio: .* at line 2 `));
    }
    assert.match(reasons, /m\.csv:3: duplicate audio: .*in train at line 2 and in test here/);
    assert.match(
      reasons,
      /m\.csv:6: duplicate audio: link\.wav is the same file as \.\/audio\/\/a\.wav/,
    );
    assert.equal(corpus.skipped.length, 5, reasons);
  });
});

Deno.test("manifest: a manifest given through a symlink resolves paths against the real file's folder", async () => {
  await withTempDir("manifest-link-", async (dir) => {
    const realDir = join(dir, "corpus");
    const linkDir = join(dir, "recipe", "data");
    await writeAudio(realDir);
    await Deno.mkdir(linkDir, { recursive: true });
    // A decoy: the link's folder has an audio/ folder too, without the files.
    await Deno.mkdir(join(linkDir, "audio"));
    await Deno.writeTextFile(
      join(realDir, "manifest.csv"),
      "path,speaker,emotion\naudio/a.wav,s1,sad\naudio/b.wav,s2,happy\n",
    );
    const link = join(linkDir, "train.csv");
    await Deno.symlink(join(realDir, "manifest.csv"), link);
    const corpus = await loadManifest(link);
    assert.equal(corpus.root, realDir);
    assert.deepEqual(corpus.utterances.map((u) => u.path), [
      join(realDir, "audio", "a.wav"),
      join(realDir, "audio", "b.wav"),
    ]);
    assert.equal(corpus.skipped.length, 0, reasonsOf(corpus.skipped));
    assert.match(reasonsOf(corpus.notes), /train\.csv: the manifest is .*corpus\/manifest\.csv/);
    // A manifest that is a dangling link is an error naming it.
    const dangling = join(linkDir, "gone.csv");
    await Deno.symlink(join(realDir, "nope.csv"), dangling);
    await assert.rejects(() => loadManifest(dangling), /gone\.csv: cannot read \(dangling/);
  });
});

Deno.test("manifest: text that is not UTF-8 is an error naming the file and line", async () => {
  await withTempDir("manifest-utf8-", async (dir) => {
    const file = join(dir, "latin1.csv");
    // "Jürgen" in Latin-1: a lenient decode would turn ü into U+FFFD and merge speakers.
    const head = new TextEncoder().encode("path,speaker\naudio/a.wav,J");
    await Deno.writeFile(
      file,
      new Uint8Array([...head, 0xfc, ...new TextEncoder().encode("rgen\n")]),
    );
    await assert.rejects(() => loadManifest(file), /latin1\.csv:2: not valid UTF-8/);
  });
});

// ---------------------------------------------------------------- fuzz / property

/** Mulberry32: a small seeded PRNG, so that every failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Quotes a cell when RFC 4180 requires it. */
const quote = (c: string) => /[",\r\n]/.test(c) || c === "" ? `"${c.replaceAll('"', '""')}"` : c;

Deno.test("fuzz: parseCsv round-trips random rows with correct line numbers, and random text either parses or names the source", () => {
  const rand = prng(20240901);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const alphabet = ["a", "b", ",", '"', "\n", "\r", "\r\n", " ", "é", "\uFEFF", "\u0000"];
  for (let t = 0; t < 400; t++) {
    // Random rows, written with proper quoting, come back unchanged.
    const rows = Array.from({ length: 1 + Math.floor(rand() * 6) }, () =>
      Array.from(
        { length: 1 + Math.floor(rand() * 4) },
        () => Array.from({ length: Math.floor(rand() * 5) }, () => pick(alphabet)).join(""),
      ));
    const eol = pick(["\n", "\r\n"]);
    let text = "";
    const expected: { cells: string[]; line: number }[] = [];
    for (const r of rows) {
      const line = 1 + (text.match(/\r\n|\n|\r/g)?.length ?? 0);
      // A row of one empty cell is a blank line, which the parser drops by design.
      if (!(r.length === 1 && r[0] === "")) expected.push({ cells: r, line });
      text += r.map(quote).join(",") + eol;
    }
    assert.deepEqual(parseCsvRows(text), expected, JSON.stringify(text));
    // Random text: rows of strings, or an unclosed-quote error naming the source and a line.
    const noise = Array.from({ length: Math.floor(rand() * 80) }, () => pick(alphabet)).join("");
    try {
      const parsed = parseCsv(noise, "noise.csv");
      assert.ok(parsed.every((r) => r.length > 0 && r.every((c) => typeof c === "string")));
    } catch (e) {
      assert.ok(e instanceof Error);
      assert.match(e.message, /^noise\.csv:\d+: unclosed quote/);
      // The quote really is unclosed: an even number of quotes would have closed every cell.
      assert.ok(noise.includes('"'));
    }
  }
});

Deno.test("parseCsv is linear: megabyte-sized adversarial inputs parse in bounded time", () => {
  const n = 1 << 20;
  const inputs = [
    ",".repeat(n),
    "\n".repeat(n),
    "\r".repeat(n),
    '"' + '""'.repeat(n / 2) + '"',
    '"a"b,'.repeat(n / 5),
    '"\n",'.repeat(n / 4),
    "x".repeat(n),
  ];
  const start = performance.now();
  for (const text of inputs) parseCsv(text);
  assert.throws(() => parseCsv('"' + "a\n".repeat(n / 2)), /^Error: CSV text:1: unclosed quote/);
  assert.throws(() => parseCsv("a,".repeat(n / 2) + '"'), /unclosed quote/);
  const ms = performance.now() - start;
  // Linear work is tens of milliseconds here; a quadratic parser would take hours. The bound is
  // generous because the test machine is shared.
  assert.ok(ms < 10000, `${ms.toFixed(0)} ms`);
});

/** The properties every loaded manifest corpus must have. */
async function assertSound(corpus: Corpus, file: string, bodyRows: number): Promise<void> {
  // Every row is either an utterance or skipped: nothing is dropped silently.
  assert.equal(corpus.utterances.length + corpus.skipped.length, bodyRows);
  for (const s of [...corpus.skipped, ...corpus.notes ?? []]) {
    assert.ok(s.file.startsWith(file), `${s.file} does not name ${file}`);
  }
  assert.equal(new Set(corpus.utterances.map((u) => u.id)).size, corpus.utterances.length);
  const reals = await Promise.all(corpus.utterances.map((u) => Deno.realPath(u.path)));
  assert.equal(new Set(reals).size, reals.length, "one audio file accepted twice");
  for (const u of corpus.utterances) {
    assert.ok([undefined, "train", "dev", "test"].includes(u.partition), u.partition);
    for (const [task, k] of Object.entries(u.labels)) {
      const spec = corpus.tasks.find((t) => t.name === task)!;
      assert.ok(Number.isInteger(k) && k >= 0 && k < spec.classes.length, `${task}=${k}`);
    }
  }
  for (const t of corpus.tasks) {
    if (t.name !== "emotion") continue; // the header of the fuzz fixes arousal's classes
    assert.deepEqual(t.classes, [...t.classes].sort());
    for (let k = 0; k < t.classes.length; k++) {
      assert.ok(
        corpus.utterances.some((u) => u.labels.emotion === k),
        `phantom class ${t.classes[k]}`,
      );
    }
  }
}

Deno.test("fuzz: random bytes and random rows given to loadManifest end in a sound corpus or an Error naming the file", async () => {
  await withTempDir("manifest-fuzz-", async (dir) => {
    await writeAudio(dir);
    await Deno.symlink("audio/a.wav", join(dir, "link.wav"));
    await Deno.symlink("nowhere.wav", join(dir, "dangling.wav"));
    await Deno.symlink("loop.wav", join(dir, "loop.wav"));
    const rand = prng(7);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const columns = [
      "path",
      "speaker",
      "partition",
      "id",
      "emotion",
      "arousal[low|high]",
    ];
    const pools: Record<string, string[]> = {
      // Faulty paths; the good ones are spelt by `goodPath`.
      path: ["link.wav", "dangling.wav", "loop.wav", "audio", "missing.wav", ""],
      speaker: ["s1", "s2", "s3", "", "s,3"],
      partition: ["train", "Train", "TEST", "val", "eval", "", "holdout", "dev", "test"],
      id: ["", "", "u1", "u2"],
      emotion: ["sad", "happy", "", 'x"y', "a,b"],
      "arousal[low|high]": ["low", "high", "", "mid"],
    };
    for (let k = 0; k < 12; k++) await Deno.writeFile(join(dir, "audio", `f${k}.wav`), wav(320));
    /** One of twelve files, under one of the spellings that must all resolve to it. */
    const goodPath = () => {
      const f = `f${Math.floor(rand() * 12)}.wav`;
      return pick([`audio/${f}`, `./audio/${f}`, `audio//${f}`, join(dir, "audio", f)]);
    };
    const file = join(dir, "fuzz.csv");
    let loaded = 0, failed = 0, accepted = 0;
    for (let t = 0; t < 300; t++) {
      let bytes: Uint8Array;
      if (t % 5 === 0) {
        bytes = Uint8Array.from({ length: Math.floor(rand() * 200) }, () =>
          // Mostly printable ASCII with CSV's special characters, sometimes any byte.
          rand() < 0.2 ? Math.floor(rand() * 256) : pick([44, 34, 10, 13, 97, 47, 46, 119]));
      } else {
        const header = columns.filter((c) => c === "path" || c === "speaker" || rand() < 0.4)
          // Now and then a header fault: a duplicate column, an unnamed one, a malformed task.
          .concat(rand() < 0.05 ? ["emotion"] : [], rand() < 0.05 ? [""] : [])
          .concat(rand() < 0.05 ? ["x["] : [])
          .sort(() => rand() - 0.5);
        if (rand() < 0.05) header.splice(header.indexOf("speaker"), 1);
        const lines = [header.join(",")];
        for (let r = Math.floor(rand() * 10); r > 0; r--) {
          const cells = header.map((h) =>
            h === "path" && rand() < 0.7 ? goodPath() : pick(pools[h] ?? ["?", ""])
          );
          if (rand() < 0.1) cells.pop();
          let line = cells.map((c) => /[",]/.test(c) ? quote(c) : c).join(",");
          if (rand() < 0.05) line += ',"'; // an unclosed quote
          lines.push(line);
          if (rand() < 0.1) lines.push("");
        }
        bytes = new TextEncoder().encode(lines.join(pick(["\n", "\r\n"])));
      }
      await Deno.writeFile(file, bytes);
      let corpus: Corpus;
      try {
        corpus = await loadManifest(file);
      } catch (e) {
        assert.ok(e instanceof Error, `case ${t}: threw a non-Error`);
        assert.ok(e.message.includes(file), `case ${t}: ${e.message}`);
        failed++;
        continue;
      }
      const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes).replace(/^\uFEFF/, "");
      await assertSound(corpus, file, parseCsvRows(text).length - 1);
      loaded++;
      accepted += corpus.utterances.length;
    }
    // Both outcomes were exercised, and the properties were checked on corpora with utterances.
    const counts = `loaded ${loaded}, failed ${failed}, utterances ${accepted}`;
    assert.ok(loaded > 150 && failed > 30 && accepted > 200, counts);
  });
});
