import assert from "node:assert/strict";
import { readWav } from "../lib/audio/mod.ts";
import { encodeWav16 } from "../lib/audio/mod.ts";
import { Fft } from "../lib/features/egemaps/fft.ts";
import {
  percentile,
  segments,
  segmentStats,
  slopes,
  smooth3,
  stddevNorm,
} from "../lib/features/egemaps/functionals.ts";
import {
  EGEMAPS_FUNCTIONAL_NAMES,
  EGEMAPS_LLD_NAMES,
  extractEgemaps,
  frameCount,
} from "../lib/features/egemaps/mod.ts";
import { compareToReference, readReference } from "../lib/features/egemaps/parity.ts";
import { Formants, levinson, polyRoots } from "../lib/features/egemaps/voice.ts";

const REF = new URL("../../shared/reference/egemaps-v02", import.meta.url).pathname;
const WAV = new URL("../../shared/data/emodb/wav", import.meta.url).pathname;
const haveRef = await Deno.stat(`${REF}/functionals.csv`).then(() => true, () => false) &&
  await Deno.stat(WAV).then(() => true, () => false);
if (!haveRef) {
  console.log(`egemaps parity tests skipped: ${REF} or ${WAV} not found (needs ../shared)`);
}

/** Deterministic pseudo-random numbers in [-1, 1). */
function noise(n: number, seed = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** A glottal-like harmonic complex (1/h amplitudes) at f0 Hz, 16 kHz. */
function harmonicTone(f0: number, seconds: number, amp = 0.3): Float32Array {
  const n = Math.round(seconds * 16000);
  const x = new Float32Array(n);
  for (let h = 1; h * f0 < 4000; h++) {
    for (let i = 0; i < n; i++) x[i] += (amp / h) * Math.sin((2 * Math.PI * h * f0 * i) / 16000);
  }
  return x;
}

Deno.test("FFT: complex and real transforms match a naive DFT", () => {
  for (const n of [8, 64, 512]) {
    const f = new Fft(n);
    const x = noise(n - 3, n);
    const re = new Float64Array(n);
    const im = new Float64Array(n);
    re.set(x, 3);
    f.transform(re, im);
    const real = f.complex(x, 3);
    for (let k = 0; k <= n / 2; k++) {
      let dr = 0;
      let di = 0;
      for (let j = 0; j < x.length; j++) {
        const a = (-2 * Math.PI * k * (j + 3)) / n;
        dr += x[j] * Math.cos(a);
        di += x[j] * Math.sin(a);
      }
      assert.ok(
        Math.abs(re[k] - dr) < 1e-9 && Math.abs(im[k] - di) < 1e-9,
        `complex n=${n} k=${k}`,
      );
      assert.ok(
        Math.abs(real.re[k] - dr) < 1e-9 && Math.abs(real.im[k] - di) < 1e-9,
        `real k=${k}`,
      );
    }
  }
  assert.throws(() => new Fft(12), /power of two/);
});

Deno.test("polynomial roots and Levinson recursion recover known values", () => {
  // (x - 0.5)(x + 2)(x² - 2·0.9cos(0.7)x + 0.81)
  const c1 = 2 * 0.9 * Math.cos(0.7);
  const p1 = [-1, 1.5, 1]; // (x-0.5)(x+2) = x² + 1.5x - 1, coefficients low → high
  const p2 = [0.81, -c1, 1];
  const c = new Float64Array(5);
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) c[i + j] += p1[i] * p2[j];
  const z = polyRoots(c)!;
  const found = Array.from({ length: 4 }, (_, i) => [z[2 * i], z[2 * i + 1]]);
  const expect = [[0.5, 0], [-2, 0], [0.9 * Math.cos(0.7), 0.9 * Math.sin(0.7)], [
    0.9 * Math.cos(0.7),
    -0.9 * Math.sin(0.7),
  ]];
  for (const [er, ei] of expect) {
    assert.ok(found.some(([r, i]) => Math.hypot(r - er, i - ei) < 1e-9), `root ${er}+${ei}i`);
  }
  // AR(1) with coefficient 0.6: r[k] = 0.6^k → A(z) = 1 - 0.6 z^-1
  const r = Float64Array.from({ length: 4 }, (_, k) => 0.6 ** k);
  const a = levinson(r, 3)!;
  assert.ok(Math.abs(a[0] + 0.6) < 1e-6 && Math.abs(a[1]) < 1e-6 && Math.abs(a[2]) < 1e-6);
});

Deno.test("formants: SIMD resampling kernel gives bit-identical results to the scalar path", () => {
  const simd = new Formants(512, 320, 16000, 11000, true);
  const scalar = new Formants(512, 320, 16000, 11000, false);
  const fft = new Fft(512);
  for (let seed = 1; seed <= 5; seed++) {
    const x = noise(320, seed);
    for (let i = 1; i < 320; i++) x[i] += 0.9 * x[i - 1]; // some spectral tilt
    const { re, im } = fft.complex(x, 96);
    const a = simd.frame(re, im);
    const b = scalar.frame(re, im);
    assert.deepEqual(Array.from(a.freq), Array.from(b.freq));
    assert.deepEqual(Array.from(a.bw), Array.from(b.bw));
    assert.ok(a.freq[0] > 0, "at least one formant found");
  }
});

Deno.test("functional helpers: smoothing, percentiles, segments, slopes", () => {
  assert.deepEqual(Array.from(smooth3([3, 6, 9], false)), [4, 6, 8]);
  // zeros stay zero and are left out of neighbouring averages
  assert.deepEqual(Array.from(smooth3([0, 4, 0, 2, 4], true)), [0, 4, 0, 3, 10 / 3]);
  assert.equal(percentile([1, 2, 3, 4, 5], 0.2), 1.8);
  assert.equal(percentile([7], 0.8), 7);
  assert.ok(Math.abs(stddevNorm([1, 3], false) - 0.5) < 1e-12);
  const x = [0, 0, 5, 5, 5, 5, 0, 0, 0, 7, 7, 7, 0, 0];
  const seg = segments(x, (v) => v !== 0);
  assert.equal(seg.length, 2);
  assert.deepEqual(segmentStats([2, 4]), { mean: 3, sd: 1 });
  const tri = Array.from({ length: 41 }, (_, i) => (i <= 20 ? i : 40 - i));
  const s = slopes(tri, 0.01);
  assert.ok(Math.abs(s.meanRise - 100) < 1e-9, `rise ${s.meanRise}`);
  // the slope closing the contour keeps openSMILE's sign (end value minus last extremum)
  assert.ok(Math.abs(s.meanFall + 100) < 1e-9, `fall ${s.meanFall}`);
  const saw = Array.from({ length: 61 }, (_, i) => (i % 20 <= 10 ? i % 20 : 20 - (i % 20)));
  const s2 = slopes(saw, 0.01);
  assert.ok(s2.meanRise > 0 && s2.meanFall > 0, JSON.stringify(s2));
});

Deno.test("extractEgemaps: names, shapes, frame grid and input checks", () => {
  assert.equal(EGEMAPS_FUNCTIONAL_NAMES.length, 88);
  assert.equal(EGEMAPS_LLD_NAMES.length, 25);
  assert.equal(new Set(EGEMAPS_FUNCTIONAL_NAMES).size, 88);
  const x = harmonicTone(200, 0.5);
  const res = extractEgemaps(x, 16000);
  assert.deepEqual(res.functionals.names, [...EGEMAPS_FUNCTIONAL_NAMES]);
  assert.equal(res.functionals.values.length, 88);
  assert.ok(res.functionals.values.every(Number.isFinite));
  const n = res.lld.values.length;
  assert.equal(n, frameCount(x.length, 960, 160));
  assert.equal(res.lld.frameTimes[1] - res.lld.frameTimes[0], 0.01);
  assert.ok(res.lld.values.every((r) => r.length === 25));
  assert.throws(() => extractEgemaps(x, 44100), /16000 Hz/);
  assert.throws(() => extractEgemaps(new Float32Array(100), 16000), /too short/);
});

Deno.test("F0 of a synthetic harmonic tone and level scaling", () => {
  for (const f0 of [120, 220]) {
    const res = extractEgemaps(harmonicTone(f0, 1), 16000);
    const v = (name: string) => res.functionals.values[EGEMAPS_FUNCTIONAL_NAMES.indexOf(name)];
    const st = 12 * Math.log2(f0 / 27.5);
    const median = v("F0semitoneFrom27.5Hz_sma3nz_percentile50.0");
    assert.ok(Math.abs(median - st) < 0.3, `f0=${f0}: median ${median} vs ${st} semitones`);
    assert.ok(v("VoicedSegmentsPerSec") > 0 && v("MeanVoicedSegmentLengthSec") > 0.8);
  }
  // white noise: (almost) no voiced frames; +6.02 dB when the amplitude doubles
  const n1 = noise(16000, 7).map((s) => s * 0.1);
  const n2 = n1.map((s) => s * 2);
  const e = (x: Float32Array) =>
    extractEgemaps(x, 16000).functionals.values[EGEMAPS_FUNCTIONAL_NAMES.length - 1];
  assert.ok(Math.abs(e(n2) - e(n1) - 20 * Math.log10(2)) < 0.01);
  const silentVoicing = extractEgemaps(n1, 16000).functionals.values[
    EGEMAPS_FUNCTIONAL_NAMES.indexOf("VoicedSegmentsPerSec")
  ];
  assert.ok(silentVoicing < 1, `noise voiced segments/s ${silentVoicing}`);
});

Deno.test({
  name: "parity with openSMILE 3.0.2 on 12 EMO-DB files (every 9th reference file)",
  ignore: !haveRef,
  fn: async () => {
    const ref = (await readReference(REF)).filter((_, i) => i % 9 === 0);
    const rep = await compareToReference(
      ref,
      async (f) => (await readWav(`${WAV}/${f}`, { minSamples: 0 })).samples,
    );
    assert.equal(rep.frameCountsEqual, ref.length, "LLD frame counts equal to openSMILE's");
    const weak = rep.functionals.filter((f) => !(f.r >= 0.99));
    assert.deepEqual(weak.map((f) => `${f.name} r=${f.r.toFixed(4)}`), [], "functionals r ≥ 0.99");
    for (const l of rep.lld) {
      assert.ok(l.r >= 0.995, `LLD ${l.name} r=${l.r}`);
      assert.ok(l.medRelErr <= 1e-3, `LLD ${l.name} median relative error ${l.medRelErr}`);
    }
  },
});

Deno.test({
  name: "egemaps CLI: CSV layout, LLD files, bad files skipped, --strict fails",
  ignore: !haveRef,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeFile(`${dir}/broken.wav`, new TextEncoder().encode("not a wav"));
      await Deno.writeFile(`${dir}/tone.wav`, encodeWav16(harmonicTone(150, 0.4), 16000));
      const run = (...args: string[]) =>
        new Deno.Command("deno", {
          args: ["run", "--allow-read", "--allow-write", "scripts/egemaps.ts", ...args],
          cwd: new URL("..", import.meta.url).pathname,
          stdout: "piped",
          stderr: "piped",
        }).output();
      const ok = await run(dir, `${WAV}/03a01Fa.wav`, "--out", `${dir}/f.csv`, "--lld-dir", dir);
      const err = new TextDecoder().decode(ok.stderr);
      assert.equal(ok.code, 0, err);
      assert.match(err, /broken\.wav: skipped: /);
      assert.match(err, /ms\/file/);
      const lines = (await Deno.readTextFile(`${dir}/f.csv`)).trim().split("\n");
      assert.deepEqual(lines[0].split(","), ["file", ...EGEMAPS_FUNCTIONAL_NAMES]);
      assert.equal(lines.length, 3);
      // a file given directly is named by its path as given, and its LLD file mirrors it
      const names = lines.slice(1).map((l) => l.split(",")[0]);
      assert.deepEqual(names, ["tone.wav", `${WAV}/03a01Fa.wav`]);
      const lld = (await Deno.readTextFile(`${dir}${WAV}/03a01Fa.csv`)).trim().split("\n");
      assert.deepEqual(lld[0].split(","), ["file", "frameTime", ...EGEMAPS_LLD_NAMES]);
      assert.equal(lld.length - 1, 185);
      const strict = await run(`${dir}/broken.wav`, "--strict", "--out", `${dir}/g.csv`);
      assert.equal(strict.code, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
