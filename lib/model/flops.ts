/**
 * Counted FLOP model of the paper's per-window computation (multiply-adds count as 2),
 * used to report GFLOP/s independently of how a backend or the fast front-end computes it.
 * @module
 */
import type { ModelConfig } from "./types.ts";

/** Forward FLOPs per window of the paper's per-window network (CNN + GRUs + heads). */
export function paperFlopsPerWindow(config: ModelConfig): number {
  let flops = 0;
  let inDim: number;
  if (config.input.kind === "raw") {
    const { kernel: k, filters: f, pool, channelPool } = config.conv;
    const win = config.input.windowSamples;
    flops += 2 * k * 1 * f * win; // conv1 over every sample of the window
    flops += 2 * k * f * f * (win / pool); // conv2 over the pooled positions
    inDim = (win / pool) * (f / channelPool);
  } else {
    inDim = config.input.dim;
  }
  const u = config.gru.units;
  for (let l = 0; l < config.gru.layers; l++) {
    flops += 2 * ((l === 0 ? inDim : u) + u) * 3 * u;
  }
  return flops;
}
