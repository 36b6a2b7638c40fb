import type { DeviceConfig } from "./config.js";

/** Vendor seconds to real milliseconds under the device's time scale. */
export function scaledMs(config: DeviceConfig, seconds: number): number {
  return seconds * 1000 * config.timeScale;
}

/**
 * How long after a server starts failing its check the device declares it failed: the first failing
 * check comes within one interval, then `retryCount` more checks one interval apart, the last of which may
 * take up to the timeout. So the window is (retry x interval, (retry + 1) x interval + timeout].
 */
export function detectionWindowMs(config: DeviceConfig): { minMs: number; maxMs: number } {
  const { intervalSeconds, retryCount, timeoutSeconds } = config.healthCheck;
  return {
    minMs: scaledMs(config, retryCount * intervalSeconds),
    maxMs: scaledMs(config, (retryCount + 1) * intervalSeconds + timeoutSeconds),
  };
}

/** Sweep often enough that an entry outlives its aging time by at most 5 %, but never busier than 1 s. */
export function sweepPeriodMs(config: DeviceConfig): number {
  return Math.max(1, Math.min(1000, scaledMs(config, config.sessionIdleTimeoutSeconds) / 20));
}
