/**
 * WebGPU errors made loud. A program WebGPU cannot run (a buffer bound past the device's
 * `maxStorageBufferBindingSize`, a buffer past `maxBufferSize`, memory it cannot allocate) is not
 * an exception: the device reports it as an `uncapturederror` event and leaves the work undone,
 * and tfjs then reads back zeros or stale values. Measured on lavapipe: `tf.sum(tf.mul(tf.ones([4e7]),
 * 2))` returned 0 (its 160 MB binding past the 128 MiB limit), with the reason only in such
 * events. {@link watchWebGpuErrors} (installed by `initBackend("webgpu")`) writes each error to
 * stderr when it happens and makes the next read of any tensor's values on the backend throw, so
 * no number computed without that work reaches a result.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The errors the device has reported, for tests and messages. */
export interface WebGpuErrorLog {
  /** Every reported error's message, in order. */
  messages: string[];
  /** How many of them a read has already thrown for. */
  reported: number;
}

/** The parts of tfjs-backend-webgpu's (4.22) `WebGPUBackend` that the watcher uses. */
interface WatchedBackendLike {
  device: EventTarget & { lost?: Promise<{ reason?: string; message: string }> };
  read(dataId: object): Promise<unknown>;
  readSync(dataId: object): unknown;
  /** Set by {@link watchWebGpuErrors} on the instance it patched. */
  errorLog?: WebGpuErrorLog;
}

/** Error messages written to stderr at most, so a failing loop does not flood the log. */
const PRINTED = 5;

/**
 * Watches the active webgpu backend's device (call only while it is active): each
 * `uncapturederror`, and the device's loss, is recorded and written to stderr, and the next
 * `read`/`readSync` of tensor values on this backend (`data()`, `dataSync()`, `array()` …)
 * throws an error naming it.
 */
export function watchWebGpuErrors(): WebGpuErrorLog {
  const backend = tf.backend() as unknown as WatchedBackendLike;
  if (backend.errorLog) return backend.errorLog;
  const log: WebGpuErrorLog = { messages: [], reported: 0 };
  backend.device.addEventListener("uncapturederror", (event) => {
    const error = (event as Event & { error?: { constructor: { name: string }; message: string } })
      .error;
    const message = error ? `${error.constructor.name}: ${error.message}` : String(event);
    log.messages.push(message);
    if (log.messages.length <= PRINTED) {
      console.error(
        `webgpu: the device reported an error; the work it concerns was not done: ${message}`,
      );
    }
  });
  // A lost device (driver reset, the GPU taken away) ends every later command; say so. A
  // "destroyed" device is one the program itself let go.
  backend.device.lost?.then((info) => {
    if (info.reason === "destroyed") return;
    const message = `GPUDevice lost (${info.reason ?? "unknown"}): ${info.message}`;
    log.messages.push(message);
    console.error(`webgpu: ${message}; later work on this device is not done`);
  });
  const check = () => {
    if (log.messages.length === log.reported) return;
    const fresh = log.messages.slice(log.reported);
    log.reported = log.messages.length;
    throw new Error(
      `webgpu: the device reported ${fresh.length} error${fresh.length === 1 ? "" : "s"} ` +
        `since the last read, so values computed since then cannot be trusted: ${fresh[0]}`,
    );
  };
  const read = backend.read.bind(backend);
  const readSync = backend.readSync.bind(backend);
  backend.read = async (dataId: object) => {
    const values = await read(dataId);
    check();
    return values;
  };
  backend.readSync = (dataId: object) => {
    const values = readSync(dataId);
    check();
    return values;
  };
  backend.errorLog = log;
  return log;
}
