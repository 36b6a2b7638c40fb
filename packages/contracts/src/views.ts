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

export const BALANCER_KINDS = ["l4", "haproxy", "kubernetes", "command"] as const;
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
  /**
   * When Ebb found it gone from the platform (a Deployment's pod replaced by a rollout, the HPA, an eviction):
   * left out of rollouts, kept for its history. Null: present.
   */
  goneAt: timestamp.nullable(),
});
export type TargetView = z.infer<typeof targetSchema>;

export const BALANCER_STATES = ["up", "suspect", "failed", "disabled", "unknown"] as const;

// ---- a fleet held by a stopped rollout ----

/** What releases a held target: retry its failed step, resume the paused rollout, or abort it. */
export const HOLD_RELEASE_ACTIONS = ["retry", "resume", "abort"] as const;

export const heldTargetSchema = z.object({
  name: z.string(),
  /** Its run in the holding rollout (`failed`, `pending`, ...). */
  status: targetRunStatusSchema,
  /** The step it failed at or stopped before; null before its first step. */
  step: z.string().nullable(),
  error: z.string().nullable(),
  /** As the balancer reports it now; null where it was not read or did not answer. */
  balancer: z.object({ state: z.enum(BALANCER_STATES), bound: z.boolean() }).nullable(),
});
export type HeldTarget = z.infer<typeof heldTargetSchema>;

export const holdReleaseSchema = z.object({
  action: z.enum(HOLD_RELEASE_ACTIONS),
  /** For `retry`: the target whose failed step runs again. */
  target: z.string().optional(),
  /** The CLI command, e.g. `ebb rollout retry <id> --target vm2`. */
  command: z.string(),
  method: z.literal("POST"),
  /** e.g. `/api/v1/rollouts/<id>/retry`, with `body`. */
  path: z.string(),
  body: z.record(z.string(), z.string()).nullable(),
});
export type HoldRelease = z.infer<typeof holdReleaseSchema>;

/**
 * A rollout that keeps targets of a fleet leased, so no other rollout can start there: the 409
 * `fleet_held`'s `details`, a preview's `holds`, a fleet's `holds`.
 */
export const fleetHoldSchema = z.object({
  fleet: z.string(),
  rolloutId: z.uuid(),
  status: rolloutStatusSchema,
  version: z.string(),
  /** The failure that halted it, while it is failed. */
  failure: z.object({ target: z.string(), step: z.string(), message: z.string() }).nullable(),
  targets: z.array(heldTargetSchema),
  release: z.array(holdReleaseSchema),
});
export type FleetHold = z.infer<typeof fleetHoldSchema>;

/** The hold as one line, the same in the API's message, the CLI and the dashboard. */
export function describeFleetHold(hold: FleetHold): string {
  const why = hold.failure
    ? ` (failed at ${hold.failure.target} ${hold.failure.step}: ${hold.failure.message})`
    : hold.status === "paused"
      ? " (paused)"
      : ` (${hold.status})`;
  const targets = hold.targets
    .map((t) => {
      const lb = t.balancer ? `, balancer ${t.balancer.state}${t.balancer.bound ? "" : " unbound"}` : "";
      return `${t.name} ${t.status}${lb}`;
    })
    .join("; ");
  const release = hold.release.map((r) => `\`${r.command}\``).join(" or ");
  return `fleet ${hold.fleet} is held by rollout ${hold.rolloutId}${why}: ${targets}${release ? `; release with ${release}` : ""}`;
}

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
  /** Rollouts that stopped (failed, paused) while holding targets of this fleet: none start here until released. */
  holds: z.array(fleetHoldSchema),
});
export type FleetView = z.infer<typeof fleetSchema>;

// ---- live traffic (SSE) ----

/** One balancer member's own view of a target (a fleet behind an HA pair, two HAProxy nodes, ...). */
export const liveMemberSchema = z.object({
  member: z.string(),
  state: z.enum(BALANCER_STATES),
  bound: z.boolean(),
  sessions: z.number(),
  requestsPerSec: z.number().nullable(),
  newSessionsPerSec: z.number(),
});
export type LiveMember = z.infer<typeof liveMemberSchema>;

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
  /**
   * Fleets behind several balancer members: each member's view, in the fleet's order. The fields above are
   * their agreement (`suspect` and bound while members disagree) and their sums.
   */
  members: z.array(liveMemberSchema).optional(),
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
  /** Preflight errors refuse the rollout unless `force`; a held fleet refuses it even then. */
  blocked: z.boolean(),
  /** Failed or paused rollouts that hold targets of the fleet (each also a `fleet_held` finding). */
  holds: z.array(fleetHoldSchema),
  /**
   * Where the balancer discovers the fleet's targets (a Deployment's pods): the pods with no target yet, which
   * the create adds, and the targets whose pod is gone, which it leaves out and marks. Absent: no change.
   */
  targetChanges: z.object({ added: z.array(z.string()), gone: z.array(z.string()) }).optional(),
});
export type RolloutPreview = z.infer<typeof rolloutPreviewSchema>;

/** `201` of `POST /rollouts`. */
export const createdRolloutSchema = z.object({
  id: z.uuid(),
  findings: z.array(findingSchema),
  expectedDurationMs: z.number(),
  batches: z.array(z.array(z.string())),
  requiresApproval: z.boolean(),
  /**
   * Set while the rollout has work to do and no worker is connected to the rollout queue: it is not stuck,
   * it starts (or carries on) as soon as a worker connects.
   */
  waitingForWorker: z.boolean().optional(),
});
export type CreatedRolloutView = z.infer<typeof createdRolloutSchema>;

/**
 * `201` answer of `POST /api/v1/rollouts/:id/rollback`: the linked rollout taking the targets back, or null
 * while the original still waits for a command in flight (it is created the moment that command ends).
 */
export const rollbackCreatedSchema = z.object({
  id: z.uuid().nullable(),
  rollbackOf: z.uuid(),
  targets: z.array(z.string()),
});
export type RollbackCreatedView = z.infer<typeof rollbackCreatedSchema>;

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
  /** This rollout rolls back that one. */
  rollbackOf: z.uuid().nullable(),
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
/** What the balancer counted for one target from its take-out until it was back in service. */
export const drainProofSchema = z.object({
  takenOutAt: timestamp,
  /** Null while the target is still out. */
  endedAt: timestamp.nullable(),
  /** The first reading with no session held and none opened since the one before. */
  quietAt: timestamp.nullable(),
  sessionsAtTakeOut: z.number().int(),
  newSessionsAfterTakeOut: z.number().int(),
  /** Sessions that ended with a reset: errors a client saw. */
  clientErrors: z.number().int(),
  /** Null when the balancer cannot count requests. */
  requests: z.number().int().nullable(),
  /** Per step after the take-out: what was counted while it ran, read when it ended. */
  steps: z.array(
    z.object({
      step: z.string(),
      at: timestamp,
      sessions: z.number().int(),
      newSessions: z.number().int(),
      clientErrors: z.number().int(),
      requests: z.number().int().nullable(),
    }),
  ),
});
export type DrainProofView = z.infer<typeof drainProofSchema>;

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
  /**
   * Set while the rollout has work to do and no worker is connected to the rollout queue: it is not stuck,
   * it starts (or carries on) as soon as a worker connects.
   */
  waitingForWorker: z.boolean().optional(),
  batches: z.array(z.array(z.string())),
  currentBatch: z.number().int(),
  expectedDurationMs: z.number(),
  /** Per target, what the balancer's timing allows at best (see @ebb/core TargetEstimate.floorMs). */
  floorPerTargetMs: z.number(),
  failure: z
    .object({ target: z.string(), step: z.string(), code: z.string(), message: z.string() })
    .nullable(),
  steps: z.array(z.object({ id: z.string(), type: z.string(), timeoutMs: z.number() })),
  /** `rollback`: a failed target makes Ebb take the moved targets back to their previous version. */
  onFailure: z.enum(["halt", "rollback"]),
  /** This rollout rolls back that one (created by its `onFailure: rollback`, or by `POST .../rollback`). */
  rollbackOf: z.uuid().nullable(),
  /** The rollback of this rollout, once one was decided. */
  rollback: z
    .object({
      /** Null until the linked rollout exists (commands in flight finish first), or when it could not be created. */
      rolloutId: z.uuid().nullable(),
      targets: z.array(z.string()),
      requestedBy: z.string().nullable(),
      /** Why it could not be created or did not succeed. */
      error: z.object({ code: z.string(), message: z.string() }).nullable(),
    })
    .nullable(),
  /** Over every target with a recorded drain: how many, and the client errors the balancer counted. */
  drainProof: z.object({
    drains: z.number().int(),
    clientErrors: z.number().int(),
    /** The runbook fails a target on any client error in its drain. */
    failOnClientErrors: z.boolean(),
  }),
  targets: z.array(
    rolloutTargetSchema.extend({
      status: targetRunStatusSchema,
      startedAt: timestamp.nullable(),
      finishedAt: timestamp.nullable(),
      steps: z.array(stepRunSchema),
      /** Null when the target was not taken out or its balancer gives no counters. */
      drain: drainProofSchema.nullable(),
      /** What the target ran when the rollout was created (what a rollback goes back to); null: unknown. */
      previousVersion: z.string().nullable(),
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
