/**
 * Running WGSL compute programs of our own through tfjs-backend-webgpu, so their inputs and
 * output are tfjs tensors on the GPU (no read-back, no copy) and each program is one dispatch
 * in tfjs's command stream (gru_webgpu.ts, training/adam_webgpu.ts).
 *
 * The types are the part of tfjs-backend-webgpu's (4.22) `WebGPUProgram` and `WebGPUBackend`
 * interface we use, written out so these modules do not import the webgpu package (backend.ts
 * loads it only when asked for). tfjs generates the bindings around `getUserCode()`: the output
 * `result: array<f32>` (read_write), one read-only `array<f32>` per name in `variableNames`, and a
 * `uniforms` struct with each input's `<name>Shape`, `outShape`, `size` (when `size` is set) and
 * the fields the program declares in `uniforms`. A program has exactly one output tensor.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The fields of tfjs-backend-webgpu's `WebGPUProgram` our programs set. */
export interface Program {
  variableNames: string[];
  outputShape: number[];
  /** Pipeline cache key: must change whenever `getUserCode()` would. */
  shaderKey: string;
  /** Only `x`: tfjs then calls `main(index)` with the flat invocation index. */
  dispatchLayout: { x: number[]; y?: number[]; z?: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** Adds `uniforms.size` (the output's element count) to the shader's uniforms. */
  size?: boolean;
  /** Program-defined uniform fields, WGSL struct member syntax (`alpha : f32, `). */
  uniforms?: string;
  /**
   * An upper bound on the loop iterations (all loops together) of one invocation, for
   * {@link SOFTWARE_LOOP_LIMIT}; programs without loops leave it out.
   */
  loopIterations?: number;
  getUserCode(): string;
}

/**
 * Mesa's software adapter (lavapipe, llvmpipe's shader compiler gallivm) stops every loop of an
 * invocation once all its loops together have run 65,535 iterations
 * (`LP_MAX_TGSI_LOOP_ITERATIONS`, "shared between every loop"), without an error: the program
 * then computes wrong values. Seen here with a GRU over 300 steps (128 units looped per step).
 * GPU drivers have no such limit.
 */
export const SOFTWARE_LOOP_LIMIT = 65535;

/**
 * Loop iterations of a loop run `iterations` times whose body costs `body` (for
 * {@link Program.loopIterations}), counted as Mesa's software adapter counts them, measured with
 * gru_webgpu.ts's recurrence: a loop costs its iterations plus one (the exit test), and a
 * workgroup barrier in a body costs one.
 */
export function loop(iterations: number, body = 0): number {
  return iterations + 1 + iterations * body;
}

/** WebGPU's default `maxStorageBufferBindingSize` (128 MiB), where a device does not say. */
const DEFAULT_BINDING_LIMIT = 134217728;

/**
 * The active webgpu device's `maxStorageBufferBindingSize` (bytes): the largest buffer one
 * program may bind. Past it WebGPU does not fail, it leaves the dispatch undone (zeros), so the
 * callers size their work by it (frontend_webgpu.ts per call, model.ts per pass).
 */
export function bindingLimit(): number {
  const device = (tf.backend() as unknown as {
    device?: { limits?: { maxStorageBufferBindingSize?: number } };
  }).device;
  return device?.limits?.maxStorageBufferBindingSize ?? DEFAULT_BINDING_LIMIT;
}

let softwareAdapter = false;

/** Records whether the webgpu backend now active runs on a software adapter (backend.ts). */
export function setSoftwareAdapter(software: boolean): void {
  softwareAdapter = software;
}

/** A program-defined uniform value, in the order of {@link Program.uniforms}. */
export interface UniformValue {
  type: "float32" | "int32" | "uint32";
  data: number[];
}

/** The one method of tfjs-backend-webgpu's `WebGPUBackend` we call. */
interface WebGpuBackendLike {
  runWebGPUProgram(
    program: Program,
    inputs: tf.TensorInfo[],
    outputDtype: tf.DataType,
    uniforms?: UniformValue[],
  ): tf.TensorInfo;
}

/**
 * Runs `program` on the active webgpu backend (call only while it is active) and returns its
 * float32 output as a tensor owned by the current tidy scope. Refuses, on a software adapter, a
 * program whose loops would pass {@link SOFTWARE_LOOP_LIMIT}.
 */
export function runProgram(
  program: Program,
  inputs: tf.Tensor[],
  uniforms?: UniformValue[],
): tf.Tensor {
  const loops = program.loopIterations ?? 0;
  if (softwareAdapter && loops > SOFTWARE_LOOP_LIMIT) {
    throw new Error(
      `${program.constructor.name} would loop ${loops} times per invocation, past the ` +
        `${SOFTWARE_LOOP_LIMIT} after which Mesa's software WebGPU adapter silently stops ` +
        "looping (wrong values): use --backend wasm, a GPU, or shorter inputs",
    );
  }
  const backend = tf.backend() as unknown as WebGpuBackendLike;
  const info = backend.runWebGPUProgram(program, inputs, "float32", uniforms);
  return tf.engine().makeTensorFromTensorInfo(info);
}
