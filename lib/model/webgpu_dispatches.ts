/**
 * Counting WebGPU compute dispatches: the launch count, not FLOPs, bounds a small-batch step on a
 * GPU (each tfjs op is at least one dispatch, and each costs a fixed few microseconds of driver
 * and JS time), so the GPU issue's target is stated in dispatches per training step.
 *
 * Counting wraps `GPUComputePassEncoder.prototype.dispatchWorkgroups` and
 * `dispatchWorkgroupsIndirect`, which Deno exposes as a global class. tfjs-backend-webgpu records
 * every program with a `dispatchWorkgroups` call at the moment the op runs (it batches only the
 * queue submissions), so the count between two readings is exactly the work the code in between
 * launched, whether or not the GPU has finished it yet.
 * @module
 */

/** Dispatch totals since {@link installDispatchCounter}. */
export interface DispatchTotals {
  /** `dispatchWorkgroups` calls. */
  direct: number;
  /** `dispatchWorkgroupsIndirect` calls. */
  indirect: number;
}

const totals: DispatchTotals = { direct: 0, indirect: 0 };
let installed = false;

type PassPrototype = Record<string, (...args: unknown[]) => unknown>;

/** The prototype of Deno's compute pass encoder, or undefined where there is no WebGPU. */
function passPrototype(): PassPrototype | undefined {
  const cls = (globalThis as unknown as { GPUComputePassEncoder?: { prototype: PassPrototype } })
    .GPUComputePassEncoder;
  return cls?.prototype;
}

/**
 * Starts counting compute dispatches in this thread (idempotent). Returns false where the
 * runtime has no `GPUComputePassEncoder` (no WebGPU), so nothing can be counted.
 */
export function installDispatchCounter(): boolean {
  if (installed) return true;
  const proto = passPrototype();
  if (!proto || typeof proto.dispatchWorkgroups !== "function") return false;
  const wrap = (name: string, key: keyof DispatchTotals) => {
    const original = proto[name];
    if (typeof original !== "function") return;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      totals[key]++;
      return original.apply(this, args);
    };
  };
  wrap("dispatchWorkgroups", "direct");
  wrap("dispatchWorkgroupsIndirect", "indirect");
  installed = true;
  return true;
}

/** Compute dispatches (direct + indirect) recorded since the counter was installed. */
export function dispatchCount(): number {
  return totals.direct + totals.indirect;
}

/** A copy of the totals, split by kind. */
export function dispatchTotals(): DispatchTotals {
  return { ...totals };
}
