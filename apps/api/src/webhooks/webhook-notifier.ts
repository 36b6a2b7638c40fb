import { randomUUID } from "node:crypto";
import { WEBHOOK_DELIVER_JOB, type WebhookDeliverPayload, webhookJobId } from "@ebb/contracts";
import {
  candidateWebhookEvents,
  type Notice,
  pendingApprovalOccurrence,
  type WebhookOccurrence,
  webhookOccurrences,
  webhookPayload,
} from "@ebb/core";
import type { Queue } from "bullmq";
import type { RolloutNotifications } from "../common/tokens.js";
import type { WebhooksRepository } from "./webhooks.repository.js";

export interface DeliveryJobOptions {
  attempts: number;
  backoffMs: number;
}

const HOUR_S = 3600;
const MAX_CACHED_ROLLOUTS = 2_000;

/** BullMQ options of a delivery: its retries are BullMQ's own (attempts + exponential backoff). */
export function deliveryJobOptions(deliveryId: string, opts: DeliveryJobOptions) {
  return {
    jobId: webhookJobId(deliveryId),
    attempts: opts.attempts,
    backoff: { type: "exponential" as const, delay: opts.backoffMs },
    removeOnComplete: { age: HOUR_S },
    removeOnFail: { age: 7 * 24 * HOUR_S },
  };
}

/**
 * Turns committed rollout notices into stored deliveries and their jobs. Runs in every process whose
 * engine applies transitions (the API starts rollouts, workers finish them). A notice is emitted after
 * its transaction committed, so a process that dies in between loses that notification: deliveries are
 * at most once per notice, and at least once per stored delivery (the receiver dedupes on the payload's
 * `id`).
 */
export class WebhookNotifier implements RolloutNotifications {
  private readonly fleets = new Map<string, string>();

  constructor(
    private readonly repository: WebhooksRepository,
    private readonly queue: Queue,
    private readonly jobs: DeliveryJobOptions,
    private readonly log: (line: string) => void,
  ) {}

  /** Never throws: a notification that cannot be stored must not fail the rollout's transition. */
  async notice(rolloutId: string, notice: Notice, atMs = Date.now()): Promise<void> {
    const candidates = candidateWebhookEvents(notice);
    if (candidates.length === 0) return;
    await this.guard(rolloutId, (subject) => webhookOccurrences(notice, subject.state), candidates, atMs);
  }

  /**
   * A rollout's fleet never changes: read once, not for every notice (a worker draining 1,000 targets sends
   * a few notices per target, and each cost a query before any subscriber was even looked for).
   */
  private async fleetOf(rolloutId: string): Promise<string | undefined> {
    const hit = this.fleets.get(rolloutId);
    if (hit !== undefined) return hit;
    const fleetId = await this.repository.fleetOfRollout(rolloutId);
    if (fleetId === undefined) return undefined;
    if (this.fleets.size >= MAX_CACHED_ROLLOUTS) this.fleets.delete(this.fleets.keys().next().value!);
    this.fleets.set(rolloutId, fleetId);
    return fleetId;
  }

  /** A rollout created pending a second person's approval. */
  async pendingApproval(rolloutId: string, atMs = Date.now()): Promise<void> {
    const occurrence = pendingApprovalOccurrence();
    await this.guard(rolloutId, () => [occurrence], [occurrence.event], atMs);
  }

  private async guard(
    rolloutId: string,
    occurrencesOf: (
      subject: NonNullable<Awaited<ReturnType<WebhooksRepository["subject"]>>>,
    ) => WebhookOccurrence[],
    candidates: WebhookOccurrence["event"][],
    atMs: number,
  ): Promise<void> {
    try {
      // Most notices concern nobody: ask for subscribers before reading the rollout's state (a large
      // rollout's is a large JSON document, and every step's end is a candidate).
      const fleetId = await this.fleetOf(rolloutId);
      if (fleetId === undefined) return;
      const hooks = await this.repository.subscribers(fleetId, candidates);
      if (hooks.length === 0) return;
      const subject = await this.repository.subject(rolloutId);
      if (!subject) return;
      const rows = occurrencesOf(subject).flatMap((occurrence) =>
        hooks
          .filter((h) => h.events.includes(occurrence.event))
          .map((h) => {
            const id = randomUUID();
            return {
              id,
              webhookId: h.id,
              event: occurrence.event,
              rolloutId,
              payload: webhookPayload(id, atMs, occurrence, { rolloutId, ...subject }),
            };
          }),
      );
      if (rows.length === 0) return;
      await this.repository.insertDeliveries(rows);
      // A job lost here (Redis down) is re-added by the worker's sweep of pending deliveries.
      await this.enqueue(rows.map((r) => r.id));
    } catch (err) {
      this.log(`webhooks: notification of rollout ${rolloutId} not stored: ${(err as Error).message}`);
    }
  }

  async enqueue(deliveryIds: readonly string[]): Promise<void> {
    if (deliveryIds.length === 0) return;
    await this.queue.addBulk(
      deliveryIds.map((deliveryId) => ({
        name: WEBHOOK_DELIVER_JOB,
        data: { deliveryId } satisfies WebhookDeliverPayload,
        opts: deliveryJobOptions(deliveryId, this.jobs),
      })),
    );
  }
}
