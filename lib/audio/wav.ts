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
  /** Whole sample frames (samples per channel) that will be decoded. */
  frames: number;
  /** Byte offset of the data chunk's payload. */
  dataOffset: number;
  /**
   * Each repair made to read the file (a streaming placeholder size, a data chunk cut short, an
   * incomplete last frame dropped …), in words; empty for a well-formed file.
   */
  warnings: string[];
}

/**
 * Lowest sample rate accepted. Upsampling multiplies the sample count by `target / rate`, so a
 * corrupt rate of a few Hz would make the resampler allocate without bound.
 */
export const MIN_SAMPLE_RATE = 1000;

/**
 * Highest sample rate accepted (the highest rate real recorders use). The resampler's filter
 * length grows with the input rate, so a corrupt rate of gigahertz would cost unbounded time.
 */
export const MAX_SAMPLE_RATE = 768000;

const FORMAT_PCM = 0x0001;
const FORMAT_FLOAT = 0x0003;
const FORMAT_EXTENSIBLE = 0xfffe;

/** Sizes written by streaming writers that could not seek back to fill in the real one. */
const PLACEHOLDER_MAX = 0xffffffff;

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

/** A chunk id fit for a message: control and non-ASCII bytes are written as \xNN. */
function printable(id: string): string {
  return [...id].map((c) => {
    const code = c.charCodeAt(0);
    return code >= 0x20 && code < 0x7f ? c : `\\x${code.toString(16).padStart(2, "0")}`;
  }).join("");
}

/** A size for a message: placeholders in hex, so they are recognisable. */
function sizeText(size: number): string {
  return size === PLACEHOLDER_MAX ? "0xFFFFFFFF" : String(size);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

/**
 * True when the 8 bytes at `offset` look like the header of another chunk (four printable
 * ASCII characters and a size that fits in the file). Used to tell a genuinely empty data
 * chunk followed by, say, a LIST chunk from a streaming writer's size-0 placeholder, so that
 * metadata is never read as samples.
 */
function looksLikeChunk(view: DataView, offset: number): boolean {
  if (offset + 8 > view.byteLength) return false;
  for (let i = 0; i < 4; i++) {
    const c = view.getUint8(offset + i);
    if (c < 0x20 || c >= 0x7f) return false;
  }
  return offset + 8 + view.getUint32(offset + 4, true) <= view.byteLength;
}

/**
 * Parses and validates the header of a wav file held in memory.
 *
 * Streaming writers leave sizes unset: a data chunk size of 0 or 0xFFFFFFFF, or any size larger
 * than the file, with bytes present after the chunk header, is read to the end of the file (as
 * libsndfile does); a RIFF size of 0 or 0xFFFFFFFF is ignored. Only whole sample frames are
 * kept. Every such repair is described in `warnings`.
 *
 * The chunk walk advances at least 8 bytes per chunk and never allocates, so a claimed size
 * of 4 GB costs nothing; a chunk before the data chunk that claims more bytes than the file has
 * left is reported as such.
 * @param bytes the whole file (or at least everything up to the end of the data chunk)
 * @param file the file name used in error messages
 * @throws {AudioFileError} when the bytes are not a usable RIFF/WAVE file
 */
export function parseWavHeader(bytes: Uint8Array, file: string): WavHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || fourCC(view, 0) !== "RIFF" || fourCC(view, 8) !== "WAVE") {
    throw new AudioFileError(file, "not a RIFF/WAVE file (missing 'RIFF…WAVE' signature)");
  }
  const warnings: string[] = [];
  const riffSize = view.getUint32(4, true);
  if (riffSize === 0 || riffSize === PLACEHOLDER_MAX) {
    // The RIFF size is never used to bound the walk (the file length is), so this only informs.
    warnings.push(`RIFF size ${sizeText(riffSize)} (streaming placeholder) ignored`);
  }
  let fmt:
    | { tag: number; channels: number; rate: number; blockAlign: number; bits: number }
    | null = null;
  let offset = 12;
  while (offset + 8 <= bytes.length) {
    const id = fourCC(view, offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    const left = bytes.length - body;
    if (id === "data") {
      if (!fmt) throw new AudioFileError(file, "'data' chunk before any 'fmt ' chunk");
      return dataHeader(view, file, fmt, offset, size, warnings);
    }
    if (size > left) {
      // Before the data chunk a chunk that overruns the file hides everything after it; name it
      // rather than reporting the consequence ("no 'data' chunk").
      throw new AudioFileError(
        file,
        `chunk '${printable(id)}' at byte ${offset} claims ${size} bytes, file has ${left} left`,
      );
    }
    if (id === "fmt ") {
      if (size < 16) throw new AudioFileError(file, `'fmt ' chunk too short (${size} bytes)`);
      let tag = view.getUint16(body, true);
      const bits = view.getUint16(body + 14, true);
      if (tag === FORMAT_EXTENSIBLE) {
        if (size < 40) {
          throw new AudioFileError(
            file,
            `WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk too short (${size} bytes, needs 40)`,
          );
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
    }
    offset = body + size + (size & 1); // chunks are word-aligned
  }
  throw new AudioFileError(file, fmt ? "no 'data' chunk" : "no 'fmt ' chunk");
}

/** Validates the format and works out how many whole frames the data chunk really holds. */
function dataHeader(
  view: DataView,
  file: string,
  fmt: { tag: number; channels: number; rate: number; bits: number },
  offset: number,
  size: number,
  warnings: string[],
): WavHeader {
  const encoding = encodingOf(fmt.tag, fmt.bits, file);
  if (fmt.channels < 1) throw new AudioFileError(file, "header declares 0 channels");
  if (fmt.rate < 1) throw new AudioFileError(file, "header declares a sample rate of 0 Hz");
  if (fmt.rate < MIN_SAMPLE_RATE || fmt.rate > MAX_SAMPLE_RATE) {
    throw new AudioFileError(
      file,
      `implausible sample rate ${fmt.rate} Hz (supported: ${MIN_SAMPLE_RATE}–${MAX_SAMPLE_RATE} Hz)`,
    );
  }
  const bytesPerFrame = fmt.channels * (fmt.bits / 8);
  const body = offset + 8;
  const available = view.byteLength - body;
  let used = size; // bytes of the data chunk that will be decoded (before whole-frame rounding)
  let repair = "";
  const placeholder = size === PLACEHOLDER_MAX ||
    (size === 0 && available > 0 && !looksLikeChunk(view, body));
  if (placeholder) {
    used = available;
    repair = `data chunk size ${sizeText(size)} (streaming placeholder): read`;
  } else if (size > available) {
    used = available;
    const short = size - available;
    repair = `data chunk ${plural(short, "byte")} short (declares ${size}, file has ${available}` +
      ` after the chunk header): read`;
  }
  const frames = Math.floor(used / bytesPerFrame);
  if (frames === 0) {
    const what = size === 0
      ? "empty data chunk"
      : used === 0
      ? `data chunk declares ${sizeText(size)} bytes, file ends at its header`
      : `data chunk holds ${used} bytes, less than one ${bytesPerFrame}-byte frame`;
    throw new AudioFileError(file, `no samples (${what})`);
  }
  const rest = used - frames * bytesPerFrame;
  const dropped = rest
    ? `last incomplete frame dropped (${plural(rest, "byte")} of ${bytesPerFrame})`
    : "";
  if (repair) {
    warnings.push(
      `${repair} ${plural(frames, "frame")} to the end of the file${dropped ? `; ${dropped}` : ""}`,
    );
  } else if (dropped) {
    warnings.push(`data chunk size ${size} is not a whole number of frames: ${dropped}`);
  }
  return {
    encoding,
    channels: fmt.channels,
    sampleRate: fmt.rate,
    frames,
    dataOffset: body,
    warnings,
  };
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
 * Largest float sample magnitude accepted: 120 dB above full scale. Float WAVs are nominally
 * in [-1, 1]; a value like 1e30 is corrupt data, and it would overflow to Infinity in the
 * 32-bit output, the mix-down or the features' energies (a float64 1e300 does at once).
 */
export const MAX_FLOAT_SAMPLE = 1e6;

const BYTES_PER_SAMPLE: Record<WavEncoding, number> = {
  pcm8: 1,
  pcm16: 2,
  pcm24: 3,
  pcm32: 4,
  float32: 4,
  float64: 8,
};

/**
 * Decodes the data chunk into one Float32Array per channel, scaled to [-1, 1].
 * @throws {AudioFileError} on zero samples, non-finite float samples, float samples beyond
 *   ±{@link MAX_FLOAT_SAMPLE}, or a header that promises more bytes than `bytes` holds
 */
export function decodeWav(bytes: Uint8Array, header: WavHeader, file: string): Float32Array[] {
  const { channels, frames, encoding, dataOffset } = header;
  if (frames === 0) throw new AudioFileError(file, "no samples (empty data chunk)");
  // A header built by hand (or for another buffer) must not make the DataView read past the end.
  const need = frames * channels * BYTES_PER_SAMPLE[encoding];
  if (dataOffset + need > bytes.length) {
    throw new AudioFileError(
      file,
      `header promises ${need} bytes of samples at byte ${dataOffset}, file has ${
        Math.max(0, bytes.length - dataOffset)
      }`,
    );
  }
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
        if (Math.abs(v) > MAX_FLOAT_SAMPLE) {
          throw new AudioFileError(
            file,
            `implausible float sample (${v}) at frame ${
              Math.floor(i / channels)
            }: more than ${MAX_FLOAT_SAMPLE} (120 dB above full scale)`,
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
