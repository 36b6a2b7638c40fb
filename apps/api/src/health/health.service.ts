import type { Readiness } from "@ebb/contracts";
import { Inject, Injectable } from "@nestjs/common";
import type { Queue } from "bullmq";
import { DATABASE, REDIS_CONNECTION, ROLLOUT_QUEUE, WORKER_PRESENCE } from "../common/tokens.js";
import type { WorkerPresence } from "../common/worker-presence.js";
import type { Database } from "../database/client.js";
import type { RedisConnections } from "../redis/connections.js";

/**
 * Each check gets this long. A check that hangs (a TCP connection to a dead host, a query stuck on a
 * lock) must turn into a 503 well before a load balancer's own probe timeout, not into a hung probe.
 */
export const READINESS_CHECK_TIMEOUT_MS = 2000;

@Injectable()
export class HealthService {
  // Property injection: Biome's parser rejects parameter decorators under this repo's config.
  @Inject(DATABASE) private readonly database!: Database;
  @Inject(REDIS_CONNECTION) private readonly redis!: RedisConnections;
  @Inject(ROLLOUT_QUEUE) private readonly queue!: Queue;
  @Inject(WORKER_PRESENCE) private readonly workers!: WorkerPresence;

  /**
   * Runs every check concurrently; `ok` only when all passed. The worker count is reported beside them,
   * not checked: an API without workers must stay in its load balancer, or nobody could see why rollouts
   * wait.
   */
  async readiness(): Promise<Readiness> {
    let connected: number | undefined;
    const [entries] = await Promise.all([
      this.checks(),
      check("workers", async () => {
        connected = await this.workers.count();
      }),
    ]);
    return {
      ok: entries.every(([, result]) => result.ok),
      checks: Object.fromEntries(entries),
      ...(connected === undefined ? {} : { workers: { connected } }),
    };
  }

  private checks(): Promise<[string, CheckResult][]> {
    return Promise.all([
      check("database", () => this.database.prisma.$queryRaw`SELECT 1`),
      check("redis", async () => {
        const reply = await this.redis.queueConnection().ping();
        if (reply !== "PONG") throw new Error(`unexpected PING reply ${JSON.stringify(reply)}`);
      }),
      check("queue", () => this.queue.getJobCounts("waiting", "active", "delayed", "failed")),
    ]);
  }
}

type CheckResult = Readiness["checks"][string];

async function check(name: string, probe: () => Promise<unknown>): Promise<[string, CheckResult]> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${READINESS_CHECK_TIMEOUT_MS} ms`)),
      READINESS_CHECK_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([probe(), timeout]);
    return [name, { ok: true, ms: elapsed(started) }];
  } catch (err) {
    return [
      name,
      { ok: false, ms: elapsed(started), error: err instanceof Error ? err.message : String(err) },
    ];
  } finally {
    clearTimeout(timer);
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
