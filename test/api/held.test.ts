import { type FleetView, fleetHoldSchema, type RolloutPreview } from "@ebb/contracts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb } from "../support/ebb.js";
import {
  type ApiErrorBody,
  createRollout,
  describeTargets,
  type Lab,
  request,
  setFaults,
  untilTerminal,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// A fleet held by a failed rollout says so: a new rollout's 409 and the preview name the holding rollout,
// its status, the targets it keeps with their state as the device reports it, and the commands (CLI and
// API) that release them. Real lab: the device, two VMs, one whose deploy command fails.

const NET = 33;
let lab: Lab | undefined;
let ebb: RunningEbb | undefined;

beforeAll(async () => {
  lab = await givenLab(NET, { vms: 2 });
  ebb = await givenEbb(lab, NET);
});

afterAll(async () => {
  await ebb?.cleanup();
  await lab?.cleanup();
});

describe("a fleet held by a failed rollout", () => {
  it("answers 409 fleet_held and a blocked preview, both naming the holder and how to release it", async () => {
    const e = ebb!;
    // Given a rollout of lab that failed at vm2's deploy: vm2 stays out of service, its lease kept
    await setFaults(lab!, "vm2", { failDeploy: true });
    const id = await createRollout(e, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
    const failed = await untilTerminal(e, id);
    expect(failed.status, describeTargets(failed)).toBe("failed");

    // When someone asks for another rollout of lab, and previews one (even forced)
    const body = { fleet: "lab", version: "2.0.1" };
    const refused = await request<ApiErrorBody>(e, "POST", "/rollouts", { body });
    const preview = await request<RolloutPreview>(e, "POST", "/rollouts/preview", {
      body: { ...body, force: true },
    });

    // Then the create is refused with the holder, its status, its targets and the way out
    expect(refused.status, JSON.stringify(refused.body)).toBe(409);
    expect(refused.body.error.code).toBe("fleet_held");
    const hold = fleetHoldSchema.parse(refused.body.error.details);
    expect(hold).toMatchObject({
      fleet: "lab",
      rolloutId: id,
      status: "failed",
      version: "2.0.0",
      failure: { target: "vm2", step: "deploy" },
    });
    const vm2 = hold.targets.find((t) => t.name === "vm2");
    // As the device sees it: drained before the deploy failed, so unbound
    expect(vm2).toMatchObject({ status: "failed", step: "deploy", balancer: { bound: false } });
    expect(vm2?.error).toMatch(/vm2/);
    expect(hold.targets.map((t) => t.name)).not.toContain("vm1"); // done, its lease released
    expect(hold.release).toEqual([
      {
        action: "retry",
        target: "vm2",
        command: `ebb rollout retry ${id} --target vm2`,
        method: "POST",
        path: `/api/v1/rollouts/${id}/retry`,
        body: { target: "vm2" },
      },
      {
        action: "abort",
        command: `ebb rollout abort ${id}`,
        method: "POST",
        path: `/api/v1/rollouts/${id}/abort`,
        body: null,
      },
    ]);
    expect(refused.body.error.message).toContain(`held by rollout ${id} (failed at vm2 deploy`);

    // and the preview is blocked by the same hold, as a finding
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.blocked).toBe(true);
    expect(preview.body.holds).toEqual([hold]);
    expect(preview.body.findings).toContainEqual({
      severity: "error",
      code: "fleet_held",
      message: refused.body.error.message,
    });
    // and the fleet's own view carries it (the dashboard's banner)
    const fleet = await request<FleetView>(e, "GET", "/fleets/lab");
    expect(fleet.body.holds.map((h) => h.rolloutId)).toEqual([id]);

    // When the abort it names is sent to the path it names
    await setFaults(lab!, "vm2", {});
    const abort = hold.release.find((r) => r.action === "abort")!;
    const aborted = await request(e, abort.method, abort.path.replace(/^\/api\/v1/, ""), {});
    expect(aborted.status, JSON.stringify(aborted.body)).toBe(200);
    expect((await untilTerminal(e, id)).status).toBe("aborted");

    // Then the fleet is free: no hold, and a preview no longer blocked by one
    const after = await request<RolloutPreview>(e, "POST", "/rollouts/preview", { body });
    expect(after.body.holds).toEqual([]);
    expect(after.body.findings.map((f) => f.code)).not.toContain("fleet_held");
  });
});
