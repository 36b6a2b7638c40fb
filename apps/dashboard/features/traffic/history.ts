/**
 * Live traffic kept in the browser: the last few minutes of samples per target, and the predicates the
 * views highlight with. Self-contained (no relative imports): unit-tested from test/dashboard.
 */

export type BalancerState = "up" | "suspect" | "failed" | "disabled" | "unknown";

export interface TargetTrafficLike {
  name: string;
  state: BalancerState;
  bound: boolean;
  sessions: number;
  /** null: this balancer does not count requests. */
  requestsPerSec: number | null;
  resetsPerSec: number;
}

export interface TrafficPoint {
  /** Sample time, ms since the epoch. */
  t: number;
  /** null: not counted by this balancer (the chart leaves a gap). */
  rps: number | null;
  sessions: number;
  resets: number;
  state: BalancerState;
  bound: boolean;
  /** rps while the health check passes, null otherwise (a chart series). */
  healthy: number | null;
  /** rps after the health check failed or the balancer unbound the target (a chart series). */
  afterCheckFailed: number | null;
}

export type TrafficHistory = Record<string, TrafficPoint[]>;

/** Ten minutes at one sample a second. */
export const DEFAULT_MAX_POINTS = 600;

/**
 * Taken out of service by the balancer (failed, disabled, or no longer bound). A Suspect target is still
 * bound: new flows still reach it.
 */
export function isOutOfService(t: { state: BalancerState; bound: boolean }): boolean {
  return t.state === "failed" || t.state === "disabled" || (!t.bound && t.state !== "unknown");
}

/** The health check has failed at least once (Suspect) or the target is out of service. */
export function isCheckFailing(t: { state: BalancerState; bound: boolean }): boolean {
  return t.state === "suspect" || isOutOfService(t);
}

/**
 * Out of service yet still sent traffic: keep-alive clients arriving through their session entries, the
 * situation a drain exists for. What the fleet table makes stand out.
 */
export function isReceivingWhileOut(t: TargetTrafficLike): boolean {
  return isOutOfService(t) && ((t.requestsPerSec ?? 0) > 0 || t.sessions > 0);
}

/**
 * Appends one sample. The two series overlap by one point at each change of state so the chart draws one
 * continuous trace that changes colour where the health check failed, rather than a gap.
 */
export function appendSample(
  history: TrafficHistory,
  sample: { at: string; targets: TargetTrafficLike[] },
  maxPoints: number = DEFAULT_MAX_POINTS,
): TrafficHistory {
  const t = Date.parse(sample.at);
  if (Number.isNaN(t)) return history;
  const next: TrafficHistory = { ...history };
  for (const target of sample.targets) {
    const points = history[target.name] ?? [];
    const prev = points[points.length - 1];
    if (prev && prev.t >= t) continue; // a replayed sample after a reconnect
    const failing = isCheckFailing(target);
    const prevFailing = prev ? isCheckFailing(prev) : failing;
    const rps = target.requestsPerSec;
    const point: TrafficPoint = {
      t,
      rps,
      sessions: target.sessions,
      resets: target.resetsPerSec,
      state: target.state,
      bound: target.bound,
      healthy: rps !== null && (!failing || !prevFailing) ? rps : null,
      afterCheckFailed: rps !== null && (failing || prevFailing) ? rps : null,
    };
    const kept = points.length >= maxPoints ? points.slice(points.length - maxPoints + 1) : points;
    next[target.name] = [...kept, point];
  }
  return next;
}

/** The latest `n` requests/s values of a target, for a sparkline. */
export function recentRates(
  points: TrafficPoint[] | undefined,
  n: number,
): { t: number; rps: number | null }[] {
  return (points ?? []).slice(-n).map((p) => ({ t: p.t, rps: p.rps }));
}
