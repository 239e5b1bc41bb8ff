/**
 * Whether this machine gives Deno a WebGPU adapter (not only `navigator.gpu`), asked as
 * initBackend would; the webgpu tests skip without one and say why.
 */
import { initBackend } from "../lib/model/backend.ts";

/** True where `navigator.gpu.requestAdapter()` returns an adapter. */
export const adapterPresent: boolean = await (async () => {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
  if (!gpu) return false;
  try {
    return (await gpu.requestAdapter()) != null;
  } catch {
    return false;
  }
})();

/** {@link adapterPresent}; without an adapter, logs that the `what` tests are skipped and why. */
export function webgpuOrSkip(what: string): boolean {
  if (!adapterPresent) {
    console.log(
      `skipping ${what} tests: no WebGPU adapter (on Debian, mesa-vulkan-drivers provides the ` +
        "software one, lavapipe)",
    );
  }
  return adapterPresent;
}

/**
 * Registers a test that needs a WebGPU adapter: ignored where there is none (call
 * {@link webgpuOrSkip} once per file for the message), run without Deno's resource and op
 * sanitizers, since Deno's WebGPU keeps device resources open after the backend is switched away,
 * and switched back to wasm, the other tests' backend, however it ends.
 */
export function webgpuTest(name: string, fn: () => Promise<void>): void {
  Deno.test({
    name,
    ignore: !adapterPresent,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      try {
        await fn();
      } finally {
        await initBackend("wasm");
      }
    },
  });
}
