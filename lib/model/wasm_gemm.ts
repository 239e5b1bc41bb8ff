/**
 * A single-precision GEMM written as WebAssembly at run time, for the shapes of the paper
 * model's conv2 (K = 40 · 40 = 1600, N = 40): `C[M×N] (+)= A[M×K] · B[K×N]`, row-major f32.
 *
 * Why a generator and not a `.wasm` file: the kernel is a handful of loops whose register
 * blocking (rows per tile, K unroll) and multiply-add instruction (relaxed SIMD's fused
 * `f32x4.relaxed_madd`, or `f32x4.mul` + `f32x4.add`) are choices; emitting the bytes here keeps
 * every variant one parameter away, needs no toolchain, and lets {@link relaxedSimdSupported}
 * decide per runtime with `WebAssembly.validate`.
 *
 * Design (BLIS-like, specialised to a narrow N):
 * - B is packed into panels of 8 columns (`[⌈N/8⌉][K][8]`, zero-padded), so the micro-kernel
 *   reads two contiguous v128 per k;
 * - the micro-kernel computes `rows × 8` outputs (rows ≤ {@link WasmGemmOptions.rows}, 6 by
 *   default for relaxed SIMD, 5 for plain) in `2 · rows` v128 locals, K innermost: per k it
 *   broadcasts one A value per row (`v128.load32_splat`) and does `2 · rows` multiply-adds;
 *   V8 keeps the accumulators in xmm registers (15 allocatable on x64, hence the row counts:
 *   plain SIMD needs one more temporary per product);
 * - A is read in place through a row stride and a column stride (in floats). That is what
 *   makes a 1-D convolution an im2col-free GEMM: over a channels-last, zero-padded sequence
 *   `x [L, Cin]`, the im2col row of output t is the contiguous span `x[t·Cin … t·Cin + kw·Cin)`,
 *   i.e. a matrix with row stride Cin and column stride 1 whose rows overlap (see
 *   {@link WasmGemm.conv1d}); for the filter gradient, the transposed sequence `xᵀ [Cin, L]`
 *   gives per input channel a matrix with row and column stride 1 (see
 *   {@link WasmGemm.conv1dFilterGrad}). Unit column stride (the common case, K unrolled by 4)
 *   and unit row stride (a transposed A) each get a kernel with constant load offsets; any
 *   other stride pair takes a generic kernel;
 * - a strided batch (A and C advanced per item, B shared) runs many such products in one call;
 * - K is cut into blocks so that what a tile re-reads stays in cache: 256 for a transposed A
 *   (each k of a tile touches its own cache line of A) and 2048 otherwise (contiguous A rows;
 *   measured 1.3× faster than 256 at K = 1600, while a transposed A is 1.4–1.8× slower with
 *   blocks ≥ 1024);
 * - the loops over batch items, K blocks, row tiles and panels run inside the module, so a
 *   whole GEMM is one call from JS.
 *
 * Measured (scripts/bench-gemm.ts, docs/gemm-study.md): the relaxed kernel reaches ≈ 97 % of
 * a register-only multiply-add loop on cache-resident data; every load still carries an
 * explicit bounds check (Deno's V8 does not use guard pages for wasm memory here).
 *
 * Operands live in the module's own memory. {@link WasmGemm.gemm} copies Float32Arrays in
 * and out; {@link WasmGemm.alloc}, {@link WasmGemm.packB} and {@link WasmGemm.multiply} keep
 * them resident (no copies) for repeated use.
 *
 * @module
 */
import {
  Fn,
  I32,
  memarg,
  name as utf8,
  OP,
  section,
  SIMD,
  uleb,
  V128,
  vec,
  WASM_HEADER,
} from "../util/wasm_encode.ts";
import { type ChannelOps, compileChannelOps } from "./lane_maps.ts";

/** Which multiply-add the kernel uses: relaxed SIMD's fused `f32x4.relaxed_madd`, or plain SIMD. */
export type GemmVariant = "relaxed" | "plain";

/** Options of {@link WasmGemm.create}. */
export interface WasmGemmOptions {
  /**
   * `relaxed` or `plain`, or `auto` (default): relaxed where the runtime validates it. Asking
   * for `relaxed` where it does not validate throws.
   */
  variant?: GemmVariant | "auto";
  /**
   * Rows of the micro-kernel's tile (1–8); default 6 for relaxed (12 accumulators + 2 B + 1
   * splat fill V8's 15 allocatable xmm registers), 5 for plain (one more temporary; measured
   * ≈ 5 % faster than 4).
   */
  rows?: number;
  /** K unroll of the unit-column-stride kernel (1–8); default 4. */
  unroll?: number;
  /**
   * K block of {@link WasmGemm.multiply} for every layout (≥ 1); default 256 for an A with
   * unit row stride (transposed), 2048 otherwise.
   */
  kBlock?: number;
}

/** Accumulators += splat · b0|b1, as the variant's multiply-add. */
function madd(f: Fn, variant: GemmVariant, acc: number, s: number, b: number): void {
  if (variant === "relaxed") {
    f.get(s).get(b).get(acc).simd(SIMD.f32x4RelaxedMadd).set(acc);
  } else {
    f.get(acc).get(s).get(b).simd(SIMD.f32x4Mul).simd(SIMD.f32x4Add).set(acc);
  }
}

/** How a kernel addresses A: unit column stride, unit row stride, or any strides. */
type AKind = "rowUnit" | "colUnit" | "generic";

/**
 * Micro-kernel `C[rows×8] (+)= A[rows×kc] · Bpanel[kc×8]`.
 * Params (bytes): a, rsA, csA, b (packed panel, 8 floats per k), c, ldc, kc, accumulate.
 */
function kernel(rows: number, kind: AKind, unroll: number, variant: GemmVariant): Fn {
  const f = new Fn(8);
  const [A, RS, CS, B, C, LDC, KC, ACC] = [0, 1, 2, 3, 4, 5, 6, 7];
  // Row pointers: colUnit reads every row from one pointer at constant offsets 4·i.
  const ptr: number[] = [A];
  if (kind !== "colUnit") { for (let i = 1; i < rows; i++) ptr.push(f.local(I32)); }
  const cr = f.local(I32);
  const acc: number[][] = [];
  for (let i = 0; i < rows; i++) acc.push([f.local(V128), f.local(V128)]);
  const b0 = f.local(V128), b1 = f.local(V128), s = f.local(V128);

  for (let i = 1; i < ptr.length; i++) f.get(ptr[i - 1]).get(RS).op(OP.i32Add).set(ptr[i]);
  // Locals start at zero, so only accumulation loads C.
  f.get(ACC).if(() => {
    f.get(C).set(cr);
    for (let i = 0; i < rows; i++) {
      f.get(cr).simd(SIMD.load, ...memarg(4, 0)).set(acc[i][0]);
      f.get(cr).simd(SIMD.load, ...memarg(4, 16)).set(acc[i][1]);
      if (i + 1 < rows) f.addTo(cr, { local: LDC });
    }
  });

  /** One k step at constant offsets: A element offset `aOff` (bytes), B row `bOff`. */
  const step = (aOff: number, bOff: number) => {
    f.get(B).simd(SIMD.load, ...memarg(4, bOff)).set(b0);
    f.get(B).simd(SIMD.load, ...memarg(4, bOff + 16)).set(b1);
    for (let i = 0; i < rows; i++) {
      const [p, off] = kind === "colUnit" ? [A, aOff + 4 * i] : [ptr[i], aOff];
      f.get(p).simd(SIMD.load32Splat, ...memarg(2, off)).set(s);
      madd(f, variant, acc[i][0], s, b0);
      madd(f, variant, acc[i][1], s, b1);
    }
  };
  const advance = (kSteps: number) => {
    if (kind === "rowUnit") { for (const p of ptr) f.addTo(p, { const: 4 * kSteps }); }
    else if (kind === "colUnit") f.addTo(A, { local: CS });
    else for (const p of ptr) f.addTo(p, { local: CS });
    f.addTo(B, { const: 32 * kSteps });
    f.get(KC).i32(kSteps).op(OP.i32Sub).set(KC);
  };

  const u = kind === "rowUnit" ? unroll : 1;
  if (u > 1) {
    // Main loop, u steps at a time while kc ≥ u.
    f.block(() => {
      f.get(KC).i32(u).op(OP.i32LtU, OP.brIf, 0);
      f.loop(() => {
        for (let j = 0; j < u; j++) step(4 * j, 32 * j);
        advance(u);
        f.get(KC).i32(u).op(OP.i32GeU, OP.brIf, 0);
      });
    });
  }
  // Remaining steps one at a time (all of them when not unrolled).
  f.block(() => {
    f.get(KC).op(OP.i32Eqz, OP.brIf, 0);
    f.loop(() => {
      step(0, 0);
      advance(1);
      f.get(KC).op(OP.brIf, 0);
    });
  });

  f.get(C).set(cr);
  for (let i = 0; i < rows; i++) {
    f.get(cr).get(acc[i][0]).simd(SIMD.store, ...memarg(4, 0));
    f.get(cr).get(acc[i][1]).simd(SIMD.store, ...memarg(4, 16));
    if (i + 1 < rows) f.addTo(cr, { local: LDC });
  }
  return f;
}

/** `copyTile(src, lds, dst, ldd, rows, cols)`: a small scalar copy for edge tiles (bytes). */
function copyTile(): Fn {
  const f = new Fn(6);
  const [SRC, LDS, DST, LDD, ROWS, COLS] = [0, 1, 2, 3, 4, 5];
  const j = f.local(I32);
  f.block(() => {
    f.get(ROWS).op(OP.i32Eqz, OP.brIf, 0);
    f.loop(() => {
      f.i32(0).set(j);
      f.loop(() => {
        f.get(DST).get(j).i32(2).op(OP.i32Shl, OP.i32Add);
        f.get(SRC).get(j).i32(2).op(OP.i32Shl, OP.i32Add).op(OP.f32Load, ...memarg(2, 0));
        f.op(OP.f32Store, ...memarg(2, 0));
        f.stepBelow(j, { const: 1 }, COLS);
      });
      f.addTo(SRC, { local: LDS }).addTo(DST, { local: LDD });
      f.countDown(ROWS);
    });
  });
  return f;
}

/**
 * Bytes SCRATCH … SCRATCH + rows·32 hold the edge tile of a partial last panel (≤ 8 × 8 floats);
 * the allocator hands out memory from HEAP_BASE up.
 */
const SCRATCH = 64;
const HEAP_BASE = 4096;

/**
 * The driver `gemm(a, rsA, csA, bp, c, ldc, m, n, k, accumulate, kBlock, batch, strideA,
 * strideC, tileRows)` (strides in bytes, sizes in elements; m, n, k, batch ≥ 1; 1 ≤ tileRows ≤
 * the kernels' rows): per batch item (A and C advanced by their strides, B shared) K blocks ×
 * row tiles of tileRows rows (the last may be shorter) × 8-column panels, each one kernel
 * call through the table (index kind · rows + rows − 1); a partial last panel goes through the
 * scratch tile so nothing outside C is written.
 */
function driver(maxRows: number, kernelType: number, copyIndex: number): Fn {
  const f = new Fn(15);
  const [A, RS, CS, BP, C, LDC, M, N, K, ACC, KB, BATCH, SA, SC, TR] = Array.from(
    { length: 15 },
    (_, i) => i,
  );
  const [pc, kcur, i, rows, aRow, cRow, p, panels, full, accNow, kind, cols, bPanel] = Array
    .from({ length: 13 }, () => f.local(I32));
  f.get(N).i32(7).op(OP.i32Add).i32(3).op(OP.i32ShrU).set(panels);
  f.get(N).i32(3).op(OP.i32ShrU).set(full);
  // Table block: 0 = rowUnit, 1 = colUnit, 2 = generic.
  f.get(CS).i32(4).op(OP.i32Ne).if(() => {
    f.get(RS).i32(4).op(OP.i32Ne).if(() => f.i32(2 * maxRows).set(kind), () => {
      f.i32(maxRows).set(kind);
    });
  }, () => f.i32(0).set(kind));

  /** Pushes the kernel's 8 arguments minus C/LDC, given C and LDC pushers, and calls it. */
  const callKernel = (pushC: () => void, ldc: () => void) => {
    f.get(aRow).get(RS).get(CS).get(bPanel);
    pushC();
    ldc();
    f.get(kcur).get(accNow);
    f.get(kind).get(rows).op(OP.i32Add).i32(1).op(OP.i32Sub);
    f.op(OP.callIndirect, ...uleb(kernelType), 0x00);
  };
  const cPanel = () => f.get(cRow).get(p).i32(5).op(OP.i32Shl, OP.i32Add);

  // Batch loop (at least once): one product per item, A and C advanced by their strides.
  f.loop(() => {
    f.i32(0).set(pc);
    f.loop(() => {
      f.get(K).get(pc).op(OP.i32Sub).set(kcur);
      f.get(kcur).get(KB).op(OP.i32GtU).if(() => f.get(KB).set(kcur));
      f.get(ACC).get(pc).i32(0).op(OP.i32Ne, OP.i32Or).set(accNow);
      f.i32(0).set(i);
      f.block(() => {
        f.loop(() => {
          f.get(i).get(M).op(OP.i32GeU, OP.brIf, 1);
          f.get(M).get(i).op(OP.i32Sub).set(rows);
          f.get(rows).get(TR).op(OP.i32GtU).if(() => f.get(TR).set(rows));
          f.get(A).get(i).get(RS).op(OP.i32Mul, OP.i32Add).get(pc).get(CS).op(OP.i32Mul, OP.i32Add)
            .set(aRow);
          f.get(C).get(i).get(LDC).op(OP.i32Mul, OP.i32Add).set(cRow);
          f.i32(0).set(p);
          f.loop(() => {
            // bPanel = bp + (p·k + pc)·32
            f.get(BP).get(p).get(K).op(OP.i32Mul).get(pc).op(OP.i32Add).i32(5).op(OP.i32Shl)
              .op(OP.i32Add).set(bPanel);
            f.get(p).get(full).op(OP.i32LtU).if(() => {
              callKernel(cPanel, () => f.get(LDC));
            }, () => {
              f.get(N).get(p).i32(3).op(OP.i32Shl, OP.i32Sub).set(cols);
              f.get(accNow).if(() => {
                cPanel();
                f.get(LDC).i32(SCRATCH).i32(32).get(rows).get(cols).op(OP.call, ...uleb(copyIndex));
              });
              callKernel(() => f.i32(SCRATCH), () => f.i32(32));
              f.i32(SCRATCH).i32(32);
              cPanel();
              f.get(LDC).get(rows).get(cols).op(OP.call, ...uleb(copyIndex));
            });
            f.stepBelow(p, { const: 1 }, panels);
          });
          f.addTo(i, { local: TR });
          f.op(OP.br, 0);
        });
      });
      f.stepBelow(pc, { local: KB }, K);
    });
    f.addTo(A, { local: SA }).addTo(C, { local: SC });
    f.get(BATCH).i32(1).op(OP.i32Sub).set(BATCH);
    f.get(BATCH).i32(0).op(OP.i32GtU, OP.brIf, 0);
  });
  return f;
}

/**
 * The whole GEMM module: exports `memory` and `gemm` (the driver); internal kernels for
 * 1…rows rows × three A layouts, called through a table.
 */
export function buildGemmModule(
  variant: GemmVariant,
  rows: number,
  unroll: number,
): Uint8Array<ArrayBuffer> {
  const kinds: AKind[] = ["rowUnit", "colUnit", "generic"];
  const kernels: Fn[] = [];
  for (const kind of kinds) {
    for (let r = 1; r <= rows; r++) kernels.push(kernel(r, kind, unroll, variant));
  }
  const copyIndex = kernels.length, driverIndex = copyIndex + 1;
  const fns = [...kernels, copyTile(), driver(rows, 0, copyIndex)];
  const types = [
    [0x60, ...vec(Array(8).fill([I32])), 0x00], // kernel
    [0x60, ...vec(Array(6).fill([I32])), 0x00], // copyTile
    [0x60, ...vec(Array(15).fill([I32])), 0x00], // driver
  ];
  const typeOf = fns.map((_, i) => (i < copyIndex ? 0 : i === copyIndex ? 1 : 2));
  const bytes = [
    ...WASM_HEADER,
    ...section(1, vec(types)),
    ...section(3, vec(typeOf.map((t) => uleb(t)))),
    ...section(4, vec([[0x70, 0x00, ...uleb(kernels.length)]])), // funcref table
    // Up to 65,536 pages (4 GiB): the most a 32-bit memory can address.
    ...section(5, vec([[0x01, ...uleb(1), ...uleb(65536)]])),
    ...section(
      7,
      vec([
        [...utf8("memory"), 0x02, 0x00],
        [...utf8("gemm"), 0x00, ...uleb(driverIndex)],
      ]),
    ),
    ...section(
      9,
      vec([[0x00, OP.i32Const, 0x00, OP.end, ...vec(kernels.map((_, i) => uleb(i)))]]),
    ),
    ...section(10, vec(fns.map((fn) => fn.encode()))),
  ];
  return new Uint8Array(bytes);
}

let relaxedCache: boolean | undefined;

/**
 * Whether this runtime validates WebAssembly relaxed SIMD (`f32x4.relaxed_madd`): checked
 * once with a one-function module.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedCache === undefined) {
    const f = new Fn(3);
    f.get(0).get(1).get(2).simd(SIMD.f32x4RelaxedMadd);
    const bytes = [
      ...WASM_HEADER,
      ...section(1, vec([[0x60, ...vec([[V128], [V128], [V128]]), ...vec([[V128]])]])),
      ...section(3, vec([[0x00]])),
      ...section(10, vec([f.encode()])),
    ];
    relaxedCache = WebAssembly.validate(new Uint8Array(bytes));
  }
  return relaxedCache;
}

/**
 * GFLOP/s of a register-only multiply-add loop (12 independent f32x4 accumulators, no memory
 * traffic) run for about `seconds`: the ceiling a kernel of this variant can reach here, for
 * calibrating GEMM numbers. Not used by the GEMM itself.
 */
export function measureSimdPeak(variant: GemmVariant, seconds = 0.3): number {
  const f = new Fn(1);
  const accs = Array.from({ length: 12 }, () => f.local(V128));
  const x = f.local(V128), y = f.local(V128);
  // acc += x·y with constant x, y: each chain waits only on its own multiply-add (or add).
  const splat = (v: number) => new Uint8Array(new Float32Array(4).fill(v).buffer);
  f.simd(0x0c, ...splat(1e-7)).set(x).simd(0x0c, ...splat(3)).set(y);
  f.loop(() => {
    for (let r = 0; r < 4; r++) for (const a of accs) madd(f, variant, a, x, y);
    f.get(0).i32(1).op(OP.i32Sub).set(0);
    f.get(0).op(OP.brIf, 0);
  });
  // Return one lane of the sum so the loop has an observable result.
  f.get(accs[0]);
  for (const a of accs.slice(1)) f.get(a).simd(SIMD.f32x4Add);
  f.simd(0x1f, 0); // f32x4.extract_lane 0
  const bytes = new Uint8Array([
    ...WASM_HEADER,
    ...section(1, vec([[0x60, ...vec([[I32]]), ...vec([[0x7d]])]])),
    ...section(3, vec([[0x00]])),
    ...section(7, vec([[...utf8("peak"), 0x00, 0x00]])),
    ...section(10, vec([f.encode()])),
  ]);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  const peak = inst.exports.peak as (n: number) => number;
  // Repeated calls let V8 tier the loop up from its baseline compiler before timing.
  for (let i = 0; i < 20; i++) peak(10000);
  let iters = 100000, t = 0;
  for (;;) {
    const t0 = performance.now();
    peak(iters);
    t = (performance.now() - t0) / 1000;
    if (t > seconds / 4) break;
    iters *= 4;
  }
  const n = Math.ceil(iters * seconds / t);
  const t0 = performance.now();
  peak(n);
  t = (performance.now() - t0) / 1000;
  return (n * 4 * 12 * 8) / t / 1e9;
}

// ---------------------------------------------------------------------------------------------
// Memory management and the JS API.

/** A block of floats in a {@link WasmGemm}'s memory; its view is renewed when memory grows. */
export class WasmBuffer {
  /** @internal */
  constructor(
    private readonly owner: WasmGemm,
    /** Byte offset in the module's memory (64-byte aligned). */
    readonly byteOffset: number,
    /** Length in floats. */
    readonly length: number,
  ) {}
  /** A Float32Array over the block; take it again after any allocation (memory may grow). */
  get data(): Float32Array {
    return new Float32Array(this.owner.memory.buffer, this.byteOffset, this.length);
  }
  /** Returns the block to the allocator; the buffer must not be used afterwards. */
  free(): void {
    this.owner.release(this.byteOffset, this.length);
  }
}

/** B packed for the kernels: `[⌈n/8⌉][k][8]` floats, zero-padded columns. */
export interface PackedB {
  /** The packed floats. */
  buffer: WasmBuffer;
  /** Rows of B (the GEMM's K). */
  k: number;
  /** Columns of B (the GEMM's N). */
  n: number;
}

/** A matrix read in place: element (i, j) at `offset + i·rowStride + j·colStride` (floats). */
export interface StridedA {
  buffer: WasmBuffer;
  /** Float offset of element (0, 0) within the buffer; default 0. */
  offset?: number;
  /** Floats between consecutive rows. */
  rowStride: number;
  /** Floats between consecutive columns; default 1. */
  colStride?: number;
}

/** An output matrix in place: row-major with `ld` floats between rows. */
export interface StridedC {
  buffer: WasmBuffer;
  /** Float offset of element (0, 0); default 0. */
  offset?: number;
  /** Floats between consecutive rows; default N. */
  ld?: number;
}

/** Arguments of {@link WasmGemm.multiply}: `C[m×n] (+)= A[m×k] · B[k×n]`. */
export interface MultiplyArgs {
  a: StridedA;
  b: PackedB;
  c: StridedC;
  /** Rows of A and C. */
  m: number;
  /** Add to C instead of overwriting it; default false. */
  accumulate?: boolean;
  /** K block; default the instance's (see {@link WasmGemmOptions.kBlock}). */
  kBlock?: number;
  /**
   * Repeat the product `count` times with A and C advanced by `strideA` / `strideC` floats
   * each time and the same B (a strided batch, one call into the module); default once.
   */
  batch?: { count: number; strideA: number; strideC: number };
}

/** Options of {@link WasmGemm.gemm}. */
export interface GemmCallOptions {
  /** Output array to write (and, with `accumulate`, read); default a new one. */
  c?: Float32Array;
  /** C += A·B instead of C = A·B. */
  accumulate?: boolean;
  /** A is given transposed, as `[k×m]` row-major. */
  transA?: boolean;
}

const PAGE = 65536;
const MAX_BYTES = 65536 * PAGE;

/**
 * Below this many floats packB copies in JS: the SIMD panel copy (and the upload of a JS
 * array before it) pays off only past a few thousand values.
 */
const PACK_IN_WASM = 4096;

/**
 * The GEMM module instantiated, with an allocator over its memory.
 *
 * ```ts
 * const g = WasmGemm.create();            // relaxed SIMD where available
 * const c = g.gemm(a, b, m, k, n);        // copies in and out
 * ```
 */
export class WasmGemm {
  /** The active multiply-add: `relaxed` (fused relaxed_madd) or `plain` (mul + add). */
  readonly variant: GemmVariant;
  /** Rows per micro-tile. */
  readonly rows: number;
  /** K unroll of the unit-column-stride kernel. */
  readonly unroll: number;
  /** K block for every layout, or undefined: chosen per layout (see {@link WasmGemmOptions}). */
  readonly kBlock: number | undefined;
  /** The module's memory (operands live here). */
  readonly memory: WebAssembly.Memory;
  private readonly run: (...args: number[]) => void;
  private top = HEAP_BASE;
  private freeList: { offset: number; bytes: number }[] = [];
  #channelOps: ChannelOps | undefined;

  /** The SIMD bias/ReLU ops on this module's memory (compiled on first use). */
  get channelOps(): ChannelOps {
    return this.#channelOps ??= compileChannelOps(this.memory);
  }

  /**
   * `y = max(y + bias, 0)` in place over the rows `[rows × bias.length]` of `y` (a convolution
   * layer's epilogue): SIMD where the channel count is a multiple of 4.
   */
  biasRelu(y: WasmBuffer, rows: number, bias: Float32Array): void {
    const c = bias.length;
    if (rows * c > y.length) throw new Error("biasRelu: rows exceed the buffer");
    if (rows === 0) return;
    if (c % 4 === 0) {
      const bb = this.upload(bias);
      try {
        this.channelOps.biasRelu(y.byteOffset / 4, rows, bb.byteOffset / 4, c);
      } finally {
        bb.free();
      }
      return;
    }
    biasReluInPlace(y.data.subarray(0, rows * c), bias);
  }

  /**
   * Max-pool of 2 over positions of channels-last `y [2·pairs × channels]` (channels a multiple
   * of 4), in SIMD: the pooled `[pairs × channels]` and, per pooled value, whether the second
   * position held the maximum (−1, i.e. all bits set) or the first (0; also on ties).
   */
  poolPairs(y: Float32Array, pairs: number, channels: number): {
    pooled: Float32Array;
    mask: Int32Array;
  } {
    if (channels % 4 !== 0 || y.length !== 2 * pairs * channels || pairs < 1) {
      throw new Error("poolPairs: y must be [2·pairs × channels], channels a multiple of 4");
    }
    const yb = this.upload(y),
      out = this.alloc(pairs * channels),
      mask = this.alloc(pairs * channels);
    try {
      this.channelOps.poolPairs(
        yb.byteOffset / 4,
        pairs,
        out.byteOffset / 4,
        mask.byteOffset / 4,
        channels,
      );
      return {
        pooled: out.data.slice(),
        mask: new Int32Array(this.memory.buffer, mask.byteOffset, mask.length).slice(),
      };
    } finally {
      for (const b of [yb, out, mask]) b.free();
    }
  }

  /**
   * Gradient of {@link poolPairs} after ReLU, in SIMD: `g = pooled > 0 ? dy : 0` goes to the
   * position the mask names, the other gets 0 → `dpre [2·pairs × channels]`; the bias gradient
   * `db = Σ g` (float32 over blocks of 256 pairs, float64 across blocks).
   */
  unpoolPairs(dy: Float32Array, pooled: Float32Array, mask: Int32Array, channels: number): {
    dpre: Float32Array;
    db: Float64Array;
  } {
    const n = pooled.length;
    if (dy.length !== n || mask.length !== n || n % channels !== 0 || channels % 4 !== 0) {
      throw new Error("unpoolPairs: dy, pooled and mask must be [pairs × channels] alike");
    }
    const pairs = n / channels, db = new Float64Array(channels);
    const dyb = this.upload(dy), pb = this.upload(pooled), mb = this.alloc(n);
    const out = this.alloc(2 * n), part = this.alloc(channels);
    try {
      new Int32Array(this.memory.buffer, mb.byteOffset, n).set(mask);
      const block = 256;
      for (let p = 0; p < pairs; p += block) {
        const k = Math.min(block, pairs - p), off = p * channels;
        const pd = part.data;
        pd.fill(0);
        this.channelOps.unpoolPairs(
          dyb.byteOffset / 4 + off,
          pb.byteOffset / 4 + off,
          mb.byteOffset / 4 + off,
          out.byteOffset / 4 + 2 * off,
          k,
          part.byteOffset / 4,
          channels,
        );
        for (let o = 0; o < channels; o++) db[o] += pd[o];
      }
      return { dpre: out.data.slice(), db };
    } finally {
      for (const b of [dyb, pb, mb, out, part]) b.free();
    }
  }

  /**
   * Backward of {@link biasRelu} from its output: `dpre = y > 0 ? dy : 0` (y > 0 exactly where
   * the pre-activation is positive) and the bias gradient `db = Σ_rows dpre`, summed in float32
   * over blocks of 256 rows and in float64 across blocks.
   */
  reluGrad(dy: Float32Array, y: Float32Array, channels: number): {
    dpre: Float32Array;
    db: Float64Array;
  } {
    if (dy.length !== y.length || y.length % channels !== 0) {
      throw new Error("reluGrad: dy and y must be [rows × channels] alike");
    }
    const rows = y.length / channels, db = new Float64Array(channels);
    if (channels % 4 !== 0 || rows === 0) {
      const dpre = new Float32Array(dy.length);
      for (let i = 0; i < dpre.length; i += channels) {
        for (let o = 0; o < channels; o++) {
          const v = y[i + o] > 0 ? dy[i + o] : 0;
          dpre[i + o] = v;
          db[o] += v;
        }
      }
      return { dpre, db };
    }
    const dyb = this.upload(dy), yb = this.upload(y), out = this.alloc(dy.length);
    const part = this.alloc(channels);
    try {
      const ops = this.channelOps, block = 256;
      for (let r = 0; r < rows; r += block) {
        const n = Math.min(block, rows - r), off = r * channels;
        const pd = part.data;
        pd.fill(0);
        ops.reluGrad(
          dyb.byteOffset / 4 + off,
          yb.byteOffset / 4 + off,
          out.byteOffset / 4 + off,
          n,
          part.byteOffset / 4,
          channels,
        );
        for (let o = 0; o < channels; o++) db[o] += pd[o];
      }
      return { dpre: out.data.slice(), db };
    } finally {
      for (const b of [dyb, yb, out, part]) b.free();
    }
  }

  private constructor(
    variant: GemmVariant,
    rows: number,
    unroll: number,
    kBlock: number | undefined,
  ) {
    this.variant = variant;
    this.rows = rows;
    this.unroll = unroll;
    this.kBlock = kBlock;
    const bytes = buildGemmModule(variant, rows, unroll);
    if (!WebAssembly.validate(bytes)) {
      throw new Error(`wasm_gemm: generated ${variant} module does not validate`);
    }
    const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    this.memory = inst.exports.memory as WebAssembly.Memory;
    this.run = inst.exports.gemm as (...args: number[]) => void;
    this.warmUp();
  }

  /** Compiles and instantiates a GEMM module (synchronously: it is a few kB). */
  static create(options: WasmGemmOptions = {}): WasmGemm {
    const want = options.variant ?? "auto";
    const relaxed = relaxedSimdSupported();
    if (want === "relaxed" && !relaxed) {
      throw new Error("wasm_gemm: this runtime does not validate relaxed SIMD (relaxed_madd)");
    }
    const variant: GemmVariant = want === "auto" ? (relaxed ? "relaxed" : "plain") : want;
    const rows = options.rows ?? (variant === "relaxed" ? 6 : 5);
    const unroll = options.unroll ?? 4;
    const kBlock = options.kBlock;
    if (!Number.isInteger(rows) || rows < 1 || rows > 8) throw new Error("rows must be 1–8");
    if (!Number.isInteger(unroll) || unroll < 1 || unroll > 8) {
      throw new Error("unroll must be 1–8");
    }
    if (kBlock !== undefined && (!Number.isInteger(kBlock) || kBlock < 1)) {
      throw new Error("kBlock must be ≥ 1");
    }
    return new WasmGemm(variant, rows, unroll, kBlock);
  }

  /**
   * V8 first runs wasm functions in its baseline compiler and optimises a function only after
   * it has run for a while, and never during a running call; a few small GEMMs here make the
   * kernels hot so that the first real call already runs optimised code.
   */
  private warmUp(): void {
    const k = 64, n = 8, m = 4 * this.rows;
    const a = this.alloc(m * k), c = this.alloc(m * n);
    const b = this.packB(new Float32Array(k * n), k, n);
    for (let rep = 0; rep < 200; rep++) {
      this.multiply({ a: { buffer: a, rowStride: k }, b, c: { buffer: c }, m });
      this.multiply({ a: { buffer: a, rowStride: 1, colStride: m }, b, c: { buffer: c }, m });
    }
    a.free();
    c.free();
    b.buffer.free();
  }

  /** Allocates `length` floats (64-byte aligned, contents unspecified), growing memory. */
  alloc(length: number): WasmBuffer {
    if (!Number.isInteger(length) || length < 0) throw new Error(`alloc: bad length ${length}`);
    const bytes = Math.max(64, Math.ceil((length * 4) / 64) * 64);
    const i = this.freeList.findIndex((b) => b.bytes >= bytes);
    if (i >= 0) {
      const blk = this.freeList[i];
      const offset = blk.offset;
      if (blk.bytes === bytes) this.freeList.splice(i, 1);
      else {
        blk.offset += bytes;
        blk.bytes -= bytes;
      }
      return new WasmBuffer(this, offset, length);
    }
    const offset = this.top;
    const end = offset + bytes;
    if (end > MAX_BYTES) throw new Error(`wasm_gemm: ${end} bytes exceed the 4 GiB of wasm32`);
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return new WasmBuffer(this, offset, length);
  }

  /** Copies `src` into a new buffer. */
  upload(src: Float32Array): WasmBuffer {
    const buf = this.alloc(src.length);
    buf.data.set(src);
    return buf;
  }

  /** @internal Frees a block: kept sorted by offset, merged with free neighbours and the top. */
  release(offset: number, length: number): void {
    const bytes = Math.max(64, Math.ceil((length * 4) / 64) * 64);
    const list = this.freeList;
    let i = 0;
    while (i < list.length && list[i].offset < offset) i++;
    list.splice(i, 0, { offset, bytes });
    if (i + 1 < list.length && offset + bytes === list[i + 1].offset) {
      list[i].bytes += list[i + 1].bytes;
      list.splice(i + 1, 1);
    }
    if (i > 0 && list[i - 1].offset + list[i - 1].bytes === offset) {
      list[i - 1].bytes += list[i].bytes;
      list.splice(i, 1);
      i--;
    }
    const last = list[list.length - 1];
    if (last && last.offset + last.bytes === this.top) {
      this.top = last.offset;
      list.pop();
    }
  }

  /**
   * Packs B `[k×n]` (row `r` at `offset + r·ld`, floats) into the kernels' layout
   * `[⌈n/8⌉][k][8]`, from a Float32Array or a resident buffer; reuses `into` when it is large
   * enough. Packing costs k·n copies, against 2·m·k·n FLOPs of the product.
   */
  packB(
    src: Float32Array | { buffer: WasmBuffer; offset?: number; ld?: number },
    k: number,
    n: number,
    into?: PackedB,
  ): PackedB {
    const panels = Math.ceil(n / 8);
    const need = panels * k * 8;
    const buffer = into && into.buffer.length >= need ? into.buffer : this.alloc(need);
    if (into && into.buffer !== buffer) into.buffer.free();
    const js = src instanceof Float32Array ? src : undefined;
    const resident = src instanceof Float32Array ? undefined : src;
    const off = resident?.offset ?? 0, ld = resident?.ld ?? n;
    const srcLength = js ? js.length : resident!.buffer.length;
    if (off + (k - 1) * ld + n > srcLength) throw new Error("packB: B exceeds its array");
    if (k > 0 && n >= 8 && k * n >= PACK_IN_WASM) {
      // Whole panels in SIMD (a JS array first copied in at memcpy speed), the rest below.
      const staged = js ? this.upload(js.subarray(0, k * n)) : undefined;
      try {
        const from = staged ?? resident!.buffer;
        const full = Math.floor(n / 8);
        this.channelOps.packPanels(from.byteOffset / 4 + off, ld, buffer.byteOffset / 4, k, full);
        if (full < panels) this.#packTail(from.data, off, ld, k, n, full, buffer.data);
      } finally {
        staged?.free();
      }
      return { buffer, k, n };
    }
    // Views after the allocation: it may have grown (and so detached) the memory.
    const s = js ?? resident!.buffer.data;
    this.#packTail(s, off, ld, k, n, 0, buffer.data);
    return { buffer, k, n };
  }

  /** {@link packB}'s scalar loop for panels `from` … ⌈n/8⌉ − 1 (zeros past column n). */
  #packTail(
    s: Float32Array,
    off: number,
    ld: number,
    k: number,
    n: number,
    from: number,
    d: Float32Array,
  ): void {
    const panels = Math.ceil(n / 8);
    let o = from * k * 8;
    for (let p = from; p < panels; p++) {
      const j0 = p * 8, w = Math.min(8, n - j0);
      for (let r = 0; r < k; r++) {
        const row = off + r * ld + j0;
        for (let j = 0; j < w; j++) d[o + j] = s[row + j];
        for (let j = w; j < 8; j++) d[o + j] = 0;
        o += 8;
      }
    }
  }

  /**
   * `C[m×n] (+)= A[m×k] · B[k×n]` on resident operands, no copies. A is read through its
   * strides (non-negative, in floats), so a transposed A or an im2col matrix whose rows overlap
   * needs no copy either. Throws when an operand would be read or written out of its buffer.
   */
  multiply(args: MultiplyArgs): void {
    const { a, b, c, m } = args;
    const { k, n } = b;
    const rs = a.rowStride, cs = a.colStride ?? 1;
    const aOff = a.offset ?? 0, cOff = c.offset ?? 0, ldc = c.ld ?? n;
    const kb = args.kBlock ?? this.kBlock ?? (rs === 1 && cs !== 1 ? 256 : 2048);
    const { count, strideA, strideC } = args.batch ?? { count: 1, strideA: 0, strideC: 0 };
    const checks: [string, number][] = [
      ["m", m],
      ["rowStride", rs],
      ["colStride", cs],
      ["ld", ldc],
      ["batch count", count],
      ["strideA", strideA],
      ["strideC", strideC],
    ];
    for (const [name, v] of checks) {
      if (!Number.isInteger(v) || v < 0) throw new Error(`multiply: bad ${name} ${v}`);
    }
    if (!Number.isInteger(kb) || kb < 1) throw new Error("multiply: bad kBlock");
    if (m === 0 || n === 0 || count === 0) return;
    if (ldc < n) throw new Error("multiply: C's ld is less than n");
    const lastC = cOff + (count - 1) * strideC;
    if (lastC + (m - 1) * ldc + n > c.buffer.length) throw new Error("multiply: C exceeds buffer");
    if (k === 0) {
      if (!args.accumulate) {
        const d = c.buffer.data;
        for (let t = 0; t < count; t++) {
          for (let i = 0; i < m; i++) {
            const o = cOff + t * strideC + i * ldc;
            d.fill(0, o, o + n);
          }
        }
      }
      return;
    }
    if (aOff + (count - 1) * strideA + (m - 1) * rs + (k - 1) * cs >= a.buffer.length) {
      throw new Error("multiply: A exceeds its buffer");
    }
    this.run(
      a.buffer.byteOffset + 4 * aOff,
      4 * rs,
      4 * cs,
      b.buffer.byteOffset,
      c.buffer.byteOffset + 4 * cOff,
      4 * ldc,
      m,
      n,
      k,
      args.accumulate ? 1 : 0,
      kb,
      count,
      4 * strideA,
      4 * strideC,
      // Rows per tile as even as the tile height allows (M = 8: 4 + 4, not 6 + 2): a short
      // remainder tile runs its k loop for a third of the multiply-adds.
      Math.ceil(m / Math.ceil(m / this.rows)),
    );
  }

  /**
   * `C = A·B` (or `C += A·B`) for row-major Float32Arrays `a [m×k]` (`[k×m]` with `transA`)
   * and `b [k×n]`: copies the operands into the module's memory, multiplies, copies C back.
   */
  gemm(
    a: Float32Array,
    b: Float32Array,
    m: number,
    k: number,
    n: number,
    options: GemmCallOptions = {},
  ): Float32Array {
    if (a.length < m * k || b.length < k * n) throw new Error("gemm: operand shorter than shape");
    const out = options.c ?? new Float32Array(m * n);
    if (out.length < m * n) throw new Error("gemm: c shorter than m·n");
    const ab = this.upload(a.subarray(0, m * k));
    const pb = this.packB(b, k, n);
    const cb = this.alloc(m * n);
    try {
      if (options.accumulate) cb.data.set(out.subarray(0, m * n));
      this.multiply({
        a: options.transA ? { buffer: ab, rowStride: 1, colStride: m } : {
          buffer: ab,
          rowStride: k,
        },
        b: pb,
        c: { buffer: cb },
        m,
        accumulate: options.accumulate,
      });
      out.set(cb.data);
      return out;
    } finally {
      ab.free();
      pb.buffer.free();
      cb.free();
    }
  }

  /** Copies `x [n, len, cin]` into a new buffer `[n, padBefore + len + padAfter, cin]`. */
  private padded(x: Float32Array, s: Conv1dShape): WasmBuffer {
    const lp = s.padBefore + s.len + s.padAfter;
    const buf = this.alloc(s.n * lp * s.cin);
    const d = buf.data;
    for (let r = 0; r < s.n; r++) {
      const o = r * lp * s.cin;
      d.fill(0, o, o + s.padBefore * s.cin);
      d.set(x.subarray(r * s.len * s.cin, (r + 1) * s.len * s.cin), o + s.padBefore * s.cin);
      d.fill(0, o + (s.padBefore + s.len) * s.cin, o + lp * s.cin);
    }
    return buf;
  }

  /** Copies `x [n, len, cin]` into a new buffer `[n, cin, padBefore + len + padAfter]`. */
  private paddedTransposed(x: Float32Array, s: Conv1dShape): WasmBuffer {
    const lp = s.padBefore + s.len + s.padAfter;
    const buf = this.alloc(s.n * s.cin * lp);
    const d = buf.data;
    d.fill(0);
    for (let r = 0; r < s.n; r++) {
      for (let i = 0; i < s.cin; i++) {
        const o = (r * s.cin + i) * lp + s.padBefore;
        let src = r * s.len * s.cin + i;
        for (let t = 0; t < s.len; t++, src += s.cin) d[o + t] = x[src];
      }
    }
    return buf;
  }

  /**
   * 1-D convolution without im2col: `y[r, t, o] = Σ_{q, i} xpad[r, t+q, i] · w[q, i, o]` for
   * `x [n, len, cin]` zero-padded by (padBefore, padAfter) and `w [kw, cin, cout]` (tfjs's
   * conv1d/conv2d filter layout), stride 1, no bias → `y [n, lout, cout]`,
   * `lout = len + pads − kw + 1`. Every row is a GEMM whose A is the padded row itself read
   * with row stride cin (the im2col rows overlap), all rows one strided batch: the only copy
   * is the padding. With `bias` (`[cout]`) the result is `max(y + bias, 0)`, the layer's
   * epilogue applied before the copy out.
   */
  conv1d(x: Float32Array, w: Float32Array, s: Conv1dShape, bias?: Float32Array): Float32Array {
    const lp = s.padBefore + s.len + s.padAfter, lout = lp - s.kw + 1;
    checkConv(x, s, lout);
    if (w.length !== s.kw * s.cin * s.cout) throw new Error("conv1d: w is not [kw, cin, cout]");
    const xp = this.padded(x, s);
    const pw = this.packB(w, s.kw * s.cin, s.cout);
    const y = this.alloc(s.n * lout * s.cout);
    try {
      this.multiply({
        a: { buffer: xp, rowStride: s.cin },
        b: pw,
        c: { buffer: y },
        m: lout,
        batch: { count: s.n, strideA: lp * s.cin, strideC: lout * s.cout },
      });
      if (bias) this.biasRelu(y, s.n * lout, bias);
      return y.data.slice();
    } finally {
      xp.free();
      pw.buffer.free();
      y.free();
    }
  }

  /**
   * Filter gradient of {@link conv1d}: `dw[q, i, o] = Σ_r Σ_t xpad[r, t+q, i] · dy[r, t, o]`
   * for `dy [n, lout, cout]` → `dw [kw, cin, cout]`, again without im2col. Each padded row is
   * transposed once to `[cin, lp]`; then for input channel i, `A[q, t] = xpadᵀ[i, q + t]` has
   * unit row *and* column strides (the fast kernel's layout) and `dw[·, i, ·]` is
   * `A[kw×lout] · dy_r[lout×cout]`, written in place with ld = cin·cout: per row one call, a
   * batch over the cin channels, accumulating over rows.
   */
  conv1dFilterGrad(x: Float32Array, dy: Float32Array, s: Conv1dShape): Float32Array {
    const lp = s.padBefore + s.len + s.padAfter, lout = lp - s.kw + 1;
    checkConv(x, s, lout);
    if (dy.length !== s.n * lout * s.cout) throw new Error("conv1dFilterGrad: dy's size");
    const xt = this.paddedTransposed(x, s);
    const dw = this.alloc(s.kw * s.cin * s.cout);
    let pb: PackedB | undefined;
    try {
      for (let r = 0; r < s.n; r++) {
        pb = this.packB(dy.subarray(r * lout * s.cout, (r + 1) * lout * s.cout), lout, s.cout, pb);
        this.multiply({
          a: { buffer: xt, offset: r * s.cin * lp, rowStride: 1, colStride: 1 },
          b: pb,
          c: { buffer: dw, ld: s.cin * s.cout },
          m: s.kw,
          accumulate: r > 0,
          batch: { count: s.cin, strideA: lp, strideC: s.cout },
        });
      }
      return dw.data.slice();
    } finally {
      xt.free();
      dw.free();
      pb?.buffer.free();
    }
  }
}

/** `y = max(y + bias, 0)` over the rows `[· × bias.length]` of a JS array (the scalar epilogue). */
export function biasReluInPlace(y: Float32Array, bias: Float32Array): void {
  const c = bias.length;
  for (let i = 0; i < y.length; i += c) {
    for (let o = 0; o < c; o++) {
      const v = y[i + o] + bias[o];
      y[i + o] = v > 0 ? v : 0;
    }
  }
}

/** Shape of a 1-D convolution for {@link WasmGemm.conv1d}. */
export interface Conv1dShape {
  /** Rows (sequences). */
  n: number;
  /** Input positions per row. */
  len: number;
  /** Input channels. */
  cin: number;
  /** Filter width. */
  kw: number;
  /** Output channels. */
  cout: number;
  /** Zero samples before each row ('same' with kw = 40: 19). */
  padBefore: number;
  /** Zero samples after each row ('same' with kw = 40: 20). */
  padAfter: number;
}

function checkConv(x: Float32Array, s: Conv1dShape, lout: number): void {
  for (const [key, v] of Object.entries(s)) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`conv1d: bad ${key} ${v}`);
  }
  if (s.kw < 1 || s.cin < 1 || s.cout < 1 || lout < 1) throw new Error("conv1d: empty shape");
  if (x.length !== s.n * s.len * s.cin) throw new Error("conv1d: x is not [n, len, cin]");
}
