/**
 * Facts about the world that planning and preflight reason over. Drivers produce them (from the
 * balancer's config, the target's config); the domain never fetches them itself.
 */

export const BALANCER_KINDS = ["l4", "haproxy", "kubernetes", "command"] as const;
export type BalancerKind = (typeof BALANCER_KINDS)[number];

/**
 * Balancers in front of VMs, driven by the same observed steps (health check, unbind, traffic, bind): a
 * runbook written for one runs unchanged behind another. The built-in `l4-drain` drains through HAProxy's
 * own L7 check exactly as through the L4 device's.
 */
const VM_BALANCERS: ReadonlySet<BalancerKind> = new Set(["l4", "haproxy", "command"]);

export function runbookFitsBalancer(written: BalancerKind, fleet: BalancerKind): boolean {
  return written === fleet || (VM_BALANCERS.has(written) && VM_BALANCERS.has(fleet));
}

export const EXECUTOR_KINDS = ["local", "ssh"] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];

/** The balancer's health-check timing, in real milliseconds (already time-scaled in the lab). */
export interface BalancerTiming {
  healthCheckIntervalMs: number;
  /** Failures after the first one (which only marks the target suspect) before it is unbound. */
  retryCount: number;
  /**
   * Consecutive passing checks before a failed target is bound again (HAProxy's `rise`). Absent: 1, the
   * L4 device's "first 200 re-binds".
   */
  riseCount?: number;
  checkTimeoutMs: number;
  /** How long the balancer keeps an idle session entry (the L4 device's aging time). */
  sessionIdleTimeoutMs: number;
  /** `l7`: HTTP GET of a health-check file; `l4`: TCP connect to the service port. */
  mode: "l7" | "l4";
  /** On failure the balancer RSTs every client of the target: drains lose in-flight keep-alive requests. */
  resetOnPortFail: boolean;
  /**
   * Kubernetes: how long the proxies in front (kube-proxy, ingress controllers, mesh sidecars) may lag
   * behind an EndpointSlice change. A removed endpoint counts as out of traffic only this long after.
   */
  propagationWindowMs?: number;
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
  /**
   * How long a pooling client in front of this target (an L7 proxy before the VIP, an ingress controller,
   * a client's connection pool) keeps an idle connection to it for reuse, when one is declared. Overrides
   * the balancer's `frontProxyIdleTimeoutMs` for this target.
   */
  poolIdleTimeoutMs?: number;
  /** How long the target's graceful stop may need for background work (queued jobs, async sends). */
  backgroundWorkBudgetMs?: number;
  /** Measured or configured durations; planner defaults apply when absent. */
  estimates?: { stopMs?: number; deployMs?: number; startMs?: number };
  labels?: Record<string, string>;
  /** When the target is a pod: what its spec says about stopping it (durations in real ms). */
  pod?: PodTargetFacts;
}

/**
 * A pod's stop as its spec declares it. The kubelet runs preStop, then SIGTERM, and SIGKILLs at the end of
 * the grace period counted from the deletion; the app's own drain (backgroundWorkBudgetMs) must fit after
 * preStop.
 */
export interface PodTargetFacts {
  terminationGracePeriodMs: number;
  preStopMs: number;
  /** spec.readinessGates lists Ebb's gate: Ebb takes the pod out by its condition. */
  readinessGate: boolean;
  /** Without the gate: the Service selects on the gate-named label, so Ebb can flip it instead. */
  labelFallback: boolean;
  /** A mesh sidecar (Envoy) fronts the app and keeps accepting while the app stops. */
  sidecar: boolean;
}

export interface BalancerFacts {
  kind: BalancerKind;
  timing: BalancerTiming;
  /**
   * Idle timeout of a proxy in front of the targets, if any: an L7 proxy before the L4 device; for pods, the
   * ingress controller's or mesh sidecar's upstream idle timeout.
   */
  frontProxyIdleTimeoutMs?: number;
  /** Kubernetes: the kind of workload the fleet's pods belong to (only a Deployment's can surge). */
  workload?: "Deployment" | "StatefulSet";
}

/**
 * What a balancer can tell about a fleet beyond its timing, read live (a pod's spec can change between
 * rollouts). Merged over the targets' stored facts before planning and preflight.
 */
export interface LiveFleetFacts {
  balancer?: Pick<BalancerFacts, "frontProxyIdleTimeoutMs" | "workload">;
  /** By target name; targets the balancer does not know are absent. */
  targets: Record<string, Partial<Omit<TargetFacts, "name">>>;
}

/**
 * Whether an established session keeps flowing to a target after the balancer stopped routing new ones to
 * it, until one end closes it. kube-proxy (conntrack) keeps a connection on its pod until the pod or the
 * client closes it: a pod being drained is quiet when no NEW session arrives. The L4 device's sessions also
 * outlive the unbind, but its runbook stops the server first (FIN), so quiet there means no session at all.
 */
export function quietMeansNoNewSessions(kind: BalancerKind): boolean {
  return kind === "kubernetes";
}

/**
 * Whether the balancer keeps a session table that forgets an idle flow silently after its aging time
 * (`sessionIdleTimeoutMs`), without telling either end: the L4 device (domain §1-2). HAProxy terminates
 * TCP and closes what it times out; kube-proxy's conntrack keeps an established flow for days, so the
 * Kubernetes balancer's `sessionIdleTimeoutMs` (its propagation window) is no aging time.
 */
export function hasSilentSessionTable(kind: BalancerKind): boolean {
  return kind === "l4";
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

/**
 * The `riseCount`-th passing check re-binds a failed target (the L4 device: the first): at most that many
 * intervals plus the check itself.
 */
export function bringUpWindowMs(timing: BalancerTiming): TimeWindow {
  const rise = Math.max(1, timing.riseCount ?? 1);
  return {
    minMs: (rise - 1) * timing.healthCheckIntervalMs,
    maxMs: rise * timing.healthCheckIntervalMs + timing.checkTimeoutMs,
  };
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
