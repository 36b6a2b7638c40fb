import { describe, expect, it } from "vitest";
import { isEbbError } from "../errors.js";
import { formatDuration, parseDuration } from "./duration.js";

describe("parseDuration", () => {
  it.each([
    ["300ms", 300],
    ["1.5s", 1_500],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1m30s", 90_000],
    [" 10s ", 10_000],
    ["0s", 0],
  ])("%s -> %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ["", /is empty/],
    ["30", /has no unit \(write "30s" or "30ms"\)/],
    ["soon", /cannot be read at "soon"/],
    ["1m 30s", /cannot be read at " 30s"/],
    ["5d", /cannot be read/],
    ["-1s", /cannot be read/],
    ["200h", /longer than 7 days/],
  ])("refuses %j", (text, message) => {
    try {
      parseDuration(text);
      expect.unreachable();
    } catch (error) {
      expect(isEbbError(error, "duration_invalid")).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it("formats milliseconds readably", () => {
    expect(formatDuration(250)).toBe("250ms");
    expect(formatDuration(25_000)).toBe("25s");
    expect(formatDuration(1_500)).toBe("1.5s");
    expect(formatDuration(601_000)).toBe("10m1s");
    expect(formatDuration(3_600_000)).toBe("1h");
  });
});
