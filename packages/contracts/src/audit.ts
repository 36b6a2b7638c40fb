import { z } from "zod";

/**
 * The audit history (`/api/v1/audit`): an append-only, hash-chained record of every mutating request,
 * allowed or denied, and of every rollout, target and step transition.
 */

/** user and token: an authenticated caller; system: Ebb itself (engine transitions); anonymous: no credential. */
export const AUDIT_ACTOR_KINDS = ["user", "token", "system", "anonymous"] as const;
export const auditActorKindSchema = z.enum(AUDIT_ACTOR_KINDS);
export type AuditActorKind = z.infer<typeof auditActorKindSchema>;

/**
 * denied: refused before it ran (401, 403, 429); failed: it ran, or tried to, and did not succeed.
 * started: an allowed mutating request about to run, committed before its handler touches anything; the
 * request's outcome event (same `requestId`, `summary.intent` naming this one) follows its response. A
 * `started` event with no outcome after it is a request whose process died on the way: its effect may
 * have happened.
 */
export const AUDIT_OUTCOMES = ["succeeded", "failed", "denied", "started"] as const;
export const auditOutcomeSchema = z.enum(AUDIT_OUTCOMES);
export type AuditOutcome = z.infer<typeof auditOutcomeSchema>;

const timestamp = z.iso.datetime({ offset: true });
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
/** Event ids are a dense bigint sequence, sent as decimal strings (beyond 2^53 one day). */
const eventId = z.string().regex(/^[1-9]\d*$/);

/** One audit event, as listed and exported (one NDJSON line each). */
export const auditEventSchema = z.object({
  id: eventId,
  at: timestamp,
  actorKind: auditActorKindSchema,
  actorId: z.string(),
  actorName: z.string(),
  /** `rollout.create`, `rollout.pause`, `token.revoke`, `auth.login`, `rollout.status`, `step.finished`, `http.request` ... */
  action: z.string(),
  resourceType: z.string().nullable(),
  resourceId: z.string().nullable(),
  fleet: z.string().nullable(),
  /** What changed: sanitized request fields, resulting id and status, from/to of a transition. Secrets redacted. */
  summary: z.record(z.string(), z.unknown()),
  outcome: auditOutcomeSchema,
  httpStatus: z.number().int().nullable(),
  clientIp: z.string().nullable(),
  userAgent: z.string().nullable(),
  requestId: z.string().nullable(),
  prevHash: sha256Hex,
  hash: sha256Hex,
});
export type AuditEventView = z.infer<typeof auditEventSchema>;

const filterText = z.string().min(1).max(256);

/**
 * The actions of a rollout's own transitions (the engine's notices: statuses, batches, steps), recorded under
 * the rollout, by Ebb or by whoever caused them. Everything else is something a caller asked for.
 */
export const AUDIT_TRANSITION_ACTIONS = [
  "rollout.status",
  "target.status",
  "target.leftOutOfService",
  "batch.started",
  "batch.completed",
  "step.started",
  "step.finished",
  "approval.granted",
  "rollback.linked",
] as const;
export type AuditTransitionAction = (typeof AUDIT_TRANSITION_ACTIONS)[number];

/** `request`: what callers asked for (people and tokens, allowed or denied); `transition`: a rollout's transitions. */
export const AUDIT_ORIGINS = ["request", "transition"] as const;
export type AuditOrigin = (typeof AUDIT_ORIGINS)[number];

/** Filters shared by list and export. `since` is inclusive, `until` exclusive. */
export const auditFilterSchema = z.strictObject({
  /** An actor's id or name (a username, a token name or id, `ebb`, `anonymous`). */
  actor: filterText.optional(),
  /** Exact, or a prefix ending in `*`: `rollout.*`. */
  action: filterText.optional(),
  fleet: filterText.optional(),
  resourceType: filterText.optional(),
  resourceId: filterText.optional(),
  outcome: auditOutcomeSchema.optional(),
  origin: z.enum(AUDIT_ORIGINS).optional(),
  since: timestamp.optional(),
  until: timestamp.optional(),
});
export type AuditFilter = z.infer<typeof auditFilterSchema>;

export const AUDIT_PAGE_DEFAULT = 50;
export const AUDIT_PAGE_MAX = 500;

/** `GET /api/v1/audit`: newest first. */
export const auditListQuerySchema = auditFilterSchema.extend({
  /** Opaque: the `nextCursor` of the page before. */
  cursor: z.string().min(1).max(128).optional(),
  limit: z.coerce.number().int().min(1).max(AUDIT_PAGE_MAX).default(AUDIT_PAGE_DEFAULT),
});
export type AuditListQuery = z.output<typeof auditListQuerySchema>;
export type AuditListQueryInput = z.input<typeof auditListQuerySchema>;

export const auditPageSchema = z.object({
  items: z.array(auditEventSchema),
  /** Pass as `cursor` for the next (older) page; null on the last page. */
  nextCursor: z.string().nullable(),
});
export type AuditPage = z.infer<typeof auditPageSchema>;

/**
 * Why verify stopped at an event. hash_mismatch: the event's fields were changed after it was written;
 * prev_hash_mismatch: it does not follow the event before it (one was changed and re-hashed, or inserted);
 * gap: events before it are missing (deleted). With an anchor (a head recorded earlier): anchor_mismatch,
 * the anchor's event is there but is not the one recorded; anchor_missing, the chain no longer reaches the
 * anchor (its tail was cut off).
 */
export const AUDIT_BREAK_REASONS = [
  "hash_mismatch",
  "prev_hash_mismatch",
  "gap",
  "anchor_mismatch",
  "anchor_missing",
] as const;
export const auditBreakReasonSchema = z.enum(AUDIT_BREAK_REASONS);
export type AuditBreakReason = z.infer<typeof auditBreakReasonSchema>;

/** The newest event of the chain: record it elsewhere, then verify later chains against it. */
export const auditHeadSchema = z.object({ id: eventId, hash: sha256Hex, at: timestamp });
export type AuditHead = z.infer<typeof auditHeadSchema>;

/** `GET /api/v1/audit/head`: null head while the history is empty. */
export const auditHeadResponseSchema = z.object({ head: auditHeadSchema.nullable() });
export type AuditHeadResponse = z.infer<typeof auditHeadResponseSchema>;

/**
 * `GET /api/v1/audit/verify` query. Without parameters the whole chain is walked from its first event.
 * With `from` and `anchor` (an id and hash a head export gave): event `from` must still be there with that
 * hash, and every event after it must follow it; only that tail is read.
 */
export const auditVerifyQuerySchema = z
  .strictObject({
    from: z
      .string()
      .regex(/^[1-9]\d{0,18}$/, "an event id: a positive integer")
      .optional(),
    anchor: z
      .string()
      .regex(/^[0-9a-f]{64}$/, "the event's hash: 64 lower-case hex digits")
      .optional(),
  })
  .superRefine((q, ctx) => {
    if (q.from !== undefined && q.anchor === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["anchor"],
        message: "required with from: the hash of event from",
      });
    }
    if (q.anchor !== undefined && q.from === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["from"],
        message: "required with anchor: the id of the anchor's event",
      });
    }
  });
export type AuditVerifyQuery = z.infer<typeof auditVerifyQuerySchema>;

/** `GET /api/v1/audit/verify`. */
export const auditVerifySchema = z.object({
  ok: z.boolean(),
  /** Events examined: all of them when ok, up to and including the first broken one otherwise. */
  checked: z.number().int().min(0),
  /** The anchor the walk started from (`from`/`anchor`), null for a walk from the first event. */
  anchor: z.object({ id: eventId, hash: sha256Hex }).nullable(),
  /** `at` is null when the event is not there at all (anchor_missing). */
  firstBroken: z
    .object({ id: eventId, at: timestamp.nullable(), reason: auditBreakReasonSchema, message: z.string() })
    .nullable(),
  /**
   * The last event of an intact chain. Keep it somewhere else (a ticket, CI output): the chain cannot
   * show that events were cut off its end, a recorded head can.
   */
  last: z.object({ id: eventId, hash: sha256Hex }).nullable(),
});
export type AuditVerifyResult = z.infer<typeof auditVerifySchema>;
