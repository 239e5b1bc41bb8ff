/**
 * The thread's own WebAssembly kernels (one GEMM module, its Winograd convolutions) and the
 * switch that turns them off. They replace tfjs's kernels on the wasm backend where tfjs is the
 * limit: conv2 (conv.ts) and the GRU recurrence (gru.ts). Each Web Worker engine has its own
 * instance, like its own tfjs engine.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { WasmGemm } from "./wasm_gemm.ts";
import { WinogradConv } from "./winograd.ts";

let enabled = true;
let kernels: { gemm: WasmGemm; winograd: WinogradConv } | undefined;

/**
 * Whether the model uses our own kernels on the wasm backend (default true) or tfjs's
 * (XNNPACK and per-op kernels), for comparisons. Results agree to float rounding.
 */
export function setOwnKernels(on: boolean): void {
  enabled = on;
}

/** The kernels when they apply (wasm backend, not switched off); undefined otherwise. */
export function ownKernels(): { gemm: WasmGemm; winograd: WinogradConv } | undefined {
  if (!enabled || tf.getBackend() !== "wasm") return undefined;
  if (!kernels) {
    const gemm = WasmGemm.create();
    kernels = { gemm, winograd: new WinogradConv(gemm) };
  }
  return kernels;
}
