/**
 * Web Worker side of {@link EgemapsPool}: extracts one signal per message with the same
 * {@link extractEgemaps} as the main thread and sends the LLD rows back as one flat buffer, so
 * the reply is transferred rather than copied row by row.
 * @module
 */
/// <reference lib="deno.worker" />
import { EGEMAPS_LLD_NAMES, extractEgemaps } from "./mod.ts";
import type { PoolReply, PoolRequest } from "./pool.ts";

const DIM = EGEMAPS_LLD_NAMES.length;

self.onmessage = (event: MessageEvent<PoolRequest>) => {
  const { id, samples, sampleRate, options } = event.data;
  let reply: PoolReply;
  try {
    const r = extractEgemaps(samples, sampleRate, options);
    const lld = new Float32Array(r.lld.values.length * DIM);
    r.lld.values.forEach((row, i) => lld.set(row, i * DIM));
    reply = { id, ok: true, frameTimes: r.lld.frameTimes, lld, functionals: r.functionals.values };
    const buffers = [reply.frameTimes.buffer, lld.buffer, reply.functionals.buffer];
    self.postMessage(reply, buffers as ArrayBuffer[]);
  } catch (e) {
    const err = e as Error;
    reply = { id, ok: false, name: err?.name ?? "Error", message: err?.message ?? String(e) };
    self.postMessage(reply);
  }
};
