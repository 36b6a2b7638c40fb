import { describe, expect, it } from "vitest";
import { Harness } from "../test-support/memory.js";
import type { RolloutStatusChange, StepFinished } from "./observer.js";

const ID = "00000000-0000-4000-8000-000000000003";
const done = (h: Harness) => () => ["succeeded", "failed", "aborted"].includes(h.state(ID).status);
const of = <T>(h: Harness, hook: string) => h.observed.filter((o) => o.hook === hook).map((o) => o.arg as T);

// The engine's observer port: what metrics and traces are built on (apps/api/src/metrics, tracing).
describe("engine observers", () => {
  it("hear each status change after commit and each finished step with its type and duration", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID);
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });

    const changes = of<RolloutStatusChange>(h, "rolloutStatusChanged");
    expect(changes.map((c) => `${c.from}->${c.to}`)).toEqual(["pending->running", "running->succeeded"]);
    expect(changes[1]).toMatchObject({ rolloutId: ID, fleet: expect.any(String), runbook: "t" });
    const steps = of<StepFinished>(h, "stepFinished");
    expect(steps.map((s) => `${s.stepType}:${s.outcome}`)).toEqual([
      "exec:succeeded",
      "balancer.awaitUnbound:succeeded",
      "exec:succeeded",
      "exec:succeeded",
      "exec:succeeded",
      "exec:succeeded",
      "balancer.awaitBound:succeeded",
    ]);
    for (const s of steps) expect(s.endedAt).toBeGreaterThanOrEqual(s.startedAt);
  });

  it("hear a refused late result (fencing) and the jobs the reconciler re-created", async () => {
    const h = new Harness(["vm1"], { followCommands: false });
    h.addRollout(ID);
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ maxMs: 1_000 });
    const [job] = h.queue.pending("step.run");
    h.balancer.set("vm1", { state: "failed", bound: false });
    await h.engine.process({
      name: "step.run",
      data: { ...(job!.payload as Record<string, unknown>), leaseToken: "1" },
      id: "stale",
      canDelay: true,
    });
    expect(of(h, "leaseConflict")).toEqual([{ rolloutId: ID, target: "vm1", kind: "fenced" }]);

    for (const j of h.queue.pending()) await h.queue.remove(j.id);
    await h.engine.reconcile();
    expect(of(h, "jobsRecreated")).toEqual([1]);
  });

  it("hear the client errors the drain proof records while a target is out of service", async () => {
    const h = new Harness(["vm1"]);
    // A balancer that gives cumulative counters (the drain proof's readings): stopping the web server
    // resets two keep-alive sessions.
    let resets = 0;
    h.balancer.snapshot = async (targets) =>
      targets.map((t) => ({
        name: t.name,
        state: "up",
        bound: true,
        sessions: 0,
        sessionsOpened: 0,
        resets,
      }));
    const follow = h.onRun;
    h.onRun = (target, argv) => {
      follow(target, argv);
      if (argv.join(" ") === "ebb-vm stop") resets += 2;
    };
    h.addRollout(ID);
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).targets.vm1!.drain?.resets).toBe(2);
    // (the in-memory store names the fleet by its id)
    expect(of(h, "drainClientErrors")).toEqual([{ rolloutId: ID, target: "vm1", fleet: "f1", count: 2 }]);
  });

  it("an observer that throws changes nothing: the rollout still succeeds, the failure is logged", async () => {
    const h = new Harness(["vm1"]);
    h.addRollout(ID);
    h.observed.push = () => {
      throw new Error("observer down");
    };
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: done(h) });
    expect(h.state(ID).status).toBe("succeeded");
    expect(h.logs.join("\n")).toContain("observer rolloutStatusChanged threw: observer down");
  });
});
