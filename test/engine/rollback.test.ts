import type { AuditPage, RollbackCreatedView, RolloutDetail } from "@ebb/contracts";
import type { LoadGenerator } from "@ebb/lab";
import { vmStatus } from "@ebb/lab";
import { afterEach, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb } from "../support/ebb.js";
import {
  createRollout,
  describeTargets,
  errorsOf,
  type Lab,
  request,
  setFaults,
  startLoad,
  untilRollout,
  untilTerminal,
  vm,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// Rollback (issue 14 §2): a release that fails on one target takes the targets already moved back to the
// version they ran, through a linked rollout with the same runbook and drains, under keep-alive load.

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [load, ebb, lab] = [undefined, undefined, undefined];
});

async function detail(id: string): Promise<RolloutDetail> {
  const res = await request<RolloutDetail>(ebb!, "GET", `/rollouts/${id}`);
  expect(res.status).toBe(200);
  return res.body;
}

async function versions(names: string[]): Promise<Record<string, string | undefined>> {
  const out: Record<string, string | undefined> = {};
  for (const n of names) out[n] = (await vmStatus(vm(lab!, n).dir)).runningVersion ?? undefined;
  return out;
}

describe("onFailure: rollback", () => {
  it("a release that fails on vm3 takes vm1 and vm2 back to 1.0.0 with no failed request, and ends rolled_back", async () => {
    // Given the lab fleet on 1.0.0 under keep-alive load, and vm3 whose deploy fails
    lab = await givenLab(43);
    ebb = await givenEbb(lab, 43);
    await setFaults(lab, "vm3", { failDeploy: true });
    load = await startLoad(lab);

    // When 2.0.0 rolls out one target at a time with onFailure: rollback
    const id = await createRollout(ebb, {
      fleet: "lab",
      version: "2.0.0",
      runbook: "l4-drain",
      onFailure: "rollback",
    });
    const rolling = await untilRollout(ebb, id, (v) => v.status === "rolling_back", "rollout rolling back");
    // (the fault was the release's; the rollback deploys 1.0.0, which the VM accepts again)
    await setFaults(lab, "vm3", {});
    const done = await untilTerminal(ebb, id);

    // Then the original ends rolled_back, its failure kept, linked to a rollback rollout that succeeded
    expect(done.status, describeTargets(done)).toBe("rolled_back");
    expect(rolling.targets.find((t) => t.name === "vm3")?.status).toBe("failed");
    const original = await detail(id);
    expect(original.failure).toMatchObject({ target: "vm3", step: "deploy" });
    expect(original.onFailure).toBe("rollback");
    expect(original.targets.map((t) => t.previousVersion)).toEqual(["1.0.0", "1.0.0", "1.0.0", "1.0.0"]);
    const rollbackId = original.rollback?.rolloutId;
    expect(rollbackId).toBeTruthy();
    expect(original.rollback?.targets).toEqual(["vm1", "vm2", "vm3"]);
    const rb = await detail(rollbackId!);
    expect(rb).toMatchObject({ status: "succeeded", version: "1.0.0", rollbackOf: id, runbook: "l4-drain" });
    // with the same drain proofs: each target drained with no client error
    expect(rb.drainProof).toMatchObject({ drains: 3, clientErrors: 0 });
    // vm1..vm3 run 1.0.0 again; vm4 was never touched
    expect(await versions(["vm1", "vm2", "vm3", "vm4"])).toEqual({
      vm1: "1.0.0",
      vm2: "1.0.0",
      vm3: "1.0.0",
      vm4: "1.0.0",
    });
    expect(original.targets.find((t) => t.name === "vm4")).toMatchObject({ status: "skipped", attempt: 0 });
    // and no client saw an error, through the failed release and the rollback
    const errors = errorsOf(await load.stop());
    load = undefined;
    expect(errors.count, errors.samples).toBe(0);
  });

  it("POST /rollouts/:id/rollback takes a finished rollout's targets back as a linked rollout, once", async () => {
    // Given a rollout of 2.0.0 that succeeded on a two-VM fleet
    lab = await givenLab(44, { vms: 2 });
    ebb = await givenEbb(lab, 44);
    const id = await createRollout(ebb, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
    expect((await untilTerminal(ebb, id)).status).toBe("succeeded");
    expect(await versions(["vm1", "vm2"])).toEqual({ vm1: "2.0.0", vm2: "2.0.0" });

    // When someone asks for its rollback
    const res = await request<RollbackCreatedView>(ebb, "POST", `/rollouts/${id}/rollback`);

    // Then a linked rollout of 1.0.0 takes both back and the original ends rolled_back
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ rollbackOf: id, targets: ["vm1", "vm2"] });
    const rb = await untilTerminal(ebb, res.body.id!);
    expect(rb.status, describeTargets(rb)).toBe("succeeded");
    expect(rb.version).toBe("1.0.0");
    expect((await untilTerminal(ebb, id)).status).toBe("rolled_back");
    expect((await detail(id)).rollback).toMatchObject({
      rolloutId: res.body.id,
      requestedBy: expect.any(String),
    });
    expect((await detail(res.body.id!)).rollbackOf).toBe(id);
    expect(await versions(["vm1", "vm2"])).toEqual({ vm1: "1.0.0", vm2: "1.0.0" });

    // a second request is refused, naming the rollback that did it
    const again = await request<{ error: { message: string } }>(ebb, "POST", `/rollouts/${id}/rollback`);
    expect(again.status).toBe(409);
    expect(again.body.error.message).toContain("rolled_back");

    // and the audit history has the request and the link on both rollouts
    const audit = await request<AuditPage>(ebb, "GET", "/audit?action=rollback.linked&limit=10");
    expect(audit.status).toBe(200);
    expect(audit.body.items.map((e) => e.resourceId).sort()).toEqual([id, res.body.id].sort());
    const asked = await request<AuditPage>(ebb, "GET", "/audit?origin=request&limit=50");
    expect(asked.body.items.some((e) => e.action === "rollout.rollback" && e.resourceId === id)).toBe(true);
  });
});
