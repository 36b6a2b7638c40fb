import { z } from "zod";

/**
 * Request and response shapes of the REST API (/api/v1), shared by the API, the CLI and the dashboard.
 * This package stays zod-only (no @ebb/core import): the dashboard bundles it for the browser, and
 * core reads runbook files from disk. The status lists below are copies of core's, kept equal by a test.
 */

export const ROLLOUT_STATUSES = [
  "pending",
  "running",
  "paused",
  "succeeded",
  "failed",
  "aborting",
  "aborted",
  "rolling_back",
  "rolled_back",
] as const;
export const rolloutStatusSchema = z.enum(ROLLOUT_STATUSES);
export type RolloutStatus = z.infer<typeof rolloutStatusSchema>;

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
export const targetRunStatusSchema = z.enum(TARGET_RUN_STATUSES);
export type TargetRunStatus = z.infer<typeof targetRunStatusSchema>;

/** An artifact version as it appears in paths and release directory names: no spaces, no '/'. */
export const artifactVersionSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*$/, "must start with a letter or digit, then letters, digits, . _ + -");

/** A count of targets (2) or a share of the fleet ("25%"), as in @ebb/core's strategy. */
export const countOrPercentSchema = z.union([
  z.number().int().min(0),
  z.string().regex(/^\d+(\.\d+)?%$/, 'must be a count (2) or a percentage ("25%")'),
]);
export type CountOrPercent = z.infer<typeof countOrPercentSchema>;

export const DEFAULT_RUNBOOK = "l4-drain";
/** The runbook a rollout of a kubernetes fleet gets when it names none. */
export const DEFAULT_POD_RUNBOOK = "k8s-pod-drain";

/** The runbook a rollout of a fleet behind this balancer kind gets when it names none. */
export function defaultRunbookFor(balancer: string): string {
  return balancer === "kubernetes" ? DEFAULT_POD_RUNBOOK : DEFAULT_RUNBOOK;
}

/** `POST /api/v1/rollouts`. Unknown fields are rejected, so a misspelt `batchsize` is not silently ignored. */
export const createRolloutBodySchema = z.strictObject({
  fleet: z.string().min(1).max(128),
  version: artifactVersionSchema,
  /** Default: `k8s-pod-drain` for a kubernetes fleet, `l4-drain` otherwise. */
  runbook: z.string().min(1).max(128).optional(),
  batchSize: countOrPercentSchema.optional(),
  maxUnavailable: countOrPercentSchema.optional(),
  minHealthy: countOrPercentSchema.optional(),
  /**
   * Pods that may run above the workload's replicas, so a replacement starts while its target drains (a
   * percentage rounds up). Default 0: a replacement starts once its target is retired. A Deployment fleet
   * only: preflight refuses it elsewhere.
   */
  maxSurge: countOrPercentSchema.optional(),
  /** Runbook parameters; they reach commands as environment variables, never as shell text. */
  params: z.record(z.string().min(1).max(128), z.string().max(4096)).optional(),
  /**
   * Run despite preflight errors (a stop before an observed unbind, a plan that breaks minHealthy). For
   * operators who know better, and for showing what the checks prevent; the findings are still returned.
   */
  force: z.boolean().optional(),
  /**
   * What a failed target does: `halt` (stop; retry or abort), or `rollback` (take the targets already moved
   * back to the version they ran before, then end `rolled_back`). Default: the runbook's `onFailure` (halt).
   */
  onFailure: z.enum(["halt", "rollback"]).optional(),
});
export type CreateRolloutBody = z.output<typeof createRolloutBodySchema>;
export type CreateRolloutInput = z.input<typeof createRolloutBodySchema>;

/** `201` answer of `POST /api/v1/rollouts`. */
export const createRolloutResponseSchema = z.object({ id: z.uuid() });
export type CreateRolloutResponse = z.infer<typeof createRolloutResponseSchema>;

/** ISO 8601 timestamps, as `Date.toJSON()` writes them. */
const timestamp = z.iso.datetime({ offset: true });

export const rolloutTargetSchema = z.object({
  name: z.string(),
  batch: z.number().int().min(0),
  status: targetRunStatusSchema,
  stepIndex: z.number().int().min(0),
  /** The id of the current (or last) step, null before the first one. */
  step: z.string().nullable(),
  attempt: z.number().int().min(0),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type RolloutTargetView = z.infer<typeof rolloutTargetSchema>;

/** `GET /api/v1/rollouts/:id`. Terminal statuses: succeeded, failed, aborted, rolled_back. */
export const rolloutSchema = z.object({
  id: z.uuid(),
  status: rolloutStatusSchema,
  fleet: z.string(),
  runbook: z.string(),
  version: z.string(),
  createdAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  targets: z.array(rolloutTargetSchema),
});
export type RolloutView = z.infer<typeof rolloutSchema>;

/** Every non-2xx answer of the API. `requestId` echoes (or assigns) the `x-request-id` header. */
export const apiErrorBodySchema = z.object({
  error: z.object({
    /** An @ebb/core error code, or an HTTP-level one (`invalid_request`, `not_found`, `internal`, ...). */
    code: z.string(),
    message: z.string(),
    /** Structured detail, e.g. `[{ path: "version", message: "..." }]` for invalid requests. */
    details: z.unknown(),
    requestId: z.string(),
  }),
});
export type ApiErrorBody = z.infer<typeof apiErrorBodySchema>;

/** One field-level problem of an invalid request. */
export const fieldIssueSchema = z.object({ path: z.string(), message: z.string() });
export type FieldIssue = z.infer<typeof fieldIssueSchema>;

/**
 * `GET /api/v1/health/ready`: this body with 200 when every check passed. Otherwise 503 in the error
 * shape, with this object as `error.details` and the failed checks named in `error.message`.
 */
export const readinessSchema = z.object({
  ok: z.boolean(),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), ms: z.number(), error: z.string().optional() })),
  /**
   * BullMQ worker connections to the rollout queue, as Redis lists them (absent when Redis did not
   * answer). Reported, not a check: with 0 the API still serves, but no rollout progresses until a worker
   * connects, and the dashboard says so.
   */
  workers: z.object({ connected: z.number().int().min(0) }).optional(),
});
export type Readiness = z.infer<typeof readinessSchema>;
