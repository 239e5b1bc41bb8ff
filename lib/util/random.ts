/**
 * The toolkit's one source of randomness: a seeded mulberry32 generator and the seed mixers that
 * derive independent streams from a run seed.
 *
 * Randomness is positional wherever a run can be interrupted: every stream is a pure function of
 * the run seed and its position (epoch, batch, trial, parameter name), so a resumed run replays
 * exactly the numbers an uninterrupted one uses without serialising generator state. Only 32-bit
 * integer arithmetic is used, so every platform gives the same numbers.
 *
 * @example
 * ```ts
 * import { deriveSeed, Random } from "./random.ts";
 * const rng = new Random(deriveSeed(1, 3)); // the stream of epoch 3 under seed 1
 * rng.next(); // uniform in [0, 1)
 * ```
 * @module
 */

/** The murmur3 32-bit finaliser: full avalanche, cheap and exact in JavaScript. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Derives a 32-bit seed from a base seed and a path of integers, e.g. `deriveSeed(seed, epoch,
 * batch)`. Different paths give unrelated seeds; the same path always gives the same seed.
 */
export function deriveSeed(seed: number, ...path: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const p of path) {
    // Including the running hash keeps (a, b) and (b, a) apart.
    h = fmix32(h ^ fmix32(((p | 0) >>> 0) + 0x7f4a7c15 + Math.imul(h, 31)));
  }
  return h;
}

/**
 * Derives the seed of a stream named by a string (FNV-1a of the name over the seed), e.g. one
 * stream per model parameter, so adding a parameter never shifts the others' initial values.
 */
export function nameSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ (seed >>> 0)) >>> 0;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A seeded uniform generator (mulberry32) with an explicit, serialisable 32-bit state. */
export class Random {
  /** Current 32-bit state; store it to resume the sequence. */
  state: number;
  #spare: number | undefined;

  /** Starts a sequence from `seed` (any integer; only its low 32 bits matter). */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next uniform number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform number in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal number (Box–Muller; the second value of each pair is kept for the next call). */
  gauss(): number {
    if (this.#spare !== undefined) {
      const s = this.#spare;
      this.#spare = undefined;
      return s;
    }
    // 1 − u keeps the logarithm finite.
    const u = 1 - this.next();
    const w = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * w);
    return r * Math.cos(2 * Math.PI * w);
  }

  /** A `() => number` view of {@link next}, for code that takes a plain generator function. */
  get fn(): () => number {
    return () => this.next();
  }
}
