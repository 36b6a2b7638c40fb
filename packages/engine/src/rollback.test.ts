import { describe, expect, it } from "vitest";
import { Harness, RUNBOOK } from "../test-support/memory.js";

const ID = "00000000-0000-4000-8000-000000000001";
const ROLLBACK_RUNBOOK = RUNBOOK.replace("balancer: l4\n", "balancer: l4\nonFailure: rollback\n");

function linked(h: Harness): string {
  const id = h.state(ID).rollback?.rolloutId;
  if (id === undefined) throw new Error(`no rollback rollout: ${h.state(ID).status}`);
  return id;
}

describe("engine: onFailure rollback", () => {
  it("a failed deploy hands the moved targets to a linked rollout that runs the runbook again, then ends rolled_back", async () => {
    const h = new Harness(["vm1", "vm2", "vm3"]);
    for (const t of ["vm1", "vm2", "vm3"]) h.store.previous.set(t, "1.0.0");
    let fail = true;
    h.execResult = (t, argv) => (fail && t === "vm2" && argv.includes("deploy") ? { exitCode: 1 } : {});
    h.addRollout(ID, ROLLBACK_RUNBOOK);
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: () => h.state(ID).status === "rolling_back" });
    fail = false;
    await h.queue.runUntilIdle();

    expect(h.state(ID).status).toBe("rolled_back");
    const rb = h.state(linked(h));
    expect(rb).toMatchObject({
      status: "succeeded",
      version: "1.0.0",
      rollbackOf: ID,
      batches: [["vm1"], ["vm2"]],
    });
    // vm3 was never touched; vm1 and vm2 ran the whole runbook again, on the linked rollout.
    expect(h.ran().filter((l) => l.startsWith("vm3"))).toEqual([]);
    expect(h.ran().filter((l) => l === "vm1: ebb-vm deploy")).toHaveLength(2);
    expect(h.store.leases.size).toBe(0);
    const types = h.store.notices.filter((n) => n.rolloutId === ID).map((n) => n.notice.type);
    expect(types).toContain("rollback.linked");
  });

  it("a previous version it does not know fails the rollout and says why, keeping the leases", async () => {
    const h = new Harness(["vm1", "vm2"]);
    h.store.previous.set("vm1", "1.0.0");
    h.execResult = (t, argv) => (t === "vm2" && argv.includes("deploy") ? { exitCode: 1 } : {});
    h.addRollout(ID, ROLLBACK_RUNBOOK);
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle();
    const s = h.state(ID);
    expect(s.status).toBe("failed");
    expect(s.rollback?.error?.message).toContain("previous version unknown for vm2");
    expect(h.store.leases.get("vm2")?.rolloutId).toBe(ID);
  });

  it("the reconciler tells the original when the worker died between the rollback's end and that news", async () => {
    const h = new Harness(["vm1", "vm2"]);
    for (const t of ["vm1", "vm2"]) h.store.previous.set(t, "1.0.0");
    let fail = true;
    h.execResult = (t, argv) => (fail && t === "vm2" && argv.includes("deploy") ? { exitCode: 1 } : {});
    h.addRollout(ID, ROLLBACK_RUNBOOK);
    await h.engine.send(ID, { type: "start" });
    await h.queue.runUntilIdle({ until: () => h.state(ID).rollback?.rolloutId !== undefined });
    fail = false;
    const rb = linked(h);
    await h.queue.runUntilIdle({ until: () => h.state(rb).status === "succeeded" });
    // Simulate the lost message: put the original back to rolling_back as a crash would have left it.
    const stored = h.store.rollouts.get(ID)!;
    if (stored.state.status === "rolled_back") stored.state = { ...stored.state, status: "rolling_back" };
    await h.engine.reconcile();
    expect(h.state(ID).status).toBe("rolled_back");
  });
});
