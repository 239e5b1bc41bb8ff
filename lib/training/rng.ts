/**
 * Deterministic seeds and random numbers for training.
 *
 * Every random choice during training (shuffling order, dropout masks, random-search draws) is a
 * pure function of the run seed and its position (epoch, batch, trial). A run interrupted after
 * any epoch therefore resumes with exactly the random numbers an uninterrupted run would use,
 * without having to serialise a generator's internal state.
 * @module
 */

/** Mixes one 32-bit value (the murmur3 finaliser; full avalanche, cheap, exact in JS). */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Derives a 32-bit seed from a base seed and a path of integers, e.g.
 * `deriveSeed(seed, epoch, batch)`. Different paths give unrelated seeds; the same path
 * always gives the same seed.
 */
export function deriveSeed(seed: number, ...path: number[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const p of path) {
    // Including the position keeps (a, b) and (b, a) apart.
    h = fmix32(h ^ fmix32(((p | 0) >>> 0) + 0x7f4a7c15 + Math.imul(h, 31)));
  }
  return h;
}

/** A seeded uniform generator on [0, 1) with an explicit, serialisable state. */
export class SeededRandom {
  /** Current 32-bit state; store it to resume the sequence. */
  state: number;

  /** Starts a sequence from `seed` (any integer). */
  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Next uniform number in [0, 1) (mulberry32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
