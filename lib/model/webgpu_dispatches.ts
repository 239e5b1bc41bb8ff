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

/** A WebGPU class's prototype, whose methods the counters wrap. */
type Prototype = Record<string, (...args: unknown[]) => unknown>;

/** Wraps `proto[method]` (where it exists) so that every call first runs `count`. */
function countCalls(proto: Prototype, method: string, count: () => void): void {
  const original = proto[method];
  if (typeof original !== "function") return;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    count();
    return original.apply(this, args);
  };
}

/** The prototype of Deno's compute pass encoder, or undefined where there is no WebGPU. */
function passPrototype(): Prototype | undefined {
  const cls = (globalThis as unknown as { GPUComputePassEncoder?: { prototype: Prototype } })
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
  countCalls(proto, "dispatchWorkgroups", () => totals.direct++);
  countCalls(proto, "dispatchWorkgroupsIndirect", () => totals.indirect++);
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

/**
 * The WebGPU calls, besides dispatches, that the JavaScript thread makes on the host: each costs
 * driver and binding time per step whatever the GPU, and a step can go no faster than the host
 * issues it. New buffers (`createBuffer`) are the costly ones: a steady-state step of one batch
 * shape makes none (uploads go into pooled buffers, webgpu_buffers.ts; tfjs's own upload made a
 * staging buffer each); bind groups and uniform writes come with every program tfjs launches.
 */
export interface HostCallTotals {
  /** `GPUDevice.createBuffer`: new GPU buffers (allocations, not pool reuse). */
  createBuffer: number;
  /** `GPUDevice.createBindGroup`. */
  createBindGroup: number;
  /** `GPUQueue.writeBuffer`: uniforms and uploads written without a staging buffer. */
  writeBuffer: number;
  /** `GPUQueue.submit`. */
  submit: number;
  /** `GPUBuffer.mapAsync`: reads back to the host. */
  mapAsync: number;
  /**
   * `GPUDevice.createComputePipeline` and `createComputePipelineAsync`: shader compilations,
   * which tfjs caches by shader key, so a steady-state step should make none.
   */
  createComputePipeline: number;
}

const hostTotals: HostCallTotals = {
  createBuffer: 0,
  createBindGroup: 0,
  writeBuffer: 0,
  submit: 0,
  mapAsync: 0,
  createComputePipeline: 0,
};
let hostInstalled = false;

/**
 * Starts counting the host calls of {@link HostCallTotals} in this thread (idempotent). Returns
 * false where the runtime has no WebGPU classes to wrap.
 */
export function installHostCallCounter(): boolean {
  if (hostInstalled) return true;
  const g = globalThis as unknown as Record<string, { prototype: Prototype } | undefined>;
  const device = g.GPUDevice?.prototype, queue = g.GPUQueue?.prototype;
  const buffer = g.GPUBuffer?.prototype;
  if (!device || !queue || !buffer) return false;
  const wrap = (proto: Prototype, name: keyof HostCallTotals, method: string = name) =>
    countCalls(proto, method, () => hostTotals[name]++);
  wrap(device, "createBuffer");
  wrap(device, "createComputePipeline");
  wrap(device, "createComputePipeline", "createComputePipelineAsync");
  wrap(device, "createBindGroup");
  wrap(queue, "writeBuffer");
  wrap(queue, "submit");
  wrap(buffer, "mapAsync");
  hostInstalled = true;
  return true;
}

/** A copy of the host call totals since {@link installHostCallCounter}. */
export function hostCallTotals(): HostCallTotals {
  return { ...hostTotals };
}

/** The calls of each kind made between two readings of {@link hostCallTotals}. */
export function hostCallsBetween(from: HostCallTotals, to: HostCallTotals): HostCallTotals {
  return {
    createBuffer: to.createBuffer - from.createBuffer,
    createBindGroup: to.createBindGroup - from.createBindGroup,
    writeBuffer: to.writeBuffer - from.writeBuffer,
    submit: to.submit - from.submit,
    mapAsync: to.mapAsync - from.mapAsync,
    createComputePipeline: to.createComputePipeline - from.createComputePipeline,
  };
}
