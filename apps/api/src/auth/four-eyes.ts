import type { RolloutState } from "@ebb/core";
import type { Db } from "../database/client.js";
import { forbidden } from "./errors.js";
import type { Principal } from "./principal.js";

/**
 * The person behind a principal id as rollouts record it (`user:<id>`, `token:<id>`, `system`): a token
 * belongs to the user who made it, or to whoever made the token that made it. A token chain that starts
 * at the seeded EBB_ADMIN_TOKEN belongs to that seed. So a requester's second token, or their session, is
 * the same person as the requester.
 */
export async function personOf(db: Db, principalId: string): Promise<string> {
  let id = principalId;
  for (let depth = 0; depth < 32 && id.startsWith("token:"); depth++) {
    const token = await db.apiToken.findUnique({
      where: { id: id.slice("token:".length) },
      select: { createdBy: true, parentTokenId: true },
    });
    if (token === null) return id;
    if (token.createdBy !== null) return `user:${token.createdBy}`;
    if (token.parentTokenId === null) return id;
    id = `token:${token.parentTokenId}`;
  }
  return id;
}

interface ApprovalRow {
  requesterId: string | null;
  requiresApproval: boolean;
  approvedAt: Date | null;
  state: unknown;
}

/**
 * Four eyes: a rollout waiting for a second person, or an `approval` gate declared `fourEyes: true`, is
 * released only by someone who is not its requester, compared as people (users), not credentials.
 */
export async function checkApprover(
  db: Db,
  row: ApprovalRow,
  target: string | undefined,
  approver: Principal,
): Promise<void> {
  if (row.requesterId === null) return;
  const pendingStart = target === undefined && row.requiresApproval && row.approvedAt === null;
  const state = row.state as RolloutState;
  const gates = Object.values(state.targets ?? {}).filter(
    (run) =>
      (target === undefined || run.target === target) &&
      (() => {
        const step = state.steps[run.stepIndex]?.step;
        return step?.type === "approval" && step.fourEyes === true;
      })(),
  );
  if (!pendingStart && gates.length === 0) return;
  const [requester, by] = await Promise.all([
    personOf(db, row.requesterId),
    personOf(db, `${approver.kind}:${approver.id}`),
  ]);
  if (requester === by) {
    throw forbidden(
      pendingStart
        ? "a rollout must be approved by someone other than its requester (another token or session of the requester does not count)"
        : "this approval gate needs someone other than the rollout's requester (four eyes)",
      { requester: row.requesterId },
    );
  }
}
