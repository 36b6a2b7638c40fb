/**
 * Counts of the engine's own work since it started, never reset: what a benchmark or a person debugging a
 * slow worker reads to tell a backlog from latency (a few checks each slow, or a flood of them).
 */
export interface EngineStats {
  /** Changes the balancers' event streams reported (one per changed target, "*" counts once). */
  balancerEvents: number;
  /** Delayed step jobs woken early because their balancer reported a change. */
  wakeUps: number;
  /** Step checks run (a job that found its step moved on is not a check). */
  checks: number;
  /** Checks that saw nothing new: no transaction, straight back to the delayed set. */
  quietChecks: number;
  /** Reconciler passes, and the jobs they re-created. */
  reconciles: number;
  jobsRecreated: number;
}

export function newEngineStats(): EngineStats {
  return { balancerEvents: 0, wakeUps: 0, checks: 0, quietChecks: 0, reconciles: 0, jobsRecreated: 0 };
}
