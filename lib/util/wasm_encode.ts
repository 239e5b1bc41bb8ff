/**
 * The pieces of the WebAssembly binary format that the toolkit's run-time generated kernels
 * (eGeMAPS SIMD loops, the GEMM micro-kernels) need: LEB128 integers, vectors, sections, names
 * and the module header. One encoder, so every generated module is laid out the same way.
 * @module
 */

/** `\0asm` and version 1: the first eight bytes of every module. */
export const WASM_HEADER: readonly number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/** Unsigned LEB128 of a non-negative integer (exact up to 2^53). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 of a 32-bit integer (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/** A vector: its length, then its items' bytes. */
export function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** A section: id, byte size, body. */
export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A name: UTF-8 bytes prefixed by their count. */
export function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

// ---------------------------------------------------------------------------------------------
// A function-body builder: just what the generated kernels need.

/** Value types and the empty block type. */
export const I32 = 0x7f, V128 = 0x7b, VOID = 0x40;

/** Core opcodes. */
export const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  callIndirect: 0x11,
  call: 0x10,
  localGet: 0x20,
  localSet: 0x21,
  localTee: 0x22,
  f32Load: 0x2a,
  f32Store: 0x38,
  i32Const: 0x41,
  i32Eqz: 0x45,
  i32Ne: 0x47,
  i32LtU: 0x49,
  i32GtU: 0x4b,
  i32GeU: 0x4f,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i32Or: 0x72,
  i32Shl: 0x74,
  i32ShrU: 0x76,
  simd: 0xfd,
} as const;

/** SIMD opcodes (after the 0xfd prefix). */
export const SIMD = {
  load: 0x00,
  load32Splat: 0x09,
  store: 0x0b,
  const: 0x0c,
  f32x4Neg: 0xe1,
  f32x4Add: 0xe4,
  f32x4Sub: 0xe5,
  f32x4Mul: 0xe6,
  f32x4Max: 0xe9,
  f32x4Gt: 0x44,
  v128And: 0x4e,
  v128AndNot: 0x4f,
  f32x4RelaxedMadd: 0x105,
} as const;

/** One function body under construction: typed locals and a byte stream with helpers. */
export class Fn {
  readonly bytes: number[] = [];
  private readonly extra: number[] = [];
  constructor(private readonly params: number) {}
  /** Declares a local of `type`; returns its index. */
  local(type: number): number {
    this.extra.push(type);
    return this.params + this.extra.length - 1;
  }
  op(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  get(i: number): this {
    return this.op(OP.localGet, ...uleb(i));
  }
  set(i: number): this {
    return this.op(OP.localSet, ...uleb(i));
  }
  i32(n: number): this {
    return this.op(OP.i32Const, ...sleb(n | 0));
  }
  simd(code: number, ...imm: number[]): this {
    return this.op(OP.simd, ...uleb(code), ...imm);
  }
  /** `local[i] = local[i] + local[j]` (j a local index) or `+ c` (c a constant). */
  addTo(i: number, by: { local: number } | { const: number }): this {
    this.get(i);
    if ("local" in by) this.get(by.local);
    else this.i32(by.const);
    return this.op(OP.i32Add).set(i);
  }
  /** `local[i] += by`, then back to the start of the enclosing loop while `local[i] < local[limit]`. */
  stepBelow(i: number, by: { local: number } | { const: number }, limit: number): this {
    this.addTo(i, by);
    return this.get(i).get(limit).op(OP.i32LtU, OP.brIf, 0);
  }
  /** `local[i] -= 1`, then back to the start of the enclosing loop while it is not zero. */
  countDown(i: number): this {
    this.get(i).i32(1).op(OP.i32Sub).set(i);
    return this.get(i).op(OP.brIf, 0);
  }
  block(body: () => void): this {
    this.op(OP.block, VOID);
    body();
    return this.op(OP.end);
  }
  loop(body: () => void): this {
    this.op(OP.loop, VOID);
    body();
    return this.op(OP.end);
  }
  if(then: () => void, otherwise?: () => void): this {
    this.op(OP.if, VOID);
    then();
    if (otherwise) {
      this.op(OP.else);
      otherwise();
    }
    return this.op(OP.end);
  }
  /** The code-section entry: locals grouped in runs of one type, then the body. */
  encode(): number[] {
    const groups: number[][] = [];
    for (const t of this.extra) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    const body = [...vec(groups.map(([n, t]) => [...uleb(n), t])), ...this.bytes, OP.end];
    return [...uleb(body.length), ...body];
  }
}

/** A load/store immediate: log2 alignment, byte offset. */
export const memarg = (align: number, offset: number) => [...uleb(align), ...uleb(offset)];

/**
 * Builds and instantiates one module of functions on `memory`, imported as `env.memory` with at
 * least one page and no maximum (so another module's grown memory fits), each function taking
 * `params[i]` i32 arguments and returning nothing; returns them in order.
 * @throws {Error} naming `what` when the generated module does not validate
 */
export function instantiateOnMemory(
  memory: WebAssembly.Memory,
  fns: { params: number; body: Fn }[],
  what: string,
): ((...args: number[]) => void)[] {
  const bytes = new Uint8Array([
    ...WASM_HEADER,
    ...section(1, vec(fns.map((f) => [0x60, ...vec(Array(f.params).fill([I32])), 0x00]))),
    ...section(2, vec([[...name("env"), ...name("memory"), 0x02, 0x00, ...uleb(1)]])),
    ...section(3, vec(fns.map((_, i) => uleb(i)))),
    ...section(7, vec(fns.map((_, i) => [...name(`f${i}`), 0x00, ...uleb(i)]))),
    ...section(10, vec(fns.map((f) => f.body.encode()))),
  ]);
  if (!WebAssembly.validate(bytes)) throw new Error(`${what}: generated module does not validate`);
  const inst = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  return fns.map((_, i) => inst.exports[`f${i}`] as (...args: number[]) => void);
}
