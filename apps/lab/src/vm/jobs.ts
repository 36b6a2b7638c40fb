import { randomUUID } from "node:crypto";
import type { JobJournal } from "./journal.js";
import type { VmLogger } from "./log.js";

/**
 * Background work started by a request that was already answered (a timer standing in for sending an
 * email). domain.md §4: a graceful stop that only waits for in-flight requests loses this work silently, so
 * the stop waits for `size` to reach 0 as well.
 */
export class BackgroundJobs {
  private readonly pending = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly journal: JobJournal,
    private readonly log: VmLogger,
    /** Called after any job finished. */
    private readonly onSettled: () => void,
  ) {}

  start(ms: number): string {
    const id = `job-${randomUUID().slice(0, 8)}`;
    this.journal.start(id);
    const timer = setTimeout(() => {
      this.pending.delete(id);
      this.journal.done(id);
      this.log.info("background job done", { job: id });
      this.onSettled();
    }, ms);
    this.pending.set(id, timer);
    this.log.info("background job started", { job: id, ms });
    return id;
  }

  get size(): number {
    return this.pending.size;
  }

  ids(): string[] {
    return [...this.pending.keys()];
  }
}
