import { Logger } from "@nestjs/common";
import type { Redis } from "ioredis";
import type { RedisConnections } from "../redis/connections.js";

const CHANNEL = "ebb:rollout-changed";

/**
 * A doorbell between processes: a worker that committed a transition rings it with the rollout's id, and
 * the API processes streaming that rollout read what changed from the database. Only the id crosses Redis:
 * the database stays the one source of the timeline, so a lost ring (Redis restarting) costs latency, not
 * events; streams also look every few seconds on their own.
 */
export class RolloutChanges {
  private readonly logger = new Logger("changes");
  private subscriber: Redis | undefined;
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly pending = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(private readonly redis: RedisConnections) {}

  /** Rings for a rollout. Rings within 20 ms are sent as one publish per rollout. */
  announce(rolloutId: string): void {
    this.pending.add(rolloutId);
    this.flushTimer ??= setTimeout(() => this.flush(), 20);
  }

  /** Calls `onChange` whenever the rollout changed (in any process). Returns the unsubscribe. */
  subscribe(rolloutId: string, onChange: () => void): () => void {
    this.ensureSubscribed();
    let set = this.listeners.get(rolloutId);
    if (!set) {
      set = new Set();
      this.listeners.set(rolloutId, set);
    }
    set.add(onChange);
    return () => {
      set.delete(onChange);
      if (set.size === 0) this.listeners.delete(rolloutId);
    };
  }

  onModuleDestroy(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.subscriber?.disconnect();
    this.subscriber = undefined;
  }

  private flush(): void {
    this.flushTimer = undefined;
    const ids = [...this.pending];
    this.pending.clear();
    const client = this.redis.queueConnection();
    for (const id of ids) {
      client.publish(CHANNEL, id).catch((err: Error) => this.logger.debug(`publish: ${err.message}`));
    }
  }

  private ensureSubscribed(): void {
    if (this.subscriber) return;
    // A subscribed connection can do nothing else: its own, reconnecting (and re-subscribing) by itself.
    const subscriber = this.redis.create("worker", "ebb-changes");
    subscriber.subscribe(CHANNEL).catch((err: Error) => this.logger.warn(`subscribe: ${err.message}`));
    subscriber.on("message", (_channel: string, id: string) => {
      for (const listener of this.listeners.get(id) ?? []) listener();
    });
    this.subscriber = subscriber;
  }
}
