/**
 * The example corpus's text files: EmoEvaluation files in the IEMOCAP release format and the
 * corpus README (whose tables are computed from the planned labels and {@link EXAMPLE_PROSODY},
 * so the README cannot drift from the data).
 *
 * @module
 */

import { LEVELS } from "../iemocap.ts";
import { type ExampleUtterance, levelOf, partitionOfSession } from "./plan.ts";
import { EXAMPLE_PROSODY } from "./voice.ts";

/** What the README describes: the seed, the planned utterances and the written files. */
export interface ExampleCorpusSummary {
  /** Seed used. */
  seed: number;
  /** Every planned utterance of the written sessions. */
  utterances: ExampleUtterance[];
  /** Written files (relative to the corpus root, `/`-separated) and their SHA-256 hex digests. */
  files: { path: string; sha256: string; bytes: number }[];
}

/** Formats a rating the way the release does (`2.5000`). */
function fmt4(x: number): string {
  return x.toFixed(4);
}

/** The EmoEvaluation text of one dialog. */
export function renderEmoEvaluation(utterances: ExampleUtterance[]): string {
  const lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""];
  for (const u of utterances) {
    lines.push(
      `[${fmt4(u.start)} - ${fmt4(u.end)}]\t${u.id}\t${u.emotion}\t[${fmt4(u.valence)}, ${
        fmt4(u.arousal)
      }, ${fmt4(u.dominance)}]`,
    );
    lines.push(...u.annotations);
    lines.push("");
  }
  return lines.join("\n");
}

/** Markdown table of per-session and per-partition counts, computed from the planned labels. */
export function countsTable(utterances: ExampleUtterance[]): string {
  const groups: [string, ExampleUtterance[]][] = [];
  for (let s = 1; s <= 5; s++) {
    const us = utterances.filter((u) => u.session === s);
    if (us.length) groups.push([`Session${s} (${partitionOfSession(s)})`, us]);
  }
  for (const p of ["train", "dev", "test"]) {
    const us = utterances.filter((u) => partitionOfSession(u.session) === p);
    if (us.length) groups.push([`**${p}**`, us]);
  }
  groups.push(["**all**", utterances]);
  const emotions = ["neu", "hap", "exc", "sad", "ang", "fru", "xxx"];
  const header = [
    "group",
    "utts",
    "F/M",
    "A low/mid/high",
    "V low/mid/high",
    "D low/mid/high",
    ...emotions,
    "seconds",
  ];
  const rows = [
    `| ${header.join(" | ")} |`,
    `|${header.map(() => "---").join("|")}|`,
  ];
  for (const [name, us] of groups) {
    const lvl = (key: "arousal" | "valence" | "dominance") =>
      LEVELS.map((l) => us.filter((u) => levelOf(u[key]) === l).length).join("/");
    const f = us.filter((u) => u.speaker.endsWith("F")).length;
    const secs = us.reduce((s, u) => s + (u.end - u.start), 0);
    rows.push(
      `| ${
        [
          name,
          us.length,
          `${f}/${us.length - f}`,
          lvl("arousal"),
          lvl("valence"),
          lvl("dominance"),
          ...emotions.map((e) => us.filter((u) => u.emotion === e).length),
          secs.toFixed(1),
        ].join(" | ")
      } |`,
    );
  }
  return rows.join("\n");
}

/** Markdown table of {@link EXAMPLE_PROSODY}: which parameter each dimension drives, and how. */
function prosodyTable(): string {
  const P = EXAMPLE_PROSODY;
  const sign = (x: number) => (x >= 0 ? `+ ${x}` : `− ${-x}`);
  const rows: [string, string, string][] = [
    ["arousal", "speech level (dBFS)", `${P.levelDb.base} ${sign(P.levelDb.arousal)}·a`],
    ["arousal", "F0 level (semitones)", `${sign(P.f0LevelSt.arousal)}·a`],
    ["arousal", "pitch-accent height (st)", `${sign(P.accentSt.arousal)}·(a+1)`],
    ["arousal", "syllable duration (factor)", `2^(${P.log2Duration.arousal}·a)`],
    ["arousal", "pause duration (factor)", `2^(${P.log2Pause.arousal}·a)`],
    [
      "arousal",
      "glottal closing phase (spectral tilt)",
      `${P.closeQ.base} ${sign(P.closeQ.arousal)}·a of the period`,
    ],
    ["arousal", "extra low-pass pole (tilt)", `${P.tiltPole.base} ${sign(P.tiltPole.arousal)}·a`],
    [
      "valence",
      "F0 contour shape",
      `slope ${sign(P.slopeSt.valence)}·v st over the utterance, steeper in the last 30 %`,
    ],
    [
      "valence",
      "intensity contour (dB)",
      `slope ${sign(P.intensitySlopeDb.valence)}·v dB over the utterance`,
    ],
    ["valence", "pause duration (factor)", `2^(${P.log2Pause.valence}·v)`],
    [
      "valence",
      "audible breath in a pause (probability)",
      `${P.pauseBreath.base} ${sign(P.pauseBreath.valence)}·v`,
    ],
    ["valence", "aspiration (breathiness)", `${P.breath.base} ${sign(P.breath.valence)}·v`],
    ["valence", "jitter", `${P.jitter.base} ${sign(P.jitter.valence)}·v`],
    ["valence", "shimmer", `${P.shimmer.base} ${sign(P.shimmer.valence)}·v`],
    ["valence", "F2/F3 shift (factor)", `1 ${sign(P.formantShift.valence)}·v`],
    [
      "valence",
      "share of front (high-F2) vowels",
      `${P.frontVowels.base} ${sign(P.frontVowels.valence)}·v`,
    ],
    ["dominance", "speech level (dB)", `${sign(P.levelDb.dominance)}·d`],
    ["dominance", "F0 level (semitones)", `${sign(P.f0LevelSt.dominance)}·d`],
    ["dominance", "pitch-accent height (st)", `${sign(P.accentSt.dominance)}·(d+1)`],
    [
      "dominance",
      "syllable-to-syllable gain sd (dB)",
      `${P.syllableGainSdDb.base} ${sign(P.syllableGainSdDb.dominance)}·(d+1)`,
    ],
    ["dominance", "syllable duration (factor)", `2^(${P.log2Duration.dominance}·d)`],
    [
      "dominance",
      "glottal opening phase (pressed voice)",
      `${P.openQ.base} ${sign(P.openQ.dominance)}·d of the period`,
    ],
  ];
  return [
    "| dimension | parameter | value |",
    "|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** The `data.example/README.md` text. */
export function renderExampleReadme(summary: ExampleCorpusSummary): string {
  const totalBytes = summary.files.reduce((s, f) => s + f.bytes, 0);
  const boundary =
    summary.utterances.filter((u) =>
      [u.arousal, u.valence, u.dominance].some((x) => x === 2 || x === 4)
    ).length;
  return `# data.example — a synthetic miniature IEMOCAP

**The audio here is synthetic.** No recording of any person is included: every file was made by
\`lib/corpus/example/\`, a small source-filter speech synthesiser, so the toolkit can run its
whole pipeline (and \`deno task reproduce\`) without the licensed IEMOCAP release. Results on this
corpus say nothing about real emotion recognition.

Regenerate it (byte-identical; \`SHA256SUMS\` lists every file's digest):

\`\`\`sh
deno task make-example-data          # = deno run --allow-read --allow-write=data.example scripts/make-example-data.ts
\`\`\`

PRNG: mulberry32, seed **${summary.seed}**; each session draws from its own stream derived from the
seed, so one session can be regenerated alone.

## Layout (as \`IEMOCAP_full_release/\`)

\`\`\`
SessionN/sentences/wav/<dialog>/<utterance>.wav     16 kHz, mono, 16-bit PCM, 0.62–1.18 s
SessionN/dialog/EmoEvaluation/<dialog>.txt          labels, IEMOCAP EmoEvaluation format
\`\`\`

Each session has two dialogs (an \`impro\` and a \`script\` one) and two speakers, one female and
one male; the speaker is the session plus the gender letter of the utterance id's last part
(\`Ses01F_impro03_M002\` → \`Ses01M\`), not the letter in the dialog name. An EmoEvaluation file
starts with the header \`% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\` and a blank line;
each utterance block is the summary line
\`[start - end]<TAB>id<TAB>code<TAB>[valence, activation, dominance]\` followed by categorical
(\`C-E2:\\tNeutral;\\t()\`) and dimensional (\`A-E3:\\tval 3; act 2; dom  3;\\t()\`) annotator lines
and a blank line. The bracket is the mean of the \`A-E*\` (evaluator) lines, so ratings are
whole, .5 or thirds; the \`C-F1\`/\`A-M1\`-style self-assessment lines are not part of it.
Categorical codes (neu, hap, exc, sad, ang, fru, xxx = no majority) follow from the levels.
${boundary} utterances have a rating exactly on a boundary (2.0 → low, 4.0 → high).

## How the audio is made

A Rosenberg glottal pulse train with per-period jitter and shimmer, plus pulsed aspiration
noise, drives a cascade of four second-order formant resonators (Klatt-style). Words of 1–3
syllables are laid out with pauses; each syllable has an optional onset (noise-excited
fricative /s/, /ʃ/, /f/, a stop burst, or a nasal murmur) and a vowel whose Peterson–Barney
formant targets are approached with 40 ms transitions. Speakers differ in F0 (female
185–235 Hz, male 100–135 Hz), formant scaling (vocal-tract length) and speaking rate. A little
low-passed background noise (−60 to −52 dBFS per session) is added.

Each rating is mapped to a value in about [−1, 1] (a for arousal, v for valence, d for
dominance): half its level's centre (low −1, mid 0, high +1) plus half the scaled rating
(rating − 3) / 2, plus Gaussian variation (sd 0.12) per utterance, so the classes are well
apart but overlap a little. Every parameter also gets its own per-utterance variation. The
values (\`EXAMPLE_PROSODY\` in the code):

${prosodyTable()}

Labels follow a full 3×3×3 design of the low/mid/high levels per session (plus neutral
utterances), so the dimensions are independent and every class has about a third
(at least 9 of 28) of every session. The utterance length does not depend on the labels.

## Counts

Levels: low = [1, 2], mid = (2, 4), high = [4, 5]. Partitions: sessions 1–3 train, 4 dev, 5 test.

${countsTable(summary.utterances)}

Total size of the generated files: ${(totalBytes / 1e6).toFixed(2)} MB.
`;
}
