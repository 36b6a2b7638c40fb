import { describe, expect, it } from "vitest";
import { reconnectDelayMs } from "../../../apps/dashboard/lib/backoff.js";
import { formatDuration, formatRate, parseCountOrPercent } from "../../../apps/dashboard/lib/format.js";

describe("formatting for people", () => {
  it("durations in the unit that reads best", () => {
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(1_234)).toBe("1.23 s");
    expect(formatDuration(12_340)).toBe("12.3 s");
    expect(formatDuration(125_000)).toBe("2 min 05 s");
    expect(formatDuration(3_720_000)).toBe("1 h 02 min");
    expect(formatDuration(-1_500)).toBe("-1.50 s");
    expect(formatDuration(null)).toBe("–");
    expect(formatDuration(Number.NaN)).toBe("–");
  });

  it("rates with one decimal below ten", () => {
    expect(formatRate(0)).toBe("0.0");
    expect(formatRate(4.26)).toBe("4.3");
    expect(formatRate(99.6)).toBe("100");
  });

  it("a batch size as typed: counts become numbers, percentages stay strings, blank is unset", () => {
    expect(parseCountOrPercent(" 2 ")).toBe(2);
    expect(parseCountOrPercent("25%")).toBe("25%");
    expect(parseCountOrPercent("")).toBeUndefined();
    // Left for the API to reject with a field error rather than silently dropped.
    expect(parseCountOrPercent("two")).toBe("two");
  });
});

describe("reconnect delays of a live stream", () => {
  it("double from one second up to thirty, with at most 20 % jitter", () => {
    const none = () => 0;
    expect([0, 1, 2, 3, 4, 5, 6, 20].map((n) => reconnectDelayMs(n, none))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000,
    ]);
    expect(reconnectDelayMs(0, () => 0.999)).toBeLessThanOrEqual(1_200);
    expect(reconnectDelayMs(10, () => 0.999)).toBeLessThanOrEqual(36_000);
  });
});
