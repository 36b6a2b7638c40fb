import { describe, expect, it } from "vitest";
import { quietCondition } from "../conditions.js";
import { DEFAULT_L4_TIMING } from "../facts.js";
import { parseRunbookOrThrow } from "../runbook/parse.js";
import { createRollout } from "../workflow/create.js";
import { transition } from "../workflow/machine.js";
import type { Notice, Observation, RolloutEvent, RolloutState } from "../workflow/types.js";
import { candidateWebhookEvents, webhookOccurrences } from "./events.js";

const runbook = parseRunbookOrThrow(`apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
  - { id: gate, type: approval }
  - { id: quiet, type: traffic.awaitQuiet, holdFor: 1s }
  - { id: deploy, type: exec, run: [ebb-vm, deploy] }
`);

/** Drives the machine and collects the webhook occurrences of every notice, as the notifier does. */
function drive(events: RolloutEvent[]) {
  let state: RolloutState = createRollout({
    id: "r1",
    runbook,
    batches: [["vm1"]],
    timing: DEFAULT_L4_TIMING,
    version: "2.0.0",
    now: 1_000,
  });
  let now = 1_000;
  const seen: ReturnType<typeof webhookOccurrences> = [];
  for (const event of events) {
    now += 100;
    const result = transition(state, event, { now });
    state = result.state;
    for (const effect of result.effects) {
      if (effect.type !== "emit") continue;
      const occurrences = webhookOccurrences(effect.notice, state);
      for (const o of occurrences) expect(candidateWebhookEvents(effect.notice)).toContain(o.event);
      seen.push(...occurrences);
    }
  }
  return seen;
}

/** The observations traffic.awaitQuiet stores at each check: resets seen at each sample. */
function quietChecks(resetsPerSample: number[]): Observation {
  let previous: Observation | undefined;
  resetsPerSample.forEach((resets, i) => {
    previous = quietCondition({
      sample: { at: "", activeSessions: 1, newSessions: 0, resets },
      previous,
      holdForMs: 1_000,
      maxNewSessions: 0,
      now: i * 100,
    }).observation;
  });
  return previous as Observation;
}

const ref = (stepIndex: number) => ({ target: "vm1", stepIndex, attempt: 1 });

describe("webhook events of a rollout", () => {
  it("start, approval wait, drain client errors (summed over the window) and success", () => {
    const seen = drive([
      { type: "start" },
      { type: "approve", by: "alice" },
      { type: "step.waiting", ...ref(1), observation: quietChecks([2, 0]) },
      { type: "step.succeeded", ...ref(1), observation: quietChecks([2, 0, 3, 0]) },
      { type: "step.succeeded", ...ref(2) },
    ]);
    expect(seen.map((o) => o.event)).toEqual([
      "rollout.started",
      "rollout.awaiting_approval",
      "drain.client_errors",
      "rollout.succeeded",
    ]);
    expect(seen[1]).toMatchObject({ target: "vm1", stepId: "gate" });
    expect(seen[2]).toMatchObject({ target: "vm1", stepId: "quiet", clientErrors: { resets: 5 } });
  });

  it("a clean drain sends nothing; a failure names the target, step and error", () => {
    const seen = drive([
      { type: "start" },
      { type: "approve", by: "alice" },
      { type: "step.succeeded", ...ref(1), observation: quietChecks([0, 0]) },
      { type: "step.failed", ...ref(2), error: { code: "exec_failed", message: "exit 1" } },
    ]);
    expect(seen.map((o) => o.event)).toEqual([
      "rollout.started",
      "rollout.awaiting_approval",
      "rollout.failed",
    ]);
    expect(seen[2]).toMatchObject({
      target: "vm1",
      stepId: "deploy",
      error: { code: "exec_failed", message: "exit 1" },
    });
  });

  it("an abort is reported; a resume is not a start", () => {
    const seen = drive([
      { type: "start" },
      { type: "pause", by: "bob" },
      { type: "resume", by: "bob" },
      { type: "abort", by: "bob", reason: "wrong version" },
    ]);
    const events = seen.map((o) => o.event);
    expect(events.filter((e) => e === "rollout.started")).toHaveLength(1);
    expect(events).toContain("rollout.aborted");
  });

  it("notices that are not notifications have no candidates", () => {
    const batch: Notice = { type: "batch.started", batch: 0, targets: ["vm1"] };
    expect(candidateWebhookEvents(batch)).toEqual([]);
  });
});
