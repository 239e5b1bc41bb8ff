/**
 * RIFF/WAVE decoding with errors that name the file and what is wrong.
 *
 * Supported codecs: PCM integer at 8 (unsigned), 16, 24 and 32 bits, and IEEE float at 32 and
 * 64 bits, plain or wrapped in WAVE_FORMAT_EXTENSIBLE. Anything else (ADPCM, µ-law, MP3 …) is
 * rejected as compressed or unknown.
 * @module
 */

/** An error about one audio file; the message always names the file. */
export class AudioFileError extends Error {
  /** The file the error is about. */
  readonly file: string;
  /** What is wrong, without the file name. */
  readonly reason: string;
  /**
   * Creates the error.
   * @param file the offending file
   * @param reason what is wrong with it
   */
  constructor(file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = "AudioFileError";
    this.file = file;
    this.reason = reason;
  }
}

/** Sample encoding of a wav file. */
export type WavEncoding = "pcm8" | "pcm16" | "pcm24" | "pcm32" | "float32" | "float64";

/** What the header of a wav file says. */
export interface WavHeader {
  /** Sample encoding. */
  encoding: WavEncoding;
  /** Channels per frame. */
  channels: number;
  /** Sample rate in Hz. */
  sampleRate: number;
  /** Sample frames (samples per channel) in the data chunk. */
  frames: number;
  /** Byte offset of the data chunk's payload. */
  dataOffset: number;
}

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_EXTENSIBLE = 0xfffe;

const FORMAT_NAMES: Record<number, string> = {
  0x0002: "Microsoft ADPCM",
  0x0006: "A-law",
  0x0007: "µ-law",
  0x0011: "IMA ADPCM",
  0x0031: "GSM 6.10",
  0x0050: "MPEG",
  0x0055: "MP3",
};

function fourCC(view: DataView, offset: number): string {
  return String.fromCharCode(
    view.getUint8(offset),
    view.getUint8(offset + 1),
    view.getUint8(offset + 2),
    view.getUint8(offset + 3),
  );
}

/**
 * Parses and validates the header of a wav file held in memory.
 * @param bytes the whole file (or at least everything up to the end of the data chunk)
 * @param file the file name used in error messages
 * @throws {AudioFileError} when the bytes are not a usable RIFF/WAVE file
 */
export function parseWavHeader(bytes: Uint8Array, file: string): WavHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || fourCC(view, 0) !== "RIFF" || fourCC(view, 8) !== "WAVE") {
    throw new AudioFileError(file, "not a RIFF/WAVE file (missing 'RIFF…WAVE' signature)");
  }
  let fmt:
    | { tag: number; channels: number; rate: number; blockAlign: number; bits: number }
    | null = null;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = fourCC(view, offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === "fmt ") {
      if (size < 16 || body + 16 > bytes.length) {
        throw new AudioFileError(file, `'fmt ' chunk too short (${size} bytes)`);
      }
      let tag = view.getUint16(body, true);
      const bits = view.getUint16(body + 14, true);
      if (tag === FORMAT_EXTENSIBLE) {
        if (size < 40 || body + 26 > bytes.length) {
          throw new AudioFileError(file, "WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short");
        }
        // The sub-format GUID begins with the plain format tag.
        tag = view.getUint16(body + 24, true);
      }
      fmt = {
        tag,
        channels: view.getUint16(body + 2, true),
        rate: view.getUint32(body + 4, true),
        blockAlign: view.getUint16(body + 12, true),
        bits,
      };
    } else if (id === "data") {
      if (!fmt) throw new AudioFileError(file, "'data' chunk before any 'fmt ' chunk");
      const encoding = encodingOf(fmt.tag, fmt.bits, file);
      if (fmt.channels < 1) throw new AudioFileError(file, "header declares 0 channels");
      if (fmt.rate < 1) throw new AudioFileError(file, "header declares a sample rate of 0 Hz");
      const bytesPerFrame = fmt.channels * (fmt.bits / 8);
      const available = bytes.length - body;
      if (size > available) {
        throw new AudioFileError(
          file,
          `truncated data chunk: header declares ${size} bytes, file holds ${available}`,
        );
      }
      return {
        encoding,
        channels: fmt.channels,
        sampleRate: fmt.rate,
        frames: Math.floor(size / bytesPerFrame),
        dataOffset: body,
      };
    }
    offset = body + size + (size & 1); // chunks are word-aligned
  }
  throw new AudioFileError(file, fmt ? "no 'data' chunk" : "no 'fmt ' chunk");
}

function encodingOf(tag: number, bits: number, file: string): WavEncoding {
  if (tag === FORMAT_PCM) {
    if (bits === 8) return "pcm8";
    if (bits === 16) return "pcm16";
    if (bits === 24) return "pcm24";
    if (bits === 32) return "pcm32";
    throw new AudioFileError(file, `unsupported PCM bit depth ${bits}`);
  }
  if (tag === FORMAT_FLOAT) {
    if (bits === 32) return "float32";
    if (bits === 64) return "float64";
    throw new AudioFileError(file, `unsupported float bit depth ${bits}`);
  }
  const name = FORMAT_NAMES[tag] ?? "unknown codec";
  throw new AudioFileError(
    file,
    `compressed or unknown codec: format tag 0x${
      tag.toString(16).padStart(4, "0")
    } (${name}); only PCM and IEEE float are supported`,
  );
}

/**
 * Decodes the data chunk into one Float32Array per channel, scaled to [-1, 1].
 * @throws {AudioFileError} on zero samples or non-finite float samples
 */
export function decodeWav(bytes: Uint8Array, header: WavHeader, file: string): Float32Array[] {
  const { channels, frames, encoding, dataOffset } = header;
  if (frames === 0) throw new AudioFileError(file, "no samples (empty data chunk)");
  const view = new DataView(
    bytes.buffer,
    bytes.byteOffset + dataOffset,
    bytes.byteLength - dataOffset,
  );
  const out = Array.from({ length: channels }, () => new Float32Array(frames));
  const n = frames * channels;
  switch (encoding) {
    case "pcm8":
      for (let i = 0; i < n; i++) {
        out[i % channels][(i / channels) | 0] = (view.getUint8(i) - 128) / 128;
      }
      break;
    case "pcm16":
      for (let i = 0; i < n; i++) {
        out[i % channels][(i / channels) | 0] = view.getInt16(2 * i, true) / 32768;
      }
      break;
    case "pcm24":
      for (let i = 0; i < n; i++) {
        const o = 3 * i;
        const v = view.getUint8(o) | (view.getUint8(o + 1) << 8) | (view.getInt8(o + 2) << 16);
        out[i % channels][(i / channels) | 0] = v / 8388608;
      }
      break;
    case "pcm32":
      for (let i = 0; i < n; i++) {
        out[i % channels][(i / channels) | 0] = view.getInt32(4 * i, true) / 2147483648;
      }
      break;
    case "float32":
    case "float64": {
      const wide = encoding === "float64";
      for (let i = 0; i < n; i++) {
        const v = wide ? view.getFloat64(8 * i, true) : view.getFloat32(4 * i, true);
        if (!Number.isFinite(v)) {
          throw new AudioFileError(
            file,
            `non-finite sample (${v}) at frame ${Math.floor(i / channels)}`,
          );
        }
        out[i % channels][(i / channels) | 0] = v;
      }
      break;
    }
  }
  return out;
}

/**
 * Encodes mono samples in [-1, 1] as a 16-bit PCM wav file (values outside are clipped).
 * Used for fixtures and exported audio; corpora are read, never rewritten.
 */
export function encodeWav16(samples: Float32Array, sampleRate: number): Uint8Array {
  const bytes = new Uint8Array(44 + 2 * samples.length);
  const view = new DataView(bytes.buffer);
  const ascii = (o: number, s: string) => {
    for (let i = 0; i < 4; i++) bytes[o + i] = s.charCodeAt(i);
  };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + 2 * samples.length, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, FORMAT_PCM, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, 2 * sampleRate, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, "data");
  view.setUint32(40, 2 * samples.length, true);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.max(-1, Math.min(1, samples[i]));
    view.setInt16(44 + 2 * i, Math.round(v * 32767), true);
  }
  return bytes;
}
