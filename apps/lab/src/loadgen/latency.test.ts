import { describe, expect, it } from "vitest";
import { LatencyRecorder, summarize } from "./latency.js";

describe("latency", () => {
  it("computes nearest-rank percentiles", () => {
    const values = Float64Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted
    expect(summarize(values)).toEqual({ p50: 50, p90: 90, p99: 99, max: 100, mean: 50.5 });
    expect(summarize(new Float64Array(0))).toBeUndefined();
  });

  it("records nanoseconds as milliseconds and grows past its initial capacity", () => {
    const rec = new LatencyRecorder();
    for (let i = 0; i < 5000; i++) rec.add(2_000_000n);
    rec.add(9_500_000n);
    expect(rec.size).toBe(5001);
    expect(rec.summary()).toMatchObject({ p50: 2, p99: 2, max: 9.5 });
  });
});
