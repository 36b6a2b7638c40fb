import { EbbError } from "@ebb/core";
import type { Engine } from "@ebb/engine";
import type { RolloutsRepository } from "./rollouts.repository.js";

export interface ApproveDeps {
  rollouts: RolloutsRepository;
  engine: Pick<Engine, "send">;
  now: () => number;
}

/**
 * Releases a rollout waiting for approval and starts it. The approver must be a different principal from
 * the requester: four eyes, not two.
 */
export async function approveRollout(
  deps: ApproveDeps,
  id: string,
  approver: { name: string; id: string },
): Promise<void> {
  const row = await deps.rollouts.find(id);
  if (!row) throw new EbbError("not_found", `rollout ${id} does not exist`);
  if (!row.requiresApproval || row.approvedAt !== null)
    throw new EbbError("invalid_transition", `rollout ${id} is not waiting for approval`);
  if (row.requesterId !== null && row.requesterId === approver.id)
    throw new EbbError("forbidden", "a rollout must be approved by someone other than its requester");
  if (!(await deps.rollouts.markApproved(id, approver, new Date(deps.now()))))
    throw new EbbError("invalid_transition", `rollout ${id} was approved already`);
  await deps.engine.send(id, { type: "start" });
}
