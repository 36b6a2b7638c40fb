import { once } from "node:events";
import { createServer } from "node:http";
import type { Socket } from "node:net";
import { isEbbError, type Target } from "@ebb/core";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { connectVip, LAB_HOST, startL4Lab } from "../../test-support/l4-lab.js";
import { Teardown } from "../../test-support/teardown.js";
import { L4Balancer } from "./balancer.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

function balancerFor(adminUrl: string): L4Balancer {
  return new L4Balancer({ adminUrl, requestTimeoutMs: 2000 });
}

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
}

describe("L4Balancer", () => {
  it("reports the device's timing in real milliseconds", async () => {
    const { device } = await startL4Lab(teardown, []);
    const balancer = balancerFor(device.adminUrl);
    const timing = await balancer.timing();
    // Vendor defaults (10 s interval, retry 1, 5 s timeout, 600 s aging) under timeScale 0.01.
    expect(timing.healthCheckIntervalMs).toBeCloseTo(100);
    expect(timing.retryCount).toBe(1);
    expect(timing.checkTimeoutMs).toBeCloseTo(50);
    expect(timing.sessionIdleTimeoutMs).toBeCloseTo(6000);
    expect(timing).toMatchObject({ mode: "l7", resetOnPortFail: false });

    device.updateConfig({
      healthCheck: { mode: "l4", intervalSeconds: 4, retryCount: 2, timeoutSeconds: 2 },
      sessionIdleTimeoutSeconds: 120,
      resetOnPortFail: true,
    });
    const changed = await balancer.timing();
    expect(changed.healthCheckIntervalMs).toBeCloseTo(40);
    expect(changed.checkTimeoutMs).toBeCloseTo(20);
    expect(changed.sessionIdleTimeoutMs).toBeCloseTo(1200);
    expect(changed).toMatchObject({ mode: "l4", retryCount: 2, resetOnPortFail: true });
  });

  it("observes a target going up -> suspect -> failed and back up", async () => {
    // retryCount 3: the target stays suspect for three 100 ms intervals, long enough to be seen by polling.
    const { device, upstreams, targets } = await startL4Lab(teardown, ["vm1"], {
      config: { healthCheck: { retryCount: 3 } },
    });
    const balancer = balancerFor(device.adminUrl);
    const vm1 = targets.vm1!;
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up" });
    const up = await balancer.observe(vm1);
    expect(up).toMatchObject({ state: "up", bound: true, sessions: 0 });
    expect(up.since).toBe(device.server("vm1")?.since);

    upstreams.vm1!.healthStatus = 404;
    const suspect = await waitFor(
      async () => {
        const o = await balancer.observe(vm1);
        return o.state === "suspect" ? o : undefined;
      },
      { what: "vm1 suspect", intervalMs: 10 },
    );
    // Suspect is still bound: the device keeps sending it new flows.
    expect(suspect.bound).toBe(true);
    const failed = await waitFor(
      async () => {
        const o = await balancer.observe(vm1);
        return o.state === "failed" ? o : undefined;
      },
      { what: "vm1 failed" },
    );
    expect(failed.bound).toBe(false);
    expect(Date.parse(failed.since!)).toBeGreaterThan(Date.parse(up.since!));

    upstreams.vm1!.healthStatus = 200;
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up again" });
    expect((await balancer.observe(vm1)).bound).toBe(true);
  });

  it("disables and enables a target and verifies the device applied it; disabled wins over health", async () => {
    const { device, targets } = await startL4Lab(teardown, ["vm1"]);
    const balancer = balancerFor(device.adminUrl);
    const vm1 = targets.vm1!;
    await waitFor(() => device.server("vm1")?.bound, { what: "vm1 bound" });

    await balancer.admin.disable(vm1);
    expect(device.server("vm1")?.adminState).toBe("disabled");
    expect(await balancer.observe(vm1)).toMatchObject({ state: "disabled", bound: false });
    // Idempotent: disabling a disabled target is fine.
    await balancer.admin.disable(vm1);

    await balancer.admin.enable(vm1);
    expect(device.server("vm1")?.adminState).toBe("enabled");
    expect(await balancer.observe(vm1)).toMatchObject({ state: "up", bound: true });
  });

  it("fails with verify_failed when the device acknowledges a disable it did not apply", async () => {
    // A misbehaving device: answers 200 to the POST but keeps the server enabled.
    const view = {
      name: "vm1",
      host: "127.0.6.10",
      port: 8080,
      health: "up",
      adminState: "enabled",
      bound: true,
      since: new Date().toISOString(),
      counters: {
        sessionsActive: 0,
        sessionsOpened: 0,
        closedByRst: 0,
        resetByDevice: 0,
        resetOnReschedule: 0,
      },
    };
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(view));
    });
    server.listen(0, LAB_HOST);
    await once(server, "listening");
    teardown.add(server, (s) => {
      s.closeAllConnections();
      s.close();
    });
    const balancer = balancerFor(`http://${LAB_HOST}:${(server.address() as { port: number }).port}`);
    const err = await errorOf(
      balancer.admin.disable({ name: "vm1", host: "127.0.6.10", port: 8080, executor: "local", labels: {} }),
    );
    expect(isEbbError(err, "verify_failed")).toBe(true);
    expect((err as Error).message).toContain("did not disable vm1");
  });

  it("samples traffic as deltas since the previous sample", async () => {
    const { device, targets } = await startL4Lab(teardown, ["vm1"]);
    const balancer = balancerFor(device.adminUrl);
    const vm1 = targets.vm1!;
    await waitFor(() => device.server("vm1")?.bound, { what: "vm1 bound" });

    const baseline = await balancer.traffic(vm1);
    expect(baseline).toMatchObject({ newSessions: 0, resets: 0, activeSessions: 0 });
    expect(Number.isNaN(Date.parse(baseline.at))).toBe(false);

    const open: Socket[] = [];
    teardown.defer(() => {
      for (const s of open) s.destroy();
    });
    for (let i = 0; i < 3; i++) open.push(await connectVip(device));
    await waitFor(() => device.server("vm1")?.counters.sessionsActive === 3, { what: "3 sessions" });
    expect(await balancer.traffic(vm1)).toMatchObject({ newSessions: 3, resets: 0, activeSessions: 3 });

    // Two clients reset their connection: the device sees the RSTs and counts them.
    open[0]!.resetAndDestroy();
    open[1]!.resetAndDestroy();
    await waitFor(() => device.server("vm1")?.counters.closedByRst === 2, { what: "2 RSTs seen" });
    open.push(await connectVip(device));
    await waitFor(() => device.server("vm1")?.counters.sessionsOpened === 4, { what: "a 4th session" });
    expect(await balancer.traffic(vm1)).toMatchObject({ newSessions: 1, resets: 2, activeSessions: 2 });
    expect(await balancer.traffic(vm1)).toMatchObject({ newSessions: 0, resets: 0, activeSessions: 2 });
  });

  it("builds fleet facts from one read: timing, and in-service per target", async () => {
    const { device, targets } = await startL4Lab(teardown, ["vm1", "vm2"]);
    const balancer = balancerFor(device.adminUrl);
    await waitFor(() => device.servers().every((s) => s.bound), { what: "all bound" });
    device.setAdminState("vm2", "disabled");
    const ghost: Target = { name: "ghost", host: "127.0.6.99", port: 80, executor: "ssh", labels: {} };

    const facts = await balancer.facts([targets.vm1!, targets.vm2!, ghost]);
    expect(facts.balancer.kind).toBe("l4");
    expect(facts.balancer.timing.healthCheckIntervalMs).toBeCloseTo(100);
    expect(facts.targets.map((t) => [t.name, t.inService])).toEqual([
      ["vm1", true],
      ["vm2", false],
      ["ghost", false],
    ]);
    expect(facts.targets[0]).toMatchObject({ host: "127.0.6.10", labels: { role: "web" } });
    expect(facts.states).toEqual({ vm1: "up", vm2: "disabled", ghost: "unknown" });
  });

  it("a target unknown to the device is a terminal error naming it", async () => {
    const { device } = await startL4Lab(teardown, ["vm1"]);
    const balancer = balancerFor(device.adminUrl);
    const ghost: Target = { name: "no such/vm", host: "127.0.6.99", port: 80, executor: "local", labels: {} };
    for (const call of [balancer.observe(ghost), balancer.admin.disable(ghost), balancer.traffic(ghost)]) {
      const err = await errorOf(call);
      expect(isEbbError(err, "not_found")).toBe(true);
      expect((err as { retryable: boolean }).retryable).toBe(false);
      expect((err as Error).message).toContain("target no such/vm is not a real server");
    }
  });

  it("an unreachable device is balancer_unavailable, retryable, with the cause kept", async () => {
    const { device, targets } = await startL4Lab(teardown, ["vm1"]);
    const balancer = balancerFor(device.adminUrl);
    await device.stop();
    const err = await errorOf(balancer.observe(targets.vm1!));
    expect(isEbbError(err, "balancer_unavailable")).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(true);
    expect((err as Error).message).toContain("ECONNREFUSED");
    expect((err as Error).cause).toBeInstanceOf(Error);
  });

  it("refuses an answer that is not the device's API", async () => {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/html" }).end("<html>login</html>");
    });
    server.listen(0, LAB_HOST);
    await once(server, "listening");
    teardown.add(server, (s) => {
      s.closeAllConnections();
      s.close();
    });
    const err = await errorOf(
      balancerFor(`http://${LAB_HOST}:${(server.address() as { port: number }).port}`).timing(),
    );
    expect(isEbbError(err, "balancer_unavailable")).toBe(true);
    expect((err as { retryable: boolean }).retryable).toBe(false);
    expect((err as Error).message).toContain("not JSON");
  });
});
