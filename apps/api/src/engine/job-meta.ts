import { AsyncLocalStorage } from "node:async_hooks";
import { z } from "zod";
import { currentLogContext } from "../common/log-context.js";

/**
 * What a job carries besides its payload, under `meta` in the BullMQ job data: the id of the request
 * that set the rollout moving, and the trace its spans belong to. The engine never sees it (the processor
 * takes it off before the payload is parsed); job ids do not include it, so the reconciler's re-adds,
 * which have no request, still dedupe against the original job.
 */
export const jobMetaSchema = z.strictObject({
  requestId: z.string().max(128).optional(),
  /** W3C trace id (32 hex) and the span that started the rollout (16 hex): the rollout span's parent. */
  trace: z
    .strictObject({
      traceId: z.string().regex(/^[0-9a-f]{32}$/),
      parentSpanId: z.string().regex(/^[0-9a-f]{16}$/),
    })
    .optional(),
});
export type JobMeta = z.infer<typeof jobMetaSchema>;

export const JOB_META_KEY = "meta";

const storage = new AsyncLocalStorage<JobMeta>();

/** Where an HTTP request's trace comes from when tracing is on (tracing/tracing.ts sets it). */
let requestTrace: (() => JobMeta["trace"] | undefined) | undefined;
export function setRequestTraceSource(source: (() => JobMeta["trace"] | undefined) | undefined): void {
  requestTrace = source;
}

/**
 * The meta for a job added now: inside a job, that job's (the next step keeps the request id and the
 * trace of the request that started the rollout); inside a request, the request's own.
 */
export function currentJobMeta(): JobMeta {
  const inJob = storage.getStore();
  if (inJob) return inJob;
  const requestId = currentLogContext()?.requestId;
  const trace = requestTrace?.();
  return { ...(requestId === undefined ? {} : { requestId }), ...(trace === undefined ? {} : { trace }) };
}

/** The meta a job arrived with, while its handler runs (and every job it adds). */
export function withJobMeta<T>(meta: JobMeta, fn: () => T): T {
  return storage.run(meta, fn);
}

export function runningJobMeta(): JobMeta | undefined {
  return storage.getStore();
}

/** Splits BullMQ job data into the engine's payload and the meta; malformed meta is dropped, not fatal. */
export function splitJobData(data: unknown): { payload: unknown; meta: JobMeta } {
  if (typeof data !== "object" || data === null || !(JOB_META_KEY in data))
    return { payload: data, meta: {} };
  const { [JOB_META_KEY]: raw, ...payload } = data as Record<string, unknown>;
  const parsed = jobMetaSchema.safeParse(raw);
  return { payload, meta: parsed.success ? parsed.data : {} };
}
