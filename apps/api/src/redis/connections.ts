import { once } from "node:events";
import { Redis } from "ioredis";
import { redactUrl } from "../config/describe.js";

/**
 * - `worker`: BullMQ workers. Blocking commands must wait through a Redis restart, so
 *   `maxRetriesPerRequest: null` (BullMQ refuses a worker connection without it).
 * - `queue`: producers (the API adding jobs) and health checks. No offline queue: while Redis is down a
 *   call fails at once rather than holding an HTTP request open until Redis returns. Nothing is lost by
 *   failing: the database is the source of truth and the reconciler re-adds the job.
 */
export type RedisPurpose = "worker" | "queue";

/**
 * The one factory of BullMQ connections. Every connection it makes is closed by `closeAll()`, which the
 * app's shutdown calls after the workers and queues using them have closed.
 */
export class RedisConnections {
  private readonly open = new Set<Redis>();
  private shared: Redis | undefined;
  /** Connections we are closing on purpose: their "close" is not an outage. */
  private readonly closing = new WeakSet<Redis>();

  constructor(
    readonly url: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** A new connection, e.g. for `new Worker(name, fn, { connection: redis.create("worker", "ebb-worker") })`. */
  create(purpose: RedisPurpose, name = `ebb-${purpose}`): Redis {
    const client = new Redis(this.url, {
      connectionName: name,
      maxRetriesPerRequest: null,
      enableOfflineQueue: purpose === "worker",
      // Reconnect for ever, at most every 2 s: Redis coming back must not need a restart of ours.
      retryStrategy: (times) => Math.min(times * 100, 2000),
    });
    this.logTransitions(client, name);
    this.open.add(client);
    client.once("end", () => this.open.delete(client));
    return client;
  }

  /** The process-wide `queue` connection: BullMQ Queues may share one non-blocking connection. */
  queueConnection(): Redis {
    this.shared ??= this.create("queue", "ebb-queue");
    return this.shared;
  }

  async closeAll(): Promise<void> {
    const clients = [...this.open];
    this.open.clear();
    this.shared = undefined;
    await Promise.all(
      clients.map(async (client) => {
        this.closing.add(client);
        // QUIT on a connection that is down would sit in the offline queue until Redis returns.
        if (client.status !== "ready") return client.disconnect();
        // Resolve on "end", not on QUIT's reply: the socket is really closed before Redis is stopped.
        const ended = once(client, "end");
        try {
          await client.quit();
        } catch {
          client.disconnect();
        }
        await ended;
      }),
    );
  }

  /**
   * One line when a connection is lost and one when it is back: ioredis emits an error on every
   * reconnect attempt, which would flood the log during a Redis outage. The error listener also keeps
   * ioredis from printing "Unhandled error event" for an emitter nobody listens to.
   */
  private logTransitions(client: Redis, name: string): void {
    let down = false;
    let lastError: string | undefined;
    client.on("error", (err: Error) => {
      lastError = err.message;
    });
    // "close", not "error": a Redis shutting down cleanly closes the socket without any error.
    client.on("close", () => {
      if (down || this.closing.has(client)) return;
      down = true;
      this.log(
        `redis connection ${name} to ${redactUrl(this.url)} lost${lastError ? ` (${lastError})` : ""}; reconnecting`,
      );
    });
    client.on("ready", () => {
      lastError = undefined;
      if (!down) return;
      down = false;
      this.log(`redis connection ${name} to ${redactUrl(this.url)} is back`);
    });
  }
}
