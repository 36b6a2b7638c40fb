import { describe, expect, it } from "vitest";
import { parseDuration, parseLoadArgs, parseTarget } from "./args.js";

describe("ebb-load arguments", () => {
  it("parses the documented flags", () => {
    expect(
      parseLoadArgs(["--target", "127.0.0.1:8080", "--clients", "10", "--rate", "100", "--duration", "30s"]),
    ).toEqual({
      target: { host: "127.0.0.1", port: 8080 },
      clients: 10,
      rate: 100,
      path: "/",
      timeoutMs: 2000,
      recordLatency: false,
      durationMs: 30_000,
    });
    const opts = parseLoadArgs([
      "--target=[::1]:81",
      "--rate=0",
      "--path",
      "/x",
      "--timeout",
      "500ms",
      "--latency",
    ]);
    expect(opts).toMatchObject({ target: { host: "::1", port: 81 }, rate: 0, path: "/x", timeoutMs: 500 });
    expect(opts).toMatchObject({ recordLatency: true });
    expect(parseLoadArgs(["--help"])).toBe("help");
  });

  it("rejects bad input naming the flag", () => {
    expect(() => parseLoadArgs([])).toThrow(/--target/);
    expect(() => parseLoadArgs(["--target", "nohost"])).toThrow(/--target/);
    expect(() => parseLoadArgs(["--target", "h:1", "--clients", "0"])).toThrow(/--clients/);
    expect(() => parseLoadArgs(["--target", "h:1", "--clients", "1.5"])).toThrow(/--clients/);
    expect(() => parseLoadArgs(["--target", "h:1", "--rate", "-3"])).toThrow(/--rate/);
    expect(() => parseLoadArgs(["--target", "h:1", "--duration", "soon"])).toThrow(/--duration/);
    expect(() => parseLoadArgs(["--target", "h:1", "--path", "x"])).toThrow(/--path/);
    expect(() => parseLoadArgs(["--target", "h:1", "--bogus"])).toThrow(/bogus/);
  });

  it("reads durations and targets", () => {
    expect(parseDuration("--d", "500ms")).toBe(500);
    expect(parseDuration("--d", "1.5s")).toBe(1500);
    expect(parseDuration("--d", "2m")).toBe(120_000);
    expect(parseDuration("--d", "3")).toBe(3000);
    expect(() => parseDuration("--d", "0s")).toThrow(/--d/);
    expect(parseTarget("localhost:80")).toEqual({ host: "localhost", port: 80 });
    expect(() => parseTarget("h:70000")).toThrow(/1\.\.65535/);
  });
});
