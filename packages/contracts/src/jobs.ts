import { z } from "zod";
import { QUEUES, type QueueName } from "./queues.js";

/**
 * The typed job catalog: job name -> queue, payload schema, default options. Producers build jobs with
 * `buildJob` (which validates the payload), processors read them with `parseJob`; a handler map typed
 * as `{ [N in JobName]: (payload: JobPayload<N>) => ... }` is exhaustive by construction.
 *
 * Like queue names, job names are stored in Redis with every queued job: renaming one strands the jobs
 * already queued under the old name.
 */

const rolloutId = z.uuid();
/** A target's name inside its fleet (a VM name, a pod name: at most a DNS name's 253 characters). */
const target = z.string().min(1).max(253);
const stepIndex = z.number().int().min(0);
/** Attempts count from 1, as in @ebb/core's workflow state. */
const attempt = z.number().int().min(1);
/** The lease's fencing token: a PostgreSQL BIGINT, carried as a decimal string (JSON has no 64-bit ints). */
const leaseToken = z
  .string()
  .regex(/^\d{1,19}$/, "must be a decimal integer string (the lease's fencing token)");

/** Which finished jobs Redis keeps (BullMQ's KeepJobs): `age` in seconds, `count` the newest N. */
export type KeepJobs = { count: number } | { age: number; count?: number };

/**
 * BullMQ's own retries are for infrastructure failures only (the processor threw because the database
 * was unreachable, the worker crashed and the job stalled). A step that ran and failed is retried by the
 * engine as a new job with `attempt + 1`, so it gets a new id.
 */
export interface JobDefaults {
  attempts: number;
  backoff?: { type: "fixed" | "exponential"; delay: number };
  /**
   * Completed jobs are kept for a while on purpose: BullMQ dedupes on job id only while a job with that
   * id exists in Redis, and the reconciler's re-adds of finished work must stay no-ops.
   */
  removeOnComplete: boolean | KeepJobs;
  removeOnFail: boolean | KeepJobs;
}

const HOUR_S = 3600;
const WEEK_S = 7 * 24 * HOUR_S;
const keepFinished = { age: HOUR_S, count: 10_000 };
const keepFailed = { age: WEEK_S };
const infraRetries = { attempts: 5, backoff: { type: "exponential", delay: 1000 } } as const;

interface JobDefinition<S extends z.ZodType = z.ZodType> {
  queue: QueueName;
  schema: S;
  defaults: JobDefaults;
  /** The payload fields that make the job id, in order: same fields, same id, one job in BullMQ. */
  idFields: readonly string[];
}

function defineJob<S extends z.ZodObject>(
  queue: QueueName,
  schema: S,
  idFields: readonly (keyof z.output<S> & string)[],
  defaults: JobDefaults,
): JobDefinition<S> {
  return { queue, schema, idFields, defaults };
}

export const JOBS = {
  /** Run (or re-check) one step of one target. */
  "step.run": defineJob(
    QUEUES.rollout,
    z.strictObject({ rolloutId, target, stepIndex, attempt, leaseToken }),
    ["rolloutId", "target", "stepIndex", "attempt"],
    { ...infraRetries, removeOnComplete: keepFinished, removeOnFail: keepFailed },
  ),
  /** Bring a drained target back into service (abort, or a failure that leaves it out). */
  "rollout.restore": defineJob(
    QUEUES.rollout,
    z.strictObject({ rolloutId, target }),
    ["rolloutId", "target"],
    { ...infraRetries, removeOnComplete: keepFinished, removeOnFail: keepFailed },
  ),
  /** Fires when an approval gate waited too long; a no-op if the gate was released meanwhile. */
  "approval.timeout": defineJob(
    QUEUES.rollout,
    z.strictObject({ rolloutId, target, stepIndex, attempt }),
    ["rolloutId", "target", "stepIndex", "attempt"],
    { ...infraRetries, removeOnComplete: keepFinished, removeOnFail: keepFailed },
  ),
  /** Re-creates missing jobs from the database (the database is the source of truth, not Redis). */
  "rollouts.reconcile": defineJob(QUEUES.rollout, z.strictObject({}), [], {
    // The next tick is the retry: a failed reconcile must not pile up behind its own retries.
    attempts: 1,
    removeOnComplete: true,
    removeOnFail: { age: HOUR_S, count: 100 },
  }),
} as const;

export type JobName = keyof typeof JOBS;
/** The schemas have no defaults or transforms: what a producer passes is what a processor receives. */
export type JobPayload<N extends JobName> = z.output<(typeof JOBS)[N]["schema"]>;

export const JOB_NAMES = Object.keys(JOBS) as JobName[];

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOBS, name);
}

/** A job's name or payload does not match the catalog. `cause` holds the zod error when there is one. */
export class JobPayloadError extends Error {
  override readonly name = "JobPayloadError";
  constructor(
    message: string,
    readonly jobName: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Validates a job's payload, e.g. as a processor receives it. Errors name the job and each bad field. */
export function parseJob<N extends JobName>(name: N, data: unknown): JobPayload<N>;
export function parseJob(name: string, data: unknown): JobPayload<JobName>;
export function parseJob(name: string, data: unknown): JobPayload<JobName> {
  if (!isJobName(name)) {
    throw new JobPayloadError(`unknown job "${name}" (known: ${JOB_NAMES.join(", ")})`, name);
  }
  const parsed = JOBS[name].schema.safeParse(data);
  if (parsed.success) return parsed.data as JobPayload<JobName>;
  const fields = parsed.error.issues.map((i) => `${i.path.join(".") || "(payload)"}: ${i.message}`);
  throw new JobPayloadError(`invalid ${name} payload: ${fields.join("; ")}`, name, { cause: parsed.error });
}

/**
 * BullMQ (6.x) rejects a custom job id containing ':' (unless it has exactly three parts, a leftover of
 * old repeatable jobs) and one that is a bare integer. We join with '~', which is also safe unescaped
 * in URLs (dashboards link to job ids), and percent-encode each part so a target named "a~b" or "a:b"
 * can neither collide with another id nor smuggle a ':' in.
 */
export const JOB_ID_SEPARATOR = "~";

function encodeIdPart(value: unknown): string {
  return encodeURIComponent(String(value)).replaceAll("~", "%7E");
}

/**
 * The deterministic id of a job: `step.run~<rolloutId>~<target>~<stepIndex>~<attempt>`. BullMQ adds a
 * job whose id already exists as a no-op, which is what lets the reconciler re-add work blindly.
 *
 * The other side of that dedupe: a job cannot re-schedule *itself* by adding a job with its own id
 * while it runs (the add is silently ignored). A waiting step re-checks later with
 * `job.moveToDelayed(...)` + `DelayedError`, which keeps the id.
 */
export function jobId<N extends JobName>(name: N, payload: JobPayload<N>): string {
  const data = parseJob(name, payload) as Record<string, unknown>;
  const parts = JOBS[name].idFields.map((field) => encodeIdPart(data[field]));
  return [name, ...parts].join(JOB_ID_SEPARATOR);
}

/** A validated job ready for `queue.add(job.name, job.data, job.opts)`. */
export interface BuiltJob<N extends JobName> {
  queue: QueueName;
  name: N;
  data: JobPayload<N>;
  opts: JobDefaults & { jobId: string; delay?: number };
}

/** Validates the payload and attaches the catalog's defaults and the deterministic id. */
export function buildJob<N extends JobName>(
  name: N,
  payload: JobPayload<N>,
  extra: { delay?: number } = {},
): BuiltJob<N> {
  const def = JOBS[name];
  const data = parseJob(name, payload);
  const opts: BuiltJob<N>["opts"] = { ...def.defaults, jobId: jobId(name, payload) };
  if (extra.delay !== undefined) opts.delay = extra.delay;
  return { queue: def.queue, name, data, opts };
}
