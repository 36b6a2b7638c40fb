import { describe, expect, it } from "vitest";
import {
  appendSample,
  type BalancerState,
  isReceivingWhileOut,
  recentRates,
  type TrafficHistory,
} from "../../../apps/dashboard/features/traffic/history.js";

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
const target = (
  state: BalancerState,
  rps: number,
  over: Partial<{ bound: boolean; sessions: number }> = {},
) => ({
  name: "vm1",
  state,
  bound: over.bound ?? (state === "up" || state === "suspect"),
  sessions: over.sessions ?? (rps > 0 ? 8 : 0),
  requestsPerSec: rps,
  resetsPerSec: 0,
});

function feed(states: [BalancerState, number][]): TrafficHistory {
  return states.reduce<TrafficHistory>(
    (h, [state, rps], i) => appendSample(h, { at: at(i), targets: [target(state, rps)] }),
    {},
  );
}

describe("live traffic history", () => {
  it("splits one trace where the health check failed, overlapping one point at each change", () => {
    // A drain: healthy, check fails (suspect), device fails it, keep-alive traffic continues, the stop ends it,
    // then the target comes back.
    const points = feed([
      ["up", 100],
      ["suspect", 90],
      ["failed", 40],
      ["failed", 0],
      ["up", 0],
      ["up", 80],
    ]).vm1!;
    expect(points.map((p) => p.healthy)).toEqual([100, 90, null, null, 0, 80]);
    expect(points.map((p) => p.afterCheckFailed)).toEqual([null, 90, 40, 0, 0, null]);
  });

  it("leaves a gap where the balancer does not count requests", () => {
    const h = appendSample(
      {},
      { at: at(0), targets: [{ ...target("failed", 0), requestsPerSec: null, sessions: 2 }] },
    );
    expect(h.vm1!.map((p) => [p.rps, p.healthy, p.afterCheckFailed])).toEqual([[null, null, null]]);
    expect(isReceivingWhileOut({ ...target("failed", 0), requestsPerSec: null, sessions: 2 })).toBe(true);
  });

  it("drops a sample it already has (a replay after reconnecting) and keeps at most maxPoints", () => {
    let h: TrafficHistory = {};
    for (let i = 0; i < 10; i++) h = appendSample(h, { at: at(i), targets: [target("up", i)] }, 4);
    h = appendSample(h, { at: at(5), targets: [target("up", 99)] }, 4);
    expect(h.vm1!.map((p) => p.rps)).toEqual([6, 7, 8, 9]);
    expect(recentRates(h.vm1, 2)).toEqual([
      { t: Date.parse(at(8)), rps: 8 },
      { t: Date.parse(at(9)), rps: 9 },
    ]);
    expect(appendSample(h, { at: "not a time", targets: [target("up", 1)] })).toBe(h);
  });

  it("flags a target out of service that still receives requests or holds sessions", () => {
    expect(isReceivingWhileOut(target("failed", 12))).toBe(true);
    expect(isReceivingWhileOut(target("failed", 0, { sessions: 3 }))).toBe(true);
    expect(isReceivingWhileOut(target("disabled", 5))).toBe(true);
    expect(isReceivingWhileOut(target("failed", 0, { sessions: 0 }))).toBe(false);
    // Suspect is still bound: new flows are expected there.
    expect(isReceivingWhileOut(target("suspect", 50))).toBe(false);
    expect(isReceivingWhileOut(target("up", 50))).toBe(false);
    expect(isReceivingWhileOut(target("up", 5, { bound: false }))).toBe(true);
  });
});
