import { describe, expect, it } from "vitest";
import { DEFAULT_L4_TIMING } from "../facts.js";
import { parseRunbookOrThrow } from "../runbook/parse.js";
import { createRollout } from "../workflow/create.js";
import type { TrafficReading } from "../workflow/drain.js";
import { transition } from "../workflow/machine.js";
import type { Notice, RolloutEvent, RolloutState } from "../workflow/types.js";
import { candidateWebhookEvents, type WebhookOccurrence, webhookOccurrences } from "./events.js";

const source = (extra = "") => `apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
${extra}
steps:
  - { id: gate, type: approval }
  - { id: fail-health, type: exec, kind: health-fail, run: [ebb-vm, health, fail] }
  - { id: await-unbound, type: balancer.awaitUnbound }
  - { id: deploy, type: exec, kind: deploy, run: [ebb-vm, deploy] }
  - { id: restore, type: exec, kind: health-restore, run: [ebb-vm, health, restore] }
`;

/** Drives the machine and collects the webhook occurrences of every notice, as the notifier does. */
function drive(events: RolloutEvent[], extra = ""): WebhookOccurrence[] {
  let state: RolloutState = createRollout({
    id: "r1",
    runbook: parseRunbookOrThrow(source(extra)),
    batches: [["vm1"]],
    timing: DEFAULT_L4_TIMING,
    version: "2.0.0",
    now: 1_000,
  });
  let now = 1_000;
  const seen: WebhookOccurrence[] = [];
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

const reading = (at: number, sessions: number, opened: number, resets: number): TrafficReading => ({
  at,
  sessions,
  sessionsOpened: opened,
  resets,
});
const ok = (stepIndex: number, extra: object = {}) =>
  ({ type: "step.succeeded", target: "vm1", stepIndex, attempt: 1, ...extra }) as RolloutEvent;

describe("webhook events of a rollout", () => {
  it("start, approval wait, a drain's client errors (once, when it ends) and success", () => {
    const seen = drive([
      { type: "start" },
      { type: "approve", by: "alice" },
      ok(1, { drainStart: reading(100, 5, 50, 0), traffic: reading(110, 5, 50, 0) }),
      ok(2, { traffic: reading(200, 2, 52, 2) }),
      ok(3, { traffic: reading(300, 0, 52, 3) }),
      ok(4, { traffic: reading(400, 0, 52, 3) }),
    ]);
    expect(seen.map((o) => o.event)).toEqual([
      "rollout.started",
      "rollout.awaiting_approval",
      "drain.client_errors",
      "rollout.succeeded",
    ]);
    expect(seen[1]).toMatchObject({ target: "vm1", stepId: "gate" });
    expect(seen[2]).toMatchObject({
      target: "vm1",
      stepId: "restore",
      clientErrors: {
        resets: 3,
        fromMs: 100,
        toMs: 400,
        steps: [
          { step: "await-unbound", resets: 2 },
          { step: "deploy", resets: 1 },
        ],
      },
    });
  });

  it("a clean drain sends nothing; a failure names the target, step and error", () => {
    const seen = drive([
      { type: "start" },
      { type: "approve", by: "alice" },
      ok(1, { drainStart: reading(100, 5, 50, 0), traffic: reading(110, 5, 50, 0) }),
      ok(2, { traffic: reading(200, 0, 50, 0) }),
      {
        type: "step.failed",
        target: "vm1",
        stepIndex: 3,
        attempt: 1,
        error: { code: "exec_failed", message: "exit 1" },
      },
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

  it("client errors that fail the drain (failOnClientErrors) are announced with the failure", () => {
    const seen = drive(
      [
        { type: "start" },
        { type: "approve", by: "alice" },
        ok(1, { drainStart: reading(100, 5, 50, 0), traffic: reading(110, 5, 50, 0) }),
        ok(2, { traffic: reading(200, 2, 52, 4) }),
      ],
      "failOnClientErrors: true",
    );
    expect(seen.map((o) => o.event)).toEqual([
      "rollout.started",
      "rollout.awaiting_approval",
      "drain.client_errors",
      "rollout.failed",
    ]);
    expect(seen[2]).toMatchObject({ stepId: "await-unbound", clientErrors: { resets: 4, toMs: 200 } });
    expect(seen[3]).toMatchObject({ error: { code: "client_errors" } });
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
