import type { WebhookEvent, WebhookOccurrence } from "./events.js";

export const WEBHOOK_FORMATS = ["json", "slack"] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** The rollout a notification is about, as the store reads it. */
export interface WebhookSubject {
  rolloutId: string;
  fleet: string;
  version: string;
  runbook: string;
  status: string;
}

/**
 * The JSON body of a delivery (format `json`), stored with the delivery as sent. `id` is the delivery's
 * id: stable across retries, so a receiver can drop a duplicate.
 */
export interface WebhookPayload {
  id: string;
  event: WebhookEvent;
  /** ISO time of the transition. */
  at: string;
  fleet: string;
  rollout: { id: string; version: string; runbook: string; status: string };
  target?: string;
  step?: string;
  reason?: string;
  error?: { code: string; message: string };
  clientErrors?: { resets: number; from: string; to: string; steps: { step: string; resets: number }[] };
}

export function webhookPayload(
  id: string,
  atMs: number,
  occurrence: WebhookOccurrence,
  subject: WebhookSubject,
): WebhookPayload {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id,
    event: occurrence.event,
    at: new Date(atMs).toISOString(),
    fleet: subject.fleet,
    rollout: {
      id: subject.rolloutId,
      version: subject.version,
      runbook: subject.runbook,
      status: subject.status,
    },
    ...(occurrence.target === undefined ? {} : { target: occurrence.target }),
    ...(occurrence.stepId === undefined ? {} : { step: occurrence.stepId }),
    ...(occurrence.reason === undefined ? {} : { reason: occurrence.reason }),
    ...(occurrence.error === undefined ? {} : { error: occurrence.error }),
    ...(occurrence.clientErrors === undefined
      ? {}
      : {
          clientErrors: {
            resets: occurrence.clientErrors.resets,
            from: iso(occurrence.clientErrors.fromMs),
            to: iso(occurrence.clientErrors.toMs),
            steps: occurrence.clientErrors.steps,
          },
        }),
  };
}

/** The body sent for a format: the payload itself, or Slack's incoming-webhook `{"text": ...}`. */
export function webhookBody(format: WebhookFormat, payload: WebhookPayload): string {
  switch (format) {
    case "json":
      return JSON.stringify(payload);
    case "slack":
      return JSON.stringify({ text: slackText(payload) });
    default:
      return format satisfies never;
  }
}

/** One line a person reads in a channel. Slack's mrkdwn: `<`, `>` and `&` are escaped. */
export function slackText(p: WebhookPayload): string {
  const rollout = `rollout ${p.rollout.id.slice(0, 8)} of ${p.fleet} (${p.rollout.version}, ${p.rollout.runbook})`;
  const where =
    p.target === undefined ? "" : ` at ${p.target}${p.step === undefined ? "" : ` step ${p.step}`}`;
  let text: string;
  switch (p.event) {
    case "rollout.started":
      text = `Ebb: ${rollout} started`;
      break;
    case "rollout.succeeded":
      text = `Ebb: ${rollout} succeeded`;
      break;
    case "rollout.failed":
      text = `Ebb: ${rollout} failed${where}${p.error ? `: ${p.error.message}` : ""}`;
      break;
    case "rollout.aborted":
      text = `Ebb: ${rollout} aborted${p.reason ? `: ${p.reason}` : ""}`;
      break;
    case "rollout.awaiting_approval":
      text = `Ebb: ${rollout} is waiting for approval${where}`;
      break;
    case "drain.client_errors":
      text = `Ebb: ${rollout}: clients saw ${p.clientErrors?.resets ?? 0} resets/errors while ${p.target ?? "a target"} drained${p.step === undefined ? "" : ` (step ${p.step})`}`;
      break;
    default:
      text = p.event satisfies never;
  }
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
