/**
 * Rollout and target status predicates for the views, in one place (copies of @ebb/core's meaning; the
 * dashboard does not bundle core). Self-contained: unit-tested from test/dashboard.
 */

export function isTerminal(status: string): boolean {
  return status === "succeeded" || status === "failed" || status === "aborted" || status === "rolled_back";
}

/**
 * A finished rollout (succeeded, failed, aborted) may be rolled back once: a linked rollout takes its moved
 * targets back to their previous version. Not while it runs, nor after a rollback took them already.
 */
export function canRollBack(status: string, rolledBackBy: string | null | undefined): boolean {
  return (status === "succeeded" || status === "failed" || status === "aborted") && !rolledBackBy;
}

/** A failed rollout is terminal for watchers, yet an operator may still retry its failed step or abort. */
export function allowedCommands(status: string): { pause: boolean; resume: boolean; abort: boolean } {
  return {
    pause: status === "running",
    resume: status === "paused",
    abort: status === "pending" || status === "running" || status === "paused" || status === "failed",
  };
}

export function canRetryTarget(targetStatus: string): boolean {
  return targetStatus === "failed";
}

export function canApproveTarget(targetStatus: string): boolean {
  return targetStatus === "awaitingApproval";
}
