import type { RolloutStatus } from "@ebb/core";
import type { Queue } from "bullmq";

/** A dashboard polling every rollout view must not turn into a CLIENT LIST per request. */
const CACHE_MS = 1_000;

/**
 * Whether any worker is connected to the rollout queue: BullMQ names its workers' Redis connections, and
 * `getWorkersCount()` counts them in CLIENT LIST. Lets the API tell "waiting for a worker" from "stuck".
 */
export class WorkerPresence {
  private cached: { at: number; count: Promise<number> } | undefined;

  constructor(private readonly queue: Queue) {}

  /** Worker connections now (cached for a second). Rejects when Redis does not answer. */
  count(): Promise<number> {
    const now = Date.now();
    if (!this.cached || now - this.cached.at > CACHE_MS) {
      const count = this.queue.getWorkersCount();
      this.cached = { at: now, count };
      count.catch(() => {
        if (this.cached?.count === count) this.cached = undefined;
      });
    }
    return this.cached.count;
  }

  /**
   * True when a rollout in this state has work for a worker and none is connected. Undefined when it has
   * none to do (finished, paused, waiting for a second person's approval) or Redis cannot say.
   */
  async waitingForWorker(status: RolloutStatus, awaitingApproval: boolean): Promise<boolean | undefined> {
    const hasWork =
      status === "running" || status === "aborting" || (status === "pending" && !awaitingApproval);
    if (!hasWork) return undefined;
    try {
      return (await this.count()) === 0;
    } catch {
      return undefined;
    }
  }
}
