import { request } from "node:http";
import { detectionWindowMs } from "@ebb/l4";
import { LoadGenerator, setHealthCheck, stopVm } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { givenLab, nextEvent, totalErrors } from "../support/world.js";

// domain.md section 1, on real sockets: the device, four lab VMs and keep-alive clients.

type Lab = Awaited<ReturnType<typeof givenLab>>;
let lab: Lab | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  load = undefined;
  await lab?.cleanup();
  lab = undefined;
});

function startLoad(l: Lab, opts: { clients?: number; rate?: number; path?: string } = {}): LoadGenerator {
  const vip = new URL(l.device.vipUrl);
  const g = new LoadGenerator({
    target: { host: vip.hostname, port: Number(vip.port) },
    clients: opts.clients ?? 8,
    rate: opts.rate ?? 200,
    ...(opts.path ? { path: opts.path } : {}),
  });
  g.start();
  return g;
}

/** One request on a fresh connection (no keep-alive): a new flow the device must schedule. */
function freshRequest(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: "close" } }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => {
        body += c;
      });
      res.on("end", () => resolve((JSON.parse(body) as { host: string }).host));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("draining a lab VM behind the L4 device", () => {
  it("the documented runbook by hand: keep-alive clients reach a 404ing server until it stops with FIN, then move on with zero errors", async () => {
    // Given the lab under continuous keep-alive load, every VM answering
    lab = await givenLab(5);
    const l = lab;
    load = startLoad(l);
    const g = load;
    await waitFor(() => Object.keys(g.snapshot().byServer).length === 4, { what: "all 4 VMs answering" });
    const vm1 = l.vms[0]!;

    // When vm1's health check answers 404 and the device fails it
    const failed = nextEvent(l, (e) => e.type === "server.health" && e.server === "vm1" && e.to === "failed");
    await setHealthCheck(vm1.dir, false);
    await failed;
    const atFailure = g.snapshot().byServer.vm1 ?? 0;

    // Then its keep-alive clients still arrive through their session entries
    await waitFor(() => (g.snapshot().byServer.vm1 ?? 0) >= atFailure + 20, {
      what: "requests to vm1 after it was failed",
    });
    expect(l.device.server("vm1")!.counters.sessionsActive).toBeGreaterThan(0);

    // When vm1 stops gracefully (SIGTERM: Connection: close, FIN)
    const exit = await stopVm(vm1.dir);
    expect(exit.clean).toBe(true);

    // Then its sessions end by FIN, no request reaches it any more, and no client saw an error
    await waitFor(() => l.device.server("vm1")!.counters.sessionsActive === 0, { what: "vm1 sessions gone" });
    expect(l.device.server("vm1")!.counters.closedByRst).toBe(0);
    const afterStop = g.snapshot();
    await waitFor(() => g.snapshot().requests >= afterStop.requests + 200, { what: "200 more requests" });
    const report = await g.stop();
    load = undefined;
    expect(report.byServer.vm1 ?? 0).toBe(afterStop.byServer.vm1 ?? 0);
    expect(report.errors, JSON.stringify(report.errorSamples)).toEqual(
      expect.objectContaining({ rst: 0, http5xx: 0, timeout: 0, refused: 0, closed: 0, other: 0 }),
    );
    expect(totalErrors(report.errors)).toBe(0);
  });

  it("after the 404, new flows still reach the server until the device declares it failed, within the detection window", async () => {
    // Given the lab, no load
    lab = await givenLab(6);
    const l = lab;

    // When vm1's health check starts answering 404
    const failed = nextEvent(l, (e) => e.type === "server.health" && e.server === "vm1" && e.to === "failed");
    let isFailed = false;
    void failed.then(() => {
      isFailed = true;
    });
    const flippedAt = Date.now();
    await setHealthCheck(l.vms[0]!.dir, false);

    // Then fresh connections keep landing on vm1 while it is only suspect
    const beforeFailure: string[] = [];
    while (!isFailed) beforeFailure.push(await freshRequest(`${l.device.vipUrl}/`));
    const event = await failed;
    expect(beforeFailure).toContain("vm1");

    // and the detection time lies in the window that interval and retry count imply
    const { minMs, maxMs } = detectionWindowMs(l.device.config);
    const detection = event.atMs - flippedAt;
    // Tolerance: one check's own scheduling latency on a loaded 2-core CI machine.
    expect(detection).toBeGreaterThan(minMs - 20);
    expect(detection).toBeLessThanOrEqual(maxMs + 100);

    // and once failed, no new flow reaches it
    const after: string[] = [];
    for (let i = 0; i < 24; i++) after.push(await freshRequest(`${l.device.vipUrl}/`));
    expect(after).not.toContain("vm1");
  });

  it("killing a server (SIGKILL) without draining gives its keep-alive clients errors", async () => {
    // Given the lab under keep-alive load
    lab = await givenLab(7);
    const l = lab;
    load = startLoad(l);
    const g = load;
    await waitFor(() => Object.keys(g.snapshot().byServer).length === 4, { what: "all 4 VMs answering" });

    // When vm1 is killed while still bound (stop without drain)
    await stopVm(l.vms[0]!.dir, { signal: "SIGKILL" });

    // Then clients see errors
    await waitFor(() => totalErrors(g.snapshot().errors) > 0, { what: "client errors", timeoutMs: 5_000 });
  });

  it("resetOnPortFail resets the failed server's clients at once, which is why it stays off", async () => {
    // Given the device with resetOnPortFail on, and keep-alive clients that always have a request in
    // flight (an idle keep-alive socket that gets a RST is just dropped by the client's pool, unseen)
    lab = await givenLab(8, { device: { resetOnPortFail: true } });
    const l = lab;
    load = startLoad(l, { rate: 0, path: "/slow?ms=100" });
    const g = load;
    await waitFor(() => (g.snapshot().byServer.vm1 ?? 0) > 0, { what: "vm1 answering" });

    // When vm1's health check fails
    const failed = nextEvent(l, (e) => e.type === "server.health" && e.server === "vm1" && e.to === "failed");
    await setHealthCheck(l.vms[0]!.dir, false);
    await failed;

    // Then the device resets vm1's clients and drops their entries
    await waitFor(() => g.snapshot().errors.rst > 0, { what: "client resets" });
    expect(l.device.server("vm1")!.counters.resetByDevice).toBeGreaterThan(0);
  });
});
