import type { Balancer, PlannedStep } from "@ebb/core";
import type { Clock, JobQueue } from "./ports.js";
import { type EngineStats, newEngineStats } from "./stats.js";

/**
 * Waits whose condition is a change the balancer reports (the device's health events; a pod's or the
 * EndpointSlices' changes): woken by it, polled much less.
 */
const WAKES_ON_CHANGE: ReadonlySet<string> = new Set([
  "balancer.awaitUnbound",
  "balancer.awaitBound",
  "k8s.awaitEndpointRemoved",
  "k8s.deletePod",
  "k8s.awaitReplacementReady",
]);

/**
 * A wait woken by the balancer's events polls this many times less often: the poll only guards against an
 * event the stream lost without noticing (it reconnects and re-checks everything when it does notice). At
 * the device's real 10 s checks that is a poll every 30 s; a thousand waiting targets then cost a few
 * percent of a core instead of a quarter.
 */
const WATCHED_POLL_FACTOR = 30;

interface Stream {
  stop: () => void;
  /** Per fleet behind this balancer: the delayed job of each waiting target. */
  fleets: Map<string, Map<string, string>>;
  /** When the balancer last reported a change, per target name ("*": any). */
  changedAt: Map<string, number>;
}

export interface DelayRequest {
  balancer: Balancer;
  fleetId: string;
  target: string;
  jobId: string | undefined;
  planned: PlannedStep;
  /** The time the step itself asked for (the end of a window), if it did. */
  askedFor: number | undefined;
  /** The machine's default poll time, when the step asked for none. */
  defaultAt: number | undefined;
  deadline: number | undefined;
  /** When the check that now goes back to sleep started. */
  checkedAt: number;
}

/**
 * Decides when a waiting step's job runs again, and wakes it early when its balancer reports a change:
 * a step proceeds when the balancer's state changes, not up to a poll interval later. Polling stays as
 * the safety net (a missed event, a balancer without events). One event stream per balancer however many
 * fleets and waiting targets listen: fifty fleets behind one device would otherwise each parse every event.
 */
export class WaitScheduler {
  private readonly streams = new Map<Balancer, Stream>();

  constructor(
    private readonly queue: JobQueue,
    private readonly clock: Clock,
    private readonly stats: EngineStats = newEngineStats(),
  ) {}

  /** When the job should run again. */
  nextCheck(r: DelayRequest): number {
    const now = this.clock.now();
    let at = r.askedFor ?? r.defaultAt ?? now + r.planned.recheckMs;
    if (WAKES_ON_CHANGE.has(r.planned.step.type) && this.wakeOnChange(r)) {
      const stream = this.streams.get(r.balancer)!;
      const changed = Math.max(stream.changedAt.get(r.target) ?? 0, stream.changedAt.get("*") ?? 0);
      // The balancer changed while this check was looking: its event found the job active, not delayed,
      // so nothing will wake it. Look again at once instead of a poll later. A time the step asked for
      // (the end of a pod's propagation window) is kept: only the blind poll slows down.
      if (changed >= r.checkedAt) at = now + 1;
      else if (r.askedFor === undefined) at = Math.max(at, now + WATCHED_POLL_FACTOR * r.planned.recheckMs);
    }
    if (r.deadline !== undefined) at = Math.min(at, r.deadline);
    return Math.max(at, now + 1);
  }

  private wakeOnChange(r: DelayRequest): boolean {
    const events = r.balancer.events;
    if (r.jobId === undefined || !events) return false;
    let stream = this.streams.get(r.balancer);
    if (!stream) {
      const created: Stream = { stop: () => {}, fleets: new Map(), changedAt: new Map() };
      created.stop = events.watch((changed) => this.promote(created, changed));
      stream = created;
      this.streams.set(r.balancer, stream);
    }
    let jobs = stream.fleets.get(r.fleetId);
    if (!jobs) {
      jobs = new Map();
      stream.fleets.set(r.fleetId, jobs);
    }
    jobs.set(r.target, r.jobId);
    return true;
  }

  private promote(stream: Stream, changed: string): void {
    this.stats.balancerEvents++;
    stream.changedAt.set(changed, this.clock.now());
    for (const jobs of stream.fleets.values()) {
      const targets = changed === "*" ? [...jobs.keys()] : jobs.has(changed) ? [changed] : [];
      for (const target of targets) {
        const id = jobs.get(target)!;
        jobs.delete(target);
        this.stats.wakeUps++;
        // Not delayed any more (already running, or done): nothing to wake.
        void this.queue.promote(id).catch(() => {});
      }
    }
  }

  /** Closes the balancer event streams. */
  close(): void {
    for (const stream of this.streams.values()) stream.stop();
    this.streams.clear();
  }
}
