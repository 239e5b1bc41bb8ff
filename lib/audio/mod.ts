/**
 * Audio input: wav files to mono Float32 at 16 kHz.
 *
 * ```ts
 * import { readWav } from "./lib/audio/mod.ts";
 * const audio = await readWav("Ses01F_impro01_F000.wav");
 * audio.samples; // Float32Array, mono, 16 kHz, in [-1, 1]
 * ```
 * @module
 */
import { AudioFileError, decodeWav, parseWavHeader, type WavEncoding } from "./wav.ts";
import { resample } from "./resample.ts";

export {
  AudioFileError,
  encodeWav16,
  MAX_FLOAT_SAMPLE,
  MAX_SAMPLE_RATE,
  MIN_SAMPLE_RATE,
  type WavEncoding,
  type WavHeader,
} from "./wav.ts";
export { resample } from "./resample.ts";

/** The sample rate every stage after audio input works at. */
export const TARGET_SAMPLE_RATE = 16000;

/** Samples in one 40 ms window at 16 kHz: shorter audio is zero-padded to this length. */
export const MIN_SAMPLES = 640;

/** A decoded utterance. */
export interface AudioData {
  /** The file it was read from. */
  path: string;
  /** Mono samples at `sampleRate`, scaled to [-1, 1]. */
  samples: Float32Array;
  /** Always 16000 unless `readWav` was asked for another rate. */
  sampleRate: number;
  /** The file's own sample rate. */
  sourceSampleRate: number;
  /** The file's channel count (mixed down to mono). */
  sourceChannels: number;
  /** The file's sample encoding. */
  sourceEncoding: WavEncoding;
  /** Samples before any zero-padding (at `sampleRate`). */
  originalLength: number;
  /** True when the audio was shorter than `minSamples` and was zero-padded. */
  padded: boolean;
  /**
   * Each repair the reader made to the file (streaming placeholder sizes, a data chunk cut
   * short, an incomplete last frame dropped), in words; empty for a well-formed file. Callers
   * that load corpora report these (see `validateAudio`) so that no repair goes unseen.
   */
  warnings: string[];
}

/** Options of {@link readWav} and {@link decodeAudio}. */
export interface ReadWavOptions {
  /** Output sample rate (default 16000). */
  sampleRate?: number;
  /** Zero-pad shorter audio to this many samples (default 640, one 40 ms window). */
  minSamples?: number;
}

/**
 * Decodes wav bytes already in memory (see {@link readWav}).
 * @param bytes the file's bytes
 * @param path the file name used in error messages
 */
export function decodeAudio(
  bytes: Uint8Array,
  path: string,
  options: ReadWavOptions = {},
): AudioData {
  const rate = options.sampleRate ?? TARGET_SAMPLE_RATE;
  const minSamples = options.minSamples ?? MIN_SAMPLES;
  const header = parseWavHeader(bytes, path);
  const channels = decodeWav(bytes, header, path);
  let mono = channels[0];
  if (channels.length > 1) {
    // Mix down by averaging so a mono source duplicated on both channels is unchanged.
    mono = new Float32Array(header.frames);
    for (const ch of channels) for (let i = 0; i < mono.length; i++) mono[i] += ch[i];
    for (let i = 0; i < mono.length; i++) mono[i] /= channels.length;
  }
  let samples = resample(mono, header.sampleRate, rate);
  const originalLength = samples.length;
  const padded = originalLength < minSamples;
  if (padded) {
    const p = new Float32Array(minSamples);
    p.set(samples);
    samples = p;
  }
  return {
    path,
    samples,
    sampleRate: rate,
    sourceSampleRate: header.sampleRate,
    sourceChannels: header.channels,
    sourceEncoding: header.encoding,
    originalLength,
    padded,
    warnings: header.warnings,
  };
}

/**
 * Reads a wav file into mono Float32 samples at 16 kHz.
 *
 * Accepts PCM 8/16/24/32-bit integer and 32/64-bit float; stereo (or more channels) is averaged
 * to mono; other sample rates are resampled with a Kaiser-windowed sinc low-pass (see
 * `resample`); audio shorter than one 40 ms window is zero-padded to one window (`padded`).
 * Files from streaming writers (data size 0 or 0xFFFFFFFF) and data chunks cut short are read
 * to the end of the file in whole frames, as libsndfile does; each such repair is listed in
 * `warnings`.
 * @throws {AudioFileError} naming the file: missing file, not RIFF/WAVE, no 'fmt ' or 'data'
 *   chunk, a chunk claiming more bytes than the file has, compressed or unknown codec, a sample
 *   rate outside 1000–768000 Hz, zero samples, NaN/Inf samples or float samples beyond ±1e6
 */
export async function readWav(path: string, options: ReadWavOptions = {}): Promise<AudioData> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new AudioFileError(path, "file not found");
    if (e instanceof Deno.errors.IsADirectory) throw new AudioFileError(path, "is a directory");
    throw new AudioFileError(path, `cannot read: ${(e as Error).message}`);
  }
  return decodeAudio(bytes, path, options);
}
