import { describe, expect, it } from "vitest";
import { reconnectDelayMs } from "../../../apps/dashboard/lib/backoff.js";
import {
  formatAxisCount,
  formatDuration,
  formatRate,
  parseCountOrPercent,
} from "../../../apps/dashboard/lib/format.js";

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

  it("axis counts in at most four characters, without a locale's thousands separator", () => {
    expect([0, 7, 2.5, 950, 999].map(formatAxisCount)).toEqual(["0", "7", "2.5", "950", "999"]);
    expect([1_000, 1_500, 4_000, 9_950, 12_000, 999_000].map(formatAxisCount)).toEqual([
      "1k",
      "1.5k",
      "4k",
      "10k",
      "12k",
      "999k",
    ]);
    expect(formatAxisCount(1_200_000)).toBe("1.2M");
    expect(formatAxisCount(-2_000)).toBe("-2k");
    for (const n of [1_000, 4_321, 65_432, 999_999, 7_654_321]) {
      expect(formatAxisCount(n).length, String(n)).toBeLessThanOrEqual(4);
    }
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
