import { JOBS, type JobName, type JobPayload, jobId } from "@ebb/contracts";
import type { Engine, JobQueue, JobState } from "@ebb/engine";
import { DelayedError, ErrorCode, type Job, type Queue } from "bullmq";
import { withLogContext } from "../common/log-context.js";
import { currentJobMeta, JOB_META_KEY, splitJobData, withJobMeta } from "./job-meta.js";

/** The engine's job queue on BullMQ: jobs under deterministic ids, with the catalog's default options. */
export class BullmqJobQueue implements JobQueue {
  constructor(private readonly queue: Queue) {}

  async add<N extends JobName>(name: N, payload: JobPayload<N>, delayMs: number): Promise<void> {
    const meta = currentJobMeta();
    const data = Object.keys(meta).length === 0 ? payload : { ...payload, [JOB_META_KEY]: meta };
    await this.queue.add(name, data, {
      ...JOBS[name].defaults,
      jobId: jobId(name, payload),
      delay: delayMs,
    });
  }

  async state(id: string): Promise<JobState> {
    // One script call, not a fetch of the whole job and then its state: the reconciler asks this for
    // every waiting target on every pass. A job that does not exist is `unknown`, like one in no set.
    const state = await this.queue.getJobState(id);
    switch (state) {
      case "waiting":
      case "active":
      case "delayed":
      case "completed":
      case "failed":
        return state;
      case "prioritized":
      case "waiting-children":
        return "waiting";
      default:
        return "unknown";
    }
  }

  async remove(id: string): Promise<void> {
    await (await this.queue.getJob(id))?.remove();
  }

  /**
   * One script call: a wake-up fetched the whole job first (a round trip and a parse of its data) only to
   * learn its id. A job that is gone or not delayed any more has nothing to wake.
   */
  async promote(id: string): Promise<void> {
    try {
      await this.queue.backend.promote(id);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code !== ErrorCode.JobNotExist && code !== ErrorCode.JobNotInState) throw err;
    }
  }
}

/**
 * The BullMQ processor: hands the job to the engine and carries out what it answers. A waiting step goes
 * back to the delayed set under its own id and lock token (moveToDelayed, then DelayedError so BullMQ
 * leaves it there), so one job lives from a step's first check to its last.
 */
export async function processJob(engine: Engine, job: Job, token: string | undefined): Promise<void> {
  const { payload, meta } = splitJobData(job.data);
  // Every line logged and every job added while it runs carries the request id that started the rollout.
  const result = await withJobMeta(meta, () =>
    withLogContext(meta.requestId === undefined ? {} : { requestId: meta.requestId }, () =>
      engine.process({
        name: job.name,
        data: payload,
        ...(job.id === undefined ? {} : { id: job.id }),
        canDelay: token !== undefined,
      }),
    ),
  );
  if (result.kind === "delay" && token !== undefined) {
    await job.moveToDelayed(result.untilMs, token);
    throw new DelayedError();
  }
}
