/**
 * The thread's own WebAssembly kernels (one GEMM module, its Winograd and FFT convolutions) and
 * the switch that turns them off. They replace tfjs's kernels on the wasm backend where tfjs is the
 * limit: conv2 (conv.ts) and the GRU recurrence (gru.ts). Each Web Worker engine has its own
 * instance, like its own tfjs engine.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { WasmGemm } from "./wasm_gemm.ts";
import { FftConv } from "./fft_conv.ts";
import { WinogradConv } from "./winograd.ts";

/** The kernels of one thread. */
export interface OwnKernels {
  /** The GEMM module (also conv1's direct convolution). */
  gemm: WasmGemm;
  /** Winograd F(4, 4) convolutions on it. */
  winograd: WinogradConv;
  /** Overlap-save FFT convolutions on it, block 256 (short rows laid end to end). */
  fft: FftConv;
}

let enabled = true;
let kernels: OwnKernels | undefined;

/**
 * Whether the model uses our own kernels on the wasm backend (default true) or tfjs's
 * (XNNPACK and per-op kernels), for comparisons. Results agree to float rounding.
 */
export function setOwnKernels(on: boolean): void {
  enabled = on;
}

/**
 * Whether our own WGSL programs apply: the webgpu backend is active and own kernels are not
 * switched off (see {@link setOwnKernels}). The webgpu front-end (frontend_webgpu.ts), GRU
 * (gru_webgpu.ts), dropout multiplier (dropout.ts) and Adam update (training/adam_webgpu.ts)
 * follow it, so their tfjs-op paths stay comparable.
 */
export function ownWebGpuKernels(): boolean {
  return enabled && tf.getBackend() === "webgpu";
}

/** The kernels when they apply (wasm backend, not switched off); undefined otherwise. */
export function ownKernels(): OwnKernels | undefined {
  if (!enabled || tf.getBackend() !== "wasm") return undefined;
  if (!kernels) {
    const gemm = WasmGemm.create();
    kernels = {
      gemm,
      winograd: new WinogradConv(gemm),
      fft: new FftConv(gemm),
    };
  }
  return kernels;
}
