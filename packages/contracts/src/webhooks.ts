import { z } from "zod";
import { resourceNameSchema } from "./views.js";

/**
 * Webhooks of API v1: notifications of rollout events to an HTTP endpoint, signed, retried, and every
 * delivery kept. Zod only (bundled for the browser). The event names are @ebb/core's WEBHOOK_EVENTS
 * (apps/api checks at compile time that the two lists agree).
 */

const timestamp = z.iso.datetime({ offset: true });

export const WEBHOOK_EVENT_NAMES = [
  "rollout.started",
  "rollout.succeeded",
  "rollout.failed",
  "rollout.aborted",
  "rollout.awaiting_approval",
  "drain.client_errors",
] as const;
export const webhookEventSchema = z.enum(WEBHOOK_EVENT_NAMES);
export type WebhookEventName = z.infer<typeof webhookEventSchema>;

export const WEBHOOK_FORMAT_NAMES = ["json", "slack"] as const;
export const webhookFormatSchema = z.enum(WEBHOOK_FORMAT_NAMES);

/** Only a reference: the secret's value stays on the workers, which sign (see core/secret-ref.ts). */
const SECRET_REF = /^secret:(env:[A-Za-z_][A-Za-z0-9_]{0,127}|file:\/[^\0]*)$/s;

export const createWebhookBodySchema = z
  .strictObject({
    name: z.string().trim().min(1).max(64),
    url: z
      .url({
        protocol: /^https?$/,
        hostname: z.regexes.hostname,
        error: "must be an http:// or https:// URL",
      })
      .max(2048),
    /** The fleet whose rollouts are notified; absent: every fleet. */
    fleet: resourceNameSchema.optional(),
    /** Absent: every event. */
    events: z.array(webhookEventSchema).min(1).max(WEBHOOK_EVENT_NAMES.length).optional(),
    /** `json`: the event as JSON, signed; `slack`: Slack's incoming-webhook body `{"text": ...}`. */
    format: webhookFormatSchema.default("json"),
    /**
     * The HMAC key by reference, `secret:env:NAME` or `secret:file:/path`, resolved by the workers.
     * Required for `json`; optional for `slack` (Slack does not check signatures).
     */
    secret: z
      .string()
      .regex(
        SECRET_REF,
        "must be a secret reference (secret:env:NAME or secret:file:/absolute/path): the secret itself is never sent to the API",
      )
      .optional(),
  })
  .superRefine((body, ctx) => {
    if (body.format === "json" && body.secret === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["secret"],
        message: "required for format json (deliveries are signed)",
      });
    }
  });
export type CreateWebhookBody = z.output<typeof createWebhookBodySchema>;
export type CreateWebhookInput = z.input<typeof createWebhookBodySchema>;

/** A webhook as the API shows it: never its secret, nor the reference to it. */
export const webhookViewSchema = z.object({
  id: z.uuid(),
  name: z.string(),
  url: z.string(),
  /** Null: every fleet. */
  fleet: z.string().nullable(),
  events: z.array(webhookEventSchema),
  format: webhookFormatSchema,
  /** Deliveries carry the Ebb-Signature header. */
  signed: z.boolean(),
  createdBy: z.string().nullable(),
  createdAt: timestamp,
});
export type WebhookView = z.infer<typeof webhookViewSchema>;

/** `pending`: not delivered yet (retries left); `delivered`: a 2xx answer; `failed`: every attempt failed. */
export const WEBHOOK_DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;

export const webhookDeliveryViewSchema = z.object({
  id: z.uuid(),
  webhookId: z.uuid(),
  event: webhookEventSchema,
  rolloutId: z.uuid().nullable(),
  status: z.enum(WEBHOOK_DELIVERY_STATUSES),
  attempts: z.number().int(),
  /** The HTTP status of the last answer; null when none came (refused, timed out). */
  responseStatus: z.number().int().nullable(),
  lastError: z.string().nullable(),
  createdAt: timestamp,
  lastAttemptAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  /** The event as sent (format json's body). */
  payload: z.record(z.string(), z.unknown()),
});
export type WebhookDeliveryView = z.infer<typeof webhookDeliveryViewSchema>;

export const webhookDeliveriesQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/**
 * The one job of QUEUES.webhook: deliver one stored delivery. Its attempts and backoff come from the
 * worker's configuration (EBB_WEBHOOK_ATTEMPTS, EBB_WEBHOOK_BACKOFF_MS), not a fixed catalog entry.
 */
export const WEBHOOK_DELIVER_JOB = "webhook.deliver";
export const webhookDeliverPayloadSchema = z.strictObject({ deliveryId: z.uuid() });
export type WebhookDeliverPayload = z.infer<typeof webhookDeliverPayloadSchema>;
/** One job per delivery: adding it again (a restart re-queueing pending deliveries) is a no-op. */
export function webhookJobId(deliveryId: string): string {
  return `${WEBHOOK_DELIVER_JOB}~${deliveryId}`;
}
