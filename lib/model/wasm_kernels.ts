/**
 * Faster replacements for three tfjs-backend-wasm 4.22 kernels: Slice, Unpack and SplitV.
 *
 * The shipped wasm Slice reads its *whole input* out of the wasm heap into a new JS array on
 * every call (`readSync` copies) before copying the slice, so a slice costs O(input) and the
 * GRU's `unstack` of a `[300, 8, 128]` tensor copies it 300 times (Unpack and SplitV slice
 * the same way). These versions copy only the sliced bytes, heap to heap (`copyWithin`).
 * They rely on BackendWasm's `dataIdMap` entries (`memoryOffset`) and `makeOutput`, both
 * stable in 4.22; {@link registerWasmKernelFixes} checks for them and does nothing otherwise.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

interface WasmData {
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
}

interface WasmBackendLike {
  dataIdMap: { get(id: unknown): WasmData };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  wasm: { HEAPU8: Uint8Array };
}

/** Heap-to-heap slice: contiguous runs copied with one `copyWithin` each. */
function sliceInfo(
  backend: WasmBackendLike,
  x: tf.TensorInfo,
  begin: number[],
  size: number[],
): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype); // may grow the heap: take views after
  const n = tf.util.sizeFromShape(size);
  if (n === 0) return out;
  const bpe = tf.util.bytesPerElement(x.dtype);
  const heap = backend.wasm.HEAPU8;
  const src = backend.dataIdMap.get(x.dataId).memoryOffset;
  const dst = backend.dataIdMap.get(out.dataId).memoryOffset;
  const shape = x.shape, rank = shape.length;
  const strides = new Array<number>(rank);
  strides[rank - 1] = 1;
  for (let i = rank - 2; i >= 0; i--) strides[i] = strides[i + 1] * shape[i + 1];
  // k: the outermost axis from which the slice is one contiguous run per outer index.
  let k = rank - 1;
  while (k > 0 && size[k] === shape[k]) k--;
  const run = size[k] * (k + 1 < rank ? strides[k] : 1);
  const outer = rank === 0 ? 1 : n / run;
  const idx = new Array<number>(k).fill(0);
  let o = dst;
  for (let r = 0; r < outer; r++) {
    let off = begin[k] * strides[k];
    for (let j = 0; j < k; j++) off += (begin[j] + idx[j]) * strides[j];
    heap.copyWithin(o, src + off * bpe, src + (off + run) * bpe);
    o += run * bpe;
    for (let j = k - 1; j >= 0; j--) {
      if (++idx[j] < size[j]) break;
      idx[j] = 0;
    }
  }
  return out;
}

let registered = false;

/**
 * Replaces wasm's Slice, Unpack and SplitV kernels with the heap-to-heap versions above
 * (call after the wasm backend is registered; idempotent). Returns whether it did.
 */
export function registerWasmKernelFixes(): boolean {
  if (registered) return true;
  const backend = tf.findBackend("wasm") as unknown as WasmBackendLike | null;
  if (!backend || !backend.dataIdMap || !backend.makeOutput || !backend.wasm?.HEAPU8) {
    return false;
  }
  const replace = (kernelName: string, kernelFunc: tf.KernelFunc) => {
    if (tf.getKernel(kernelName, "wasm")) tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel({ kernelName, backendName: "wasm", kernelFunc });
  };
  replace("Slice", ({ inputs, attrs, backend: b }) => {
    const x = inputs.x as tf.TensorInfo;
    const [begin, size] = tf.slice_util.parseSliceParams(
      x as tf.Tensor,
      attrs!.begin as number[],
      attrs!.size as number[],
    );
    return sliceInfo(b as unknown as WasmBackendLike, x, begin, size);
  });
  replace("Unpack", ({ inputs, attrs, backend: b }) => {
    const x = inputs.value as tf.TensorInfo;
    const rank = x.shape.length;
    let axis = attrs!.axis as number;
    if (axis < 0) axis += rank;
    const outShape = x.shape.filter((_, i) => i !== axis);
    const begin = new Array<number>(rank).fill(0);
    const size = x.shape.slice();
    size[axis] = 1;
    const outs: tf.TensorInfo[] = [];
    for (let i = 0; i < x.shape[axis]; i++) {
      begin[axis] = i;
      const s = sliceInfo(b as unknown as WasmBackendLike, x, begin, size);
      outs.push({ dataId: s.dataId, dtype: s.dtype, shape: outShape });
    }
    return outs;
  });
  replace("SplitV", ({ inputs, attrs, backend: b }) => {
    const x = inputs.x as tf.TensorInfo;
    const axis = tf.util.parseAxisParam(attrs!.axis as number, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(
      x as tf.Tensor,
      attrs!.numOrSizeSplits as number[] | number,
      axis,
    );
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = x.shape.slice();
      size[axis] = s;
      const out = sliceInfo(b as unknown as WasmBackendLike, x, begin, size);
      begin[axis] += s;
      return out;
    });
  });
  registered = true;
  return true;
}
