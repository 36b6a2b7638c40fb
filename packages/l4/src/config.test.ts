import { describe, expect, it } from "vitest";
import { applyConfigPatch, defaultDeviceConfig, parseDeviceConfig } from "./config.js";
import { L4Device } from "./device.js";
import { ConfigError } from "./errors.js";
import { detectionWindowMs, sweepPeriodMs } from "./timing.js";

function issuesOf(fn: () => unknown): { field: string; message: string }[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("device config", () => {
  it("defaults to the vendor's numbers", () => {
    expect(defaultDeviceConfig).toEqual({
      vip: { host: "127.0.0.1", port: 8080 },
      admin: { host: "127.0.0.1", port: 8081 },
      scheduler: "roundRobin",
      healthCheck: {
        mode: "l7",
        path: "/health_check.html",
        expectStatus: 200,
        intervalSeconds: 10,
        retryCount: 1,
        timeoutSeconds: 5,
      },
      sessionIdleTimeoutSeconds: 600,
      resetOnPortFail: false,
      maxSessions: 65536,
      timeScale: 1,
    });
    expect(Object.isFrozen(defaultDeviceConfig.healthCheck)).toBe(true);
  });

  it("merges a deep-partial patch and keeps the other fields", () => {
    const next = applyConfigPatch(defaultDeviceConfig, { healthCheck: { retryCount: 3 } });
    expect(next.healthCheck).toEqual({ ...defaultDeviceConfig.healthCheck, retryCount: 3 });
    expect(next.scheduler).toBe("roundRobin");
  });

  it("names every bad field by its dotted path", () => {
    expect(
      issuesOf(() =>
        parseDeviceConfig({
          healthCheck: { intervalSeconds: -1, retryCount: 11, bogus: 1 },
          sessionIdleTimeoutSeconds: 3601,
          scheduler: "random",
        }),
      ).map((i) => i.field),
    ).toEqual([
      "scheduler",
      "healthCheck.intervalSeconds",
      "healthCheck.retryCount",
      "healthCheck.bogus",
      "sessionIdleTimeoutSeconds",
    ]);
  });

  it("requires the check timeout to be shorter than the interval", () => {
    expect(
      issuesOf(() => parseDeviceConfig({ healthCheck: { intervalSeconds: 5, timeoutSeconds: 5 } })),
    ).toEqual([{ field: "healthCheck.timeoutSeconds", message: "must be less than intervalSeconds" }]);
  });

  it("keeps vip, admin and timeScale read-only after start, but accepts them unchanged", () => {
    const current = parseDeviceConfig({ timeScale: 0.1 });
    expect(issuesOf(() => applyConfigPatch(current, { vip: { port: 9090 }, timeScale: 1 }))).toEqual([
      { field: "vip", message: "read-only after start" },
      { field: "timeScale", message: "read-only after start" },
    ]);
    expect(applyConfigPatch(current, { timeScale: 0.1, maxSessions: 10 }).maxSessions).toBe(10);
  });

  it("rejects a patch that is not an object", () => {
    expect(issuesOf(() => applyConfigPatch(defaultDeviceConfig, [1]))).toEqual([
      { field: "", message: "expected a JSON object" },
    ]);
  });

  it("L4Device.start and updateConfig throw ConfigError with issues", async () => {
    await expect(L4Device.start({ config: { healthCheck: { retryCount: -1 } } })).rejects.toThrow(
      ConfigError,
    );
    await expect(
      L4Device.start({
        config: { vip: { host: "127.0.2.1", port: 0 } },
        servers: [{ host: "127.0.2.10", port: 0 }],
      }),
    ).rejects.toMatchObject({ issues: [{ field: "servers.0.port" }] });
  });
});

describe("timing", () => {
  it("detection window: (retry x interval, (retry+1) x interval + timeout], scaled", () => {
    expect(detectionWindowMs(defaultDeviceConfig)).toEqual({ minMs: 10_000, maxMs: 25_000 });
    const fast = parseDeviceConfig({ timeScale: 0.01, healthCheck: { retryCount: 2 } });
    expect(detectionWindowMs(fast)).toEqual({ minMs: 200, maxMs: 350 });
    expect(detectionWindowMs(parseDeviceConfig({ healthCheck: { retryCount: 0 } }))).toEqual({
      minMs: 0,
      maxMs: 15_000,
    });
  });

  it("sweeps every min(1 s, aging/20)", () => {
    expect(sweepPeriodMs(defaultDeviceConfig)).toBe(1000);
    expect(sweepPeriodMs(parseDeviceConfig({ timeScale: 0.01, sessionIdleTimeoutSeconds: 120 }))).toBe(60);
  });
});
