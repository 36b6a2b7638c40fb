import type { LoadGenerator } from "@ebb/lab";
import { haproxyAvailable, registerHaproxyWorld, vmStatus } from "@ebb/lab";
import { afterEach, describe, expect, it } from "vitest";
import { api, givenEbbWith, type RunningEbb } from "../support/ebb.js";
import { givenHaproxy, type HaproxyLab } from "../support/haproxy.js";
import {
  approveGatesAfter,
  naiveRunbookSource,
  startLoadThrough,
  storeRunbook,
} from "../support/rollouts.js";
import { totalErrors } from "../support/world.js";

// issue #11: the lab's VMs behind a real HAProxy (Debian's 2.6), rolled by Ebb under continuous keep-alive
// load through HAProxy's VIP, in TCP and in HTTP mode. docs/balancers/haproxy.md has the measurements
// these scenarios guard.

let world: HaproxyLab | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await world?.cleanup();
  [load, ebb, world] = [undefined, undefined, undefined];
});

/** Given HAProxy in `mode` under load, When Ebb rolls lab-haproxy with `runbook`: the load's report. */
async function rollUnderLoad(net: number, mode: "tcp" | "http", runbook: string, force = false, vms = 4) {
  world = await givenHaproxy(net, mode, { vms });
  const w = world;
  ebb = await givenEbbWith((prisma) => registerHaproxyWorld(prisma, w), net);
  // The naive stop with a deploy that takes its time: a quick one can hide inside HAProxy's connect retries.
  if (runbook === "naive")
    await storeRunbook(ebb, "naive", naiveRunbookSource("haproxy", { gateBeforeDeploy: true }));
  load = await startLoadThrough(w.vipUrl, w.vms.length);
  const g = load;

  const created = await api<{ id: string }>(ebb, "POST", "/rollouts", {
    fleet: "lab-haproxy",
    version: "2.0.0",
    runbook,
    ...(force ? { force: true } : {}),
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const done = await approveGatesAfter(ebb, created.body.id, g, 500, 90_000);
  const report = await g.stop();
  load = undefined;
  return { done, report, id: created.body.id };
}

describe.skipIf(!haproxyAvailable())("rolling VMs behind a real HAProxy under keep-alive load", () => {
  for (const mode of ["tcp", "http"] as const) {
    for (const runbook of ["haproxy-drain", "l4-drain"]) {
      it(`${runbook}, ${mode} mode: zero failed requests, every VM on the new version and UP`, async () => {
        const net = 40 + (mode === "tcp" ? 0 : 2) + (runbook === "l4-drain" ? 1 : 0);
        const { done, report, id } = await rollUnderLoad(net, mode, runbook);
        expect(done.status, JSON.stringify(done.targets)).toBe("succeeded");
        expect(totalErrors(report.errors), JSON.stringify(report.errorSamples.slice(0, 5))).toBe(0);
        for (const vm of world!.vms)
          expect(await vmStatus(vm.dir)).toMatchObject({ running: true, runningVersion: "2.0.0" });
        // Every wait observed HAProxy: the unbind saw it report DRAIN (haproxy-drain) or DOWN (l4-drain).
        const unbound = await ebb!.prisma.stepRun.findMany({
          where: { targetRun: { rolloutId: id }, stepId: "await-unbound" },
        });
        expect(unbound).toHaveLength(4);
        const state = runbook === "haproxy-drain" ? "disabled" : "failed";
        for (const step of unbound)
          expect(step.observations).toEqual(
            expect.arrayContaining([expect.objectContaining({ bound: false, state })]),
          );
      });
    }
  }

  it("a naive runbook (stop, deploy, start) loses requests: the tests above can fail", async () => {
    // Two VMs are enough to show it, and each one's stop is held for a deploy's worth of requests.
    const { report } = await rollUnderLoad(44, "http", "naive", true, 2);
    expect(totalErrors(report.errors)).toBeGreaterThan(0);
  });

  it("a wrong backend or server name is a preflight error naming it", async () => {
    world = await givenHaproxy(45, "tcp");
    const w = world;
    ebb = await givenEbbWith((prisma) => registerHaproxyWorld(prisma, w), 45);
    const fleet = await ebb.prisma.fleet.findUniqueOrThrow({ where: { name: "lab-haproxy" } });
    const config = fleet.balancerConfig as Record<string, unknown>;

    await ebb.prisma.fleet.update({
      where: { id: fleet.id },
      data: { balancerConfig: { ...config, backend: "lab2" } },
    });
    const noBackend = await api<{ error: { message: string } }>(ebb, "POST", "/rollouts", {
      fleet: "lab-haproxy",
      version: "2.0.0",
      runbook: "haproxy-drain",
    });
    expect(noBackend.status).toBe(400);
    expect(noBackend.body.error.message).toContain('HAProxy has no backend "lab2"');

    await ebb.prisma.fleet.update({
      where: { id: fleet.id },
      data: { balancerConfig: { ...config, servers: { vm3: "vm3-old" } } },
    });
    const preview = await api<{
      findings: { severity: string; code: string; message: string; target?: string }[];
    }>(ebb, "POST", "/rollouts/preview", {
      fleet: "lab-haproxy",
      version: "2.0.0",
      runbook: "haproxy-drain",
    });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ severity: "error", code: "balancer_server_unknown", target: "vm3" }),
      ]),
    );
    expect(preview.body.findings.find((f) => f.code === "balancer_server_unknown")?.message).toContain(
      'no server "vm3-old"',
    );
  });
});
