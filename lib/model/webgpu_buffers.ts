/**
 * How tfjs-backend-webgpu (4.22) fills and keeps the GPU buffers behind tensors, adjusted for
 * training: uploads written straight into pooled buffers ({@link installDirectUploads}), and a
 * pool whose free buffers are bounded ({@link boundBufferPool}). Both patch the active backend
 * instance; `initBackend("webgpu")` installs them.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The tensor record tfjs-backend-webgpu keeps per data id, as far as the upload reads it. */
interface TensorRecord {
  dtype: tf.DataType;
  shape: number[];
  values: ArrayLike<number> | null;
  resource?: unknown;
}

/** The parts of tfjs-backend-webgpu's (4.22) `WebGPUBackend` that {@link installDirectUploads} uses. */
interface UploadBackendLike {
  queue: { writeBuffer(buffer: unknown, offset: number, data: ArrayBufferView): void };
  bufferManager: { acquireBuffer(size: number, usage: number): unknown };
  tensorMap: { get(dataId: object): TensorRecord | undefined };
  uploadToGPU(dataId: object): void;
  /** Set by {@link installDirectUploads} on the instance it patched. */
  directUploads?: true;
}

/**
 * Makes the active webgpu backend (call only while it is active) upload a tensor's values with
 * `queue.writeBuffer` into a buffer of its pool, where tfjs 4.22 creates, maps and later destroys
 * a staging buffer for every upload and ends the compute pass to copy from it. A training step
 * uploads about 16 small tensors (labels, class weights, scalars, the dropout's block table) and
 * the batch's signal (36 MB at 16 × 3,500 windows: 117–140 ms of the JavaScript thread through
 * tfjs's staging buffer on lavapipe, 4–5 ms written so). Where `applies()` is false at the time of
 * an upload (own kernels switched off, for comparisons) tfjs's own upload runs.
 *
 * Safe because of when tfjs returns a buffer to its pool: a tensor's buffer goes back only once
 * no recorded-but-unsubmitted command uses it (tfjs defers the release of such tensors, and of
 * uniform buffers, to the next submit), and `writeBuffer` takes effect after everything already
 * submitted and before everything submitted later; the ops that read the new tensor are recorded
 * after this call, so they see its values. tfjs's own uniforms are written the same way.
 */
export function installDirectUploads(applies: () => boolean): void {
  const backend = tf.backend() as unknown as UploadBackendLike;
  if (backend.directUploads) return;
  const tfjsUpload = backend.uploadToGPU.bind(backend);
  const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
  backend.uploadToGPU = (dataId: object) => {
    const record = backend.tensorMap.get(dataId);
    if (!record || record.resource != null || record.values == null || !applies()) {
      return tfjsUpload(dataId);
    }
    // On the GPU tfjs keeps float32 as f32 and int32 and bool as i32 (webgpu_util's
    // GPUBytesPerElement); no other dtype reaches a buffer.
    let data: Float32Array | Int32Array;
    if (record.dtype === "float32") {
      data = record.values instanceof Float32Array
        ? record.values
        : Float32Array.from(record.values);
    } else if (record.dtype === "int32" || record.dtype === "bool") {
      data = record.values instanceof Int32Array ? record.values : Int32Array.from(record.values);
    } else {
      return tfjsUpload(dataId);
    }
    if (data.length !== tf.util.sizeFromShape(record.shape)) {
      throw new Error(
        `webgpu upload: ${data.length} values for shape [${record.shape}] (${record.dtype})`,
      );
    }
    const buffer = backend.bufferManager.acquireBuffer(data.byteLength, usage);
    if (data.byteLength > 0) backend.queue.writeBuffer(buffer, 0, data);
    record.values = null; // as tfjs does: once on the GPU, no copy stays on the host
    record.resource = buffer;
  };
  backend.directUploads = true;
}

/** The parts of tfjs-backend-webgpu's (4.22) `BufferManager` that {@link boundBufferPool} uses. */
interface BufferManagerLike {
  /** Free buffers by `${size}_${usage}`; `acquireBuffer` pops the last one of its key. */
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
  numBytesUsed: number;
  numBytesAllocated: number;
  acquireBuffer(
    size: number,
    usage: number,
    mappedAtCreation?: boolean,
    reuse?: boolean,
  ): GPUBuffer;
  releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
  /** Set by {@link boundBufferPool} on the instance it patched. */
  bounded?: PoolBound;
}

/** What {@link boundBufferPool} keeps track of, readable for tests and benchmarks. */
export interface PoolBound {
  /** The most bytes ever in use at once (tensors, uniforms, staging), the free pool's bound. */
  peakBytesInUse: number;
  /** Free buffers destroyed to stay within the bound. */
  evictedBuffers: number;
  /** Their bytes. */
  evictedBytes: number;
  /** Entries in the release queue (free buffers and stale entries not yet dropped). */
  queued: number;
}

/**
 * Bounds the free buffers of the active webgpu backend's pool (call only while it is active) by
 * the most bytes ever in use at once, destroying the least recently released free buffers past
 * that. tfjs keeps every released buffer for reuse by exact size and never frees one, so each new
 * batch shape leaves a working set behind: training on a corpus, whose batches are padded to their
 * longest utterance and so differ in length, grew the GPU memory without bound (30 batch lengths of
 * a tiny model held 49.6 MiB for 0.37 MiB in use; the paper model's working set is gigabytes per
 * length), until the device ran out. With the bound the backend holds at most twice its peak
 * working set, and a run of same-shaped steps still finds all its buffers in the pool (a step's
 * free buffers never exceed the peak).
 *
 * Destroying a free buffer is safe at any time: no unsubmitted command uses it (see
 * {@link installDirectUploads}), and WebGPU keeps a destroyed buffer's memory until the submitted
 * work that uses it is done (tfjs destroys its staging buffers the same way).
 */
export function boundBufferPool(): PoolBound {
  const manager = (tf.backend() as unknown as { bufferManager: BufferManagerLike }).bufferManager;
  if (manager.bounded) return manager.bounded;
  const state: PoolBound = {
    peakBytesInUse: manager.numBytesUsed,
    evictedBuffers: 0,
    evictedBytes: 0,
    queued: 0,
  };
  // Free buffers in release order, with their key; a buffer acquired again leaves `freeSince`
  // and its stale queue entry is skipped when it comes up.
  const freeSince = new Map<GPUBuffer, number>();
  let queue: { buffer: GPUBuffer; key: string; seq: number }[] = [];
  let head = 0, seq = 0;
  const acquire = manager.acquireBuffer.bind(manager);
  const release = manager.releaseBuffer.bind(manager);
  manager.acquireBuffer = (size, usage, mappedAtCreation = false, reuse = true) => {
    const buffer = acquire(size, usage, mappedAtCreation, reuse);
    freeSince.delete(buffer);
    state.peakBytesInUse = Math.max(state.peakBytesInUse, manager.numBytesUsed);
    return buffer;
  };
  manager.releaseBuffer = (buffer, reuse = true) => {
    const before = manager.numFreeBuffers;
    release(buffer, reuse);
    if (manager.numFreeBuffers === before) return; // destroyed, or not tfjs's to keep
    const key = `${buffer.size}_${buffer.usage}`;
    freeSince.set(buffer, ++seq);
    queue.push({ buffer, key, seq });
    while (manager.numBytesAllocated - manager.numBytesUsed > state.peakBytesInUse) {
      // Free buffers released before the bound was installed are not queued (none are when
      // initBackend installs it): stop rather than run past the queue.
      if (head >= queue.length) break;
      const oldest = queue[head++];
      if (freeSince.get(oldest.buffer) !== oldest.seq) continue; // reused since; not free now
      freeSince.delete(oldest.buffer);
      const list = manager.freeBuffers.get(oldest.key);
      const at = list?.indexOf(oldest.buffer) ?? -1;
      if (at < 0) continue; // no longer tfjs's (its pool was disposed)
      list!.splice(at, 1);
      manager.numFreeBuffers--;
      manager.numBytesAllocated -= oldest.buffer.size;
      state.evictedBuffers++;
      state.evictedBytes += oldest.buffer.size;
      oldest.buffer.destroy();
    }
    // In a steady state nothing is evicted and every release queues an entry whose buffer is
    // soon acquired again: drop the stale entries before they pile up.
    if (queue.length - head > 2 * freeSince.size + 1024) {
      queue = queue.slice(head).filter((e) => freeSince.get(e.buffer) === e.seq);
      head = 0;
    }
    state.queued = queue.length - head;
  };
  manager.bounded = state;
  return state;
}
