import { ROLLOUT_STATUSES } from "@ebb/core";
import type { Queue } from "bullmq";
import { Gauge } from "prom-client";
import type { Database } from "../database/client.js";
import type { EbbMetrics } from "./metrics.js";

/** Job states of the rollout queue worth alerting on: depth (waiting, prioritized), delayed waits, failed. */
const QUEUE_STATES = ["waiting", "prioritized", "active", "delayed", "failed"] as const;

/**
 * Gauges of the whole installation, read from the database and Redis when Prometheus scrapes: the same on
 * every API process (aggregate them with max(), not sum()). Served where HTTP is (the api and all roles),
 * not by each worker, so N workers do not run N copies of these queries.
 *
 * A source that does not answer leaves its gauge empty for that scrape instead of failing the whole
 * scrape: the process metrics and counters are what an outage investigation needs most.
 */
export function registerFleetGauges(
  metrics: EbbMetrics,
  deps: { database: Database; queue: Queue; log: (line: string) => void },
): void {
  const { database, queue, log } = deps;
  const registers = [metrics.registry];
  // prom-client calls `collect` with the gauge as `this`: last scrape's label sets are dropped first.
  const guarded = (name: string, read: () => Promise<void>) =>
    async function collect(this: Gauge<string>): Promise<void> {
      this.reset();
      try {
        await read();
      } catch (err) {
        log(`metrics: ${name} not read: ${err instanceof Error ? err.message : String(err)}`);
      }
    };

  const rollouts: Gauge<"status"> = new Gauge({
    name: "ebb_rollouts",
    help: "Rollouts by status, as stored in the database.",
    labelNames: ["status"],
    registers,
    collect: guarded("ebb_rollouts", async () => {
      const rows = await database.prisma.$queryRaw<{ status: string; n: number }[]>`
        SELECT status, count(*)::int AS n FROM rollouts GROUP BY status`;
      for (const status of ROLLOUT_STATUSES) rollouts.set({ status }, 0);
      for (const r of rows) rollouts.set({ status: r.status }, Number(r.n));
    }),
  });

  const outOfService: Gauge<"fleet"> = new Gauge({
    name: "ebb_targets_out_of_service",
    help:
      "Targets a rollout has taken out of their balancer and not yet put back (a failed or paused " +
      "rollout keeps them out until someone decides), by fleet.",
    labelNames: ["fleet"],
    registers,
    collect: guarded("ebb_targets_out_of_service", async () => {
      const rows = await database.prisma.$queryRaw<{ fleet: string; n: number }[]>`
        SELECT f.name AS fleet,
               count(*) FILTER (WHERE r.id IS NOT NULL AND (t.value ->> 'outOfService') = 'true')::int AS n
        FROM fleets f
        LEFT JOIN rollouts r ON r.fleet_id = f.id AND r.status NOT IN ('succeeded', 'aborted')
        LEFT JOIN LATERAL jsonb_each(r.state -> 'targets') t ON true
        GROUP BY f.name`;
      for (const r of rows) outOfService.set({ fleet: r.fleet }, Number(r.n));
    }),
  });

  const jobs: Gauge<"queue" | "state"> = new Gauge({
    name: "ebb_queue_jobs",
    help: "Jobs of the rollout queue by state: waiting and prioritized are the depth, delayed the waits.",
    labelNames: ["queue", "state"],
    registers,
    collect: guarded("ebb_queue_jobs", async () => {
      const counts = await queue.getJobCounts(...QUEUE_STATES);
      for (const state of QUEUE_STATES) jobs.set({ queue: queue.name, state }, counts[state] ?? 0);
    }),
  });

  const workers: Gauge<"queue"> = new Gauge({
    name: "ebb_queue_workers",
    help: "BullMQ worker connections to the rollout queue, as Redis lists them. 0: no rollout can progress.",
    labelNames: ["queue"],
    registers,
    collect: guarded("ebb_queue_workers", async () => {
      workers.set({ queue: queue.name }, await queue.getWorkersCount());
    }),
  });
}
