import { describe, expect, it } from "vitest";
import { DEFAULT_L4_TIMING } from "../facts.js";
import { parseRunbookOrThrow } from "../runbook/parse.js";
import { createRollout } from "./create.js";
import { openDrain, recordDrainStep, type TrafficReading } from "./drain.js";
import { transition, wantsTrafficReading } from "./machine.js";
import type { RolloutEvent, RolloutState } from "./types.js";

const source = (extra = "") => `apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
${extra}
steps:
  - { id: fail-health, type: exec, kind: health-fail, run: [ebb-vm, health, fail] }
  - { id: await-unbound, type: balancer.awaitUnbound }
  - { id: stop, type: exec, kind: stop, run: [ebb-vm, stop] }
  - { id: restore, type: exec, kind: health-restore, run: [ebb-vm, health, restore] }
  - { id: await-bound, type: balancer.awaitBound }
`;
const timing = { ...DEFAULT_L4_TIMING, healthCheckIntervalMs: 1_000, checkTimeoutMs: 500 };

function reading(at: number, sessions: number, opened: number, resets: number): TrafficReading {
  return { at, sessions, sessionsOpened: opened, resets };
}

function start(extra = ""): RolloutState {
  const runbook = parseRunbookOrThrow(source(extra));
  const state = createRollout({ id: "r1", runbook, batches: [["vm1"]], timing, version: "2", now: 0 });
  return transition(state, { type: "start" }, { now: 1 }).state;
}

function ok(state: RolloutState, stepIndex: number, extra: Partial<RolloutEvent> = {}): RolloutState {
  const event = { type: "step.succeeded", target: "vm1", stepIndex, attempt: 1, ...extra } as RolloutEvent;
  return transition(state, event, { now: 10 + stepIndex }).state;
}

describe("the drain proof", () => {
  it("opens before the take-out, counts each step until the target is back in, then stops counting", () => {
    let s = start();
    expect(wantsTrafficReading(s.targets.vm1!, s.steps[0]!)).toBe(true);
    // take-out: 5 sessions held; while the device still binds vm1 for a moment, 3 new sessions arrive
    s = ok(s, 0, { drainStart: reading(100, 5, 50, 0), traffic: reading(110, 5, 50, 0) });
    s = ok(s, 1, { traffic: reading(200, 4, 53, 0) });
    s = ok(s, 2, { traffic: reading(300, 0, 53, 0) });
    s = ok(s, 3, { traffic: reading(400, 0, 53, 0) });
    // after the restore, traffic is back: not part of the drain, and no reading is asked for
    expect(wantsTrafficReading(s.targets.vm1!, s.steps[4]!)).toBe(false);
    s = ok(s, 4, { traffic: reading(500, 7, 60, 1) });
    const drain = s.targets.vm1!.drain!;
    expect(drain).toMatchObject({
      takenOutAt: 100,
      sessionsAtTakeOut: 5,
      newSessions: 3,
      resets: 0,
      quietAt: 300,
      endedAt: 400,
    });
    expect(drain.steps.map((c) => [c.stepIndex, c.newSessions, c.sessions])).toEqual([
      [0, 0, 5],
      [1, 3, 4],
      [2, 0, 0],
      [3, 0, 0],
    ]);
    expect(s.status).toBe("succeeded");
  });

  it("failOnClientErrors: a reset in the drain fails the target at the step that saw it", () => {
    let s = start("failOnClientErrors: true");
    expect(s.failOnClientErrors).toBe(true);
    s = ok(s, 0, { drainStart: reading(100, 5, 50, 0), traffic: reading(110, 5, 50, 0) });
    s = ok(s, 1, { traffic: reading(200, 2, 50, 0) });
    s = ok(s, 2, { traffic: reading(300, 0, 50, 2) });
    expect(s.status).toBe("failed");
    expect(s.failure).toMatchObject({ target: "vm1", stepIndex: 2, error: { code: "client_errors" } });
    expect(s.failure!.error.message).toMatch(/2 client error\(s\) .*vm1 during stop/);
    expect(s.targets.vm1!.drain!.resets).toBe(2);
  });

  it("without failOnClientErrors, resets are recorded and the rollout goes on", () => {
    let s = start();
    s = ok(s, 0, { drainStart: reading(100, 5, 50, 0), traffic: reading(110, 5, 50, 0) });
    s = ok(s, 1, { traffic: reading(200, 2, 50, 0) });
    s = ok(s, 2, { traffic: reading(300, 0, 50, 2) });
    expect(s.status).toBe("running");
    expect(s.targets.vm1!.drain!.steps.at(-1)).toMatchObject({ stepIndex: 2, resets: 2 });
  });

  it("a counter that went down started again (a replaced pod): what it shows was counted since", () => {
    const d = openDrain(reading(0, 3, 100, 4));
    expect(recordDrainStep(d, 1, reading(10, 1, 7, 1))).toMatchObject({ newSessions: 7, resets: 1 });
    expect(recordDrainStep(d, 2, reading(20, 0, 9, 1))).toMatchObject({ newSessions: 2, resets: 0 });
  });

  it("no reading (a balancer without counters): no record, and the rollout is not held up", () => {
    let s = start("failOnClientErrors: true");
    for (let i = 0; i < 5; i++) s = ok(s, i);
    expect(s.targets.vm1!.drain).toBeUndefined();
    expect(s.status).toBe("succeeded");
  });
});
