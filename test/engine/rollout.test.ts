import { type LoadGenerator, vmStatus } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { api, givenEbb, type RunningEbb } from "../support/ebb.js";
import { naiveRunbookSource, startLoad, storeRunbook } from "../support/rollouts.js";
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

interface RolloutView {
  status: string;
  failure: { target: string; step: string; code: string; message: string } | null;
  drainProof: { drains: number; clientErrors: number; failOnClientErrors: boolean };
  targets: {
    name: string;
    status: string;
    error: { message: string } | null;
    drain: {
      sessionsAtTakeOut: number;
      newSessionsAfterTakeOut: number;
      clientErrors: number;
      quietAt: string | null;
      endedAt: string | null;
      steps: { step: string; newSessions: number; clientErrors: number; sessions: number }[];
    } | null;
  }[];
}

async function untilTerminal(e: RunningEbb, id: string): Promise<RolloutView> {
  return waitFor(
    async () => {
      const { body } = await api<RolloutView>(e, "GET", `/rollouts/${id}`);
      return ["succeeded", "failed", "aborted"].includes(body.status) ? body : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 200, what: `rollout ${id} to finish` },
  );
}

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
    const done = await untilTerminal(ebb, created.body.id);
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
    // and the drain proof recorded by the worker: four drains, no client error the device counted, each
    // target quiet before its stop's end and the record closed when its health check was restored
    expect(done.drainProof).toEqual({ drains: 4, clientErrors: 0, failOnClientErrors: false });
    for (const t of done.targets) {
      expect(t.drain, t.name).toMatchObject({ clientErrors: 0 });
      expect(t.drain!.quietAt, t.name).not.toBeNull();
      expect(t.drain!.endedAt, t.name).not.toBeNull();
      expect(t.drain!.steps.map((s) => s.step)).toEqual([
        "fail-health-check",
        "await-unbound",
        "stop",
        "await-quiet",
        "deploy",
        "start",
        "restore-health-check",
      ]);
      // no new session once the device had unbound the target
      expect(
        t.drain!.steps.slice(2).every((s) => s.newSessions === 0),
        JSON.stringify(t.drain),
      ).toBe(true);
    }
  });

  it("a naive runbook (stop, deploy, start) loses requests: the test above can fail", async () => {
    // Given the same lab and load, and a runbook that stops servers the device still sends traffic to
    lab = await givenLab(11);
    ebb = await givenEbb(lab, 11);
    await storeRunbook(ebb, "naive", naiveRunbookSource("l4", { failOnClientErrors: true }));
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
    const done = await untilTerminal(ebb, created.body.id);

    // Then clients saw errors
    const report = await g.stop();
    load = undefined;
    expect(totalErrors(report.errors)).toBeGreaterThan(0);
    // and so did the drain proof: the runbook fails a target on any, so the rollout stopped at the first
    // target whose stop the device saw reset clients, instead of passing quietly
    expect(done.drainProof.clientErrors, JSON.stringify(report.errors)).toBeGreaterThan(0);
    expect(done.status).toBe("failed");
    expect(done.failure).toMatchObject({ code: "client_errors" });
  });
});
