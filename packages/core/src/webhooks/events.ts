import type { Notice, RolloutState } from "../workflow/types.js";

/**
 * What a webhook can subscribe to. Part of the API (stored in `webhooks.events`, sent as `event`):
 * add names, never rename one.
 */
export const WEBHOOK_EVENTS = [
  "rollout.started",
  "rollout.succeeded",
  "rollout.failed",
  "rollout.aborted",
  "rollout.awaiting_approval",
  "drain.client_errors",
] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

/** One notification: the event and what it says beyond the rollout itself. */
export interface WebhookOccurrence {
  event: WebhookEvent;
  target?: string;
  stepId?: string;
  /** Why the rollout ended, or who stopped it (abort reason, the failure's message). */
  reason?: string;
  error?: { code: string; message: string };
  /** drain.client_errors: resets the balancer counted while the target drained, and the window (epoch ms). */
  clientErrors?: { resets: number; fromMs: number | null; toMs: number | null };
}

/**
 * The events a notice may turn into, known without the rollout's state: a webhook store is asked only
 * for subscribers of these before anything else is read.
 */
export function candidateWebhookEvents(notice: Notice): WebhookEvent[] {
  switch (notice.type) {
    case "rollout.status":
      return rolloutStatusEvent(notice) === undefined ? [] : [rolloutStatusEvent(notice) as WebhookEvent];
    case "target.status":
      return notice.to === "awaitingApproval" ? ["rollout.awaiting_approval"] : [];
    case "step.finished":
      return ["drain.client_errors"];
    case "batch.started":
    case "batch.completed":
    case "step.started":
    case "target.leftOutOfService":
    case "approval.granted":
      return [];
    default:
      return assertNever(notice);
  }
}

/**
 * The notifications of one committed notice, given the rollout's state after it. A drain's client errors
 * are the resets `traffic.awaitQuiet` summed over its checks (conditions.ts, `resetsInWindow`): fired once
 * the step ends, and only when there were some.
 */
export function webhookOccurrences(notice: Notice, state: RolloutState): WebhookOccurrence[] {
  switch (notice.type) {
    case "rollout.status": {
      const event = rolloutStatusEvent(notice);
      if (event === undefined) return [];
      const failure = event === "rollout.failed" ? state.failure : undefined;
      return [
        {
          event,
          ...(failure
            ? {
                target: failure.target,
                stepId: state.steps[failure.stepIndex]?.step.id ?? String(failure.stepIndex),
                error: { code: failure.error.code, message: failure.error.message },
              }
            : {}),
          ...(notice.reason === undefined ? {} : { reason: notice.reason }),
        },
      ];
    }
    case "target.status": {
      if (notice.to !== "awaitingApproval") return [];
      const run = state.targets[notice.target];
      const stepId = run === undefined ? undefined : state.steps[run.stepIndex]?.step.id;
      return [
        {
          event: "rollout.awaiting_approval",
          target: notice.target,
          ...(stepId === undefined ? {} : { stepId }),
        },
      ];
    }
    case "step.finished": {
      if (state.steps[notice.stepIndex]?.step.type !== "traffic.awaitQuiet") return [];
      const stepRun = state.targets[notice.target]?.steps[notice.stepIndex];
      const resets = stepRun?.observation?.resetsInWindow;
      if (typeof resets !== "number" || resets <= 0) return [];
      return [
        {
          event: "drain.client_errors",
          target: notice.target,
          stepId: notice.stepId,
          clientErrors: { resets, fromMs: stepRun?.startedAt ?? null, toMs: stepRun?.finishedAt ?? null },
        },
      ];
    }
    case "batch.started":
    case "batch.completed":
    case "step.started":
    case "target.leftOutOfService":
    case "approval.granted":
      return [];
    default:
      return assertNever(notice);
  }
}

function rolloutStatusEvent(notice: Extract<Notice, { type: "rollout.status" }>): WebhookEvent | undefined {
  switch (notice.to) {
    // pending -> running only: paused -> running is a resume, not a start.
    case "running":
      return notice.from === "pending" ? "rollout.started" : undefined;
    case "succeeded":
      return "rollout.succeeded";
    case "failed":
      return "rollout.failed";
    case "aborted":
      return "rollout.aborted";
    default:
      return undefined;
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled notice ${JSON.stringify(value)}`);
}

/** A rollout created pending a second person's approval (four eyes): no transition says so, creation does. */
export function pendingApprovalOccurrence(): WebhookOccurrence {
  return {
    event: "rollout.awaiting_approval",
    reason: "a second person must approve the rollout before it starts",
  };
}
