import type { LoadGenerator } from "@ebb/lab";
import { vmStatus } from "@ebb/lab";
import { afterEach, describe, expect, it } from "vitest";
import { api, givenEbb, type RunningEbb } from "../support/ebb.js";
import { naiveRunbookSource, startLoad, storeRunbook, untilTerminal } from "../support/rollouts.js";
import { givenLab, totalErrors } from "../support/world.js";

// issue #3: under continuous keep-alive load through the VIP, l4-drain rolls the lab fleet to a new
// version with zero failed requests; a naive runbook (stop, deploy, start) loses requests.

type Lab = Awaited<ReturnType<typeof givenLab>>;
let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [load, ebb, lab] = [undefined, undefined, undefined];
});

describe("a rollout of the lab fleet under keep-alive load", () => {
  it("l4-drain: zero failed requests, every VM on the new version and bound, the step timeline recorded", async () => {
    // Given the lab fleet registered in Ebb, under continuous keep-alive load through the VIP
    lab = await givenLab(10);
    ebb = await givenEbb(lab, 10);
    const l = lab;
    load = await startLoad(l);
    const g = load;

    // When CI asks for a rollout of version 2.0.0 with the documented runbook
    const created = await api<{ id: string }>(ebb, "POST", "/rollouts", {
      fleet: "lab",
      version: "2.0.0",
      runbook: "l4-drain",
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    // Then it succeeds
    const done = await untilTerminal(ebb, created.body.id, 90_000);
    expect(done.status, JSON.stringify(done.targets)).toBe("succeeded");
    const report = await g.stop();
    load = undefined;

    // with zero failed client requests
    expect(totalErrors(report.errors), JSON.stringify(report.errorSamples.slice(0, 5))).toBe(0);
    // every VM on the new version and bound again
    for (const vm of l.vms)
      expect(await vmStatus(vm.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
    expect(l.device.servers().every((s) => s.bound && s.health === "up")).toBe(true);
    // and the step timeline recorded, in runbook order, for each target
    const steps = await ebb.prisma.stepRun.findMany({
      where: { targetRun: { rolloutId: created.body.id } },
      orderBy: [{ targetRunId: "asc" }, { stepIndex: "asc" }],
      include: { targetRun: { include: { target: true } } },
    });
    const vm1 = steps.filter((s) => s.targetRun.target.name === "vm1");
    expect(vm1.map((s) => s.stepId)).toEqual([
      "fail-health-check",
      "await-unbound",
      "stop",
      "await-quiet",
      "deploy",
      "start",
      "restore-health-check",
      "await-bound",
      "verify",
    ]);
    expect(vm1.every((s) => s.status === "succeeded" && s.startedAt && s.finishedAt)).toBe(true);
    expect(vm1.find((s) => s.stepId === "await-unbound")!.observations).toEqual(
      expect.arrayContaining([expect.objectContaining({ bound: false, state: "failed" })]),
    );
  });

  it("a naive runbook (stop, deploy, start) loses requests: the test above can fail", async () => {
    // Given the same lab and load, and a runbook that stops servers the device still sends traffic to
    lab = await givenLab(11);
    ebb = await givenEbb(lab, 11);
    await storeRunbook(ebb, "naive", naiveRunbookSource("l4"));
    const l = lab;
    load = await startLoad(l);
    const g = load;

    // When it is forced past the preflight, which refuses it otherwise
    const refused = await api<{ error: { code: string; message: string } }>(ebb, "POST", "/rollouts", {
      fleet: "lab",
      version: "2.0.0",
      runbook: "naive",
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/preflight/);
    const created = await api<{ id: string }>(ebb, "POST", "/rollouts", {
      fleet: "lab",
      version: "2.0.0",
      runbook: "naive",
      force: true,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await untilTerminal(ebb, created.body.id, 90_000);

    // Then clients saw errors
    const report = await g.stop();
    load = undefined;
    expect(totalErrors(report.errors)).toBeGreaterThan(0);
  });
});
