/**
 * Selecting and initialising the TensorFlow.js backend.
 *
 * Every backend runs the same model code (tfjs-core ops only). Backend packages are imported
 * lazily so that a script asking for `cpu` never loads WebAssembly or WebGPU code, and the
 * optional native `tensorflow` backend is only looked for when asked for.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BackendName } from "./types.ts";
import { registerWasmKernelFixes } from "./wasm_kernels.ts";
import { ownWebGpuKernels } from "./own_kernels.ts";
import { boundBufferPool, installDirectUploads } from "./webgpu_buffers.ts";
import { watchWebGpuErrors } from "./webgpu_errors.ts";
import { setSoftwareAdapter } from "./webgpu_program.ts";

/** The backend names accepted by {@link initBackend}, for CLI validation and help texts. */
export const BACKEND_NAMES: readonly BackendName[] = [
  "auto",
  "tensorflow",
  "webgpu",
  "wasm",
  "cpu",
];

/** What the native backend needs on the user's machine; repeated in every error about it. */
export const TENSORFLOW_BACKEND_HELP: string =
  "The 'tensorflow' backend needs @tensorflow/tfjs-node-gpu (NVIDIA GPU: libtensorflow 2.9.1, " +
  "CUDA 11.2, cuDNN 8.1) or @tensorflow/tfjs-node (CPU: libtensorflow 2.9.1) installed next " +
  "to this project (e.g. `deno add npm:@tensorflow/tfjs-node-gpu@4.22.0` on a machine whose " +
  "install script can download libtensorflow). Use --backend wasm or webgpu otherwise.";

/** Result of {@link initBackend}: the tfjs backend name and the device actually used. */
export interface BackendInfo {
  /** tfjs backend name now active (`wasm`, `webgpu`, `cpu`, `tensorflow`). */
  backend: string;
  /** Human-readable device description, e.g. `wasm (SIMD, 1 thread)`. */
  device: string;
  /** The WebGPU adapter's `GPUAdapterInfo` fields (webgpu only), as read before tfjs took it. */
  adapter?: AdapterDescription;
}

/** What a WebGPU adapter says about itself (`GPUAdapterInfo`; empty strings where unknown). */
export interface AdapterDescription {
  /** Vendor name or PCI id as text (lavapipe: `65541`, Mesa's 0x10005). */
  vendor: string;
  /** GPU family, e.g. `hopper`; often empty. */
  architecture: string;
  /** Device id as text. */
  device: string;
  /** Driver's description, e.g. `NVIDIA H200` or `llvmpipe (LLVM 15.0.6, 256 bits)`. */
  description: string;
  /** True for a software (CPU) implementation. */
  software: boolean;
}

/** Minimal view of the WebGPU objects we touch, so no DOM typings are needed. */
interface AdapterLike {
  isFallbackAdapter?: boolean;
  info?: Record<string, unknown>;
}

/**
 * Describes a WebGPU adapter and decides whether it is a software (CPU) implementation. Called
 * on an adapter of our own that never gets a device: Deno has refused reading `info` after
 * `requestDevice` (denoland/deno#28135, tfjs#8518), and tfjs's own adapter does get one.
 */
function describeAdapter(adapter: AdapterLike): { text: string; adapter: AdapterDescription } {
  const info = adapter.info ?? {};
  const field = (k: string) => (typeof info[k] === "string" ? info[k] as string : "");
  const fields = {
    vendor: field("vendor"),
    architecture: field("architecture"),
    device: field("device"),
    description: field("description"),
  };
  const parts = Object.values(fields).filter((v) => v.length > 0);
  const text = parts.length > 0 ? parts.join(", ") : "unknown adapter";
  // Mesa's llvmpipe/lavapipe and SwiftShader are CPU rasterisers: correct but slower than wasm.
  // Newer runtimes put isFallbackAdapter on the info object, older ones on the adapter.
  const software = adapter.isFallbackAdapter === true || info.isFallbackAdapter === true ||
    /llvmpipe|lavapipe|swiftshader|software|\bcpu\b/i.test(text);
  return { text, adapter: { ...fields, software } };
}

/**
 * Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set in the environment" on
 * every adapter probe when that variable does not name an existing folder (as under CI, cron or
 * Slurm). Pointing it at the system temp folder silences the message; nothing is written there.
 * Done only where the script may set that one variable (`--allow-env=XDG_RUNTIME_DIR`).
 */
function quietVulkanProbe(): void {
  try {
    const env = Deno.permissions.querySync({ name: "env", variable: "XDG_RUNTIME_DIR" });
    if (env.state !== "granted") return;
    const current = Deno.env.get("XDG_RUNTIME_DIR");
    if (current && isFolder(current)) return;
    Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  } catch { /* without the permission API or /tmp, Mesa's message stays */ }
}

function isFolder(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    // Unreadable (no --allow-read for it) counts as valid: leave the user's setting alone.
    return true;
  }
}

/** Requests a WebGPU adapter, or returns undefined when Deno offers none. */
async function requestAdapter(): Promise<AdapterLike | undefined> {
  quietVulkanProbe();
  const gpu = (globalThis.navigator as unknown as {
    gpu?: { requestAdapter(opts?: unknown): Promise<AdapterLike | null> };
  })?.gpu;
  if (!gpu) return undefined;
  try {
    return (await gpu.requestAdapter({ powerPreference: "high-performance" })) ?? undefined;
  } catch {
    return undefined;
  }
}

async function initCpu(): Promise<BackendInfo> {
  await import("@tensorflow/tfjs-backend-cpu");
  if (!(await tf.setBackend("cpu"))) throw new Error("tfjs cpu backend failed to initialise");
  await tf.ready();
  return { backend: "cpu", device: "cpu (pure JavaScript, 1 thread)" };
}

async function initWasm(): Promise<BackendInfo> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  if (!(await tf.setBackend("wasm"))) {
    throw new Error("tfjs wasm backend failed to initialise (see the message logged above)");
  }
  await tf.ready();
  registerWasmKernelFixes();
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  const threads = wasm.getThreadsCount();
  return {
    backend: "wasm",
    device: `wasm (${simd ? "SIMD" : "no SIMD"}, ${threads} thread${threads === 1 ? "" : "s"})`,
  };
}

async function initWebgpu(requireHardware: boolean): Promise<BackendInfo> {
  const adapter = await requestAdapter();
  if (!adapter) {
    throw new Error(
      "WebGPU backend: navigator.gpu offers no adapter (no GPU driver; on Debian " +
        "`apt-get install mesa-vulkan-drivers` provides a software adapter for testing)",
    );
  }
  const { text, adapter: description } = describeAdapter(adapter);
  const software = description.software;
  if (requireHardware && software) {
    throw new Error(`WebGPU backend: only a software adapter is available (${text})`);
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  if (!(await tf.setBackend("webgpu"))) {
    throw new Error(`tfjs webgpu backend failed to initialise on ${text}`);
  }
  await tf.ready();
  setSoftwareAdapter(software);
  // Uploads without tfjs's per-tensor staging buffers (unless own kernels are switched off), and
  // a buffer pool that does not keep every batch shape's working set.
  installDirectUploads(ownWebGpuKernels);
  boundBufferPool();
  // A program WebGPU cannot run is only an event; make the next read of values throw.
  watchWebGpuErrors();
  return {
    backend: "webgpu",
    device: `webgpu: ${text}${software ? " (software)" : ""}`,
    adapter: description,
  };
}

async function initTensorflow(): Promise<BackendInfo> {
  const errors: string[] = [];
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    // A computed bare specifier: Deno does not resolve it at startup, and at run time it
    // resolves only through the import map (`deno add`), so nothing is downloaded or locked.
    const specifier = [pkg].join("");
    try {
      await import(specifier);
      if (await tf.setBackend("tensorflow")) {
        await tf.ready();
        return { backend: "tensorflow", device: `tensorflow (${pkg.replace(/.*\//, "")})` };
      }
      errors.push(`${pkg}: loaded but the 'tensorflow' backend did not initialise`);
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(
    `Cannot use --backend tensorflow:\n  ${errors.join("\n  ")}\n${TENSORFLOW_BACKEND_HELP}`,
  );
}

/**
 * Activates a tfjs backend and reports which device is really used.
 *
 * `auto` picks WebGPU only for a real (non-software) adapter and otherwise wasm, the fastest
 * CPU backend here. `tensorflow` loads tfjs-node(-gpu) only when asked for and fails with a
 * message explaining what to install.
 */
export async function initBackend(name: BackendName): Promise<BackendInfo> {
  switch (name) {
    case "cpu":
      return await initCpu();
    case "wasm":
      return await initWasm();
    case "webgpu":
      return await initWebgpu(false);
    case "tensorflow":
      return await initTensorflow();
    case "auto": {
      try {
        return await initWebgpu(true);
      } catch {
        return await initWasm();
      }
    }
    default:
      throw new Error(
        `Unknown backend '${String(name)}': expected one of ${BACKEND_NAMES.join(", ")}`,
      );
  }
}

/** Parses a CLI backend argument, throwing a clear error for anything unknown. */
export function parseBackendName(value: string | undefined): BackendName {
  const v = (value ?? "auto") as BackendName;
  if (!BACKEND_NAMES.includes(v)) {
    throw new Error(`--backend '${value}' is not one of ${BACKEND_NAMES.join(", ")}`);
  }
  return v;
}
