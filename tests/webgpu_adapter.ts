/**
 * Whether this machine gives Deno a WebGPU adapter (not only `navigator.gpu`), asked as
 * initBackend would; the webgpu tests skip without one and say why.
 */

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
