import type { EngineObserver, RolloutStatusChange, StepFinished } from "@ebb/engine";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

const MISNAMED_DEFAULTS = [
  "nodejs_active_handles_total",
  "nodejs_active_requests_total",
  "nodejs_active_resources_total",
];

/** Step durations run from a 50 ms exec to a 30 min approval gate. */
const STEP_BUCKETS_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

/**
 * This process's Prometheus metrics: one registry per app (tests run several in one process), the
 * engine's observer port for what happens in it, and what the API counts itself. Fleet-wide gauges read
 * at scrape time (rollouts by status, queue depth) are added by `fleet-gauges.ts` where HTTP is served.
 *
 * Names follow Prometheus conventions: `ebb_` prefix, base units as suffix (`_seconds`), `_total` on
 * counters. Labels stay bounded: statuses, step types, fleet names, never rollout or target ids.
 */
export class EbbMetrics implements EngineObserver {
  readonly registry = new Registry();
  private readonly transitions: Counter<"status">;
  private readonly stepDuration: Histogram<"step_type" | "outcome">;
  private readonly recreated: Counter;
  private readonly leaseConflicts: Counter<"kind">;
  private readonly drainErrors: Counter<"fleet">;
  private readonly streams: Gauge;
  private openStreams = 0;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Gauges named like counters: `promtool check metrics` rejects them. The per-type gauges
    // (nodejs_active_handles{type}, nodejs_active_requests, nodejs_active_resources{type}) stay; sum them.
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(name);
    this.transitions = new Counter({
      name: "ebb_rollout_transitions_total",
      help: "Rollouts that entered a status, counted by the process that committed the transition.",
      labelNames: ["status"],
      registers: [this.registry],
    });
    this.stepDuration = new Histogram({
      name: "ebb_step_duration_seconds",
      help: "From a step's start on a target to its committed result, by step type and outcome.",
      labelNames: ["step_type", "outcome"],
      buckets: STEP_BUCKETS_SECONDS,
      registers: [this.registry],
    });
    this.recreated = new Counter({
      name: "ebb_reconciler_recreated_jobs_total",
      help: "Jobs the reconciler re-created from the database because the queue had lost them.",
      registers: [this.registry],
    });
    this.leaseConflicts = new Counter({
      name: "ebb_lease_conflicts_total",
      help:
        "Target lease conflicts: fenced (a late result refused, its rollout lost the lease), held (a " +
        "transition needed a lease another rollout holds), fleet_held (a new rollout refused with 409).",
      labelNames: ["kind"],
      registers: [this.registry],
    });
    this.drainErrors = new Counter({
      name: "ebb_drain_client_errors_total",
      help:
        "Client errors the drain proof recorded: sessions the balancer saw reset and flows it saw refused " +
        "on a target between its take-out and its return to service.",
      labelNames: ["fleet"],
      registers: [this.registry],
    });
    this.streams = new Gauge({
      name: "ebb_event_stream_clients",
      help: "Open Server-Sent Event streams (rollout events, fleet live traffic) served by this process.",
      registers: [this.registry],
      collect: () => this.streams.set(this.openStreams),
    });
    // Present from the first scrape, so a rate() over them starts at 0 rather than at the first event.
    this.recreated.inc(0);
    for (const kind of ["fenced", "held", "fleet_held"]) this.leaseConflicts.inc({ kind }, 0);
  }

  rolloutStatusChanged(change: RolloutStatusChange): void {
    this.transitions.inc({ status: change.to });
  }

  stepFinished(step: StepFinished): void {
    this.stepDuration.observe(
      { step_type: step.stepType, outcome: step.outcome },
      Math.max(0, step.endedAt - step.startedAt) / 1000,
    );
  }

  jobsRecreated(count: number): void {
    this.recreated.inc(count);
  }

  leaseConflict(conflict: { kind: "fenced" | "held" | "fleet_held" }): void {
    this.leaseConflicts.inc({ kind: conflict.kind });
  }

  drainClientErrors(errors: { fleet: string; count: number }): void {
    this.drainErrors.inc({ fleet: errors.fleet }, errors.count);
  }

  /** An event stream opened; the returned function closes it (idempotent). */
  streamOpened(): () => void {
    this.openStreams++;
    let open = true;
    return () => {
      if (open) this.openStreams--;
      open = false;
    };
  }

  /** The exposition text and its content type, for GET /metrics. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
