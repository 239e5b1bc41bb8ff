/**
 * IEMOCAP's standard protocol, `session-cv`: five folds, each session the test set once, the
 * session before it the dev set, speaker-independent; results per fold and pooled. Checked on a
 * format-exact IEMOCAP tree (EmoEvaluation files as the release writes them: header, summary
 * line, categorical and dimensional annotator lines).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { encodeWav16 } from "../lib/audio/mod.ts";
import { loadCorpus, sessionFolds } from "../lib/corpus/mod.ts";
import { resolveExperiment, SMOKE_OVERLAY } from "../lib/experiment/config.ts";
import { runExperiment } from "../lib/experiment/run.ts";
import { Random } from "../lib/util/random.ts";

const CODES = ["neu", "ang", "sad", "hap"] as const;
const CATEGORY = { neu: "Neutral", ang: "Anger", sad: "Sadness", hap: "Happiness" };
/** [valence, activation, dominance] of each code's evaluators (whole ratings). */
const RATINGS = { neu: [3, 3, 3], ang: [1, 5, 4], sad: [1, 1, 2], hap: [5, 4, 3] };

/**
 * Writes `IEMOCAP_full_release/Session1…5`: per session an impro and a script dialogue, both
 * speakers (F, M) talking in each, utterance wavs under `sentences/wav/<dialog>/`.
 */
async function makeIemocap(root: string): Promise<void> {
  const rng = new Random(11);
  for (let s = 1; s <= 5; s++) {
    const session = join(root, `Session${s}`);
    const evalDir = join(session, "dialog", "EmoEvaluation");
    await Deno.mkdir(evalDir, { recursive: true });
    for (const [d, dialog] of [`Ses0${s}F_impro01`, `Ses0${s}M_script01_1`].entries()) {
      const wavDir = join(session, "sentences", "wav", dialog);
      await Deno.mkdir(wavDir, { recursive: true });
      const lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""];
      let t = 2.5;
      for (let k = 0; k < 4; k++) {
        for (const spk of ["F", "M"]) {
          const code = CODES[(k + d + s) % CODES.length];
          const id = `${dialog}_${spk}${String(k).padStart(3, "0")}`;
          const n = 6400 + Math.floor(rng.next() * 6400);
          const [v, a, dom] = RATINGS[code];
          const f0 = 100 + 60 * a + (spk === "F" ? 80 : 0);
          const wav = Float32Array.from(
            { length: n },
            (_, i) => 0.2 * Math.sin((2 * Math.PI * f0 * i) / 16000) + 0.01 * (rng.next() - 0.5),
          );
          await Deno.writeFile(join(wavDir, `${id}.wav`), encodeWav16(wav, 16000));
          const end = t + n / 16000;
          lines.push(
            `[${t.toFixed(4)} - ${end.toFixed(4)}]\t${id}\t${code}\t[${v.toFixed(4)}, ${
              a.toFixed(4)
            }, ${dom.toFixed(4)}]`,
            `C-E1:\t${CATEGORY[code]};\t()`,
            `C-E3:\t${CATEGORY[code]};\t()`,
            `C-${spk}1:\t${CATEGORY[code]};\t()`,
            `A-E1:\tval ${v}; act ${a}; dom  ${dom};\t()`,
            `A-E3:\tval ${v}; act ${a}; dom  ${dom};\t()`,
            `A-${spk}1:\tval 3; act 3; dom  3;\t()`,
            "",
          );
          t = end + 0.75;
        }
      }
      await Deno.writeTextFile(join(evalDir, `${dialog}.txt`), lines.join("\n"));
    }
  }
}

Deno.test({
  name: "session-cv on IEMOCAP: five speaker-independent folds; results per fold and pooled",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "session-cv-" });
    try {
      const root = join(dir, "IEMOCAP_full_release");
      await makeIemocap(root);
      const corpus = await loadCorpus({ corpus: "iemocap", data: root });
      assert.equal(corpus.utterances.length, 80);
      assert.deepEqual(corpus.skipped, []);
      const folds = sessionFolds(corpus.utterances);
      assert.deepEqual(folds.map((f) => f.name), [
        "Session1",
        "Session2",
        "Session3",
        "Session4",
        "Session5",
      ]);
      const sessions = (list: typeof corpus.utterances) =>
        [...new Set(list.map((u) => u.meta!.session))].sort();
      const speakers = (list: typeof corpus.utterances) => new Set(list.map((u) => u.speaker));
      for (const [k, f] of folds.entries()) {
        const s = k + 1, dev = s === 1 ? 5 : s - 1;
        assert.deepEqual(sessions(f.test), [s]);
        assert.deepEqual(sessions(f.dev), [dev], `${f.name}: dev is the session before`);
        assert.deepEqual(sessions(f.train), [1, 2, 3, 4, 5].filter((x) => x !== s && x !== dev));
        assert.deepEqual([...speakers(f.test)].sort(), [`Ses0${s}F`, `Ses0${s}M`]);
        // Speaker-independent: no speaker in two sets of a fold.
        for (const spk of speakers(f.test)) {
          assert.ok(!speakers(f.train).has(spk) && !speakers(f.dev).has(spk));
        }
        for (const spk of speakers(f.dev)) assert.ok(!speakers(f.train).has(spk));
        assert.equal(f.train.length + f.dev.length + f.test.length, 80);
      }
      // The fold that tests session 5 is the paper's split (train 1–3, dev 4, test 5).
      const paper = folds[4];
      assert.deepEqual(
        paper.train.map((u) => u.id).sort(),
        corpus.utterances.filter((u) => u.partition === "train").map((u) => u.id).sort(),
      );
      assert.deepEqual(
        paper.dev.map((u) => u.id),
        corpus.utterances.filter((u) => u.partition === "dev").map((u) => u.id),
      );
      assert.throws(
        () => sessionFolds(corpus.utterances.map((u) => ({ ...u, meta: {} }))),
        /session/,
      );

      // The experiment: OS+SVM (C on each fold's dev session) and e2e MTL, 5 folds each.
      const out = join(dir, "run");
      const config = await resolveExperiment({
        corpus: "iemocap",
        overlays: [SMOKE_OVERLAY],
        values: {
          "data.root": root,
          "data.protocol": "session-cv",
          "data.limitPerPartition": 0,
          "baselines.svmCGrid": [0.01, 1],
          "training.taskWeightTrials": 1,
          systems: ["os-svm", "e2e-mtl"],
          backend: "wasm",
          out,
        },
      });
      const lines: string[] = [];
      const { results, run } = await runExperiment(config, {
        log: (l) => lines.push(l),
        progress: "none",
        commit: null,
      });
      assert.equal(results.protocol, "session-cv");
      assert.deepEqual(Object.keys(run.utterances), folds.map((f) => f.name));
      for (const system of ["os-svm", "e2e-mtl"] as const) {
        for (const task of ["arousal", "valence", "dominance"]) {
          const s = results.systems[system]![task];
          // Pooled test: every utterance once (each session is the test set of one fold).
          assert.equal(s.test.n, 80, `${system} ${task}: pooled over the five sessions`);
          assert.deepEqual(Object.keys(s.folds!), folds.map((f) => f.name));
          for (const f of Object.values(s.folds!)) {
            assert.equal(f.n_test, 16);
            assert.ok(f.test_uar >= 0 && f.test_uar <= 1);
            assert.ok(f.dev_uar !== null && f.dev_uar >= 0 && f.dev_uar <= 1);
          }
        }
      }
      // One model per fold, named by its test session.
      for (const f of folds) {
        await Deno.stat(join(out, "systems", "e2e-mtl", `mtl-${f.name}`, "outcome.json"));
      }
      assert.ok(lines.some((l) => /arousal \(Session3\): C = /.test(l)), "SVM C per fold");
      // The log says that the folds, not the corpus's partitions it lists first, are used.
      assert.ok(lines.some((l) => l.startsWith("protocol session-cv: 5 folds, which replace")));
      for (const f of folds) {
        const n = `${f.test.length}`;
        assert.ok(
          lines.some((l) => l.startsWith(`  fold ${f.name}: test ${n} (`)),
          `fold ${f.name} described in the log`,
        );
      }
      const table = await Deno.readTextFile(join(out, "table.md"));
      assert.match(table, /session cross-validation/);
      assert.match(table, /No ★: e2e STL, the reference of the z-test, is not in this run/);
      assert.match(table, /\| method \| task \| Session1 \| .* \| Session5 \| pooled \| paper/);
      assert.match(table, /our fold Session5/);
      assert.match(table, /\|\s+\(paper\) \|/, "the paper's numbers beside the pooled ones");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
