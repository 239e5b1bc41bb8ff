/**
 * Band-limited sample-rate conversion by windowed-sinc interpolation.
 *
 * The filter: an ideal low-pass (sinc) truncated by a Kaiser window, evaluated on a polyphase
 * table for the exact rational ratio. Its cut-off sits at 95 % of the lower Nyquist frequency,
 * the transition band spans 90–100 % of it (7.2–8.0 kHz when the target is 16 kHz) and the
 * stop band is attenuated by at least 80 dB (Kaiser β = 7.857, length from Kaiser's formula).
 * So a 7 kHz tone passes unchanged while anything above 8 kHz is removed before decimation
 * rather than aliased into the speech band.
 * @module
 */

const STOPBAND_DB = 80;
const KAISER_BETA = 0.1102 * (STOPBAND_DB - 8.7);

/** Zeroth-order modified Bessel function of the first kind (power series). */
function besselI0(x: number): number {
  let sum = 1, term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

interface Polyphase {
  up: number;
  down: number;
  /** Taps per phase (on the input grid). */
  taps: number;
  /** Input index offset of tap 0 relative to floor(position). */
  first: number;
  /** Half the filter length, the window's half-width in input samples minus one. */
  half: number;
  /** Cut-off in cycles per input sample. */
  fc: number;
  /**
   * `table[phase * taps + k]`, or null when `up · taps` exceeds {@link TABLE_LIMIT}: then the
   * coefficients are computed for each output sample instead (see {@link resample}).
   */
  table: Float32Array | null;
}

/**
 * Largest polyphase table built (entries, 1 MiB; every common rate needs under 70 000). The
 * table has `up · taps` entries, and for a rate ratio like 16001 → 16000 (`up` = 16000) that
 * grows with the rates a header may claim; above this, coefficients are computed on the fly so
 * memory stays bounded whatever the rates.
 */
const TABLE_LIMIT = 1 << 18;

/** Filters kept for reuse; bounded so a stream of odd rates cannot grow memory without end. */
const CACHE_LIMIT = 16;

const cache = new Map<string, Polyphase>();

/** Kaiser window sampled on [0, 1] for the on-the-fly path (linear interpolation, error ~1e-8). */
const WINDOW_POINTS = 8192;
let windowTable: Float64Array | null = null;

function kaiser(r: number): number {
  if (!windowTable) {
    windowTable = new Float64Array(WINDOW_POINTS + 1);
    const i0Beta = besselI0(KAISER_BETA);
    for (let i = 0; i <= WINDOW_POINTS; i++) {
      const x = i / WINDOW_POINTS;
      windowTable[i] = besselI0(KAISER_BETA * Math.sqrt(1 - x * x)) / i0Beta;
    }
  }
  const a = Math.abs(r);
  if (a >= 1) return 0;
  const pos = a * WINDOW_POINTS;
  const i = Math.floor(pos);
  const f = pos - i;
  return windowTable[i] * (1 - f) + windowTable[i + 1] * f;
}

function design(from: number, to: number): Polyphase {
  const key = `${from}->${to}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const g = gcd(from, to);
  const up = to / g, down = from / g;
  const nyquist = Math.min(from, to) / 2;
  const cutoff = 0.95 * nyquist; // Hz, the −6 dB point
  const transition = 0.1 * nyquist; // Hz
  // Kaiser's length estimate, on the input grid: N = (A − 8) / (2.285 · Δω).
  const deltaOmega = (2 * Math.PI * transition) / from;
  const half = Math.ceil((STOPBAND_DB - 8) / (2.285 * deltaOmega) / 2);
  const taps = 2 * half + 1;
  const first = -half;
  const fc = cutoff / from; // cycles per input sample
  let table: Float32Array | null = null;
  if (up * taps <= TABLE_LIMIT) {
    table = new Float32Array(up * taps);
    const i0Beta = besselI0(KAISER_BETA);
    for (let phase = 0; phase < up; phase++) {
      const frac = phase / up; // output position = floor + frac, in input samples
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        const t = first + k - frac; // distance of tap from the output instant
        const x = 2 * fc * t;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const r = t / (half + 1);
        const w = Math.abs(r) >= 1 ? 0 : besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0Beta;
        const v = 2 * fc * sinc * w;
        table[phase * taps + k] = v;
        sum += v;
      }
      // Normalise each phase to unit DC gain so constant signals stay constant.
      for (let k = 0; k < taps; k++) table[phase * taps + k] /= sum;
    }
  }
  const p = { up, down, taps, first, half, fc, table };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(key, p);
  return p;
}

/**
 * Resamples a signal from one rate to another. Returns the input itself when the rates match.
 * Output length is ceil(n · to / from). Memory is O(n · to / from) plus a filter table of at
 * most 1 MiB, whatever the rates.
 */
export function resample(samples: Float32Array, from: number, to: number): Float32Array {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from <= 0 || to <= 0) {
    throw new RangeError(`resample: rates must be positive integers (got ${from} → ${to})`);
  }
  if (from === to) return samples;
  const { up, down, taps, first, half, fc, table } = design(from, to);
  const n = samples.length;
  const outLength = Math.ceil((n * up) / down);
  const out = new Float32Array(outLength);
  const coef = table ? null : new Float64Array(taps);
  for (let m = 0; m < outLength; m++) {
    // Output sample m lies at input position m · down / up.
    const num = m * down;
    const base = Math.floor(num / up);
    const phase = num - base * up;
    let acc = 0;
    const start = base + first;
    const kLo = Math.max(0, -start);
    const kHi = Math.min(taps, n - start);
    if (table) {
      const row = phase * taps;
      for (let k = kLo; k < kHi; k++) acc += table[row + k] * samples[start + k];
    } else {
      // The same filter as the table rows, computed for this output instant only.
      const frac = phase / up;
      let sum = 0;
      for (let k = 0; k < taps; k++) {
        const t = first + k - frac;
        const x = 2 * fc * t;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const v = 2 * fc * sinc * kaiser(t / (half + 1));
        coef![k] = v;
        sum += v;
      }
      for (let k = kLo; k < kHi; k++) acc += coef![k] * samples[start + k];
      acc /= sum;
    }
    out[m] = acc;
  }
  return out;
}
