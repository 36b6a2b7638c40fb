/**
 * Facts about the world that planning and preflight reason over. Drivers produce them (from the
 * balancer's config, the target's config); the domain never fetches them itself.
 */

export const BALANCER_KINDS = ["l4", "haproxy", "kubernetes"] as const;
export type BalancerKind = (typeof BALANCER_KINDS)[number];

export const EXECUTOR_KINDS = ["local", "ssh"] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];

/** The balancer's health-check timing, in real milliseconds (already time-scaled in the lab). */
export interface BalancerTiming {
  healthCheckIntervalMs: number;
  /** Failures after the first one (which only marks the target suspect) before it is unbound. */
  retryCount: number;
  checkTimeoutMs: number;
  /** How long the balancer keeps an idle session entry (the L4 device's aging time). */
  sessionIdleTimeoutMs: number;
  /** `l7`: HTTP GET of a health-check file; `l4`: TCP connect to the service port. */
  mode: "l7" | "l4";
  /** On failure the balancer RSTs every client of the target: drains lose in-flight keep-alive requests. */
  resetOnPortFail: boolean;
}

export interface TargetFacts {
  /** Unique within the fleet; for the lab, the VM name. */
  name: string;
  host: string;
  port: number;
  /** False when the balancer does not route to it right now (failed, disabled, unknown). */
  inService: boolean;
  /** The target's HTTP keep-alive (idle connection) timeout, when known. */
  keepAliveTimeoutMs?: number;
  /** How long the target's graceful stop may need for background work (queued jobs, async sends). */
  backgroundWorkBudgetMs?: number;
  /** Measured or configured durations; planner defaults apply when absent. */
  estimates?: { stopMs?: number; deployMs?: number; startMs?: number };
  labels?: Record<string, string>;
}

export interface BalancerFacts {
  kind: BalancerKind;
  timing: BalancerTiming;
  /** Idle timeout of a proxy in front of the targets (e.g. an L7 proxy before the L4 device), if any. */
  frontProxyIdleTimeoutMs?: number;
}

export interface TimeWindow {
  minMs: number;
  maxMs: number;
}

/**
 * How long after a target starts failing its health check the balancer unbinds it. The first failed
 * check only marks it suspect; `retryCount` more checks, one per interval, must fail. Where in the
 * interval the failure begins decides the spread: (retry * interval, (retry + 1) * interval + timeout].
 * With 10 s / retry 1 / timeout 5 s: 10 s to 25 s (the device brief quotes 11-20 s without the timeout).
 */
export function detectionWindowMs(timing: BalancerTiming): TimeWindow {
  const { healthCheckIntervalMs: interval, retryCount: retry, checkTimeoutMs: timeout } = timing;
  return { minMs: retry * interval, maxMs: (retry + 1) * interval + timeout };
}

/** The first passing check re-binds a failed target: at most one interval plus the check itself. */
export function bringUpWindowMs(timing: BalancerTiming): TimeWindow {
  return { minMs: 0, maxMs: timing.healthCheckIntervalMs + timing.checkTimeoutMs };
}

/** The L4 device's factory settings (domain.md §1): 10 s interval, retry 1, 600 s aging, L7 check. */
export const DEFAULT_L4_TIMING: Readonly<BalancerTiming> = {
  healthCheckIntervalMs: 10_000,
  retryCount: 1,
  checkTimeoutMs: 5_000,
  sessionIdleTimeoutMs: 600_000,
  mode: "l7",
  resetOnPortFail: false,
};
