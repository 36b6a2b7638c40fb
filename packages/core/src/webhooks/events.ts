import type { DrainRecord } from "../workflow/drain.js";
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
  /**
   * drain.client_errors: the resets and refused flows the balancer counted for the target from its take-out
   * (`fromMs`) to its return (`toMs`), and the steps during which it counted them (the drain proof).
   */
  clientErrors?: { resets: number; fromMs: number; toMs: number; steps: { step: string; resets: number }[] };
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
      if (notice.to === "awaitingApproval") return ["rollout.awaiting_approval"];
      return notice.to === "restored" ? ["drain.client_errors"] : [];
    case "step.finished":
      return ["drain.client_errors"];
    case "batch.started":
    case "batch.completed":
    case "step.started":
    case "target.leftOutOfService":
    case "approval.granted":
    case "rollback.linked":
      return [];
    default:
      return assertNever(notice);
  }
}

/**
 * The notifications of one committed notice, given the rollout's state after it. A drain's client errors
 * come from the drain proof (workflow/drain.ts): announced once the target's drain ends (back in service,
 * or restored after an abort), or when they failed it (a runbook with `failOnClientErrors`), and only when
 * the balancer counted some.
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
      const run = state.targets[notice.target];
      if (notice.to === "restored") {
        const drain = run?.drain;
        return drain !== undefined && drain.resets > 0
          ? [drainOccurrence(notice.target, undefined, drain, state)]
          : [];
      }
      if (notice.to !== "awaitingApproval") return [];
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
      const drain = state.targets[notice.target]?.drain;
      if (drain === undefined || drain.resets <= 0) return [];
      // This step's reading is the drain's latest: the notice is about the step that ended it, or failed it.
      if (drain.steps.at(-1)?.stepIndex !== notice.stepIndex) return [];
      const ended = drain.endedAt !== undefined;
      if (!ended && notice.error?.code !== "client_errors") return [];
      return [drainOccurrence(notice.target, notice.stepId, drain, state)];
    }
    case "batch.started":
    case "batch.completed":
    case "step.started":
    case "target.leftOutOfService":
    case "approval.granted":
    case "rollback.linked":
      return [];
    default:
      return assertNever(notice);
  }
}

function drainOccurrence(
  target: string,
  stepId: string | undefined,
  drain: DrainRecord,
  state: RolloutState,
): WebhookOccurrence {
  return {
    event: "drain.client_errors",
    target,
    ...(stepId === undefined ? {} : { stepId }),
    clientErrors: {
      resets: drain.resets,
      fromMs: drain.takenOutAt,
      toMs: drain.endedAt ?? drain.last.at,
      steps: drain.steps
        .filter((c) => c.resets > 0)
        .map((c) => ({ step: state.steps[c.stepIndex]?.step.id ?? String(c.stepIndex), resets: c.resets })),
    },
  };
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
