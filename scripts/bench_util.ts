/**
 * Helpers the paired benchmarks share (bench-ab, bench-gemm, bench-fft-conv): the load average
 * they print beside their numbers, and the median they compare by.
 * @module
 */

/** The 1/5/15-minute load average, where `--allow-sys=loadavg` grants it (queried, no prompt). */
export function loadavg(): string {
  try {
    if (Deno.permissions.querySync({ name: "sys", kind: "loadavg" }).state === "granted") {
      return Deno.loadavg().map((v) => v.toFixed(2)).join(" ");
    }
  } catch { /* no permission API */ }
  return "unknown (add --allow-sys=loadavg)";
}

/** Median of `v` (the mean of the middle two for an even count). */
export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b), h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
