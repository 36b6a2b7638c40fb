import type { AuditOutcome, AuditTransitionAction } from "@ebb/contracts";
import type { Notice } from "@ebb/core";
import { SYSTEM_PRINCIPAL } from "../auth/principal.js";
import type { Db } from "../database/client.js";
import { type AuditActor, type AuditEventInput, appendAuditEvents } from "./audit-store.js";

export interface NoticeContext {
  rolloutId: string;
  /** The rollout's fleet name. Default: read from the database, in the caller's transaction. */
  fleet?: string | null;
  /** Who caused the transition (the caller of a pause, an approval). Default: Ebb itself. */
  actor?: AuditActor;
  /** When it happened (the transition's `now`). Default: when it is appended. */
  at?: Date;
  /** The HTTP request that caused it, if one did. */
  requestId?: string | null;
}

export const SYSTEM_ACTOR: AuditActor = {
  kind: SYSTEM_PRINCIPAL.kind,
  id: SYSTEM_PRINCIPAL.id,
  name: SYSTEM_PRINCIPAL.name,
};

/**
 * One audit event per notice of a rollout transition, appended in the caller's transaction (the one
 * that wrote the transition), so the history has a transition exactly when the database does. Call it
 * as the last write before commit: it holds the audit chain's lock until then.
 */
export async function auditNotices(tx: Db, ctx: NoticeContext, notices: readonly Notice[]): Promise<void> {
  if (notices.length === 0) return;
  const fleet = ctx.fleet !== undefined ? ctx.fleet : await fleetOfRollout(tx, ctx.rolloutId);
  const actor = ctx.actor ?? SYSTEM_ACTOR;
  await appendAuditEvents(
    tx,
    notices.map((notice) => ({
      ...(ctx.at ? { at: ctx.at } : {}),
      actor,
      resourceType: "rollout",
      resourceId: ctx.rolloutId,
      fleet,
      requestId: ctx.requestId ?? null,
      ...noticeEvent(notice),
    })),
  );
}

// The audit filter's `origin` tells transitions by action: every notice type must be in the contracts' list,
// and nothing else, or the audit page would show a transition as a person's action (or hide one).
type Unlisted = Exclude<Notice["type"], AuditTransitionAction>;
type NotANotice = Exclude<AuditTransitionAction, Notice["type"]>;
export const TRANSITION_ACTIONS_MATCH_NOTICES: [Unlisted, NotANotice] extends [never, never] ? true : never =
  true;

/** The action, summary and outcome of one notice. Every event of a rollout has the rollout as resource. */
export function noticeEvent(notice: Notice): Pick<AuditEventInput, "action" | "summary" | "outcome"> {
  const { type, ...summary } = notice;
  return { action: type, summary, outcome: noticeOutcome(notice) };
}

/** `failed` marks the transitions an auditor looks for: a failure recorded, a target left out of service. */
function noticeOutcome(notice: Notice): AuditOutcome {
  switch (notice.type) {
    case "rollout.status":
    case "target.status":
      return notice.to === "failed" ? "failed" : "succeeded";
    case "step.finished":
      return notice.status === "failed" || notice.status === "timedOut" ? "failed" : "succeeded";
    case "target.leftOutOfService":
      return "failed";
    case "batch.started":
    case "batch.completed":
    case "step.started":
    case "approval.granted":
    case "rollback.linked":
      return "succeeded";
    default:
      return assertNever(notice);
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled notice ${JSON.stringify(value)}`);
}

async function fleetOfRollout(db: Db, rolloutId: string): Promise<string | null> {
  const row = await db.rollout.findUnique({
    where: { id: rolloutId },
    select: { fleet: { select: { name: true } } },
  });
  return row?.fleet.name ?? null;
}
