/**
 * Every status union of the domain and the predicates over them. Compare statuses through these
 * predicates, never with string literals scattered around the code.
 */

export const ROLLOUT_STATUSES = [
  "pending",
  "running",
  "paused",
  "succeeded",
  "failed",
  "aborting",
  "aborted",
  /** A target failed with `onFailure: rollback` (or a rollback was asked for): a linked rollout is taking the moved targets back. */
  "rolling_back",
  /** The linked rollback rollout put every moved target back on its previous version. */
  "rolled_back",
] as const;
export type RolloutStatus = (typeof ROLLOUT_STATUSES)[number];

/**
 * - `held`: between two steps, stopped at the boundary because the rollout is paused or halted.
 * - `restoring` / `restored`: an abort is bringing the target back into service.
 * - `skipped`: the rollout ended before this target was touched (nothing to undo).
 */
export const TARGET_RUN_STATUSES = [
  "pending",
  "running",
  "waiting",
  "awaitingApproval",
  "held",
  "succeeded",
  "failed",
  "restoring",
  "restored",
  "skipped",
] as const;
export type TargetRunStatus = (typeof TARGET_RUN_STATUSES)[number];

export const STEP_RUN_STATUSES = [
  "pending",
  "running",
  "waiting",
  "awaitingApproval",
  "succeeded",
  "failed",
  "timedOut",
  "skipped",
] as const;
export type StepRunStatus = (typeof STEP_RUN_STATUSES)[number];

/** What a balancer reports about one target. */
export const BALANCER_TARGET_STATES = ["up", "suspect", "failed", "disabled", "unknown"] as const;
export type BalancerTargetState = (typeof BALANCER_TARGET_STATES)[number];

/**
 * `failed` counts as terminal for clients polling a rollout, although an operator may still `retry`
 * the failed step or `abort` (which restores drained targets). See workflow/machine.ts.
 */
export function isTerminal(status: RolloutStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "aborted" || status === "rolled_back";
}

/** Nothing will change without a human: no step runs and none will start on its own. */
export function isSettled(status: RolloutStatus): boolean {
  return isTerminal(status) || status === "paused";
}

export function isRolloutActive(status: RolloutStatus): boolean {
  return status === "running" || status === "paused" || status === "aborting" || status === "rolling_back";
}

/** The target has a step in progress whose result the worker will report. */
export function isStepInFlight(status: TargetRunStatus): boolean {
  return status === "running" || status === "waiting" || status === "awaitingApproval";
}

/** The target run has started and not finished: it holds (or is about to hold) its lease. */
export function isActive(status: TargetRunStatus): boolean {
  return isStepInFlight(status) || status === "held" || status === "failed" || status === "restoring";
}

export function isTargetRunFinal(status: TargetRunStatus): boolean {
  return status === "succeeded" || status === "restored" || status === "skipped";
}

export function isStepRunDone(status: StepRunStatus): boolean {
  return status === "succeeded" || status === "failed" || status === "timedOut" || status === "skipped";
}

/**
 * For capacity counting (maxUnavailable, minHealthy). `unknown` counts as out of service: when we
 * cannot tell, assume the worse so a rollout never takes out more than it may.
 */
export function isOutOfService(state: BalancerTargetState): boolean {
  return state === "failed" || state === "disabled" || state === "unknown";
}

/** A `suspect` target is still bound: the device keeps sending it new flows until it is `failed`. */
export function isBound(state: BalancerTargetState): boolean {
  return state === "up" || state === "suspect";
}
