/**
 * Property/fuzz test of the WAV reader: valid files of every supported format decode to exactly
 * the samples written, and random bytes or random mutations of valid files (bit flips,
 * truncations, size-field and format-field rewrites) always end in samples or in an
 * AudioFileError naming the file — never another exception, a hang or an allocation sized by a
 * claimed field. Each case runs in a worker with a watchdog, so a hang fails the test (naming
 * the case) instead of blocking it. The PRNG is seeded: a failure is reproducible.
 */
import assert from "node:assert/strict";
import { format } from "node:util";
import { decodeWav, parseWavHeader } from "../lib/audio/wav.ts";
import { MIN_SAMPLE_RATE, TARGET_SAMPLE_RATE } from "../lib/audio/mod.ts";
import { Random } from "../lib/util/random.ts";

/** The toolkit's seeded generator (mulberry32): small, fast and good enough to drive mutations. */
const prng = (seed: number): () => number => new Random(seed).fn;

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);
const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[int(rng, xs.length)];

interface Format {
  name: string;
  tag: number;
  bits: number;
  /** Writes one random sample at byte `o` and returns the value the decoder must produce. */
  write: (v: DataView, o: number, rng: Rng) => number;
}

const FORMATS: readonly Format[] = [
  {
    name: "pcm8",
    tag: 1,
    bits: 8,
    write: (v, o, rng) => {
      const x = int(rng, 256);
      v.setUint8(o, x);
      return (x - 128) / 128;
    },
  },
  {
    name: "pcm16",
    tag: 1,
    bits: 16,
    write: (v, o, rng) => {
      const x = int(rng, 65536) - 32768;
      v.setInt16(o, x, true);
      return x / 32768;
    },
  },
  {
    name: "pcm24",
    tag: 1,
    bits: 24,
    write: (v, o, rng) => {
      const x = int(rng, 1 << 24) - (1 << 23);
      v.setUint8(o, x & 0xff);
      v.setUint8(o + 1, (x >> 8) & 0xff);
      v.setInt8(o + 2, x >> 16);
      return x / 8388608;
    },
  },
  {
    name: "pcm32",
    tag: 1,
    bits: 32,
    write: (v, o, rng) => {
      const x = (int(rng, 65536) << 16 | int(rng, 65536)) | 0;
      v.setInt32(o, x, true);
      return x / 2147483648;
    },
  },
  {
    name: "float32",
    tag: 3,
    bits: 32,
    write: (v, o, rng) => {
      const x = Math.fround(rng() * 2 - 1);
      v.setFloat32(o, x, true);
      return x;
    },
  },
  {
    name: "float64",
    tag: 3,
    bits: 64,
    write: (v, o, rng) => {
      const x = rng() * 2 - 1;
      v.setFloat64(o, x, true);
      return x;
    },
  },
];

const EXTRA_IDS = ["LIST", "junk", "bext", "fact", "cue ", "id3 "];
const RATES = [8000, 11025, 16000, 22050, 44100, 48000];

/** A valid WAV and what it must decode to. */
interface Sample {
  bytes: Uint8Array;
  format: Format;
  channels: number;
  rate: number;
  /** Per channel, the exact values the decoder must return. */
  expected: Float32Array[];
  /** Byte offsets of every size field (RIFF and each chunk), the targets of size rewrites. */
  sizeFields: number[];
  /** Byte offset of the 'fmt ' chunk's body. */
  fmtBody: number;
}

/** Builds a valid WAV: random format, 1–2 channels, plain or EXTENSIBLE, with extra chunks. */
function makeValid(rng: Rng): Sample {
  const format = pick(rng, FORMATS);
  const channels = 1 + int(rng, 2);
  const rate = pick(rng, RATES);
  const frames = 1 + int(rng, 200);
  const extensible = rng() < 0.3;
  const parts: Uint8Array[] = [];
  const sizeFields: number[] = [4];
  let length = 12;
  let fmtBody = 0;
  const chunk = (id: string, body: Uint8Array) => {
    const c = new Uint8Array(8 + body.length + (body.length & 1));
    for (let i = 0; i < 4; i++) c[i] = id.charCodeAt(i);
    new DataView(c.buffer).setUint32(4, body.length, true);
    c.set(body, 8);
    sizeFields.push(length + 4);
    if (id === "fmt ") fmtBody = length + 8;
    parts.push(c);
    length += c.length;
  };
  const extra = () => {
    // Odd lengths exercise the word-alignment pad byte.
    const body = Uint8Array.from({ length: int(rng, 40) }, () => int(rng, 256));
    chunk(pick(rng, EXTRA_IDS), body);
  };
  if (rng() < 0.3) extra();
  const fmt = new Uint8Array(extensible ? 40 : 16);
  const f = new DataView(fmt.buffer);
  const blockAlign = channels * format.bits / 8;
  f.setUint16(0, extensible ? 0xfffe : format.tag, true);
  f.setUint16(2, channels, true);
  f.setUint32(4, rate, true);
  f.setUint32(8, rate * blockAlign, true);
  f.setUint16(12, blockAlign, true);
  f.setUint16(14, format.bits, true);
  if (extensible) {
    f.setUint16(16, 22, true); // cbSize
    f.setUint16(18, format.bits, true); // valid bits
    f.setUint32(20, channels === 1 ? 0x4 : 0x3, true); // channel mask
    // KSDATAFORMAT_SUBTYPE_PCM / _IEEE_FLOAT: the plain tag, then a fixed GUID tail.
    f.setUint16(24, format.tag, true);
    fmt.set(
      [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71],
      26,
    );
  }
  chunk("fmt ", fmt);
  if (rng() < 0.5) extra();
  const data = new Uint8Array(frames * blockAlign);
  const d = new DataView(data.buffer);
  const expected = Array.from({ length: channels }, () => new Float32Array(frames));
  for (let i = 0; i < frames * channels; i++) {
    expected[i % channels][Math.floor(i / channels)] = format.write(d, i * format.bits / 8, rng);
  }
  chunk("data", data);
  if (rng() < 0.3) extra();
  const bytes = new Uint8Array(length);
  const v = new DataView(bytes.buffer);
  bytes.set([..."RIFF"].map((c) => c.charCodeAt(0)), 0);
  v.setUint32(4, length - 8, true);
  bytes.set([..."WAVE"].map((c) => c.charCodeAt(0)), 8);
  let o = 12;
  for (const p of parts) {
    bytes.set(p, o);
    o += p.length;
  }
  return { bytes, format, channels, rate, expected, sizeFields, fmtBody };
}

/** Size values streaming writers, truncation and corruption produce. */
const SIZE_VALUES = [0, 1, 0xffffffff, 0xfffffffe, 0x7fffffff, 0x80000000, 4294967000];

/** One mutation of a valid file; returns the mutated bytes and a description for failures. */
function mutate(rng: Rng, s: Sample): { bytes: Uint8Array; what: string } {
  const b = s.bytes.slice();
  const v = new DataView(b.buffer);
  switch (int(rng, 7)) {
    case 0: {
      const n = 1 + int(rng, 4);
      for (let i = 0; i < n; i++) b[int(rng, b.length)] ^= 1 << int(rng, 8);
      return { bytes: b, what: `${n} bit flips` };
    }
    case 1: {
      // The header is where flips change the walk; most bytes elsewhere are samples.
      const n = 1 + int(rng, 3);
      for (let i = 0; i < n; i++) b[int(rng, Math.min(b.length, 100))] ^= 1 << int(rng, 8);
      return { bytes: b, what: `${n} header bit flips` };
    }
    case 2: {
      const n = int(rng, b.length);
      return { bytes: b.subarray(0, n), what: `truncated to ${n} bytes` };
    }
    case 3: {
      const at = pick(rng, s.sizeFields);
      const old = v.getUint32(at, true);
      const value = rng() < 0.7
        ? pick(rng, [...SIZE_VALUES, old + 1, old - 1, old + 2, b.length])
        : Math.floor(rng() * 4294967296);
      v.setUint32(at, value >>> 0, true);
      return { bytes: b, what: `size field at ${at}: ${old} → ${value >>> 0}` };
    }
    case 4: {
      const at = pick(rng, s.sizeFields);
      v.setUint32(at, pick(rng, SIZE_VALUES), true);
      const n = int(rng, b.length);
      return { bytes: b.subarray(0, n), what: `size field at ${at} rewritten, cut to ${n}` };
    }
    case 5: {
      // Format fields: tag, channels, rate, block align, bits (and the EXTENSIBLE sub-tag).
      const field = pick(rng, [0, 2, 4, 12, 14, 24]);
      const at = s.fmtBody + field;
      if (at + 4 > b.length) return { bytes: b, what: "unchanged" };
      if (field === 4) {
        const value = pick(rng, [0, 1, 999, 1000, 768000, 768001, 16001, 44101, 0xffffffff]);
        v.setUint32(at, value, true);
        return { bytes: b, what: `rate → ${value}` };
      }
      const value = pick(rng, [0, 1, 2, 3, 7, 8, 16, 24, 32, 64, 0xfffe, 0xffff, int(rng, 65536)]);
      v.setUint16(at, value, true);
      return { bytes: b, what: `fmt field +${field} → ${value}` };
    }
    default: {
      const at = int(rng, b.length);
      const n = 1 + int(rng, 16);
      for (let i = at; i < Math.min(b.length, at + n); i++) b[i] = int(rng, 256);
      return { bytes: b, what: `${n} random bytes at ${at}` };
    }
  }
}

/** Random bytes, half of them behind a RIFF/WAVE signature so the chunk walk is exercised. */
function randomBytes(rng: Rng): { bytes: Uint8Array; what: string } {
  const b = Uint8Array.from({ length: int(rng, 300) }, () => int(rng, 256));
  if (rng() < 0.5 && b.length >= 12) {
    b.set([..."RIFF"].map((c) => c.charCodeAt(0)), 0);
    b.set([..."WAVE"].map((c) => c.charCodeAt(0)), 8);
    if (b.length >= 20 && rng() < 0.5) b.set([..."fmt "].map((c) => c.charCodeAt(0)), 12);
    return { bytes: b, what: `${b.length} random bytes after a RIFF/WAVE signature` };
  }
  return { bytes: b, what: `${b.length} random bytes` };
}

Deno.test("valid WAVs of every supported format decode to exactly the samples written", () => {
  const rng = prng(1);
  const seen = new Set<string>();
  for (let i = 0; i < 120; i++) {
    const s = makeValid(rng);
    const file = `valid-${i}.wav`;
    const header = parseWavHeader(s.bytes, file);
    assert.equal(header.encoding, s.format.name, file);
    assert.equal(header.channels, s.channels, file);
    assert.equal(header.sampleRate, s.rate, file);
    assert.deepEqual(header.warnings, [], file);
    assert.deepEqual(decodeWav(s.bytes, header, file), s.expected, file);
    seen.add(`${s.format.name}/${s.channels}`);
  }
  assert.equal(seen.size, FORMATS.length * 2, `every format in mono and stereo: ${[...seen]}`);
});

/** Longest a single decode may take before the watchdog calls it a hang (2 shared cores). */
const CASE_LIMIT_MS = 3000;
/** Live ArrayBuffer memory allowed after one decode; fixtures are < 10 kB, so any big claim shows. */
const EXTERNAL_LIMIT = 64 * 1024 * 1024;

interface Outcome {
  ok: boolean;
  /** For ok: output length, whether every sample is finite, largest magnitude, warnings. */
  length?: number;
  finite?: boolean;
  peak?: number;
  warnings?: unknown;
  /** For errors: class name, whether an AudioFileError, its message and file. */
  errorName?: string;
  audioFileError?: boolean;
  message?: string;
  file?: string;
  /** ArrayBuffer memory alive right after the decode (its output still referenced). */
  external: number;
}

/** Starts the decoder in a worker, so that a hung case can be detected and killed. */
function startWorker(): { worker: Worker; url: string } {
  const mod = new URL("../lib/audio/mod.ts", import.meta.url).href;
  const code = `
import { AudioFileError, decodeAudio, readWav } from ${JSON.stringify(mod)};
self.onmessage = async (e) => {
  const { bytes, file, fromDisk } = e.data;
  let out;
  try {
    const a = fromDisk ? await readWav(file, { minSamples: 0 }) : decodeAudio(bytes, file, { minSamples: 0 });
    let finite = true, peak = 0;
    for (const x of a.samples) {
      if (!Number.isFinite(x)) finite = false;
      else if (Math.abs(x) > peak) peak = Math.abs(x);
    }
    const ok = a.samples instanceof Float32Array && a.originalLength === a.samples.length;
    out = { ok, length: a.samples.length, finite, peak, warnings: a.warnings,
      external: Deno.memoryUsage().external };
  } catch (err) {
    out = { ok: false, errorName: err?.constructor?.name ?? typeof err,
      audioFileError: err instanceof AudioFileError, message: String(err?.message ?? err),
      file: err?.file, external: Deno.memoryUsage().external };
  }
  self.postMessage(out);
};`;
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  return { worker: new Worker(url, { type: "module" }), url };
}

/** A case for the worker: bytes, a description for failures, and whether to go through disk. */
interface Case {
  bytes: Uint8Array;
  what: string;
  fromDisk?: boolean;
}

/** What a batch of cases came to, so a test can check its mix is not one-sided. */
interface Tally {
  cases: number;
  samples: number;
  repaired: number;
  errors: number;
  /** Error messages with numbers and chunk ids blanked, to count distinct kinds. */
  reasons: Set<string>;
}

/**
 * Runs each case in the worker under the watchdog and asserts the properties: a result is
 * finite, bounded by the file's size, with string warnings; an error is an AudioFileError whose
 * message starts with the file name; no case hangs or leaves big buffers alive.
 */
async function runCases(prefix: string, cases: Iterable<Case>): Promise<Tally> {
  const dir = await Deno.makeTempDir({ prefix: "wav_fuzz_" });
  const { worker, url } = startWorker();
  const run = (msg: { bytes: Uint8Array; file: string; fromDisk: boolean }) =>
    new Promise<Outcome | string>((resolve) => {
      const timer = setTimeout(
        () => resolve(`no result within ${CASE_LIMIT_MS} ms`),
        CASE_LIMIT_MS,
      );
      worker.onmessage = (e) => {
        clearTimeout(timer);
        resolve(e.data);
      };
      worker.onerror = (e) => {
        e.preventDefault();
        clearTimeout(timer);
        resolve(`worker crashed: ${e.message}`);
      };
      worker.postMessage(msg);
    });
  const tally: Tally = { cases: 0, samples: 0, repaired: 0, errors: 0, reasons: new Set() };
  try {
    let i = 0;
    for (const { bytes, what, fromDisk = false } of cases) {
      const file = `${dir}/${prefix}-${i}.wav`;
      const label = `${prefix} case ${i++} (${what})`;
      if (fromDisk) await Deno.writeFile(file, bytes);
      const out = await run({ bytes, file, fromDisk });
      if (typeof out === "string") {
        // A hung or crashed worker is useless afterwards; the finally below ends it.
        assert.fail(`${label}: ${out}`);
      }
      tally.cases++;
      assert.ok(out.external < EXTERNAL_LIMIT, `${label}: ${out.external} bytes of buffers alive`);
      if (out.ok) {
        tally.samples++;
        assert.ok(out.finite, `${label}: non-finite output sample`);
        assert.ok(out.peak! < 1e7, `${label}: output peak ${out.peak}`);
        // Frames never exceed the bytes present, and upsampling is at most 16 kHz / 1 kHz.
        const bound = Math.ceil(bytes.length * TARGET_SAMPLE_RATE / MIN_SAMPLE_RATE);
        assert.ok(out.length! > 0 && out.length! <= bound, `${label}: ${out.length} samples`);
        assert.ok(
          Array.isArray(out.warnings) && out.warnings.every((w) => typeof w === "string"),
          `${label}: warnings ${format(out.warnings)}`,
        );
        if ((out.warnings as string[]).length) tally.repaired++;
      } else {
        tally.errors++;
        assert.ok(
          out.audioFileError,
          `${label}: threw ${out.errorName}, not AudioFileError: ${out.message}`,
        );
        assert.equal(out.file, file, label);
        assert.ok(out.message!.startsWith(`${file}: `), `${label}: ${out.message}`);
        tally.reasons.add(
          out.message!.slice(file.length + 2).replace(/'[^']*'/g, "'…'")
            .replace(/0x[0-9a-f]+|-?\d+(\.\d+)?(e[+-]?\d+)?|NaN|-?Infinity/gi, "N"),
        );
      }
    }
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
    await Deno.remove(dir, { recursive: true });
  }
  return tally;
}

Deno.test("random and mutated WAVs end in samples or an AudioFileError naming the file", async () => {
  const rng = prng(20240609);
  function* cases(): Generator<Case> {
    for (let i = 0; i < 400; i++) {
      const c = i % 4 === 0 ? randomBytes(rng) : mutate(rng, makeValid(rng));
      // Every tenth case goes through readWav from a real file, the path corpora take.
      yield { ...c, fromDisk: i % 10 === 5 };
    }
  }
  const t = await runCases("fuzz", cases());
  // The mix must exercise all three outcomes, or the test proves little.
  assert.equal(t.cases, 400);
  assert.ok(t.samples > 50, format(t));
  assert.ok(t.repaired > 10, format(t));
  assert.ok(t.errors > 50, format(t));
  assert.ok(t.reasons.size > 8, `distinct error kinds: ${format(t)}`);
});

Deno.test("every size field and format field at its extremes, for every format", async () => {
  // Random mutations hit a given field at a given extreme rarely; enumerate them instead.
  const rng = prng(7);
  const bases: Sample[] = [];
  while (bases.length < FORMATS.length * 2) {
    const s = makeValid(rng);
    const key = `${s.format.name}/${s.channels}`;
    if (!bases.some((b) => `${b.format.name}/${b.channels}` === key)) bases.push(s);
  }
  function* cases(): Generator<Case> {
    for (const s of bases) {
      const base = `${s.format.name} ${s.channels} ch`;
      for (const at of s.sizeFields) {
        for (const value of SIZE_VALUES) {
          const b = s.bytes.slice();
          new DataView(b.buffer).setUint32(at, value, true);
          yield { bytes: b, what: `${base}, size at ${at} → ${value}` };
        }
      }
      const fields: [number, 2 | 4, number[]][] = [
        [2, 2, [0, 1, 3, 1024, 0xffff]], // channels
        [4, 4, [0, 1, 999, 1000, 768000, 768001, 16001, 44101, 0x7fffffff, 0xffffffff]], // rate
        [14, 2, [0, 1, 4, 12, 20, 48, 0xffff]], // bits
      ];
      for (const [field, width, values] of fields) {
        for (const value of values) {
          const b = s.bytes.slice();
          const v = new DataView(b.buffer);
          if (width === 2) v.setUint16(s.fmtBody + field, value, true);
          else v.setUint32(s.fmtBody + field, value, true);
          yield { bytes: b, what: `${base}, fmt +${field} → ${value}` };
        }
      }
    }
  }
  const t = await runCases("extreme", cases());
  assert.ok(t.samples > 50 && t.repaired > 30 && t.errors > 50, format(t));
  const kinds = [...t.reasons].join("\n");
  for (const kind of [/implausible sample rate/, /claims N bytes/, /unsupported PCM bit depth/]) {
    assert.match(kinds, kind);
  }
});
