/**
 * Injection tokens of what the app is built on. Feature modules inject them without importing anything:
 * the module that provides them is global.
 *
 *   constructor(@Inject(DATABASE) private readonly db: Database, @Inject(ROLLOUT_QUEUE) private readonly queue: Queue)
 */

/** The frozen `EbbConfig`. */
export const CONFIG = Symbol("ebb.config");
/** The opened `Database` ({ prisma, kind, close }); its lifetime belongs to bootstrap, not to Nest. */
export const DATABASE = Symbol("ebb.database");
/** The `RedisConnections` factory: `create("worker")` for BullMQ workers, `queueConnection()` for queues. */
export const REDIS_CONNECTION = Symbol("ebb.redis-connection");
/** The BullMQ `Queue` named QUEUES.rollout. Add jobs with `buildJob()` from @ebb/contracts. */
export const ROLLOUT_QUEUE = Symbol("ebb.rollout-queue");
/**
 * The webhooks' notifier (webhooks/webhook-notifier.ts), for features that tell it what no transition
 * says: `pendingApproval(rolloutId)` when a rollout is created waiting for a second person.
 */
export const WEBHOOK_NOTIFIER = Symbol("ebb.webhook-notifier");
export interface RolloutNotifications {
  pendingApproval(rolloutId: string): Promise<void>;
}
/** `WorkerPresence`: whether any worker is connected to the rollout queue. */
export const WORKER_PRESENCE = Symbol("ebb.worker-presence");
