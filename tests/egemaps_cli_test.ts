/**
 * `deno task egemaps` (scripts/egemaps.ts) run as a subprocess on fixtures built here: the
 * folder walk with symbolic links and loops, row and LLD naming, CSV quoting, bad inputs, output
 * checks, the zero-padding rule shared with the experiment, and the command line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeWav16, readWav } from "../lib/audio/mod.ts";
import { extractEgemaps } from "../lib/features/egemaps/mod.ts";
import { corpusFeatures } from "../lib/experiment/features.ts";
import { runTask } from "./task_runner.ts";
import { withTempDir } from "./temp_dir.ts";

const REPO = new URL("..", import.meta.url).pathname;

/** Runs the CLI; the timeout makes a hanging walk (a followed loop) fail instead of block. */
const egemaps = (args: string[], cwd = REPO) =>
  runTask("egemaps", args, { cwd, timeoutMs: 120_000 });

/** A short harmonic tone; `f0` makes files distinguishable by their features. */
function tone(n: number, f0: number, rate = 16000): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    x[i] = 0.3 * Math.sin(2 * Math.PI * f0 * t) + 0.1 * Math.sin(2 * Math.PI * 2 * f0 * t);
  }
  return x;
}

async function writeTone(path: string, n: number, f0: number, rate = 16000): Promise<void> {
  await Deno.writeFile(path, encodeWav16(tone(n, f0, rate), rate));
}

/** The CLI's rounding (7 significant digits), so expected values compare exactly. */
const num = (v: number) => Number(v.toPrecision(7));

/** Data rows of a CSV, keyed by their first cell exactly as written (quotes included). */
function rowsByCell(csv: string, cells: string[]): Map<string, number[]> {
  const lines = csv.trimEnd().split("\n").slice(1);
  assert.equal(lines.length, cells.length, csv.slice(0, 2000));
  const out = new Map<string, number[]>();
  lines.forEach((line, i) => {
    const cell = cells[i];
    assert.ok(line.startsWith(cell + ","), `row ${i + 1} should start with ${cell}: ${line}`);
    const values = line.slice(cell.length + 1).split(",");
    assert.equal(values.length, 88, `row ${cell}: ${values.length} values`);
    out.set(cell, values.map(Number));
  });
  return out;
}

async function libFunctionals(path: string): Promise<number[]> {
  const audio = await readWav(path);
  return Array.from(extractEgemaps(audio.samples, audio.sampleRate).functionals.values, num);
}

const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

Deno.test("egemaps CLI: follows symlinked files and folders, reports a loop, names rows by relative path, quotes per RFC 4180, mirrors LLD files", async () => {
  await withTempDir("egemaps_cli_", async (dir) => {
    const root = join(dir, "root");
    await Deno.mkdir(join(root, "sub"), { recursive: true });
    await Deno.mkdir(join(dir, "outside", "dir"), { recursive: true });
    // Same base name in two folders, with different content, must stay two distinct rows.
    await writeTone(join(root, "a.wav"), 3200, 140);
    await writeTone(join(root, "sub", "a.wav"), 3200, 260);
    await writeTone(join(root, `we,ird "q".wav`), 3200, 200);
    await writeTone(join(dir, "outside", "x.wav"), 3200, 310);
    await writeTone(join(dir, "outside", "dir", "b.wav"), 3200, 180);
    await Deno.symlink("..", join(root, "sub", "loop"));
    await Deno.symlink("../outside/x.wav", join(root, "linked.wav"));
    await Deno.symlink("../outside/dir", join(root, "linkdir"));
    await Deno.symlink("a.wav", join(root, "dup.wav"));

    const r = await egemaps([root, "--out", join(dir, "out", "f.csv"), "--lld-dir", "lld"], dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /root\/sub\/loop: symbolic link loop \(leads back to .*root\)/);
    assert.match(r.stderr, /root\/dup\.wav: same file as .*root\/a\.wav; used once/);
    assert.doesNotMatch(r.stderr, /skipped/);

    const cells = ["a.wav", "linkdir/b.wav", "linked.wav", "sub/a.wav", `"we,ird ""q"".wav"`];
    const sources = [
      join(root, "a.wav"),
      join(dir, "outside", "dir", "b.wav"),
      join(dir, "outside", "x.wav"),
      join(root, "sub", "a.wav"),
      join(root, `we,ird "q".wav`),
    ];
    const csv = await Deno.readTextFile(join(dir, "out", "f.csv"));
    const rows = rowsByCell(csv, cells);
    for (let i = 0; i < cells.length; i++) {
      assert.deepEqual(rows.get(cells[i]), await libFunctionals(sources[i]), cells[i]);
    }
    assert.notDeepEqual(rows.get("a.wav"), rows.get("sub/a.wav"));

    const lldFiles = ["a.csv", "linkdir/b.csv", "linked.csv", "sub/a.csv", `we,ird "q".csv`];
    const lldTexts: string[] = [];
    for (let i = 0; i < lldFiles.length; i++) {
      const text = await Deno.readTextFile(join(dir, "lld", lldFiles[i]));
      const lines = text.trimEnd().split("\n");
      const audio = await readWav(sources[i]);
      const frames = extractEgemaps(audio.samples, audio.sampleRate).lld.values.length;
      assert.equal(lines.length - 1, frames, lldFiles[i]);
      for (const line of lines.slice(1)) {
        assert.ok(line.startsWith(cells[i] + ","), `${lldFiles[i]}: ${line}`);
        assert.equal(line.slice(cells[i].length + 1).split(",").length, 26);
      }
      lldTexts.push(text);
    }
    assert.notEqual(lldTexts[0].split("\n")[1], lldTexts[3].split("\n")[1]);
  });
});

Deno.test("egemaps CLI: files given directly are named by their path; clashing row names or LLD files are refused before extraction", async () => {
  await withTempDir("egemaps_cli_", async (dir) => {
    for (const d of ["d1", "d2", "c"]) await Deno.mkdir(join(dir, d));
    await writeTone(join(dir, "d1", "a.wav"), 3200, 150);
    await writeTone(join(dir, "d2", "a.wav"), 3200, 250);
    await writeTone(join(dir, "c", "A.wav"), 3200, 170);
    await writeTone(join(dir, "c", "a.wav"), 3200, 230);

    const direct = await egemaps(
      ["./d1/a.wav", "d2//a.wav", "--out", "f.csv", "--lld-dir", "lld"],
      dir,
    );
    assert.equal(direct.code, 0, direct.stderr);
    const rows = rowsByCell(await Deno.readTextFile(join(dir, "f.csv")), ["d1/a.wav", "d2/a.wav"]);
    assert.deepEqual(rows.get("d1/a.wav"), await libFunctionals(join(dir, "d1", "a.wav")));
    assert.deepEqual(rows.get("d2/a.wav"), await libFunctionals(join(dir, "d2", "a.wav")));
    assert.ok(await exists(join(dir, "lld", "d1", "a.csv")));
    assert.ok(await exists(join(dir, "lld", "d2", "a.csv")));

    // Walked from two folders both files are "a.wav": two rows nobody could tell apart.
    const clash = await egemaps(["d1", "d2", "--out", "g.csv"], dir);
    assert.equal(clash.code, 1, clash.stderr);
    assert.match(clash.stderr, /row name "a\.wav" for both d1\/a\.wav and d2\/a\.wav/);
    assert.doesNotMatch(clash.stderr, /ms\/file/);
    assert.equal(await exists(join(dir, "g.csv")), false);

    // A.wav and a.wav are two rows, but their LLD files would be one on a case-insensitive disk.
    const cased = await egemaps(["c", "--out", "h.csv"], dir);
    assert.equal(cased.code, 0, cased.stderr);
    rowsByCell(await Deno.readTextFile(join(dir, "h.csv")), ["A.wav", "a.wav"]);
    const casedLld = await egemaps(["c", "--out", "i.csv", "--lld-dir", "lld2"], dir);
    assert.equal(casedLld.code, 1, casedLld.stderr);
    assert.match(casedLld.stderr, /LLD file lld2\/a\.csv for both c\/A\.wav and c\/a\.wav/);
    assert.equal(await exists(join(dir, "i.csv")), false);
  });
});

Deno.test("egemaps CLI: all inputs bad fails naming each; some bad keeps the good ones (exit 0, warning); --strict exits 1 and leaves the old CSV", async () => {
  await withTempDir("egemaps_cli_", async (dir) => {
    const bad = join(dir, "bad");
    await Deno.mkdir(bad);
    await Deno.writeTextFile(join(bad, "broken.wav"), "not a wav");
    await Deno.writeFile(join(bad, "empty.wav"), encodeWav16(new Float32Array(0), 16000));
    await Deno.symlink("self.wav", join(bad, "self.wav"));
    await writeTone(join(dir, "good.wav"), 3200, 200);

    const all = await egemaps(["bad", "missing.wav", "--out", "all.csv"], dir);
    assert.equal(all.code, 1, all.stderr);
    assert.match(all.stderr, /bad\/broken\.wav: skipped: not a RIFF\/WAVE file/);
    assert.match(all.stderr, /bad\/empty\.wav: skipped: no samples/);
    assert.match(all.stderr, /bad\/self\.wav: skipped: symbolic link loop/);
    assert.match(all.stderr, /missing\.wav: skipped: file not found/);
    assert.match(all.stderr, /nothing written/);
    assert.equal(await exists(join(dir, "all.csv")), false);

    const some = await egemaps(["bad", "good.wav", "--out", "some.csv"], dir);
    assert.equal(some.code, 0, some.stderr);
    assert.match(some.stderr, /warning: 3 bad file\(s\) skipped/);
    const rows = rowsByCell(await Deno.readTextFile(join(dir, "some.csv")), ["good.wav"]);
    assert.deepEqual(rows.get("good.wav"), await libFunctionals(join(dir, "good.wav")));

    await Deno.writeTextFile(join(dir, "strict.csv"), "old\n");
    const strict = await egemaps(
      ["bad/broken.wav", "good.wav", "--strict", "--out", "strict.csv"],
      dir,
    );
    assert.equal(strict.code, 1, strict.stderr);
    assert.match(strict.stderr, /--strict: stopping at bad\/broken\.wav/);
    assert.equal(await Deno.readTextFile(join(dir, "strict.csv")), "old\n");
    // Atomic writes leave no temporary files behind.
    for await (const e of Deno.readDir(dir)) assert.doesNotMatch(e.name, /tmp/, e.name);
  });
});

Deno.test("egemaps CLI: an unwritable --out or --lld-dir is reported before any extraction, without a stack trace", async () => {
  await withTempDir("egemaps_cli_", async (dir) => {
    await Deno.writeTextFile(join(dir, "plain"), "a regular file");
    await Deno.mkdir(join(dir, "folder"));
    await writeTone(join(dir, "good.wav"), 3200, 200);
    const cases: [string[], RegExp][] = [
      [
        ["--out", "plain/f.csv"],
        /cannot write --out plain\/f\.csv .*plain is a file, not a folder/,
      ],
      [["--out", "folder"], /cannot write --out folder: it is a folder/],
      [
        ["--out", "f.csv", "--lld-dir", "plain/lld"],
        /cannot write --lld-dir plain\/lld: plain is a file, not a folder/,
      ],
    ];
    for (const [args, expected] of cases) {
      // missing.wav would be reported if inputs were looked at: the output check comes first.
      const r = await egemaps(["good.wav", "missing.wav", ...args], dir);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, expected);
      assert.doesNotMatch(r.stderr, /^\s+at /m);
      assert.doesNotMatch(r.stderr, /missing\.wav|ms\/file/);
    }
    assert.equal(await exists(join(dir, "f.csv")), false);
  });
});

Deno.test("egemaps CLI: audio shorter than one window is zero-padded like reproduce, noted and counted, and gives the experiment's features", async () => {
  await withTempDir("egemaps_cli_", async (dir) => {
    // 200 samples is below extractEgemaps' 320-sample minimum, 500 is above it but below one
    // 640-sample window, and 8 kHz audio is short only after resampling to 16 kHz.
    await writeTone(join(dir, "s200.wav"), 200, 220);
    await writeTone(join(dir, "s500.wav"), 500, 180);
    await writeTone(join(dir, "s8k.wav"), 250, 200, 8000);
    const r = await egemaps([".", "--out", "f.csv"], dir);
    assert.equal(r.code, 0, r.stderr);
    for (const [name, n] of [["s200", 200], ["s500", 500], ["s8k", 500]] as const) {
      assert.match(
        r.stderr,
        new RegExp(`${name}\\.wav: ${n} samples at 16000 Hz.*zero-padded to 640`),
      );
    }
    assert.match(r.stderr, /3 file\(s\) → f\.csv \(3 zero-padded to one window\)/);

    const names = ["s200", "s500", "s8k"];
    const utterances = names.map((id) => ({
      id,
      path: join(dir, `${id}.wav`),
      speaker: "x",
      labels: {},
    }));
    const lib = await corpusFeatures(utterances, join(dir, "cache"));
    assert.deepEqual(lib.skipped, []);
    const rows = rowsByCell(
      await Deno.readTextFile(join(dir, "f.csv")),
      names.map((n) => `${n}.wav`),
    );
    for (const id of names) {
      assert.deepEqual(rows.get(`${id}.wav`), Array.from(lib.functionals.get(id)!, num), id);
    }
  });
});

Deno.test("egemaps CLI: an unknown flag or a missing --out prints the usage and exits 2; --help documents the rules", async () => {
  const unknown = await egemaps(["--bogus", "x.wav", "--out", "f.csv"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /Unknown option '--bogus'/);
  assert.match(unknown.stderr, /usage: deno task egemaps/);
  assert.doesNotMatch(unknown.stderr, /^\s+at /m);
  const noOut = await egemaps(["x.wav"]);
  assert.equal(noOut.code, 2);
  assert.match(noOut.stderr, /--out is required\nusage: /);
  const help = await egemaps(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /zero-padded to one window, as `deno task reproduce` does/);
  assert.match(help.stdout, /Exit codes\n {2}0 /);
  assert.match(help.stdout, /symbolic link loop|a link that leads back/);
});
