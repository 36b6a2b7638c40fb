import { describe, expect, it } from "vitest";
import { type BalancerTiming, bringUpWindowMs, DEFAULT_L4_TIMING, detectionWindowMs } from "./facts.js";

describe("health-check windows", () => {
  it("the L4 device binds on the first passing check", () => {
    expect(bringUpWindowMs(DEFAULT_L4_TIMING)).toEqual({ minMs: 0, maxMs: 15_000 });
  });

  it("HAProxy needs `rise` passing checks, and `fall` failed ones (retryCount = fall - 1)", () => {
    const haproxy: BalancerTiming = {
      healthCheckIntervalMs: 2000,
      retryCount: 2,
      riseCount: 2,
      checkTimeoutMs: 2000,
      sessionIdleTimeoutMs: 30_000,
      mode: "l7",
      resetOnPortFail: false,
    };
    expect(bringUpWindowMs(haproxy)).toEqual({ minMs: 2000, maxMs: 6000 });
    expect(detectionWindowMs(haproxy)).toEqual({ minMs: 4000, maxMs: 8000 });
  });
});
