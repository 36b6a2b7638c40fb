import { z } from "zod";
import { rolloutStatusSchema, rolloutTargetSchema, targetRunStatusSchema } from "./api.js";

/**
 * Fleets, runbooks, rollout lists, previews and live streams of API v1: what the dashboard and the CLI
 * read. Zod only (bundled for the browser).
 */

const timestamp = z.iso.datetime({ offset: true });

/** Names that appear in URLs, job ids and audit rows: no spaces, no '/', no '~'. */
export const resourceNameSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(
    /^[a-z0-9][a-z0-9._-]*$/,
    "must be lower-case letters, digits, . _ - (starting with a letter or digit)",
  );

export const BALANCER_KINDS = ["l4", "haproxy", "kubernetes"] as const;
export const EXECUTOR_KINDS = ["local", "ssh"] as const;

// ---- fleets and targets ----

const jsonObject = z.record(z.string(), z.unknown());

export const targetBodySchema = z.strictObject({
  name: resourceNameSchema,
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  executor: z.enum(EXECUTOR_KINDS).default("local"),
  /** local: `{cwd?, env?}`; ssh: `{host?, port?, user, keyRef, hostKey}`; keys only by reference. */
  executorConfig: jsonObject.default({}),
  labels: z.record(z.string(), z.string()).default({}),
  /** What preflight needs: keepAliveTimeoutMs, backgroundWorkBudgetMs, stopDeadlineMs, ... */
  facts: jsonObject.default({}),
});
export type TargetBody = z.input<typeof targetBodySchema>;

export const updateTargetBodySchema = targetBodySchema.omit({ name: true }).partial().strict();

export const createFleetBodySchema = z.strictObject({
  name: resourceNameSchema,
  balancer: z.enum(BALANCER_KINDS),
  /** l4: `{adminUrl, vipUrl?}`. Never secrets: references only. */
  balancerConfig: jsonObject.default({}),
  /** Rollouts of a protected fleet need a second person's approval and a typed confirmation. */
  protected: z.boolean().default(false),
  targets: z.array(targetBodySchema).max(1000).default([]),
});
export type CreateFleetBody = z.input<typeof createFleetBodySchema>;

export const updateFleetBodySchema = z.strictObject({
  balancerConfig: jsonObject.optional(),
  protected: z.boolean().optional(),
});

export const targetSchema = z.object({
  name: z.string(),
  host: z.string(),
  port: z.number(),
  executor: z.string(),
  executorConfig: z.unknown(),
  labels: z.record(z.string(), z.string()),
  facts: z.unknown(),
});
export type TargetView = z.infer<typeof targetSchema>;

export const fleetSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  balancer: z.string(),
  balancerConfig: z.unknown(),
  /** The runbook a rollout of this fleet gets when it names none (per balancer kind): forms preselect it. */
  defaultRunbook: z.string(),
  protected: z.boolean(),
  createdAt: timestamp,
  updatedAt: timestamp,
  targets: z.array(targetSchema),
});
export type FleetView = z.infer<typeof fleetSchema>;

// ---- live traffic (SSE) ----

export const BALANCER_STATES = ["up", "suspect", "failed", "disabled", "unknown"] as const;

export const liveTargetSchema = z.object({
  name: z.string(),
  state: z.enum(BALANCER_STATES),
  /** The balancer sends new flows to it. */
  bound: z.boolean(),
  /** What the target itself reports (GET / of a lab VM), null when it does not answer. */
  version: z.string().nullable(),
  sessions: z.number(),
  requestsPerSec: z.number().nullable(),
  newSessionsPerSec: z.number(),
  resetsPerSec: z.number(),
});
export type LiveTarget = z.infer<typeof liveTargetSchema>;

/** Event `traffic` of `GET /fleets/:name/live` and `GET /rollouts/:id/events`, about once a second. */
export const fleetLiveSchema = z.object({
  at: timestamp,
  fleet: z.string(),
  targets: z.array(liveTargetSchema),
  /** Set when the balancer could not be read this second. */
  error: z.string().optional(),
});
export type FleetLive = z.infer<typeof fleetLiveSchema>;

// ---- rollouts ----

export const findingSchema = z.object({
  severity: z.enum(["error", "warning"]),
  code: z.string(),
  message: z.string(),
  stepId: z.string().optional(),
  target: z.string().optional(),
});
export type FindingView = z.infer<typeof findingSchema>;

/** `POST /rollouts/preview`: what `POST /rollouts` would plan and find, creating nothing. */
export const rolloutPreviewSchema = z.object({
  fleet: z.string(),
  runbook: z.string(),
  findings: z.array(findingSchema),
  batches: z.array(z.array(z.string())),
  skipped: z.array(z.string()),
  expectedDurationMs: z.number(),
  floorPerTargetMs: z.number(),
  /** A second person must approve before it starts (protected fleet, or more targets than the limit). */
  requiresApproval: z.boolean(),
  protected: z.boolean(),
  /** Preflight errors refuse the rollout unless `force`. */
  blocked: z.boolean(),
});
export type RolloutPreview = z.infer<typeof rolloutPreviewSchema>;

/** `201` of `POST /rollouts`. */
export const createdRolloutSchema = z.object({
  id: z.uuid(),
  findings: z.array(findingSchema),
  expectedDurationMs: z.number(),
  batches: z.array(z.array(z.string())),
  requiresApproval: z.boolean(),
});
export type CreatedRolloutView = z.infer<typeof createdRolloutSchema>;

export const rolloutListQuerySchema = z.strictObject({
  fleet: z.string().min(1).max(64).optional(),
  status: z
    .string()
    .transform((s) => s.split(","))
    .pipe(z.array(rolloutStatusSchema))
    .optional(),
  /** Opaque: the `nextCursor` of the previous page. */
  cursor: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type RolloutListQuery = z.input<typeof rolloutListQuerySchema>;

export const rolloutSummarySchema = z.object({
  id: z.uuid(),
  status: rolloutStatusSchema,
  fleet: z.string(),
  runbook: z.string(),
  version: z.string(),
  requestedBy: z.string().nullable(),
  createdAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  targets: z.object({ total: z.number(), succeeded: z.number(), failed: z.number() }),
  requiresApproval: z.boolean(),
  approvedBy: z.string().nullable(),
});
export type RolloutSummary = z.infer<typeof rolloutSummarySchema>;

export const rolloutPageSchema = z.object({
  items: z.array(rolloutSummarySchema),
  nextCursor: z.string().nullable(),
});
export type RolloutPage = z.infer<typeof rolloutPageSchema>;

export const stepRunSchema = z.object({
  index: z.number().int(),
  id: z.string(),
  type: z.string(),
  status: z.string(),
  attempt: z.number().int(),
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  /** When the step counts as timed out (the running step only). */
  deadlineAt: timestamp.nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  /** The last thing the step observed (balancer state, sessions, ...). */
  observation: z.unknown().optional(),
});
export type StepRunView = z.infer<typeof stepRunSchema>;

/** `GET /rollouts/:id`: the rollout view of api.ts plus what the dashboard's rollout page shows. */
export const rolloutDetailSchema = z.object({
  id: z.uuid(),
  status: rolloutStatusSchema,
  fleet: z.string(),
  runbook: z.string(),
  runbookVersion: z.number().int(),
  version: z.string(),
  requestedBy: z.string().nullable(),
  createdAt: timestamp,
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  requiresApproval: z.boolean(),
  approvedBy: z.string().nullable(),
  batches: z.array(z.array(z.string())),
  currentBatch: z.number().int(),
  expectedDurationMs: z.number(),
  /** Per target, what the balancer's timing allows at best (see @ebb/core TargetEstimate.floorMs). */
  floorPerTargetMs: z.number(),
  failure: z
    .object({ target: z.string(), step: z.string(), code: z.string(), message: z.string() })
    .nullable(),
  steps: z.array(z.object({ id: z.string(), type: z.string(), timeoutMs: z.number() })),
  targets: z.array(
    rolloutTargetSchema.extend({
      status: targetRunStatusSchema,
      startedAt: timestamp.nullable(),
      finishedAt: timestamp.nullable(),
      steps: z.array(stepRunSchema),
    }),
  ),
});
export type RolloutDetail = z.infer<typeof rolloutDetailSchema>;

/** Event `notice` of `GET /rollouts/:id/events`: one line of the rollout's timeline. */
export const rolloutNoticeSchema = z.object({
  id: z.string(),
  at: timestamp,
  type: z.string(),
  target: z.string().nullable(),
  data: z.unknown(),
});
export type RolloutNoticeView = z.infer<typeof rolloutNoticeSchema>;

// ---- runbooks ----

export const runbookIssueSchema = z.object({
  path: z.string(),
  message: z.string(),
  line: z.number().int().optional(),
  column: z.number().int().optional(),
});
export type RunbookIssueView = z.infer<typeof runbookIssueSchema>;

export const runbookSourceBodySchema = z.strictObject({
  source: z
    .string()
    .min(1)
    .max(256 * 1024),
});

export const runbookValidationSchema = z.object({
  ok: z.boolean(),
  name: z.string().nullable(),
  issues: z.array(runbookIssueSchema),
  steps: z.array(z.object({ id: z.string(), type: z.string() })),
});
export type RunbookValidation = z.infer<typeof runbookValidationSchema>;

export const runbookVersionSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  version: z.number().int(),
  source: z.string(),
  checksum: z.string(),
  createdAt: timestamp,
  createdBy: z.string().nullable(),
});
export type RunbookVersionView = z.infer<typeof runbookVersionSchema>;

export const runbookSummarySchema = z.object({
  name: z.string(),
  builtin: z.boolean(),
  latestVersion: z.number().int().nullable(),
  versions: z.array(
    z.object({ version: z.number().int(), createdAt: timestamp, createdBy: z.string().nullable() }),
  ),
});
export type RunbookSummary = z.infer<typeof runbookSummarySchema>;
