import { resolveSecretAt, signWebhook, WEBHOOK_SIGNATURE_HEADER, webhookBody } from "@ebb/core";
import type { WebhooksRepository } from "./webhooks.repository.js";

/** The try of a delivery and whether another may follow; the processor turns it into BullMQ's outcome. */
export type DeliveryOutcome = { kind: "delivered" | "gone" } | { kind: "retry" | "give-up"; message: string };

export interface DeliverOptions {
  timeoutMs: number;
  /** This is the job's last try: a failure is recorded as final. */
  lastTry: boolean;
  now?: () => number;
}

const MAX_ERROR = 500;

/**
 * Sends one stored delivery: the body of its format, signed over `<t>.<body>` with the secret the
 * reference points to (resolved here, in the worker, at each try: a rotated secret needs no restart).
 * A 2xx answer delivers it. A 4xx other than 408/429 is the receiver refusing this request for good (a
 * removed endpoint, a bad signature): retrying would not help. Anything else is retried by BullMQ.
 * Redirects are not followed: a webhook's URL is where the operator said it is.
 */
export async function deliver(
  repository: WebhooksRepository,
  deliveryId: string,
  opts: DeliverOptions,
): Promise<DeliveryOutcome> {
  const now = opts.now ?? Date.now;
  const delivery = await repository.toSend(deliveryId);
  // The webhook was deleted (its deliveries with it), or the delivery was closed by an earlier try.
  if (delivery?.status !== "pending") return { kind: "gone" };

  let responseStatus: number | null = null;
  let problem: string;
  let retryable = true;
  try {
    const body = webhookBody(delivery.webhook.format, delivery.payload);
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "Ebb-Webhooks/1",
      "ebb-event": delivery.payload.event,
      "ebb-delivery": delivery.id,
    };
    if (delivery.webhook.secretRef !== null) {
      const secret = resolveSecretAt("webhook.secret", delivery.webhook.secretRef);
      headers[WEBHOOK_SIGNATURE_HEADER.toLowerCase()] = signWebhook(secret, body, Math.floor(now() / 1000));
    }
    const res = await fetch(delivery.webhook.url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    responseStatus = res.status;
    // Read (and drop) the answer so the connection can be reused.
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) {
      await repository.recordAttempt(deliveryId, {
        at: new Date(now()),
        status: "delivered",
        responseStatus,
        error: undefined,
      });
      return { kind: "delivered" };
    }
    problem = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
    retryable = !(res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429);
  } catch (err) {
    problem = describe(err, opts.timeoutMs);
  }
  const final = opts.lastTry || !retryable;
  await repository.recordAttempt(deliveryId, {
    at: new Date(now()),
    status: final ? "failed" : "pending",
    responseStatus,
    error: problem.slice(0, MAX_ERROR),
  });
  return { kind: final ? "give-up" : "retry", message: problem };
}

function describe(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError"))
    return `no answer within ${timeoutMs} ms`;
  if (err instanceof Error) {
    // fetch wraps the socket's error (ECONNREFUSED ...) as its cause.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ? `${err.message}: ${cause.code}` : err.message;
  }
  return String(err);
}
