import type { LoadGenerator } from "@ebb/lab";
import { vmStatus } from "@ebb/lab";
import { afterEach, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb } from "../support/ebb.js";
import {
  command,
  createRollout,
  describeTargets,
  errorsOf,
  gatedDrainSource,
  healthChecksPass,
  type Lab,
  setFaults,
  startLoad,
  stepRuns,
  storeRunbook,
  targetOf,
  untilInService,
  untilRollout,
  untilTerminal,
  vm,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// Operator abort: what this rollout took out of service comes back (restored: running, bound), except a
// target whose deploy failed (it would serve a broken release); nothing else is touched, nothing stays leased.

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [load, ebb, lab] = [undefined, undefined, undefined];
});

describe("abort", () => {
  it("mid-drain: the stopped target is started, its health check restored and bound again; the rest skipped", async () => {
    // Given a rollout under keep-alive load whose first target is drained and stopped, held at an approval
    // gate before its deploy
    lab = await givenLab(25, { vms: 3 });
    ebb = await givenEbb(lab, 25);
    const e = ebb;
    await storeRunbook(e, "l4-drain-gated", gatedDrainSource());
    load = await startLoad(lab);
    const id = await createRollout(e, { fleet: "lab", version: "2.0.0", runbook: "l4-drain-gated" });
    await untilRollout(e, id, (v) => targetOf(v, "vm1").status === "awaitingApproval", "vm1 at the gate");
    expect(await vmStatus(vm(lab, "vm1").dir)).toMatchObject({ running: false, healthCheckPresent: false });
    expect(lab.device.server("vm1")).toMatchObject({ bound: false });

    // When the operator aborts it
    const aborting = await command(e, id, "abort", { reason: "test" });
    expect(aborting.status, JSON.stringify(aborting.body)).toBe(200);
    expect(["aborting", "aborted"]).toContain(aborting.body.status);

    // Then vm1 is restored (running again, health check back, bound by the device) on the version it had
    const done = await untilTerminal(e, id);
    expect(done.status, describeTargets(done)).toBe("aborted");
    expect(targetOf(done, "vm1").status).toBe("restored");
    expect(await vmStatus(vm(lab, "vm1").dir)).toMatchObject({
      running: true,
      version: "1.0.0",
      runningVersion: "1.0.0",
      healthCheckPresent: true,
    });
    await untilInService(lab, "vm1");
    // the gate was dropped, not passed: no later step ever started on vm1
    const steps = await stepRuns(e, id, "vm1");
    expect(steps.find((s) => s.stepId === "approve-deploy")?.status).toBe("skipped");
    expect(steps.some((s) => s.stepId === "deploy")).toBe(false);
    // the other targets were skipped, untouched
    for (const name of ["vm2", "vm3"]) {
      expect(targetOf(done, name).status).toBe("skipped");
      expect(await stepRuns(e, id, name)).toEqual([]);
      await untilInService(lab, name);
    }
    // a finished abort cannot be aborted again, nor its gate approved
    expect((await command(e, id, "abort")).status).toBe(409);
    expect((await command(e, id, "approve")).status).toBe(409);
    const errors = errorsOf(await load.stop());
    load = undefined;
    expect(errors.count, errors.samples).toBe(0);
  });

  it("after a failed deploy: the healthy drained target is restored, the failed one stays out", async () => {
    // Given two targets drained together under keep-alive load, both held at the gate before their deploy
    // (so they deploy at the same moment), vm2's deploy failing
    lab = await givenLab(26);
    ebb = await givenEbb(lab, 26);
    const e = ebb;
    await storeRunbook(e, "l4-drain-gated", gatedDrainSource());
    await setFaults(lab, "vm2", { failDeploy: true });
    load = await startLoad(lab);
    const id = await createRollout(e, {
      fleet: "lab",
      version: "2.0.0",
      runbook: "l4-drain-gated",
      maxUnavailable: 2,
    });
    await untilRollout(
      e,
      id,
      (v) => ["vm1", "vm2"].every((n) => targetOf(v, n).status === "awaitingApproval"),
      "vm1 and vm2 at the gate",
    );
    const approved = await command(e, id, "approve");
    expect(approved.status, JSON.stringify(approved.body)).toBe(200);
    // the rollout halts; vm1 finishes its step in flight and holds, still out of service
    const failed = await untilRollout(
      e,
      id,
      (v) => v.status === "failed" && targetOf(v, "vm1").status === "held",
      "the rollout failed with vm1 held",
    );
    expect(targetOf(failed, "vm2")).toMatchObject({ status: "failed", step: "deploy" });
    expect(lab.device.server("vm1")).toMatchObject({ bound: false });

    // When the operator aborts
    const aborting = await command(e, id, "abort");
    expect(aborting.status, JSON.stringify(aborting.body)).toBe(200);

    // Then vm1, which this rollout took out and which is healthy, is restored: running and bound again
    const done = await untilTerminal(e, id);
    expect(done.status, describeTargets(done)).toBe("aborted");
    expect(targetOf(done, "vm1").status).toBe("restored");
    expect(await vmStatus(vm(lab, "vm1").dir)).toMatchObject({ running: true, healthCheckPresent: true });
    await untilInService(lab, "vm1");
    // vm2, whose deploy failed, stays out for a human, and the timeline says so
    expect(targetOf(done, "vm2")).toMatchObject({ status: "failed", step: "deploy" });
    await healthChecksPass(lab, "vm2", 3);
    expect(lab.device.server("vm2")).toMatchObject({ bound: false });
    const leftOut = await e.prisma.rolloutEvent.findMany({
      where: { rolloutId: id, type: "target.leftOutOfService" },
    });
    expect(leftOut.map((ev) => ev.target)).toEqual(["vm2"]);
    // the batch after them never started
    for (const name of ["vm3", "vm4"]) {
      expect(targetOf(done, name).status).toBe("skipped");
      await untilInService(lab, name);
    }
    const errors = errorsOf(await load.stop());
    load = undefined;
    expect(errors.count, errors.samples).toBe(0);
  });

  // Every target is leased at creation; an abort must release the leases of targets it skipped too, or the
  // next rollout of the fleet gets a 409 forever.
  it("releases every lease: the next rollout of the fleet can start", async () => {
    // Given a rollout aborted while its first target is mid-way (the others never started)
    lab = await givenLab(27, { vms: 2 });
    ebb = await givenEbb(lab, 27);
    const e = ebb;
    const id = await createRollout(e, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
    await untilRollout(e, id, (v) => targetOf(v, "vm1").step === "await-unbound", "vm1 at await-unbound");
    expect((await command(e, id, "abort")).status).toBe(200);
    expect((await untilTerminal(e, id)).status).toBe("aborted");

    // Then no lease is left, and a new rollout of the same fleet is accepted
    expect(await e.prisma.lease.findMany({ include: { target: { select: { name: true } } } })).toEqual([]);
    await createRollout(e, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
  });
});
