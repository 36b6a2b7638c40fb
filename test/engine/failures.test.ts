import type { LoadGenerator } from "@ebb/lab";
import { vmStatus } from "@ebb/lab";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { givenEbb, type RunningEbb } from "../support/ebb.js";
import {
  command,
  createRollout,
  describeTargets,
  errorsOf,
  getRollout,
  healthChecksPass,
  type Lab,
  type RolloutView,
  setFaults,
  startLoad,
  stepRuns,
  targetOf,
  untilInService,
  untilTerminal,
  vm,
} from "../support/rollouts.js";
import { givenLab } from "../support/world.js";

// Failure paths of a rollout under keep-alive load: a deploy that fails halts the rollout with the target
// kept out of service, a target that never comes back fails its awaitBound at the computed deadline, and a
// retry after the fix re-runs the failed step and completes the rollout.

let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [load, ebb, lab] = [undefined, undefined, undefined];
});

async function stopLoad(): Promise<ReturnType<typeof errorsOf>> {
  const report = await load!.stop();
  load = undefined;
  return errorsOf(report);
}

describe("a rollout that meets a failing target", () => {
  it("a failed deploy halts the rollout: that target stays out, later targets untouched, no client error", async () => {
    // Given the lab fleet under keep-alive load, and vm2 whose deploy command fails
    lab = await givenLab(20);
    ebb = await givenEbb(lab, 20);
    await setFaults(lab, "vm2", { failDeploy: true });
    load = await startLoad(lab);

    // When a rollout of 2.0.0 runs one target at a time
    const id = await createRollout(ebb, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
    const done = await untilTerminal(ebb, id);

    // Then it halts as failed, at vm2's deploy, with an error that names vm2
    expect(done.status, describeTargets(done)).toBe("failed");
    const vm2 = targetOf(done, "vm2");
    expect(vm2).toMatchObject({ status: "failed", step: "deploy", attempt: 1 });
    expect(vm2.error?.code).toBe("exec_failed");
    expect(vm2.error?.message).toMatch(/\bvm2\b/);
    // vm1, done before, serves 2.0.0
    expect(targetOf(done, "vm1").status).toBe("succeeded");
    expect(await vmStatus(vm(lab, "vm1").dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
    // vm2 stays out of service: still unbound several health checks after the failure
    await healthChecksPass(lab, "vm2", 3);
    expect(lab.device.server("vm2")).toMatchObject({ bound: false });
    // the targets after it were never started: pending, no step run, still bound on 1.0.0
    for (const name of ["vm3", "vm4"]) {
      expect(targetOf(done, name)).toMatchObject({ status: "pending", attempt: 0, step: null });
      expect(await stepRuns(ebb, id, name)).toEqual([]);
      await untilInService(lab, name);
      expect(await vmStatus(vm(lab, name).dir)).toMatchObject({
        running: true,
        version: "1.0.0",
        runningVersion: "1.0.0",
      });
    }
    // and no client saw an error: vm2 was drained before its deploy failed
    const errors = await stopLoad();
    expect(errors.count, errors.samples).toBe(0);
  });

  it("retry after fixing the fault re-runs the deploy as attempt 2 and completes the rollout", async () => {
    // Given a rollout halted by vm2's failed deploy, under keep-alive load
    lab = await givenLab(22, { vms: 3 });
    ebb = await givenEbb(lab, 22);
    await setFaults(lab, "vm2", { failDeploy: true });
    load = await startLoad(lab);
    const id = await createRollout(ebb, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
    const failed = await untilTerminal(ebb, id);
    expect(failed.status, describeTargets(failed)).toBe("failed");
    expect(targetOf(failed, "vm2")).toMatchObject({ status: "failed", step: "deploy", attempt: 1 });
    // a target with nothing failed cannot be retried
    const wrong = await command(ebb, id, "retry", { target: "vm1" });
    expect(wrong.status).toBe(409);
    expect(wrong.body.error.message).toMatch(/vm1/);

    // When the operator fixes the fault and retries vm2
    await setFaults(lab, "vm2", {});
    const retried = await command(ebb, id, "retry", { target: "vm2" });

    // Then the deploy step runs again as attempt 2 and the rollout completes
    expect(retried.status, JSON.stringify(retried.body)).toBe(200);
    expect(retried.body.status).toBe("running");
    expect(targetOf(retried.body, "vm2")).toMatchObject({ step: "deploy", attempt: 2 });
    const done = await untilTerminal(ebb, id);
    expect(done.status, describeTargets(done)).toBe("succeeded");
    const deploys = (await stepRuns(ebb, id, "vm2")).filter((s) => s.stepId === "deploy");
    expect(deploys.map((s) => [s.attempt, s.status])).toEqual([
      [1, "failed"],
      [2, "succeeded"],
    ]);
    for (const v of lab.vms) {
      expect(await vmStatus(v.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
      await untilInService(lab, v.name);
    }
    expect(await ebb.prisma.lease.count()).toBe(0);
    expect((await getRollout(ebb, id)).status).toBe("succeeded");
    const errors = await stopLoad();
    expect(errors.count, errors.samples).toBe(0);
  });
});

describe("a target that never becomes healthy again", () => {
  // One rollout, two sets of expectations: the halt itself, and the text of its error (a known gap).
  let l: Lab | undefined;
  let e: RunningEbb | undefined;
  let g: LoadGenerator | undefined;
  let id = "";
  let done: RolloutView;
  let clientErrors: ReturnType<typeof errorsOf>;

  beforeAll(async () => {
    // Given vm1 configured to answer 503 on its health check once it is restarted, under keep-alive load
    l = await givenLab(21);
    e = await givenEbb(l, 21);
    await setFaults(l, "vm1", { neverHealthy: true });
    g = await startLoad(l);

    // When a rollout restarts it
    id = await createRollout(e, { fleet: "lab", version: "2.0.0", runbook: "l4-drain" });
    done = await untilTerminal(e, id);
    clientErrors = errorsOf(await g.stop());
    g = undefined;
  });

  afterAll(async () => {
    await g?.stop();
    await e?.cleanup();
    await l?.cleanup();
  });

  it("fails awaitBound at the deadline computed from the device timing and halts the rollout", async () => {
    const [lab, ebb] = [l!, e!];
    // Then the rollout halts as failed at vm1's await-bound, timed out
    expect(done.status, describeTargets(done)).toBe("failed");
    const vm1 = targetOf(done, "vm1");
    expect(vm1).toMatchObject({ status: "failed", step: "await-bound", attempt: 1 });
    expect(vm1.error?.code).toBe("step_timeout");
    expect(vm1.error?.message).toMatch(/await-bound/);
    // after waiting no less and not much longer than its deadline: one health-check interval plus the
    // check timeout (the bring-up window) plus the margin, a few seconds at the lab's time scale
    const row = await ebb.prisma.rollout.findUniqueOrThrow({ where: { id } });
    const planned = (row.state as { steps: { step: { id: string }; timeoutMs: number }[] }).steps.find(
      (s) => s.step.id === "await-bound",
    )!;
    const hc = lab.device.config.healthCheck;
    const bringUpMs = (hc.intervalSeconds + hc.timeoutSeconds) * 1_000 * lab.device.config.timeScale;
    expect(planned.timeoutMs).toBeGreaterThan(bringUpMs);
    expect(planned.timeoutMs).toBeLessThan(bringUpMs + 10_000);
    const awaitBound = (await stepRuns(ebb, id, "vm1")).find((s) => s.stepId === "await-bound")!;
    expect(awaitBound.status).toBe("timedOut");
    const waitedMs = awaitBound.finishedAt!.getTime() - awaitBound.startedAt!.getTime();
    expect(waitedMs).toBeGreaterThanOrEqual(planned.timeoutMs);
    expect(waitedMs).toBeLessThan(planned.timeoutMs + 3_000);
    // what it observed meanwhile is recorded: the device kept it failed, unbound
    expect(awaitBound.observations).toEqual(
      expect.arrayContaining([expect.objectContaining({ state: "failed", bound: false })]),
    );
    // the halt names the target: the rollout's timeline says which one and why
    const halted = await ebb.prisma.rolloutEvent.findFirstOrThrow({
      where: { rolloutId: id, type: "rollout.status", data: { path: ["to"], equals: "failed" } },
    });
    expect((halted.data as { reason?: string }).reason).toMatch(/^vm1: await-bound: /);
    // the device agrees: vm1 runs (restarted, answering 503) but is not bound; the others never started
    expect(await vmStatus(vm(lab, "vm1").dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
    expect(lab.device.server("vm1")).toMatchObject({ bound: false });
    for (const name of ["vm2", "vm3", "vm4"]) expect(targetOf(done, name).status).toBe("pending");
    // and no client saw an error: vm1 never rejoined
    expect(clientErrors.count, clientErrors.samples).toBe(0);
  });

  // The timeout message names the target and the balancer's last report, not only the step.
  it("its error says which target and what the balancer last reported (state, bound)", () => {
    const message = targetOf(done, "vm1").error?.message ?? "";
    expect(message).toMatch(/\bvm1\b/);
    expect(message).toMatch(/failed/);
    expect(message).toMatch(/bound/);
  });
});
