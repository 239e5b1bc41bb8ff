import assert from "node:assert/strict";
import { AudioFileError, decodeAudio, readWav, resample } from "../lib/audio/mod.ts";
import { validateAudio } from "../lib/corpus/validate.ts";
import { corpusReport, formatCorpusReport } from "../lib/corpus/report.ts";
import type { Corpus } from "../lib/corpus/types.ts";

/** Builds a wav file from raw parts so every header field and codec can be exercised. */
function makeWav(opts: {
  tag?: number;
  channels?: number;
  rate?: number;
  bits: number;
  data: Uint8Array;
  declaredDataBytes?: number;
  declaredRiffBytes?: number;
  extensible?: boolean;
}): Uint8Array {
  const channels = opts.channels ?? 1, rate = opts.rate ?? 16000, bits = opts.bits;
  const fmtSize = opts.extensible ? 40 : 16;
  const bytes = new Uint8Array(12 + 8 + fmtSize + 8 + opts.data.length);
  const v = new DataView(bytes.buffer);
  const ascii = (o: number, s: string) =>
    [...s].forEach((c, i) => (bytes[o + i] = c.charCodeAt(0)));
  ascii(0, "RIFF");
  v.setUint32(4, opts.declaredRiffBytes ?? bytes.length - 8, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  v.setUint32(16, fmtSize, true);
  v.setUint16(20, opts.extensible ? 0xfffe : opts.tag ?? 1, true);
  v.setUint16(22, channels, true);
  v.setUint32(24, rate, true);
  v.setUint32(28, (rate * channels * bits) / 8, true);
  v.setUint16(32, (channels * bits) / 8, true);
  v.setUint16(34, bits, true);
  if (opts.extensible) {
    v.setUint16(36, 22, true);
    v.setUint16(38, bits, true);
    v.setUint16(44, opts.tag ?? 1, true); // sub-format GUID starts with the format tag
  }
  const d = 20 + fmtSize;
  ascii(d, "data");
  v.setUint32(d + 4, opts.declaredDataBytes ?? opts.data.length, true);
  bytes.set(opts.data, d + 8);
  return bytes;
}

function pcm16(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 2);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setInt16(2 * i, x, true));
  return b;
}

const N = 1000;
const ramp = (i: number) => Math.sin(i / 7) * 0.5;

Deno.test("PCM 8/16/24/32-bit integer and 32-bit float decode to the same signal", () => {
  const expected = Float32Array.from({ length: N }, (_, i) => ramp(i));
  const encoders: Record<number, (x: number, v: DataView, i: number) => void> = {
    8: (x, v, i) => v.setUint8(i, Math.round(x * 127) + 128),
    16: (x, v, i) => v.setInt16(2 * i, Math.round(x * 32767), true),
    24: (x, v, i) => {
      const q = Math.round(x * 8388607);
      v.setUint8(3 * i, q & 0xff);
      v.setUint8(3 * i + 1, (q >> 8) & 0xff);
      v.setInt8(3 * i + 2, q >> 16);
    },
    32: (x, v, i) => v.setInt32(4 * i, Math.round(x * 2147483647), true),
  };
  for (const bits of [8, 16, 24, 32]) {
    const data = new Uint8Array((N * bits) / 8);
    const view = new DataView(data.buffer);
    for (let i = 0; i < N; i++) encoders[bits](expected[i], view, i);
    const a = decodeAudio(makeWav({ bits, data }), `pcm${bits}.wav`);
    const tol = bits === 8 ? 1 / 127 : 1e-4;
    for (let i = 0; i < N; i++) {
      assert.ok(Math.abs(a.samples[i] - expected[i]) <= tol, `pcm${bits} @${i}`);
    }
    assert.equal(a.sourceEncoding, `pcm${bits}`);
  }
  const f = new Float32Array(expected);
  const a = decodeAudio(makeWav({ tag: 3, bits: 32, data: new Uint8Array(f.buffer) }), "f32.wav");
  assert.deepEqual(a.samples, expected);
  const ext = decodeAudio(
    makeWav({ tag: 3, bits: 32, data: new Uint8Array(f.buffer), extensible: true }),
    "ext.wav",
  );
  assert.deepEqual(ext.samples, expected);
});

Deno.test("stereo is mixed down to the mean of the channels", () => {
  const a = decodeAudio(
    makeWav({ bits: 16, channels: 2, data: pcm16([1000, 3000, -2000, 0]) }),
    "s.wav",
    {
      minSamples: 0,
    },
  );
  assert.equal(a.sourceChannels, 2);
  assert.equal(a.samples.length, 2);
  assert.ok(Math.abs(a.samples[0] - 2000 / 32768) < 1e-7);
  assert.ok(Math.abs(a.samples[1] - -1000 / 32768) < 1e-7);
});

function toneAmplitude(x: Float32Array, freq: number, rate: number): number {
  // Project onto sine and cosine over the steady middle of the signal.
  let s = 0, c = 0;
  const from = Math.floor(x.length * 0.25), to = Math.floor(x.length * 0.75);
  for (let i = from; i < to; i++) {
    s += x[i] * Math.sin((2 * Math.PI * freq * i) / rate);
    c += x[i] * Math.cos((2 * Math.PI * freq * i) / rate);
  }
  return (2 * Math.hypot(s, c)) / (to - from);
}

Deno.test("resampling 44.1 kHz → 16 kHz keeps a 7 kHz tone and removes a 9 kHz tone", () => {
  const rate = 44100, n = rate; // one second
  const tone = (f: number) =>
    Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / rate));
  const kept = resample(tone(7000), rate, 16000);
  assert.equal(kept.length, 16000);
  const a7 = toneAmplitude(kept, 7000, 16000);
  assert.ok(Math.abs(a7 - 0.5) < 0.01, `7 kHz amplitude ${a7}`);
  const removed = resample(tone(9000), rate, 16000);
  let peak = 0;
  for (let i = 200; i < removed.length - 200; i++) peak = Math.max(peak, Math.abs(removed[i]));
  // 9 kHz would alias to 7 kHz; the filter must attenuate it by > 60 dB.
  assert.ok(peak < 0.5e-3, `9 kHz residual peak ${peak}`);
});

Deno.test("resampling keeps DC and works for upsampling and 48 kHz", () => {
  const dc = new Float32Array(4800).fill(0.25);
  const down = resample(dc, 48000, 16000);
  assert.equal(down.length, 1600);
  for (let i = 100; i < 1500; i++) assert.ok(Math.abs(down[i] - 0.25) < 1e-5);
  const up = resample(new Float32Array(800).fill(0.25), 8000, 16000);
  assert.equal(up.length, 1600);
  for (let i = 100; i < 1500; i++) assert.ok(Math.abs(up[i] - 0.25) < 1e-5);
  const a = decodeAudio(
    makeWav({ bits: 16, rate: 8000, data: pcm16(new Array(8000).fill(1000)) }),
    "up.wav",
  );
  assert.equal(a.sampleRate, 16000);
  assert.equal(a.sourceSampleRate, 8000);
  assert.equal(a.samples.length, 16000);
});

Deno.test("odd rates (no small polyphase table) filter as well, with bounded memory", () => {
  // 44101 → 16000 needs 16000 phases × 279 taps: above the table limit, so the coefficients are
  // computed per output sample. The filter must still pass 7 kHz and remove 9 kHz.
  const rate = 44101, n = 22050; // half a second
  const tone = (f: number) =>
    Float32Array.from({ length: n }, (_, i) => 0.5 * Math.sin((2 * Math.PI * f * i) / rate));
  const kept = resample(tone(7000), rate, 16000);
  assert.equal(kept.length, Math.ceil((n * 16000) / rate));
  const a7 = toneAmplitude(kept, 7000, 16000);
  assert.ok(Math.abs(a7 - 0.5) < 0.01, `7 kHz amplitude ${a7}`);
  const removed = resample(tone(9000), rate, 16000);
  let peak = 0;
  for (let i = 200; i < removed.length - 200; i++) peak = Math.max(peak, Math.abs(removed[i]));
  assert.ok(peak < 0.5e-3, `9 kHz residual peak ${peak}`);
  const dc = resample(new Float32Array(4000).fill(0.25), 16001, 16000);
  for (let i = 100; i < dc.length - 100; i++) assert.ok(Math.abs(dc[i] - 0.25) < 1e-5, `dc @${i}`);
});

Deno.test("float samples of absurd magnitude are rejected, not overflowed to Infinity", () => {
  // 1e300 is finite as a float64 but Infinity once stored as 32-bit; 1e30 overflows energies.
  const wide = new Float64Array([0.1, 1e300, 0.2]);
  assertAudioError(
    () => decodeAudio(makeWav({ tag: 3, bits: 64, data: new Uint8Array(wide.buffer) }), "w.wav"),
    "w.wav",
    /implausible float sample \(1e\+300\) at frame 1/,
  );
  const big = new Float32Array([0.1, 0.2, -1e30]);
  assertAudioError(
    () => decodeAudio(makeWav({ tag: 3, bits: 32, data: new Uint8Array(big.buffer) }), "b.wav"),
    "b.wav",
    /implausible float sample .* at frame 2/,
  );
  // Headroom above full scale is legitimate in float files and kept as it is.
  const loud = new Float32Array([2.5, -3, 100]);
  const a = decodeAudio(
    makeWav({ tag: 3, bits: 32, data: new Uint8Array(loud.buffer) }),
    "loud.wav",
    { minSamples: 0 },
  );
  assert.deepEqual(a.samples, loud);
});

Deno.test("audio shorter than one window is zero-padded and flagged", () => {
  const a = decodeAudio(makeWav({ bits: 16, data: pcm16(new Array(100).fill(5000)) }), "short.wav");
  assert.equal(a.samples.length, 640);
  assert.equal(a.originalLength, 100);
  assert.equal(a.padded, true);
  assert.equal(a.samples[639], 0);
  const b = decodeAudio(makeWav({ bits: 16, data: pcm16(new Array(640).fill(5000)) }), "ok.wav");
  assert.equal(b.padded, false);
});

function assertAudioError(fn: () => unknown, file: string, pattern: RegExp) {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AudioFileError, `expected AudioFileError, got ${e}`);
    assert.ok(e.message.includes(file), `message names the file: ${e.message}`);
    assert.match(e.reason, pattern);
    return true;
  });
}

Deno.test("bad wav files give clear errors that name the file", async () => {
  assertAudioError(
    () => decodeAudio(new TextEncoder().encode("hello world, not audio"), "text.wav"),
    "text.wav",
    /RIFF\/WAVE/,
  );
  assertAudioError(
    () => decodeAudio(makeWav({ tag: 2, bits: 4, data: new Uint8Array(100) }), "adpcm.wav"),
    "adpcm.wav",
    /compressed or unknown codec.*ADPCM/,
  );
  assertAudioError(
    () => decodeAudio(makeWav({ tag: 0x1234, bits: 16, data: new Uint8Array(100) }), "odd.wav"),
    "odd.wav",
    /compressed or unknown codec/,
  );
  assertAudioError(
    () => decodeAudio(makeWav({ bits: 16, data: new Uint8Array(0) }), "empty.wav"),
    "empty.wav",
    /no samples/,
  );
  const f = new Float32Array([0.1, NaN, 0.2]);
  assertAudioError(
    () => decodeAudio(makeWav({ tag: 3, bits: 32, data: new Uint8Array(f.buffer) }), "nan.wav"),
    "nan.wav",
    /non-finite.*NaN/,
  );
  const g = new Float32Array([0.1, 0.3, Infinity]);
  assertAudioError(
    () => decodeAudio(makeWav({ tag: 3, bits: 32, data: new Uint8Array(g.buffer) }), "inf.wav"),
    "inf.wav",
    /non-finite.*Infinity/,
  );
  const missing = "/nonexistent/dir/none.wav";
  await assert.rejects(() => readWav(missing), (e: unknown) => {
    assert.ok(e instanceof AudioFileError);
    assert.match(e.message, /none\.wav: file not found/);
    return true;
  });
});

const intended = [1000, -2000, 3000, -4000, 5000, -6000, 7000];
const intendedFloat = Float32Array.from(intended, (x) => x / 32768);

Deno.test("streaming placeholder sizes (0xFFFFFFFF or 0) read the data to the end of the file", () => {
  for (const placeholder of [0xffffffff, 0]) {
    const hex = placeholder ? "0xFFFFFFFF" : "0";
    const a = decodeAudio(
      makeWav({
        bits: 16,
        data: pcm16(intended),
        declaredDataBytes: placeholder,
        declaredRiffBytes: placeholder,
      }),
      "stream.wav",
      { minSamples: 0 },
    );
    assert.deepEqual(a.samples, intendedFloat, hex);
    assert.deepEqual(a.warnings, [
      `RIFF size ${hex} (streaming placeholder) ignored`,
      `data chunk size ${hex} (streaming placeholder): read 7 frames to the end of the file`,
    ]);
  }
  // Stereo 24-bit with a trailing half frame: whole frames only, and the drop is reported.
  const data = new Uint8Array(2 * 3 * 3 + 4);
  const v = new DataView(data.buffer);
  [100, 300, -200, -400, 8000, 9000].forEach((x, i) => {
    v.setUint8(3 * i, x & 0xff);
    v.setUint8(3 * i + 1, (x >> 8) & 0xff);
    v.setInt8(3 * i + 2, x >> 16);
  });
  const s = decodeAudio(
    makeWav({ bits: 24, channels: 2, data, declaredDataBytes: 0xffffffff }),
    "s24.wav",
    { minSamples: 0 },
  );
  assert.deepEqual(s.samples, Float32Array.from([200, -300, 8500], (x) => x / 8388608));
  assert.deepEqual(s.warnings, [
    "data chunk size 0xFFFFFFFF (streaming placeholder): read 3 frames to the end of the file; " +
    "last incomplete frame dropped (4 bytes of 6)",
  ]);
  // A well-formed file reports nothing.
  const ok = decodeAudio(makeWav({ bits: 16, data: pcm16(intended) }), "ok.wav");
  assert.deepEqual(ok.warnings, []);
});

Deno.test("a size-0 data chunk followed by another chunk is empty, not samples", () => {
  // An empty data chunk then a LIST chunk: reading the LIST as audio would mix metadata into
  // the signal, so the file is rejected as having no samples.
  const list = new Uint8Array(8 + 12);
  list.set([..."LIST"].map((c) => c.charCodeAt(0)));
  new DataView(list.buffer).setUint32(4, 12, true);
  assertAudioError(
    () => decodeAudio(makeWav({ bits: 16, data: list, declaredDataBytes: 0 }), "empty-list.wav"),
    "empty-list.wav",
    /no samples \(empty data chunk\)/,
  );
});

Deno.test("a data chunk one byte short or with an odd trailing byte keeps the whole frames", () => {
  // Declared 14 bytes, 13 present: the last sample is incomplete and dropped.
  const short = pcm16(intended).subarray(0, 13);
  const a = decodeAudio(
    makeWav({ bits: 16, data: short, declaredDataBytes: 14 }),
    "short1.wav",
    { minSamples: 0 },
  );
  assert.deepEqual(a.samples, intendedFloat.subarray(0, 6));
  assert.deepEqual(a.warnings, [
    "data chunk 1 byte short (declares 14, file has 13 after the chunk header): read 6 frames " +
    "to the end of the file; last incomplete frame dropped (1 byte of 2)",
  ]);
  // Declared 15 bytes (odd), 14 present: all 7 samples are whole, the missing byte is said.
  const b = decodeAudio(
    makeWav({ bits: 16, data: pcm16(intended), declaredDataBytes: 15 }),
    "odd.wav",
    { minSamples: 0 },
  );
  assert.deepEqual(b.samples, intendedFloat);
  assert.deepEqual(b.warnings, [
    "data chunk 1 byte short (declares 15, file has 14 after the chunk header): read 7 frames " +
    "to the end of the file",
  ]);
  // Declared and present 15 bytes: an odd trailing byte inside the chunk.
  const withOdd = new Uint8Array(15);
  withOdd.set(pcm16(intended));
  withOdd[14] = 0x7f;
  const c = decodeAudio(makeWav({ bits: 16, data: withOdd }), "trail.wav", { minSamples: 0 });
  assert.deepEqual(c.samples, intendedFloat);
  assert.deepEqual(c.warnings, [
    "data chunk size 15 is not a whole number of frames: last incomplete frame dropped " +
    "(1 byte of 2)",
  ]);
  // A file cut far short is read as far as it goes, with the shortfall named.
  const d = decodeAudio(
    makeWav({ bits: 16, data: pcm16([1, 2, 3]), declaredDataBytes: 4000 }),
    "cut.wav",
    { minSamples: 0 },
  );
  assert.equal(d.samples.length, 3);
  assert.match(d.warnings[0], /^data chunk 3994 bytes short \(declares 4000, file has 6/);
});

Deno.test("data chunks with no whole frame are still rejected", () => {
  assertAudioError(
    () =>
      decodeAudio(
        makeWav({ bits: 16, data: new Uint8Array(0), declaredDataBytes: 0xffffffff }),
        "hdr.wav",
      ),
    "hdr.wav",
    /no samples \(data chunk declares 0xFFFFFFFF bytes, file ends at its header\)/,
  );
  assertAudioError(
    () =>
      decodeAudio(
        makeWav({ bits: 32, channels: 2, data: new Uint8Array(5), declaredDataBytes: 8 }),
        "tiny.wav",
      ),
    "tiny.wav",
    /no samples \(data chunk holds 5 bytes, less than one 8-byte frame\)/,
  );
  assertAudioError(
    () => decodeAudio(makeWav({ bits: 16, rate: 3, data: pcm16(intended) }), "rate.wav"),
    "rate.wav",
    /implausible sample rate 3 Hz/,
  );
});

Deno.test("a chunk claiming more bytes than the file has is named, not 'no data chunk'", () => {
  const wav = makeWav({ bits: 16, data: pcm16(intended) });
  // Insert a LIST chunk claiming 4294967000 bytes between 'fmt ' and 'data'.
  const list = new Uint8Array(8 + 4);
  list.set([..."LIST"].map((c) => c.charCodeAt(0)));
  new DataView(list.buffer).setUint32(4, 4294967000, true);
  const bytes = new Uint8Array(wav.length + list.length);
  bytes.set(wav.subarray(0, 36));
  bytes.set(list, 36);
  bytes.set(wav.subarray(36), 36 + list.length);
  const left = bytes.length - 44;
  assertAudioError(
    () => decodeAudio(bytes, "biglist.wav"),
    "biglist.wav",
    new RegExp(`^chunk 'LIST' at byte 36 claims 4294967000 bytes, file has ${left} left$`),
  );
  // The same for the 'fmt ' chunk itself.
  const fmt = makeWav({ bits: 16, data: pcm16(intended) });
  new DataView(fmt.buffer).setUint32(16, 0xfffffff0, true);
  assertAudioError(
    () => decodeAudio(fmt, "bigfmt.wav"),
    "bigfmt.wav",
    new RegExp(
      `^chunk 'fmt ' at byte 12 claims ${0xfffffff0} bytes, file has ${fmt.length - 20} left$`,
    ),
  );
});

Deno.test("validateAudio puts each file's repairs into the corpus notes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "wav_notes_" });
  try {
    const good = `${dir}/good.wav`, stream = `${dir}/stream.wav`, bad = `${dir}/bad.wav`;
    await Deno.writeFile(good, makeWav({ bits: 16, data: pcm16(new Array(800).fill(100)) }));
    await Deno.writeFile(
      stream,
      makeWav({ bits: 16, data: pcm16(new Array(801).fill(100)), declaredDataBytes: 0xffffffff }),
    );
    await Deno.writeFile(bad, new TextEncoder().encode("not audio"));
    const utt = (id: string, path: string) => ({ id, path, speaker: "s", labels: {} });
    const corpus: Corpus = {
      name: "manifest",
      root: dir,
      tasks: [],
      utterances: [utt("stream", stream), utt("good", good), utt("bad", bad)],
      skipped: [],
      notes: [{ file: "manifest.csv:3", reason: "earlier note" }],
    };
    const out = await validateAudio(corpus, { concurrency: 2 });
    assert.deepEqual(out.utterances.map((u) => u.id), ["stream", "good"]);
    assert.equal(out.utterances[0].samples, 801);
    assert.deepEqual(out.notes, [
      { file: "manifest.csv:3", reason: "earlier note" },
      {
        file: stream,
        reason: "data chunk size 0xFFFFFFFF (streaming placeholder): read 801 frames to the " +
          "end of the file",
      },
    ]);
    assert.equal(out.skipped.length, 1);
    assert.equal(out.skipped[0].file, bad);
    assert.equal(corpus.notes?.length, 1, "the input corpus is not modified");
    const text = formatCorpusReport(corpusReport(out));
    assert.ok(text.includes(`${stream}: data chunk size 0xFFFFFFFF`), text);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const emodbWav = new URL("../../shared/data/emodb/wav/03a01Fa.wav", import.meta.url);
const haveEmodb = await Deno.stat(emodbWav).then(() => true, () => false);
if (!haveEmodb) {
  console.warn("audio_test: ../shared/data/emodb absent; skipping the real-file test");
}

Deno.test({
  name: "reads a real EMO-DB file (16-bit, 16 kHz)",
  ignore: !haveEmodb,
  fn: async () => {
    const a = await readWav(emodbWav.pathname);
    assert.equal(a.samples.length, 30372); // from the corpus manifest
    assert.equal(a.sourceEncoding, "pcm16");
    assert.ok(a.samples.some((x) => Math.abs(x) > 0.05));
  },
});
