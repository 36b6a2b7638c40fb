import { describe, expect, it } from "vitest";
import { DEFAULT_L4_TIMING } from "../facts.js";
import { loadBuiltinRunbooks } from "../runbook/builtins.js";
import { parseRunbookOrThrow } from "../runbook/parse.js";
import { createRollout } from "./create.js";
import { transition } from "./machine.js";
import type { Effect, RolloutEvent, RolloutState } from "./types.js";

const runbook = parseRunbookOrThrow(`apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
  - { id: fail-health, type: exec, run: [ebb-vm, health, fail] }
  - { id: await-unbound, type: balancer.awaitUnbound }
  - { id: deploy, type: exec, run: [ebb-vm, deploy] }
  - { id: await-bound, type: balancer.awaitBound }
`);
const STEPS = runbook.steps.length;
const timing = { ...DEFAULT_L4_TIMING, healthCheckIntervalMs: 1_000, checkTimeoutMs: 500 };

/** Drives the machine like the worker would, recording every effect. */
class Harness {
  state: RolloutState;
  effects: Effect[] = [];
  now = 1_000;

  constructor(batches: string[][], rb = runbook) {
    this.state = createRollout({ id: "r1", runbook: rb, batches, timing, version: "2.0.0", now: this.now });
  }

  send(event: RolloutEvent, advanceMs = 10) {
    this.now += advanceMs;
    const result = transition(this.state, event, { now: this.now });
    this.state = result.state;
    this.effects.push(...result.effects);
    return result;
  }

  ok(target: string, stepIndex: number, attempt = 1) {
    return this.send({ type: "step.succeeded", target, stepIndex, attempt });
  }

  fail(target: string, stepIndex: number, attempt = 1) {
    return this.send({
      type: "step.failed",
      target,
      stepIndex,
      attempt,
      error: { code: "exec_failed", message: "exit 1" },
    });
  }

  /** Runs every step of a target to success from where it is. */
  finish(target: string) {
    for (let i = this.state.targets[target]!.stepIndex; i < STEPS; i++)
      this.ok(target, i, this.state.targets[target]!.attempt);
  }

  take(): Effect[] {
    const out = this.effects;
    this.effects = [];
    return out;
  }

  /** Non-emit effects as short strings, e.g. "runStep a#0.1". */
  actions(): string[] {
    return this.take().flatMap((e) => {
      switch (e.type) {
        case "emit":
          return [];
        case "runStep":
        case "recheck":
        case "awaitApproval":
          return [`${e.type} ${e.target}#${e.stepIndex}.${e.attempt}`];
        case "createRollback":
          return [`${e.type} ${e.targets.join(",")}`];
        default:
          return [`${e.type} ${e.target}`];
      }
    });
  }

  status(target: string) {
    return this.state.targets[target]?.status;
  }
}

describe("rollout state machine", () => {
  it("happy path over 2 batches: steps in order, batch 2 after batch 1, leases acquired and released", () => {
    const h = new Harness([["a", "b"], ["c"]]);
    h.send({ type: "start" });
    expect(h.state.status).toBe("running");
    expect(h.actions()).toEqual(["acquireLease a", "runStep a#0.1", "acquireLease b", "runStep b#0.1"]);

    h.ok("a", 0);
    expect(h.actions()).toEqual(["runStep a#1.1"]);
    h.finish("a");
    expect(h.actions()).toEqual(["runStep a#2.1", "runStep a#3.1", "releaseLease a"]);
    expect(h.status("a")).toBe("succeeded");
    // b is still in batch 1: c must not start yet.
    expect(h.status("c")).toBe("pending");

    h.finish("b");
    expect(h.actions()).toEqual([
      "runStep b#1.1",
      "runStep b#2.1",
      "runStep b#3.1",
      "releaseLease b",
      "acquireLease c",
      "runStep c#0.1",
    ]);
    h.finish("c");
    expect(h.actions()).toEqual(["runStep c#1.1", "runStep c#2.1", "runStep c#3.1", "releaseLease c"]);
    expect(h.state.status).toBe("succeeded");
    expect(h.state.finishedAt).toBe(h.now);
  });

  it("emits notices for status changes and batches", () => {
    const h = new Harness([["a"]]);
    h.send({ type: "start" });
    h.finish("a");
    const notices = h.take().flatMap((e) => (e.type === "emit" ? [e.notice.type] : []));
    expect(notices[0]).toBe("rollout.status");
    expect(notices).toContain("batch.started");
    expect(notices).toContain("batch.completed");
    expect(notices.filter((n) => n === "step.started")).toHaveLength(STEPS);
    expect(notices.at(-1)).toBe("rollout.status");
  });

  it("a failed step halts: targets in flight finish their step, nothing new starts", () => {
    const h = new Harness([["a", "b"], ["c"]]);
    h.send({ type: "start" });
    h.ok("a", 0);
    h.ok("b", 0);
    h.take();
    h.fail("a", 1);
    expect(h.state.status).toBe("failed");
    expect(h.state.failure).toMatchObject({ target: "a", stepIndex: 1 });
    expect(h.status("a")).toBe("failed");
    h.ok("b", 1); // b's step was in flight: its result is recorded ...
    expect(h.state.targets.b?.steps[1]?.status).toBe("succeeded");
    expect(h.status("b")).toBe("held"); // ... but its next step does not start.
    expect(h.actions()).toEqual([]);
    expect(h.status("c")).toBe("pending");
  });

  it("onFailure: continue records the failure and goes on", () => {
    const rb = parseRunbookOrThrow(`apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
  - { id: notify, type: exec, run: [notify], onFailure: continue }
  - { id: deploy, type: exec, run: [ebb-vm, deploy] }
`);
    const h = new Harness([["a"]], rb);
    h.send({ type: "start" });
    h.fail("a", 0);
    expect(h.state.status).toBe("running");
    expect(h.state.targets.a?.steps[0]?.status).toBe("failed");
    expect(h.actions()).toEqual(["acquireLease a", "runStep a#0.1", "runStep a#1.1"]);
  });

  it("pause takes effect at the next step boundary; resume continues from there", () => {
    const h = new Harness([["a", "b"], ["c"]]);
    h.send({ type: "start" });
    h.take();
    h.send({ type: "pause", by: "ops" });
    expect(h.state.status).toBe("paused");
    expect(h.status("a")).toBe("running"); // the step in flight is not interrupted
    h.ok("a", 0);
    expect(h.status("a")).toBe("held");
    expect(h.state.targets.a?.stepIndex).toBe(1);
    expect(h.actions()).toEqual([]);
    h.send({ type: "resume", by: "ops" });
    expect(h.state.status).toBe("running");
    expect(h.actions()).toEqual(["runStep a#1.1"]);
    // Events for the held step index are now stale: b is still on step 0.
    h.ok("b", 0);
    expect(h.actions()).toEqual(["runStep b#1.1"]);
  });

  it("a pause between batches holds the next batch until resume", () => {
    const h = new Harness([["a"], ["b"]]);
    h.send({ type: "start" });
    for (let i = 0; i < STEPS - 1; i++) h.ok("a", i);
    h.send({ type: "pause" });
    h.take();
    h.ok("a", STEPS - 1); // the last step completes the target even while paused
    expect(h.status("a")).toBe("succeeded");
    expect(h.actions()).toEqual(["releaseLease a"]);
    expect(h.status("b")).toBe("pending");
    h.send({ type: "resume" });
    expect(h.actions()).toEqual(["acquireLease b", "runStep b#0.1"]);
  });

  it("abort restores only targets this rollout took out and whose deploy did not fail", () => {
    const h = new Harness([["a", "b", "d"], ["c"]]);
    h.send({ type: "start" });
    h.ok("a", 0);
    h.ok("a", 1);
    h.ok("b", 0); // b: health check failed, waiting for the unbind
    h.fail("a", 2); // a: deploy failed -> rollout failed
    expect(h.state.status).toBe("failed");
    h.ok("b", 1); // b finishes its step, held (drained)
    // d never got past its first step: it is still running step 0 (the health-check command).
    h.take();
    h.send({ type: "abort", by: "ops", reason: "bad release" });
    expect(h.state.status).toBe("aborting");
    expect(h.actions()).toEqual(["releaseLease a", "restore b"]);
    expect(h.status("a")).toBe("failed");
    expect(h.status("c")).toBe("skipped");
    // d's command was in flight: it finishes, and since it took d out (health check failed), d is restored.
    h.ok("d", 0);
    expect(h.actions()).toEqual(["restore d"]);
    h.send({ type: "restore.done", target: "b", ok: true });
    expect(h.state.status).toBe("aborting");
    h.send({ type: "restore.done", target: "d", ok: true });
    expect(h.state.status).toBe("aborted");
    expect(h.actions()).toEqual(["releaseLease b", "releaseLease d"]);
    expect(Object.values(h.state.targets).every((t) => !t.leaseHeld)).toBe(true);
    expect(h.state.targets.b?.outOfService).toBe(false);
  });

  it("abort says which target stays out, and restores with deployed=true after a good deploy", () => {
    const h = new Harness([["a", "b", "c"]]);
    h.send({ type: "start" });
    for (const t of ["a", "b"]) {
      h.ok(t, 0);
      h.ok(t, 1);
    }
    for (let i = 0; i < 3; i++) h.ok("c", i); // c is deployed and awaiting the re-bind
    h.fail("a", 2); // a's deploy fails: the rollout halts
    h.ok("b", 2); // b's deploy was in flight and succeeds: b is held, drained, on the new version
    expect(h.status("b")).toBe("held");
    h.take();
    h.send({ type: "abort" });
    const effects = h.take();
    expect(effects).toContainEqual({
      type: "emit",
      notice: expect.objectContaining({ type: "target.leftOutOfService", target: "a" }),
    });
    expect(effects).toContainEqual({
      type: "restore",
      target: "b",
      reason: "rollout aborted",
      deployed: true,
    });
    expect(effects.filter((e) => e.type === "restore")).toHaveLength(1);
    // c's await-bound was in flight: it completes the target, which is back in service.
    h.ok("c", 3);
    expect(h.status("c")).toBe("succeeded");
    expect(h.state.status).toBe("aborting"); // b is still being restored
    h.send({
      type: "restore.done",
      target: "b",
      ok: false,
      error: { code: "exec_failed", message: "start failed" },
    });
    expect(h.status("b")).toBe("failed");
    expect(h.state.status).toBe("aborted");
  });

  it("pods: a replacement that never gets ready is a failed deploy; an abort restores only drained pods", () => {
    const pods = loadBuiltinRunbooks()["k8s-pod-drain"];
    const h = new Harness([["web-0", "web-1"]], pods);
    h.send({ type: "start" });
    expect(h.state.steps.map((p) => p.role ?? null)).toEqual([
      "out-of-service",
      null,
      null,
      "stop",
      "deploy",
      null,
    ]);
    for (let i = 0; i < 4; i++) h.ok("web-0", i); // deleted, awaiting its replacement
    h.ok("web-1", 0); // taken out (gate False), awaiting its endpoint's removal
    expect(h.state.targets["web-1"]?.outOfService).toBe(true);
    h.send({ type: "step.timedOut", target: "web-0", stepIndex: 4, attempt: 1 });
    expect(h.state.status).toBe("failed");
    expect(h.state.targets["web-0"]?.deployFailed).toBe(true);
    h.ok("web-1", 1); // its wait finishes: held, out of service
    h.take();
    h.send({ type: "abort" });
    const effects = h.take();
    expect(effects).toContainEqual({
      type: "emit",
      notice: expect.objectContaining({ type: "target.leftOutOfService", target: "web-0" }),
    });
    expect(effects.filter((e) => e.type === "restore")).toEqual([
      { type: "restore", target: "web-1", reason: "rollout aborted", deployed: false },
    ]);
  });

  it("abort drops waits and approval gates at once; their late results are stale", () => {
    const h = new Harness([["a"]]);
    h.send({ type: "start" });
    h.ok("a", 0);
    h.send({ type: "step.waiting", target: "a", stepIndex: 1, attempt: 1 });
    h.take();
    h.send({ type: "abort" });
    expect(h.actions()).toEqual(["restore a"]);
    expect(h.state.targets.a?.steps[1]?.status).toBe("skipped");
    const late = h.ok("a", 1);
    expect(late.ignored?.reason).toBe("stale");
  });

  it("abort while a wait's first check runs: the check's waiting result restores the target, never leaves it out", () => {
    const h = new Harness([["a"], ["b"]]);
    h.send({ type: "start" });
    h.ok("a", 0); // a is out (health check failed); its await-unbound's first check is running
    expect(h.status("a")).toBe("running");
    h.take();
    h.send({ type: "abort" });
    expect(h.state.status).toBe("aborting");
    expect(h.status("b")).toBe("skipped");
    expect(h.actions()).toEqual([]);
    // The check ends: not unbound yet. Kept "waiting", the abort would end here with a still out.
    h.send({ type: "step.waiting", target: "a", stepIndex: 1, attempt: 1, observation: { bound: true } });
    expect(h.state.targets.a?.steps[1]?.status).toBe("skipped");
    expect(h.actions()).toEqual(["restore a"]);
    expect(h.state.status).toBe("aborting");
    h.send({ type: "restore.done", target: "a", ok: true });
    expect(h.state.status).toBe("aborted");
    expect(h.status("a")).toBe("restored");
  });

  it("abort of a pending rollout ends it at once", () => {
    const h = new Harness([["a"]]);
    h.send({ type: "abort" });
    expect(h.state.status).toBe("aborted");
    expect(h.status("a")).toBe("skipped");
    expect(h.actions()).toEqual([]);
  });

  it("retry re-runs the failed step with attempt + 1 and resumes held targets", () => {
    const h = new Harness([["a", "b"]]);
    h.send({ type: "start" });
    h.fail("a", 0);
    h.ok("b", 0);
    expect(h.status("b")).toBe("held");
    h.take();
    h.send({ type: "retry", target: "a", by: "ops" });
    expect(h.state.status).toBe("running");
    expect(h.state.failure).toBeUndefined();
    expect(h.actions()).toEqual(["runStep a#0.2", "runStep b#1.1"]);
    // The late result of the first attempt is ignored.
    const late = h.ok("a", 0, 1);
    expect(late.ignored).toMatchObject({ reason: "stale" });
    h.ok("a", 0, 2);
    expect(h.actions()).toEqual(["runStep a#1.1"]);
    expect(h.send({ type: "retry", target: "a" }).ignored?.reason).toBe("not_applicable");
  });

  it("ignores stale and unknown step results without touching the state", () => {
    const h = new Harness([["a"]]);
    h.send({ type: "start" });
    h.ok("a", 0);
    const before = h.state;
    const cases: RolloutEvent[] = [
      { type: "step.succeeded", target: "a", stepIndex: 0, attempt: 1 }, // duplicate delivery
      { type: "step.succeeded", target: "a", stepIndex: 1, attempt: 2 }, // future attempt
      {
        type: "step.failed",
        target: "a",
        stepIndex: 2,
        attempt: 1,
        error: { code: "exec_failed", message: "x" },
      },
      { type: "step.timedOut", target: "a", stepIndex: 0, attempt: 1 },
      { type: "step.succeeded", target: "zz", stepIndex: 1, attempt: 1 },
    ];
    for (const event of cases) {
      const result = transition(before, event, { now: 99_999 });
      expect(result.ignored?.reason).toBe("stale");
      expect(result.state).toBe(before);
      expect(result.effects).toEqual([]);
    }
  });

  it("waiting schedules a re-check before the deadline; past it the step times out", () => {
    const h = new Harness([["a"]]);
    h.send({ type: "start" });
    h.ok("a", 0);
    const deadline = h.state.targets.a!.deadline!;
    // awaitUnbound: detection max (2 * 1 s + 0.5 s) + 5 s margin.
    expect(deadline - h.now).toBe(7_500);
    h.take();
    h.send({
      type: "step.waiting",
      target: "a",
      stepIndex: 1,
      attempt: 1,
      observation: { state: "suspect" },
    });
    const [recheck] = h.take().filter((e) => e.type === "recheck");
    expect(recheck).toEqual({
      type: "recheck",
      target: "a",
      stepIndex: 1,
      attempt: 1,
      atMs: h.now + 100,
      deadlineAtMs: deadline,
    });
    expect(h.status("a")).toBe("waiting");
    expect(h.state.targets.a?.steps[1]?.observation).toEqual({ state: "suspect" });
    // A requested time beyond the deadline is clamped to it: one last check exactly at the deadline.
    h.send({ type: "step.waiting", target: "a", stepIndex: 1, attempt: 1, recheckAtMs: deadline + 60_000 });
    expect(h.take().find((e) => e.type === "recheck")).toMatchObject({ atMs: deadline });
    h.send({ type: "step.waiting", target: "a", stepIndex: 1, attempt: 1 }, deadline - h.now);
    expect(h.state.targets.a?.steps[1]?.status).toBe("timedOut");
    expect(h.state.targets.a?.error?.code).toBe("step_timeout");
    expect(h.state.status).toBe("failed");
  });

  it("approval gates wait for approve and time out like any step", () => {
    const rb = parseRunbookOrThrow(`apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
steps:
  - { id: gate, type: approval, message: "canary looks fine?", timeout: 1h }
  - { id: deploy, type: exec, run: [ebb-vm, deploy] }
`);
    const h = new Harness([["a", "b"]], rb);
    h.send({ type: "start" });
    expect(h.take().filter((e) => e.type === "awaitApproval")).toEqual([
      {
        type: "awaitApproval",
        target: "a",
        stepIndex: 0,
        attempt: 1,
        deadlineAtMs: h.now + 3_600_000,
        message: "canary looks fine?",
      },
      expect.objectContaining({ target: "b" }),
    ]);
    expect(h.send({ type: "step.succeeded", target: "a", stepIndex: 0, attempt: 1 }).ignored?.reason).toBe(
      "stale",
    );
    h.send({ type: "approve", target: "a", by: "alice" });
    expect(h.actions()).toEqual(["runStep a#1.1"]);
    expect(h.state.targets.a?.steps[0]?.observation).toEqual({ approvedBy: "alice" });
    h.send({ type: "step.timedOut", target: "b", stepIndex: 0, attempt: 1 });
    expect(h.status("b")).toBe("failed");
    expect(h.send({ type: "approve", by: "alice" }).ignored?.reason).toBe("not_applicable");
  });

  it("is deterministic and never mutates its input", () => {
    const h = new Harness([["a", "b"]]);
    h.send({ type: "start" });
    const frozen = deepFreeze(structuredClone(h.state));
    const event: RolloutEvent = { type: "step.succeeded", target: "a", stepIndex: 0, attempt: 1 };
    const one = transition(frozen, event, { now: 5_000 });
    const two = transition(frozen, event, { now: 5_000 });
    expect(one).toEqual(two);
    expect(one.state).not.toBe(frozen);
    expect(JSON.parse(JSON.stringify(one.state))).toEqual(one.state); // plain JSON, storable as is
  });

  it("refuses commands that do not apply", () => {
    const h = new Harness([["a"]]);
    expect(h.send({ type: "pause" }).ignored?.reason).toBe("not_applicable");
    expect(h.send({ type: "resume" }).ignored?.reason).toBe("not_applicable");
    h.send({ type: "start" });
    expect(h.send({ type: "start" }).ignored?.reason).toBe("not_applicable");
    h.finish("a");
    expect(h.state.status).toBe("succeeded");
    expect(h.send({ type: "abort" }).ignored?.reason).toBe("not_applicable");
  });

  it("createRollout refuses a target in two batches", () => {
    expect(() => new Harness([["a"], ["a"]])).toThrow(/more than one batch/);
  });
});

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
