/**
 * A tiny WebAssembly (SIMD) kernel for the formant resampler's inner loop, assembled from bytes
 * at load time. It accumulates, for every output i and in ascending k,
 *   acc[i] = (acc[i] + a[k]·cos[k][i]) + b[k]·sin[k][i]
 * in IEEE single precision — the same rounding sequence as openSMILE's float32 inverse DFT and
 * as the Math.fround emulation it replaces, only four outputs at a time.
 * @module
 */
import { name, section, uleb, WASM_HEADER } from "../../util/wasm_encode.ts";

/** Handle to the kernel and its linear memory. */
export interface ResampleKernel {
  /** Float32 view of the module memory. */
  f32: Float32Array;
  /**
   * Runs the accumulation; all offsets are float32 element indices into `f32`.
   * @param aOff a[k] (k = 0..nk-1; k = 0 unused)
   * @param bOff b[k]
   * @param cosOff cos table, row k at cosOff + k·nOut
   * @param sinOff sin table, row k at sinOff + k·nOut
   * @param accOff nOut accumulators (initialised by the caller)
   */
  run(
    aOff: number,
    bOff: number,
    cosOff: number,
    sinOff: number,
    accOff: number,
    nk: number,
    nOut: number,
  ): void;
}

const str = name;

function moduleBytes(pages: number): Uint8Array {
  const I32 = 0x7f;
  const V128 = 0x7b;
  // params: 0 aPtr, 1 bPtr, 2 cosPtr, 3 sinPtr, 4 accPtr, 5 nk, 6 nOutBytes (all byte addresses)
  // locals: 7 k, 8 i, 9 row, 10 va, 11 vb, 12 acc
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const v128load = [...simd(0x00), 0x04, 0x00];
  const v128store = [...simd(0x0b), 0x04, 0x00];
  const f32load = [0x2a, 0x02, 0x00];
  const splat = simd(0x13);
  const add = simd(0xe4);
  const mul = simd(0xe6);
  // locals: 3 × i32, 3 × v128
  const body: number[] = [2, 3, I32, 3, V128];
  body.push(
    ...[0x41, 1],
    ...set(7), // k = 1
    0x03,
    0x40, // loop K
    ...get(0),
    ...get(7),
    0x41,
    4,
    0x6c,
    0x6a,
    ...f32load,
    ...splat,
    ...set(10), // va = splat(a[k])
    ...get(1),
    ...get(7),
    0x41,
    4,
    0x6c,
    0x6a,
    ...f32load,
    ...splat,
    ...set(11), // vb = splat(b[k])
    ...get(7),
    ...get(6),
    0x6c,
    ...set(9), // row = k · nOutBytes
    0x41,
    0,
    ...set(8), // i = 0
    0x03,
    0x40, // loop I
    ...get(4),
    ...get(8),
    0x6a,
    ...v128load,
    ...get(10),
    ...get(2),
    ...get(9),
    0x6a,
    ...get(8),
    0x6a,
    ...v128load,
    ...mul,
    ...add,
    ...set(12), // acc = acc + va·cos
    ...get(4),
    ...get(8),
    0x6a, // address for the store
    ...get(12),
    ...get(11),
    ...get(3),
    ...get(9),
    0x6a,
    ...get(8),
    0x6a,
    ...v128load,
    ...mul,
    ...add, // acc + vb·sin
    ...v128store,
    ...get(8),
    0x41,
    16,
    0x6a,
    0x22,
    8, // i += 16 (tee)
    ...get(6),
    0x48,
    0x0d,
    0, // br_if I (i < nOutBytes)
    0x0b,
    ...get(7),
    0x41,
    1,
    0x6a,
    0x22,
    7, // k += 1 (tee)
    ...get(5),
    0x48,
    0x0d,
    0, // br_if K (k < nk)
    0x0b,
    0x0b,
  );
  const code = [1, ...uleb(body.length), ...body];
  const bytes = [
    ...WASM_HEADER,
    ...section(1, [1, 0x60, 7, I32, I32, I32, I32, I32, I32, I32, 0]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, ...uleb(pages)]),
    ...section(7, [2, ...str("mem"), 0x02, 0, ...str("run"), 0x00, 0]),
    ...section(10, code),
  ];
  return new Uint8Array(bytes);
}

/**
 * Instantiates the kernel with at least `floats` float32 slots of memory, or returns null when
 * WebAssembly SIMD is unavailable (callers then use the scalar path).
 */
export function createResampleKernel(floats: number): ResampleKernel | null {
  try {
    const pages = Math.ceil((floats * 4) / 65536) + 1;
    const mod = new WebAssembly.Module(moduleBytes(pages) as BufferSource);
    const inst = new WebAssembly.Instance(mod, {});
    const mem = inst.exports.mem as WebAssembly.Memory;
    const fn = inst.exports.run as (...a: number[]) => void;
    const f32 = new Float32Array(mem.buffer);
    return {
      f32,
      run: (aOff, bOff, cosOff, sinOff, accOff, nk, nOut) =>
        fn(aOff * 4, bOff * 4, cosOff * 4, sinOff * 4, accOff * 4, nk, nOut * 4),
    };
  } catch {
    return null;
  }
}
