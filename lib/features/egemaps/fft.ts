/**
 * Radix-2 FFT on Float64Array pairs, with tables precomputed once per size.
 * @module
 */

/** Precomputed tables for one transform size (a power of two). */
export class Fft {
  /** Transform size. */
  readonly n: number;
  private readonly rev: Uint32Array;
  private readonly cos: Float64Array;
  private readonly sin: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly tw: Float64Array;
  private half?: Fft;
  private zr?: Float64Array;
  private zi?: Float64Array;

  /** @param n transform size; must be a power of two ≥ 2 */
  constructor(n: number) {
    if (n < 2 || (n & (n - 1)) !== 0) throw new RangeError(`FFT size ${n} is not a power of two`);
    this.n = n;
    const bits = Math.log2(n);
    this.rev = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
      this.rev[i] = r;
    }
    this.cos = new Float64Array(n / 2);
    this.sin = new Float64Array(n / 2);
    for (let k = 0; k < n / 2; k++) {
      this.cos[k] = Math.cos((2 * Math.PI * k) / n);
      this.sin[k] = Math.sin((2 * Math.PI * k) / n);
    }
    this.re = new Float64Array(n);
    this.im = new Float64Array(n);
    // per-stage twiddles e^{-2πik/size} for size = 4, 8, …, n, laid out stage after stage
    this.tw = new Float64Array(2 * n);
    for (let size = 4, base = 0; size <= n; base += size >> 1, size <<= 1) {
      const step = n / size;
      for (let k = 0; k < size >> 1; k++) {
        this.tw[2 * (base + k)] = this.cos[k * step];
        this.tw[2 * (base + k) + 1] = -this.sin[k * step];
      }
    }
  }

  /**
   * In-place forward transform X[k] = Σ x[j]·e^{-2πijk/n} of (re, im).
   * @param re real parts, length n
   * @param im imaginary parts, length n
   */
  transform(re: Float64Array, im: Float64Array): void {
    const n = this.n;
    const rev = this.rev;
    for (let i = 0; i < n; i++) {
      const j = rev[i];
      if (j > i) {
        let t = re[i];
        re[i] = re[j];
        re[j] = t;
        t = im[i];
        im[i] = im[j];
        im[j] = t;
      }
    }
    // first stage: twiddle 1
    for (let a = 0; a < n; a += 2) {
      const xr = re[a + 1];
      const xi = im[a + 1];
      re[a + 1] = re[a] - xr;
      im[a + 1] = im[a] - xi;
      re[a] += xr;
      im[a] += xi;
    }
    const tw = this.tw;
    for (let size = 4, base = 0; size <= n; base += size >> 1, size <<= 1) {
      const half = size >> 1;
      // twiddles of this stage are stored contiguously at tw[2·(base + k)]
      for (let start = 0; start < n; start += size) {
        for (let k = 0; k < half; k++) {
          const wr = tw[2 * (base + k)];
          const wi = tw[2 * (base + k) + 1];
          const a = start + k;
          const b = a + half;
          const xr = re[b] * wr - im[b] * wi;
          const xi = re[b] * wi + im[b] * wr;
          re[b] = re[a] - xr;
          im[b] = im[a] - xi;
          re[a] += xr;
          im[a] += xi;
        }
      }
    }
  }

  /**
   * Magnitude spectrum |X[k]|, k = 0..n/2, of a real frame zero-padded to n.
   * @param frame real samples (length ≤ n), placed at `offset`
   * @param out receives n/2+1 magnitudes
   * @param offset where the frame starts in the padded buffer
   */
  magnitude(frame: ArrayLike<number>, out: Float64Array, offset = 0): void {
    const { re, im } = this.complex(frame, offset);
    for (let k = 0; k <= this.n / 2; k++) out[k] = Math.sqrt(re[k] * re[k] + im[k] * im[k]);
  }

  /**
   * Complex spectrum X[0..n/2] of a real frame zero-padded to n, computed with one complex FFT
   * of size n/2 (even samples as real, odd samples as imaginary parts). The returned arrays are
   * reused by the next call; entries above n/2 are not meaningful.
   * @param frame real samples (length ≤ n), placed at `offset`
   * @param offset where the frame starts in the padded buffer
   */
  complex(frame: ArrayLike<number>, offset = 0): { re: Float64Array; im: Float64Array } {
    const n = this.n;
    const h = n >> 1;
    const half = this.half ?? (this.half = new Fft(h));
    const zr = this.zr ?? (this.zr = new Float64Array(h));
    const zi = this.zi ?? (this.zi = new Float64Array(h));
    zr.fill(0);
    zi.fill(0);
    for (let i = 0; i < frame.length; i++) {
      const j = offset + i;
      if (j & 1) zi[j >> 1] = frame[i];
      else zr[j >> 1] = frame[i];
    }
    half.transform(zr, zi);
    const re = this.re;
    const im = this.im;
    re[0] = zr[0] + zi[0];
    im[0] = 0;
    re[h] = zr[0] - zi[0];
    im[h] = 0;
    for (let k = 1; k < h; k++) {
      const ar = zr[k];
      const ai = zi[k];
      const br = zr[h - k];
      const bi = -zi[h - k];
      // even part E = (Z[k] + conj Z[h-k]) / 2, odd part O = (Z[k] - conj Z[h-k]) / (2i)
      const er = 0.5 * (ar + br);
      const ei = 0.5 * (ai + bi);
      const or = 0.5 * (ai - bi);
      const oi = -0.5 * (ar - br);
      const wr = this.cos[k];
      const wi = -this.sin[k];
      re[k] = er + (or * wr - oi * wi);
      im[k] = ei + (or * wi + oi * wr);
    }
    return { re, im };
  }
}

const cache = new Map<number, Fft>();

/** Shared FFT tables for size n (created on first use). */
export function fftOfSize(n: number): Fft {
  let f = cache.get(n);
  if (!f) {
    f = new Fft(n);
    cache.set(n, f);
  }
  return f;
}
