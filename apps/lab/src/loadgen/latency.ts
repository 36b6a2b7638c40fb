import type { LatencySummary } from "./types.js";

/** Append-only store of latencies in ms; a Float64Array keeps saturation runs cheap on memory and GC. */
export class LatencyRecorder {
  private values = new Float64Array(4096);
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(ns: bigint): void {
    if (this.count === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.count++] = Number(ns) / 1e6;
  }

  summary(): LatencySummary | undefined {
    return summarize(this.values.subarray(0, this.count));
  }
}

/** Nearest-rank percentiles over a copy of the samples (typed-array sort is numeric). */
export function summarize(samples: Float64Array): LatencySummary | undefined {
  const n = samples.length;
  if (n === 0) return undefined;
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const at = (p: number): number =>
    round(sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))] ?? 0);
  return { p50: at(50), p90: at(90), p99: at(99), max: round(sorted[n - 1] ?? 0), mean: round(sum / n) };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
