import type { RolloutStatus, TargetRunStatus } from "./statuses.js";

/**
 * A rollout that stopped while holding leases: nothing more happens to its targets, nor can another
 * rollout start on them, until a person retries, resumes or aborts it.
 */
export function waitsForPerson(status: RolloutStatus): boolean {
  return status === "failed" || status === "paused";
}

export type ReleaseAction = { action: "retry"; target: string } | { action: "resume" } | { action: "abort" };

/**
 * What releases a holding rollout's targets (see workflow/machine.ts for what each command accepts):
 * retry each failed target (the rollout then carries on and releases them as it finishes), resume a
 * paused one, or abort (drained targets are restored, untouched ones skipped, every lease released).
 */
export function releaseActions(
  status: RolloutStatus,
  targets: readonly { name: string; status: TargetRunStatus }[],
): ReleaseAction[] {
  const actions: ReleaseAction[] = [];
  if (status === "failed")
    for (const t of targets) if (t.status === "failed") actions.push({ action: "retry", target: t.name });
  if (status === "paused") actions.push({ action: "resume" });
  if (status === "pending" || status === "running" || status === "paused" || status === "failed")
    actions.push({ action: "abort" });
  return actions;
}
