import { describe, expect, it } from "vitest";
import { isEbbError } from "../errors.js";
import { DEFAULT_L4_TIMING } from "../facts.js";
import { parseRunbookOrThrow } from "../runbook/parse.js";
import { createRollout } from "./create.js";
import { transition } from "./machine.js";
import { createRollbackRollout, rollbackTargets, rollbackVersion } from "./rollback.js";
import type { Effect, RolloutEvent, RolloutState } from "./types.js";

const runbook = parseRunbookOrThrow(`apiVersion: ebb/v1
kind: Runbook
name: t
balancer: l4
onFailure: rollback
steps:
  - { id: fail-health, type: exec, kind: health-fail, run: [ebb-vm, health, fail] }
  - { id: await-unbound, type: balancer.awaitUnbound }
  - { id: deploy, type: exec, kind: deploy, run: [ebb-vm, deploy] }
  - { id: await-bound, type: balancer.awaitBound }
`);
const STEPS = runbook.steps.length;
const timing = { ...DEFAULT_L4_TIMING, healthCheckIntervalMs: 1_000, checkTimeoutMs: 500 };

class Harness {
  state: RolloutState;
  effects: Effect[] = [];
  now = 1_000;

  constructor(batches: string[][], onFailure?: "halt" | "rollback") {
    this.state = createRollout({
      id: "r1",
      runbook,
      batches,
      timing,
      version: "2.0.0",
      now: this.now,
      ...(onFailure === undefined ? {} : { onFailure }),
    });
    for (const run of Object.values(this.state.targets)) run.leaseHeld = true;
  }

  send(event: RolloutEvent) {
    this.now += 10;
    const result = transition(this.state, event, { now: this.now });
    this.state = result.state;
    this.effects.push(...result.effects);
    return result;
  }

  ok(target: string, stepIndex: number) {
    return this.send({ type: "step.succeeded", target, stepIndex, attempt: 1 });
  }

  fail(target: string, stepIndex: number) {
    const error = { code: "exec_failed" as const, message: "exit 1" };
    return this.send({ type: "step.failed", target, stepIndex, attempt: 1, error });
  }

  finish(target: string) {
    for (let i = this.state.targets[target]!.stepIndex; i < STEPS; i++) this.ok(target, i);
  }

  /** Effects other than notices, as short strings. */
  actions(): string[] {
    const out = this.effects.flatMap((e) => {
      if (e.type === "emit") return [];
      if (e.type === "createRollback") return [`createRollback ${e.targets.join(",")}`];
      if (e.type === "runStep" || e.type === "recheck") return [`${e.type} ${e.target}#${e.stepIndex}`];
      return [`${e.type} ${e.target}`];
    });
    this.effects = [];
    return out;
  }

  statuses(): Record<string, string> {
    return Object.fromEntries(Object.values(this.state.targets).map((r) => [r.target, r.status]));
  }
}

describe("onFailure: rollback", () => {
  it("hands the moved targets (and the failed one whose deploy ran) to a linked rollout, then ends rolled_back", () => {
    const h = new Harness([["vm1"], ["vm2"], ["vm3"], ["vm4"]]);
    h.send({ type: "start" });
    h.finish("vm1");
    h.finish("vm2");
    h.ok("vm3", 0);
    h.ok("vm3", 1);
    h.actions();
    h.fail("vm3", 2);
    expect(h.state.status).toBe("rolling_back");
    expect(h.state.failure?.target).toBe("vm3");
    // vm4 was never touched: skipped, its lease released; the three moved ones go to the rollback.
    expect(h.actions()).toEqual(["releaseLease vm4", "createRollback vm1,vm2,vm3"]);
    expect(h.statuses()).toEqual({ vm1: "succeeded", vm2: "succeeded", vm3: "failed", vm4: "skipped" });

    h.send({ type: "rollback.created", rolloutId: "rb1" });
    expect(h.state.rollback).toMatchObject({
      rolloutId: "rb1",
      targets: ["vm1", "vm2", "vm3"],
      manual: false,
    });
    // The leases moved with the new rollout's row: nothing is released (that would free the rollback's).
    expect(h.actions()).toEqual([]);
    expect(h.state.targets.vm3!.leaseHeld).toBe(false);
    expect(h.send({ type: "abort" }).ignored?.message).toContain("rb1");
    expect(h.send({ type: "rollback.finished", rolloutId: "other", ok: true }).ignored).toBeDefined();

    h.send({ type: "rollback.finished", rolloutId: "rb1", ok: true });
    expect(h.state.status).toBe("rolled_back");
    expect(h.state.finishedAt).toBeDefined();
  });

  it("waits for a command in flight before it hands over, and drops waits at once", () => {
    const h = new Harness([["vm1", "vm2"]]);
    h.send({ type: "start" });
    h.ok("vm1", 0);
    h.send({ type: "step.waiting", target: "vm1", stepIndex: 1, attempt: 1 });
    h.actions();
    h.fail("vm2", 0); // vm2 fails its first step while vm1 waits to be unbound.
    expect(h.state.status).toBe("rolling_back");
    expect(h.state.targets.vm1!.status).toBe("held");
    // vm1 is out of service (its health check was failed): it goes back too; vm2 is too (takesOut started).
    expect(h.actions()).toEqual(["createRollback vm1,vm2"]);

    const g = new Harness([["vm1", "vm2"]]);
    g.send({ type: "start" });
    g.ok("vm1", 0);
    g.ok("vm1", 1); // vm1's deploy command is now running
    g.actions();
    g.fail("vm2", 0);
    expect(g.state.status).toBe("rolling_back");
    expect(g.actions()).toEqual([]);
    g.ok("vm1", 2); // the deploy ends: vm1 stops at the boundary, then the hand-over
    expect(g.state.targets.vm1!.status).toBe("held");
    expect(g.actions()).toEqual(["createRollback vm1,vm2"]);
  });

  it("a wait's first check in flight when the rollback begins: its waiting result holds the target for the hand-over", () => {
    const h = new Harness([["vm1", "vm2"]]);
    h.send({ type: "start" });
    h.ok("vm1", 0); // vm1's await-unbound starts: its first check is running
    h.actions();
    h.fail("vm2", 0);
    expect(h.state.status).toBe("rolling_back");
    expect(h.actions()).toEqual([]); // the check is in flight: no hand-over yet
    h.send({ type: "step.waiting", target: "vm1", stepIndex: 1, attempt: 1 });
    expect(h.state.targets.vm1!.status).toBe("held");
    expect(h.actions()).toEqual(["createRollback vm1,vm2"]);
  });

  it("halts and says so when the rollback fails or cannot be created", () => {
    const h = new Harness([["vm1"], ["vm2"]]);
    h.send({ type: "start" });
    h.finish("vm1");
    h.fail("vm2", 0);
    h.send({ type: "rollback.created", rolloutId: "rb1" });
    h.send({
      type: "rollback.finished",
      rolloutId: "rb1",
      ok: false,
      error: { code: "step_timeout", message: "await-bound on vm1 did not complete" },
    });
    expect(h.state.status).toBe("failed");
    expect(h.state.rollback?.error?.message).toContain("await-bound");
    expect(h.send({ type: "retry", target: "vm2" }).ignored?.message).toContain("rb1");
    // The rollback rollout was retried and succeeded: the original settles.
    h.send({ type: "rollback.finished", rolloutId: "rb1", ok: true });
    expect(h.state.status).toBe("rolled_back");

    const c = new Harness([["vm1"], ["vm2"]]);
    c.send({ type: "start" });
    c.finish("vm1");
    c.fail("vm2", 0);
    c.actions();
    c.send({
      type: "rollback.finished",
      ok: false,
      error: { code: "rollback_unavailable", message: "previous version unknown for vm1" },
    });
    expect(c.state.status).toBe("failed");
    // Never handed over: the failed target's lease stays for retry or abort.
    expect(c.actions()).toEqual([]);
    expect(c.state.targets.vm2!.leaseHeld).toBe(true);
  });

  it("halts as before by default", () => {
    const h = new Harness([["vm1"], ["vm2"]], "halt");
    h.send({ type: "start" });
    h.finish("vm1");
    h.fail("vm2", 0);
    expect(h.state.status).toBe("failed");
    expect(h.actions().some((a) => a.startsWith("createRollback"))).toBe(false);
  });

  it("rolls back a finished rollout on request, but not twice and not while it runs", () => {
    const h = new Harness([["vm1"], ["vm2"]], "halt");
    expect(h.send({ type: "rollback", by: "alice" }).ignored?.message).toContain("pending");
    h.send({ type: "start" });
    h.finish("vm1");
    h.finish("vm2");
    expect(h.state.status).toBe("succeeded");
    h.actions();
    h.send({ type: "rollback", by: "alice" });
    expect(h.state.status).toBe("rolling_back");
    expect(h.state.rollback).toMatchObject({ manual: true, by: "alice", targets: ["vm1", "vm2"] });
    expect(h.actions()).toEqual(["createRollback vm1,vm2"]);
    h.send({ type: "rollback.created", rolloutId: "rb1" });
    h.send({ type: "rollback.finished", rolloutId: "rb1", ok: true });
    expect(h.state.status).toBe("rolled_back");
    expect(h.send({ type: "rollback" }).ignored).toBeDefined();
  });
});

describe("the rollback rollout", () => {
  it("runs the same planned steps over the original batches restricted to the moved targets", () => {
    const h = new Harness([["vm1", "vm2"], ["vm3"], ["vm4"]]);
    h.send({ type: "start" });
    h.finish("vm1");
    h.finish("vm2");
    h.fail("vm3", 0);
    expect(rollbackTargets(h.state)).toEqual(["vm1", "vm2", "vm3"]);
    const rb = createRollbackRollout(h.state, { id: "rb1", version: "1.0.0", now: 5 });
    expect(rb).toMatchObject({
      status: "pending",
      version: "1.0.0",
      rollbackOf: "r1",
      batches: [["vm1", "vm2"], ["vm3"]],
    });
    expect(rb.steps).toEqual(h.state.steps);
    expect(rb.onFailure).toBeUndefined(); // a rollback that fails halts
    expect(Object.values(rb.targets).every((r) => r.leaseHeld && r.status === "pending")).toBe(true);
  });

  it("goes back to one known version, never a guess", () => {
    expect(rollbackVersion({ vm1: "1.0.0", vm2: "1.0.0" })).toBe("1.0.0");
    const unknown = (() => {
      try {
        rollbackVersion({ vm1: "1.0.0", vm2: null });
      } catch (err) {
        return err;
      }
    })();
    expect(isEbbError(unknown, "rollback_unavailable")).toBe(true);
    expect((unknown as Error).message).toContain("previous version unknown for vm2");
    expect(() => rollbackVersion({ vm1: "1.0.0", vm2: "0.9.0" })).toThrow(
      /different previous versions \(vm1 ran 1\.0\.0; vm2 ran 0\.9\.0\)/,
    );
  });
});
