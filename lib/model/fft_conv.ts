/**
 * Overlap-save FFT 1-D convolution: the same products as {@link WinogradConv.conv1d} and
 * {@link WinogradConv.conv1dFilterGrad}, exact in exact arithmetic, with the per-frequency
 * complex products done as real GEMMs on a {@link WasmGemm}.
 *
 * ## Why it is exact
 * A row is cut into blocks of N = `blockSize` inputs that overlap by kw − 1: block b starts at
 * padded input position b·L, L = N − kw + 1. The circular correlation of a block with the
 * zero-padded filter, c[t] = Σ_q xb[(t + q) mod N] · w[q], never wraps for t < L, so its first
 * L values are outputs b·L … b·L + L − 1 of the linear correlation (overlap-save). In the
 * frequency domain that correlation is X_b[f] · conj(W[f]) for the N/2 + 1 bins of a real
 * sequence; with channels, every bin is a complex `cin × cout` product over all blocks of all
 * rows, which becomes one real GEMM by stacking real and imaginary parts:
 *
 *     [Re Y | Im Y] = [Re X | Im X] · [[Re P, Im P], [−Im P, Re P]],  P = conj(W[f]),
 *
 * K = 2·cin, N = 2·cout, M = all blocks. Per output that is cin·cout·(N/2 + 1)·4 / L real
 * multiply-adds (N = 128: ≈ 4.7k against F(4, 4)'s ≈ 28k and direct's 64k at conv2's shape).
 *
 * The filter gradient is the correlation of each block with its L upstream gradients (zero
 * past L): dw[q] = Σ_b Σ_s xb[s + q] · dyb[s] for q < kw, which again never wraps, so its
 * spectrum is Σ_b X_b[f] · conj(DY_b[f]): per bin one GEMM with A = [Re X | Im X] read
 * transposed in place (K = all blocks) and B = [Re DY | Im DY], whose four quadrants combine
 * to the complex sum; an inverse real DFT to the kw needed taps (one small GEMM) gives dw.
 * The input gradient is a convolution with the flipped filter and padding kw − 1 − pad, so
 * callers use {@link FftConv.conv1d} for it, as with Winograd.
 *
 * ## The transforms
 * Real FFTs of size N via one complex FFT of N/2 (even samples real, odd imaginary) and the
 * usual split, generated as straight-line WebAssembly SIMD (radix 4, twiddles as constants set
 * once per call): each f32x4 lane is one channel, and one call transforms all channels of every
 * block of a row (the loops over blocks and 4-channel groups inside the module), like
 * lib/model/lane_maps.ts does for Winograd. The values live in v128 locals (V8 spills what
 * does not fit in registers to the stack; keeping them in a scratch block of memory instead
 * measured 0.8-0.9× as fast). Channel counts that are not multiples of 4 are padded with zero
 * channels in the copies in and out. The scale factors (2 from the split, N from the
 * unnormalised inverse) go into the filter spectra and the gradient's final DFT.
 *
 * ## Measured (scripts/bench-fft-conv.ts, 7 pairs in one process, load 2.8-2.9)
 * conv2's row shape, 8 × 24,240 positions, N = 256: forward (with bias + ReLU) 129 ms against
 * Winograd's 321, filter gradient 150 against 491, input gradient (padding 39/39) 138 against
 * 325; all three 417 ms against 1,117, per-pair ratio median **2.72×** (1.75-3.75). Errors
 * relative to the largest Σ|terms| ≤ 3e-8 there (sampled against float64; Winograd ≤ 1.6e-7)
 * and ≤ 4.3e-7 at the test shapes. Of FFT's time, the per-bin GEMMs take ≈ 40 %, the
 * transforms ≈ 45 %, copies in and out most of the rest. The window-edge shape (2,400 rows of
 * 49, padding 19) gains less: 1.42× over the three passes, the forward alone at par.
 * @module
 */
import { type Conv1dShape, type PackedB, WasmBuffer, type WasmGemm } from "./wasm_gemm.ts";
import { Fn, I32, instantiateOnMemory, memarg, OP, SIMD, V128 } from "../util/wasm_encode.ts";

/**
 * Default block: N = 256 (L = 217 outputs per block at kw = 40; ≈ 3.8k real multiply-adds per
 * output in the GEMMs). Paired at conv2's row shape (8 × 24,240, scripts/bench-fft-conv.ts),
 * all three passes took 417 ms at N = 256 against 487 ms at N = 128 (≈ 4.7k multiply-adds per
 * output) and 574 ms at N = 512, whose GEMMs (M = 416 blocks, 257 bins) and larger transforms
 * lost more than its ≈ 9 % fewer multiply-adds gained.
 */
export const FFT_BLOCK = 256;

/** `[cos(2πk/n), sin(2πk/n)]`, exact at multiples of a quarter turn (zero twiddles vanish). */
function trig(k: number, n: number): [number, number] {
  const m = ((k % n) + n) % n;
  if ((4 * m) % n === 0) {
    return ([[1, 0], [0, 1], [-1, 0], [0, -1]] as [number, number][])[(4 * m) / n];
  }
  const a = (2 * Math.PI * m) / n;
  return [Math.cos(a), Math.sin(a)];
}

function splat(v: number): number[] {
  return [...new Uint8Array(new Float32Array(4).fill(v).buffer)];
}

/**
 * The splatted constants of one function, each in a local set once before the loops: an
 * inline `v128.const` costs V8 several instructions every time it is used (moves through
 * general registers), a local at worst a load from its stack slot.
 */
class Constants {
  readonly #locals = new Map<number, number>();
  constructor(private readonly f: Fn) {}
  /** The local holding `c` (rounded to float32) in all four lanes. */
  get(c: number): number {
    let l = this.#locals.get(c);
    if (l === undefined) {
      l = this.f.local(V128);
      this.#locals.set(c, l);
    }
    return l;
  }
  /** Puts the code that sets the locals at the start of the function's body. */
  prepend(): void {
    const init = new Fn(0);
    for (const [c, l] of this.#locals) init.simd(SIMD.const, ...splat(c)).set(l);
    this.f.bytes.unshift(...init.bytes);
  }
}

/**
 * Pushes Σ coef·local (f32x4): zero coefficients skipped, ±1 without a multiply, the constant
 * rounded to float32 and taken from `k`.
 */
function lin(f: Fn, k: Constants, terms: [number, number][]): void {
  let first = true;
  for (const [c0, local] of terms) {
    const c = Math.fround(c0);
    if (c === 0) continue;
    if (c === 1 || c === -1) {
      f.get(local);
      if (first) { if (c === -1) f.simd(SIMD.f32x4Neg); }
      else f.simd(c === 1 ? SIMD.f32x4Add : SIMD.f32x4Sub);
    } else {
      f.get(k.get(Math.abs(c))).get(local).simd(SIMD.f32x4Mul);
      if (first) { if (c < 0) f.simd(SIMD.f32x4Neg); }
      else f.simd(c > 0 ? SIMD.f32x4Add : SIMD.f32x4Sub);
    }
    first = false;
  }
  if (first) f.get(k.get(0));
}

/** Bit reversal of `i` over log2(m) bits. */
function bitReverse(i: number, m: number): number {
  let r = 0;
  for (let b = 1; b < m; b <<= 1) r = (r << 1) | ((i & b) ? 1 : 0);
  return r;
}

/**
 * Decimation-in-time FFT over `re`/`im` (locals holding the bit-reversed input), in place;
 * `sign` −1 for the forward transform, +1 for the (unnormalised) inverse. Radix-4 stages (one
 * radix-2 stage first when N/2 is an odd power of two): 15 % fewer ops than radix-2, and half
 * the passes over values V8 keeps spilled; paired at conv2's row shape the transforms ran
 * 1.2-1.27× faster than radix-2 at N = 128 and 1.06-1.10× at N = 256.
 */
function butterflies(
  f: Fn,
  k: Constants,
  re: number[],
  im: number[],
  sign: number,
  tr: number,
  ti: number,
) {
  const m = re.length;
  let h = 1;
  if (Math.log2(m) % 2 === 1) {
    // One radix-2 stage (size 2, twiddle 1) when M is an odd power of two.
    for (let a = 0; a < m; a += 2) {
      const b = a + 1;
      f.get(re[a]).set(tr).get(im[a]).set(ti);
      f.get(tr).get(re[b]).simd(SIMD.f32x4Add).set(re[a]);
      f.get(ti).get(im[b]).simd(SIMD.f32x4Add).set(im[a]);
      f.get(tr).get(re[b]).simd(SIMD.f32x4Sub).set(re[b]);
      f.get(ti).get(im[b]).simd(SIMD.f32x4Sub).set(im[b]);
    }
    h = 2;
  }
  // Radix-4 stages: two radix-2 stages at once, 3 twiddle products per 4 values instead of 4.
  // With W = e^{∓2πj·e/4h}, σ = W^h = ∓j and the sub-transforms S0…S3 at e, e+h, e+2h, e+3h:
  // a = S0, b = W²·S1, c = W·S2, d = W³·S3; Z[e] = (a+b) + (c+d), Z[e+2h] = (a+b) − (c+d),
  // Z[e+h] = (a−b) + σ(c−d), Z[e+3h] = (a−b) − σ(c−d).
  const t = Array.from({ length: 12 }, () => f.local(V128));
  const [br, bi, cr, ci, dr, di, u1r, u1i, u2r, u2i, v2r, v2i] = t;
  const twiddle = (p: number, e: number, size: number, outR: number, outI: number) => {
    const [c, s0] = trig(e, size), s = sign * s0;
    lin(f, k, [[c, re[p]], [-s, im[p]]]);
    f.set(outR);
    lin(f, k, [[s, re[p]], [c, im[p]]]);
    f.set(outI);
  };
  const add = (x: number, y: number, out: number, op: number) => f.get(x).get(y).simd(op).set(out);
  const [ADD, SUB] = [SIMD.f32x4Add, SIMD.f32x4Sub];
  for (; h < m; h *= 4) {
    const size = 4 * h;
    for (let lo = 0; lo < m; lo += size) {
      for (let e = 0; e < h; e++) {
        const p0 = lo + e, p1 = p0 + h, p2 = p1 + h, p3 = p2 + h;
        twiddle(p1, 2 * e, size, br, bi);
        twiddle(p2, e, size, cr, ci);
        twiddle(p3, 3 * e, size, dr, di);
        add(re[p0], br, u1r, ADD);
        add(im[p0], bi, u1i, ADD);
        add(re[p0], br, u2r, SUB);
        add(im[p0], bi, u2i, SUB);
        add(cr, dr, v2r, SUB);
        add(ci, di, v2i, SUB);
        add(cr, dr, cr, ADD); // c + d
        add(ci, di, ci, ADD);
        add(u1r, cr, re[p0], ADD);
        add(u1i, ci, im[p0], ADD);
        add(u1r, cr, re[p2], SUB);
        add(u1i, ci, im[p2], SUB);
        // σ·(c − d) = ∓j·v: (±v_im, ∓v_re) for sign = −1 / +1 ... folded into the adds.
        const [first, second] = sign < 0 ? [ADD, SUB] : [SUB, ADD];
        add(u2r, v2i, re[p1], first);
        add(u2i, v2r, im[p1], second);
        add(u2r, v2i, re[p3], second);
        add(u2i, v2r, im[p3], first);
      }
    }
  }
}

/**
 * The loops around a transform's body: for each of `reps` blocks (parameter indices), for each
 * of `groups` 4-channel groups, `body(src, dst)` with the group's pointers in the locals given;
 * after a group, src moves on by 16 bytes and dst by `dstStepA` after even groups and
 * `dstStepB` after odd ones (16 both in a channels-last layout; the packed-B layout alternates
 * within and across 8-column panels); after a block, src and dst move on by their steps. All
 * channels of a block are transformed while its inputs and outputs are in cache: with the
 * group loop outside (one pass per group over all blocks) every cache line of the rows was
 * fetched once per group, and the transforms ran at memory speed.
 */
function blockLoops(
  f: Fn,
  [src, srcStep, dst, dstStep, reps, groups, dstStepA, dstStepB]: number[],
  body: (src: number, dst: number) => void,
): void {
  const gs = f.local(I32), gd = f.local(I32), gc = f.local(I32), odd = f.local(I32);
  f.loop(() => {
    f.get(src).set(gs).get(dst).set(gd).get(groups).set(gc).i32(0).set(odd);
    f.loop(() => {
      body(gs, gd);
      f.addTo(gs, { const: 16 });
      // gd += odd ? stepB : stepA (select: the first value where the condition is non-zero).
      f.get(gd).get(dstStepB).get(dstStepA).get(odd).op(0x1b, OP.i32Add).set(gd);
      f.i32(1).get(odd).op(OP.i32Sub).set(odd);
      f.countDown(gc);
    });
    f.addTo(src, { local: srcStep }).addTo(dst, { local: dstStep });
    f.countDown(reps);
  });
}

const store = (f: Fn) => f.simd(SIMD.store, ...memarg(2, 0));
const load = (f: Fn) => f.simd(SIMD.load, ...memarg(2, 0));

/**
 * Forward real FFT of N over four channels at a time: `fwd(src, ss, srcStep, dst, ds, imOff,
 * dstStep, reps, groups, dstStepA, dstStepB)` (bytes, except reps and groups). For each of
 * `reps` blocks and each of `groups` channel groups ({@link blockLoops}) it reads N positions
 * `src + t·ss` (only the first `valid`; the rest are taken as zeros without being read) and
 * writes 2·X[f] for f = 0 … N/2 at `dst + f·ds` (real part) and `dst + f·ds + imOff`
 * (imaginary part).
 */
function forwardBody(n: number, valid: number): Fn {
  const m = n / 2;
  const f = new Fn(11), k = new Constants(f);
  const [SRC, SS, SSTEP, DST, DS, IMOFF, DSTEP, REPS, GROUPS, GA, GB] = Array.from(
    { length: 11 },
    (_, i) => i,
  );
  const re = Array.from({ length: m }, () => f.local(V128));
  const im = Array.from({ length: m }, () => f.local(V128));
  const [tr, ti, d0, d1] = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const p = f.local(I32), q = f.local(I32);
  blockLoops(f, [SRC, SSTEP, DST, DSTEP, REPS, GROUPS, GA, GB], (src, dst) => {
    // z[k] = x[2k] + j·x[2k+1], stored bit-reversed for the in-place DIT.
    f.get(src).set(p);
    for (let t = 0; t < n; t++) {
      const slot = bitReverse(t >> 1, m), target = t & 1 ? im[slot] : re[slot];
      if (t < valid) {
        load(f.get(p)).set(target);
        if (t + 1 < valid) f.addTo(p, { local: SS });
      } else f.get(k.get(0)).set(target);
    }
    butterflies(f, k, re, im, -1, tr, ti);
    // 2·X[f] = (Z[f] + conj Z[M−f]) − j·e^{−2πjf/N}·(Z[f] − conj Z[M−f]), Z[M] = Z[0].
    f.get(dst).set(q);
    for (let fb = 0; fb <= m; fb++) {
      const a = fb % m, b = (m - fb) % m;
      const [c, s] = trig(fb, n);
      lin(f, k, [[1, re[a]], [-1, re[b]]]);
      f.set(d0); // Re d
      lin(f, k, [[1, im[a]], [1, im[b]]]);
      f.set(d1); // Im d
      f.get(q);
      lin(f, k, [[1, re[a]], [1, re[b]], [c, d1], [-s, d0]]);
      store(f);
      f.get(q).get(IMOFF).op(OP.i32Add);
      lin(f, k, [[1, im[a]], [-1, im[b]], [-c, d0], [-s, d1]]);
      store(f);
      if (fb < m) f.addTo(q, { local: DS });
    }
  });
  k.prepend();
  return f;
}

/**
 * Inverse real FFT of N over four channels at a time: `inv(src, ds, imOff, srcStep, dst, ps,
 * dstStep, reps, groups)` (bytes, except reps and groups). For each block and channel group
 * ({@link blockLoops}, both pointers moving on by 16 bytes a group) it reads the bins
 * f = 0 … N/2 (real part at `src + f·ds`, imaginary at `+ imOff`) of a Hermitian spectrum Y
 * and writes N·y[t] for the first `outputs` positions at `dst + t·ps`.
 */
function inverseBody(n: number, outputs: number): Fn {
  const m = n / 2;
  const f = new Fn(9), k = new Constants(f);
  const [SRC, DS, IMOFF, SSTEP, DST, PS, DSTEP, REPS, GROUPS] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const re = Array.from({ length: m }, () => f.local(V128));
  const im = Array.from({ length: m }, () => f.local(V128));
  const [tr, ti, d0, d1] = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const [ar, ai, br, bi] = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
  const p = f.local(I32), sixteen = f.local(I32);
  let src = SRC;
  const loadBin = (fb: number, r: number, i: number) => {
    f.get(src).get(DS).i32(fb).op(OP.i32Mul, OP.i32Add).set(p);
    load(f.get(p)).set(r);
    load(f.get(p).get(IMOFF).op(OP.i32Add)).set(i);
  };
  // 2·Z[f] = (Y[f] + conj Y[M−f]) + j·e^{2πjf/N}·(Y[f] − conj Y[M−f]), A = Y[f], B = Y[M−f].
  const emitZ = (fb: number, xr: number, xi: number, yr: number, yi: number) => {
    const [c, s] = trig(fb, n), slot = bitReverse(fb, m);
    lin(f, k, [[1, xr], [-1, yr]]);
    f.set(d0);
    lin(f, k, [[1, xi], [1, yi]]);
    f.set(d1);
    lin(f, k, [[1, xr], [1, yr], [-c, d1], [-s, d0]]);
    f.set(re[slot]);
    lin(f, k, [[1, xi], [-1, yi], [c, d0], [-s, d1]]);
    f.set(im[slot]);
  };
  f.i32(16).set(sixteen);
  blockLoops(f, [SRC, SSTEP, DST, DSTEP, REPS, GROUPS, sixteen, sixteen], (gs, dst) => {
    src = gs;
    for (let fb = 0; fb <= m / 2; fb++) {
      loadBin(fb, ar, ai);
      loadBin(m - fb, br, bi);
      emitZ(fb, ar, ai, br, bi);
      if (fb > 0 && m - fb !== fb) emitZ(m - fb, br, bi, ar, ai);
    }
    butterflies(f, k, re, im, 1, tr, ti);
    f.get(dst).set(p);
    for (let t = 0; t < outputs; t++) {
      f.get(p).get(t & 1 ? im[t >> 1] : re[t >> 1]);
      store(f);
      if (t + 1 < outputs) f.addTo(p, { local: PS });
    }
  });
  k.prepend();
  return f;
}

/** A transform taking byte offsets and strides and a block count (see the bodies above). */
type Transform = (...args: number[]) => void;

/** The three transforms of one (N, kw): inputs (N read), upstream gradients (L read), inverse. */
interface Kernels {
  input: Transform;
  upstream: Transform;
  inverse: Transform;
}

function compileKernels(memory: WebAssembly.Memory, n: number, kw: number): Kernels {
  const l = n - kw + 1;
  const [input, upstream, inverse] = instantiateOnMemory(memory, [
    { params: 11, body: forwardBody(n, n) },
    { params: 11, body: forwardBody(n, l) },
    { params: 9, body: inverseBody(n, l) },
  ], "fft_conv");
  return { input, upstream, inverse };
}

/**
 * Block geometry of one convolution shape. Rows are laid out on *lines*, the sequences the
 * transforms cut into blocks: long rows one per line, short rows end to end on one line (see
 * {@link FftConv}), where a row's input starts `inStride` positions after the previous row's and
 * its outputs `outStride` positions after the previous row's.
 */
interface Plan {
  /** Outputs per row. */
  lout: number;
  /** Outputs per block (N − kw + 1). */
  step: number;
  /** Lines: n (a row per line) or 1 (all rows end to end). */
  lines: number;
  /** Blocks per line. */
  blocks: number;
  /** Zero-padded input positions per line: enough for the last block. */
  rowLen: number;
  /** Input positions from one row's first to the next's, within a line. */
  inStride: number;
  /** Output positions from one row's first to the next's, within a line. */
  outStride: number;
  /** Frequency bins N/2 + 1. */
  bins: number;
  /** Channel counts rounded up to multiples of 4 (the SIMD lanes). */
  cin: number;
  cout: number;
}

const up4 = (c: number) => Math.ceil(c / 4) * 4;

/**
 * Copies `rows` rows of `len` positions × `c` channels from `src` into `dst` (a buffer's
 * view) at float offset `off + row·rowStride + at·cp`, with `cp ≥ c` channels per position
 * (the extra channels are left as they are: callers zero them).
 */
function copyRows(
  src: Float32Array,
  rows: number,
  len: number,
  c: number,
  dst: Float32Array,
  off: number,
  rowStride: number,
  cp: number,
) {
  for (let r = 0; r < rows; r++) {
    const s0 = r * len * c, d0 = off + r * rowStride;
    if (cp === c) dst.set(src.subarray(s0, s0 + len * c), d0);
    else {
      for (let t = 0; t < len; t++) {
        dst.set(src.subarray(s0 + t * c, s0 + (t + 1) * c), d0 + t * cp);
      }
    }
  }
}

/**
 * Overlap-save FFT convolutions on a {@link WasmGemm}'s kernels. Same shapes and filter layout
 * (`w [kw, cin, cout]`) and results (up to float32 rounding) as {@link WinogradConv}; any
 * channel counts (padded to multiples of 4 internally) and any padding, with kw ≤ the block.
 */
export class FftConv {
  /** Block size N (a power of two ≥ 4). */
  readonly blockSize: number;
  readonly #gemm: WasmGemm;
  readonly #kernels = new Map<number, Kernels>();
  readonly #dfts = new Map<number, { toBins: Float32Array; toTaps: Float32Array }>();
  readonly #cos: Float64Array;
  readonly #sin: Float64Array;
  /**
   * Milliseconds spent per phase, summed over calls, while set (a profiling aid for the
   * benchmark; undefined by default, when nothing is timed).
   */
  phases: Record<string, number> | undefined;
  #t = 0;

  /** Adds the time since the last mark to `phase` (when profiling) and marks now. */
  #mark(phase?: string): void {
    if (!this.phases) return;
    const now = performance.now();
    if (phase) this.phases[phase] = (this.phases[phase] ?? 0) + now - this.#t;
    this.#t = now;
  }

  /** Blocks of `blockSize` inputs (default {@link FFT_BLOCK}). */
  constructor(gemm: WasmGemm, blockSize = FFT_BLOCK) {
    if (!Number.isInteger(Math.log2(blockSize)) || blockSize < 4) {
      throw new Error(`fft_conv: block size ${blockSize} is not a power of two ≥ 4`);
    }
    this.#gemm = gemm;
    this.blockSize = blockSize;
    this.#cos = new Float64Array(blockSize);
    this.#sin = new Float64Array(blockSize);
    for (let k = 0; k < blockSize; k++) [this.#cos[k], this.#sin[k]] = trig(k, blockSize);
  }

  /**
   * The filter's DFT matrices for width `kw`: `toBins [2·bins × kw]` (rows cos, then sin, of
   * 2πfq/N, times 1/(2N): the transforms' factors) and `toTaps [kw × 2·bins]` (cos and −sin
   * times the Hermitian weight, 1 at f = 0 and N/2 and 2 between, over 4N: the inverse real
   * DFT and the transforms' factor 2 on each side).
   */
  #dft(kw: number): { toBins: Float32Array; toTaps: Float32Array } {
    let d = this.#dfts.get(kw);
    if (!d) {
      const nb = this.blockSize, bins = nb / 2 + 1;
      const toBins = new Float32Array(2 * bins * kw), toTaps = new Float32Array(kw * 2 * bins);
      for (let f = 0; f < bins; f++) {
        const wt = (f === 0 || f === bins - 1 ? 1 : 2) / (4 * nb);
        for (let q = 0; q < kw; q++) {
          const k = (f * q) % nb, c = this.#cos[k], sn = this.#sin[k];
          toBins[f * kw + q] = c / (2 * nb);
          toBins[(bins + f) * kw + q] = sn / (2 * nb);
          toTaps[q * 2 * bins + f] = wt * c;
          toTaps[q * 2 * bins + bins + f] = -wt * sn;
        }
      }
      d = { toBins, toTaps };
      this.#dfts.set(kw, d);
    }
    return d;
  }

  #kernelsFor(kw: number): Kernels {
    let k = this.#kernels.get(kw);
    if (!k) {
      k = compileKernels(this.#gemm.memory, this.blockSize, kw);
      this.#kernels.set(kw, k);
    }
    return k;
  }

  #plan(s: Conv1dShape): Plan {
    for (const [key, v] of Object.entries(s)) {
      if (!Number.isInteger(v) || v < 0) throw new Error(`fft_conv: bad ${key} ${v}`);
    }
    const n = this.blockSize, lp = s.padBefore + s.len + s.padAfter, lout = lp - s.kw + 1;
    if (lout < 1 || s.kw < 1 || s.cin < 1 || s.cout < 1) throw new Error("fft_conv: empty shape");
    if (s.kw > n) throw new Error(`fft_conv: filter width ${s.kw} exceeds the block ${n}`);
    const step = n - s.kw + 1, blocks = Math.ceil(lout / step);
    const cin = up4(s.cin), cout = up4(s.cout), bins = n / 2 + 1;
    // End to end, each row is followed by gap = max(padBefore, padAfter) zeros, which serve as
    // its padding after and the next row's padding before: every output's kw inputs then see
    // only its own row and zeros, and the rows' outputs land seg = len + gap positions apart
    // (the kw − 1 − padBefore − padAfter + gap ≥ 0 outputs between them are discarded). A
    // window edge of conv2 (49 inputs, padding 19) then costs 68 positions of a 256-block line,
    // 0.31 blocks, instead of a block of its own.
    const seg = s.len + Math.max(s.padBefore, s.padAfter);
    const streamBlocks = Math.ceil(((s.n - 1) * seg + lout) / step);
    const stream = s.n > 1 && streamBlocks < s.n * blocks;
    const perLine = stream ? streamBlocks : blocks, rowLen = (perLine - 1) * step + n;
    return {
      lout,
      step,
      lines: stream ? 1 : s.n,
      blocks: perLine,
      rowLen,
      inStride: stream ? seg : rowLen,
      outStride: stream ? seg : blocks * step,
      bins,
      cin,
      cout,
    };
  }

  /**
   * How a shape's rows are laid out: `lines` (n, a row per line; or 1, all rows end to end
   * with shared zero gaps, where that takes fewer blocks) and the blocks on all lines together.
   */
  layout(s: Conv1dShape): { lines: number; blocks: number } {
    const p = this.#plan(s);
    return { lines: p.lines, blocks: p.lines * p.blocks };
  }

  /**
   * Spectra of every block of every row, `X [n·blocks][bins][Re cin | Im cin]` (times 2), from
   * the zero-padded rows (zeros also past their end, for the last block).
   */
  #transformInput(x: Float32Array, s: Conv1dShape, p: Plan): WasmBuffer {
    const g = this.#gemm, cin = p.cin;
    if (x.length !== s.n * s.len * s.cin) throw new Error("fft_conv: x is not [n, len, cin]");
    const xp = g.alloc(p.lines * p.rowLen * cin);
    const xf = g.alloc(p.lines * p.blocks * p.bins * 2 * cin);
    try {
      const d = xp.data, rowLen = p.rowLen * cin;
      if (cin === s.cin && p.lines === s.n) {
        // Only the padding: the rest is overwritten (saves a pass over the 31 MB of conv2's rows).
        const from = (s.padBefore + s.len) * cin;
        for (let r = 0; r < s.n; r++) {
          d.fill(0, r * rowLen, r * rowLen + s.padBefore * cin);
          d.fill(0, r * rowLen + from, (r + 1) * rowLen);
        }
      } else d.fill(0);
      copyRows(x, s.n, s.len, s.cin, d, s.padBefore * cin, p.inStride * cin, cin);
      const { input } = this.#kernelsFor(s.kw);
      for (let r = 0; r < p.lines; r++) {
        input(
          xp.byteOffset + 4 * r * p.rowLen * cin,
          4 * cin,
          4 * p.step * cin,
          xf.byteOffset + 4 * r * p.blocks * p.bins * 2 * cin,
          4 * 2 * cin,
          4 * cin,
          4 * p.bins * 2 * cin,
          p.blocks,
          cin / 4,
          16,
          16,
        );
      }
      return xf;
    } catch (e) {
      xf.free();
      throw e;
    } finally {
      xp.free();
    }
  }

  /**
   * `y [n, lout, cout]` = the stride-1 correlation of the zero-padded `x [n, len, cin]` with
   * `w [kw, cin, cout]`, or `max(y + bias, 0)` with `bias`: {@link WinogradConv.conv1d}'s result.
   */
  conv1d(x: Float32Array, w: Float32Array, s: Conv1dShape, bias?: Float32Array): Float32Array {
    const g = this.#gemm;
    const p = this.#plan(s);
    if (w.length !== s.kw * s.cin * s.cout) throw new Error("fft_conv: w is not [kw, cin, cout]");
    if (bias && bias.length !== s.cout) throw new Error("fft_conv: bias is not [cout]");
    const { cin, cout, bins } = p, total = p.lines * p.blocks;
    const packed: PackedB[] = [];
    this.#mark();
    const xf = this.#transformInput(x, s, p);
    this.#mark("input FFT");
    let yf: WasmBuffer | undefined, ob: WasmBuffer | undefined;
    try {
      // P[f] = conj(W[f]) = Σ_q w[q]·e^{+2πjfq/N} for all bins at once: [Re P; Im P] =
      // toBins [2·bins × kw] · w [kw × cin·cout], one GEMM (float32, K = kw).
      const e = s.cin * s.cout;
      const spec = g.gemm(this.#dft(s.kw).toBins, w, 2 * bins, s.kw, e);
      const b = new Float32Array(4 * cin * cout);
      for (let f = 0; f < bins; f++) {
        // B = [[Re P, Im P], [−Im P, Re P]] on rows [Re X | Im X], columns [Re Y | Im Y].
        b.fill(0);
        const n2 = 2 * cout, pr = f * e, pi = (bins + f) * e;
        for (let i = 0; i < s.cin; i++) {
          for (let o = 0; o < s.cout; o++) {
            const v = spec[pr + i * s.cout + o], u = spec[pi + i * s.cout + o];
            b[i * n2 + o] = v;
            b[i * n2 + cout + o] = u;
            b[(cin + i) * n2 + o] = -u;
            b[(cin + i) * n2 + cout + o] = v;
          }
        }
        packed.push(g.packB(b, 2 * cin, 2 * cout));
      }
      this.#mark("filter DFT");
      yf = g.alloc(total * bins * 2 * cout);
      for (let f = 0; f < bins; f++) {
        g.multiply({
          a: { buffer: xf, offset: f * 2 * cin, rowStride: bins * 2 * cin },
          b: packed[f],
          c: { buffer: yf, offset: f * 2 * cout, ld: bins * 2 * cout },
          m: total,
        });
      }
      this.#mark("GEMM");
      // Inverse transforms into [lines][blocks·L][cout]; outputs between rows and past the
      // last are dropped.
      const rowOut = p.blocks * p.step * cout;
      ob = g.alloc(p.lines * rowOut);
      const { inverse } = this.#kernelsFor(s.kw);
      for (let r = 0; r < p.lines; r++) {
        inverse(
          yf.byteOffset + 4 * r * p.blocks * bins * 2 * cout,
          4 * 2 * cout,
          4 * cout,
          4 * bins * 2 * cout,
          ob.byteOffset + 4 * r * rowOut,
          4 * cout,
          4 * p.step * cout,
          p.blocks,
          cout / 4,
        );
      }
      this.#mark("inverse FFT");
      if (bias) {
        const bp = new Float32Array(cout);
        bp.set(bias);
        g.biasRelu(ob, p.lines * p.blocks * p.step, bp);
      }
      const out = new Float32Array(s.n * p.lout * s.cout), od = ob.data;
      const outStride = p.outStride * cout;
      for (let r = 0; r < s.n; r++) {
        if (cout === s.cout) {
          out.set(od.subarray(r * outStride, r * outStride + p.lout * cout), r * p.lout * cout);
        } else {
          for (let t = 0; t < p.lout; t++) {
            const src = r * outStride + t * cout;
            out.set(od.subarray(src, src + s.cout), (r * p.lout + t) * s.cout);
          }
        }
      }
      this.#mark("epilogue, copy out");
      return out;
    } finally {
      xf.free();
      yf?.free();
      ob?.free();
      for (const pb of packed) pb.buffer.free();
    }
  }

  /**
   * Filter gradient `dw [kw, cin, cout]` of {@link conv1d} for `dy [n, lout, cout]`:
   * {@link WinogradConv.conv1dFilterGrad}'s result.
   */
  conv1dFilterGrad(x: Float32Array, dy: Float32Array, s: Conv1dShape): Float32Array {
    const g = this.#gemm;
    const p = this.#plan(s);
    if (dy.length !== s.n * p.lout * s.cout) throw new Error("fft_conv: dy's size");
    // Output channels padded to a multiple of 8 here: the upstream spectra go straight into
    // 8-column panels, and each 4-channel group's imaginary part must sit at the same distance
    // from its real part.
    const { cin, bins } = p, cout = Math.ceil(s.cout / 8) * 8, total = p.lines * p.blocks;
    this.#mark();
    const xf = this.#transformInput(x, s, p);
    this.#mark("input FFT");
    let dyp: WasmBuffer | undefined, dk: WasmBuffer | undefined, dwf: WasmBuffer | undefined;
    try {
      // Upstream gradients where the forward put the outputs, zero elsewhere (past lout, and
      // between rows laid end to end), one line of blocks·L positions each.
      const rowDy = p.blocks * p.step * cout;
      dyp = g.alloc(p.lines * rowDy);
      dyp.data.fill(0);
      copyRows(dy, s.n, p.lout, s.cout, dyp.data, 0, p.outStride * cout, cout);
      // Their spectra straight into the GEMM's packed-B layout, one [⌈2cout/8⌉][total][8]
      // matrix per bin (K = the blocks, columns [Re DY | Im DY]): no separate packing pass.
      const panels = (2 * cout) / 8, perBin = panels * total * 8;
      dk = g.alloc(bins * perBin);
      const { upstream } = this.#kernelsFor(s.kw);
      // Column c of block k: (c >> 3)·total·8 + k·8 + (c & 7). Groups step by 4 floats within
      // a panel and on to the next panel after an odd group.
      for (let r = 0; r < p.lines; r++) {
        upstream(
          dyp.byteOffset + 4 * r * rowDy,
          4 * cout,
          4 * p.step * cout,
          dk.byteOffset + 4 * r * p.blocks * 8,
          4 * perBin,
          4 * (cout / 8) * total * 8,
          4 * 8,
          p.blocks,
          cout / 4,
          16,
          4 * (total * 8 - 4),
        );
      }
      dyp.free();
      dyp = undefined;
      this.#mark("upstream FFT");
      // C[f] [2cin × 2cout] = [Re X | Im X]ᵀ · [Re DY | Im DY] over all blocks.
      const cc = 4 * cin * cout;
      dwf = g.alloc(bins * cc);
      for (let f = 0; f < bins; f++) {
        g.multiply({
          a: { buffer: xf, offset: f * 2 * cin, rowStride: 1, colStride: bins * 2 * cin },
          b: {
            buffer: new WasmBuffer(g, dk.byteOffset + 4 * f * perBin, perBin),
            k: total,
            n: 2 * cout,
          },
          c: { buffer: dwf, offset: f * cc },
          m: 2 * cin,
        });
      }
      this.#mark("GEMM (gradient)");
      // Σ_b X·conj(DY) = (Σ xr·dr + xi·di) + j(Σ xi·dr − xr·di) → [Re C; Im C] [2·bins × e];
      // then dw[q] = Σ_f Re(C[f]·e^{2πjfq/N}) · weight, one GEMM with toTaps [kw × 2·bins].
      const e = s.cin * s.cout, spec = new Float32Array(2 * bins * e);
      const dd = dwf.data, n2 = 2 * cout;
      for (let f = 0; f < bins; f++) {
        const o0 = f * cc, re = f * e, im = (bins + f) * e;
        for (let i = 0; i < s.cin; i++) {
          for (let o = 0; o < s.cout; o++) {
            const rr = o0 + i * n2 + o, ir = o0 + (cin + i) * n2 + o, j = i * s.cout + o;
            spec[re + j] = dd[rr] + dd[ir + cout];
            spec[im + j] = dd[ir] - dd[rr + cout];
          }
        }
      }
      const dw = g.gemm(this.#dft(s.kw).toTaps, spec, s.kw, 2 * bins, e);
      this.#mark("dw DFT");
      return dw;
    } finally {
      xf.free();
      dyp?.free();
      dk?.free();
      dwf?.free();
    }
  }
}
