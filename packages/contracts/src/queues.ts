/**
 * BullMQ queue names, in ONE place.
 *
 * WARNING: a queue name is part of the Redis key of every job already queued under it. Renaming one
 * strands those jobs: no worker reads the old name any more, and they sit in Redis until the
 * reconciler re-creates their work from the database. To move work, add a new queue, let the old one
 * drain, then remove it.
 */
export const QUEUES = {
  /** Everything a rollout runs: steps, restores, approval timeouts, the reconciler. */
  rollout: "ebb-rollout",
  /** Webhook deliveries: one job per delivery, retried with backoff by BullMQ itself. */
  webhook: "ebb-webhook",
} as const;

export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];
