import { request } from "node:http";
import { connect, type Socket } from "node:net";
import { type Finding, loadBuiltinRunbooks, planRollout, preflight, type TargetFacts } from "@ebb/core";
import { L4Balancer } from "@ebb/drivers";
import { FrontProxy, parseLabConfig, type World } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { givenLab } from "../support/world.js";

// domain.md section 2 on real sockets, hop by hop: a pooling proxy -> the L4 device's session table -> the lab
// VMs. Each configuration is run, and the same facts Ebb registers for it go through preflight: the rule must
// flag exactly the configuration that loses requests.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function lab(net: number, opts: Parameters<typeof givenLab>[1]): Promise<World> {
  const world = await givenLab(net, opts);
  cleanups.push(() => world.cleanup());
  return world;
}

/**
 * Preflight of the built-in l4-drain over the world, with the facts Ebb would have: the device's timing as the
 * l4 driver reads it, and per VM what the lab registers (`registerWorld`) plus an optional pool in front.
 */
async function preflightOf(world: World, extra: Partial<TargetFacts> = {}): Promise<Finding[]> {
  const balancer = new L4Balancer({ adminUrl: world.device.adminUrl });
  const timing = await balancer.timing();
  const targets: TargetFacts[] = world.vms.map((vm) => ({
    name: vm.name,
    host: vm.host,
    port: vm.port,
    inService: true,
    keepAliveTimeoutMs: vm.keepAliveTimeoutMs,
    ...extra,
  }));
  const runbook = loadBuiltinRunbooks()["l4-drain"];
  const plan = planRollout({ targets, strategy: { maxUnavailable: 1 }, timing, runbook });
  return preflight({ runbook, fleet: { targets }, balancer: { kind: "l4", timing }, plan });
}

const codes = (findings: Finding[]) => findings.map((f) => f.code);

/** A browser-like keep-alive client: one connection through the VIP, one request at a time. */
class KeepAliveClient {
  readonly socket: Socket;
  private buffer = "";
  error: string | undefined;
  closed = false;

  constructor(host: string, port: number) {
    this.socket = connect({ host, port });
    this.socket.setEncoding("utf8");
    this.socket.on("data", (chunk: string) => {
      this.buffer += chunk;
    });
    this.socket.on("error", (err: NodeJS.ErrnoException) => {
      this.error = err.code ?? err.message;
    });
    this.socket.on("close", () => {
      this.closed = true;
    });
    cleanups.push(async () => {
      this.socket.destroy();
    });
  }

  /** Sends GET / and resolves with the answering VM's name; rejects with the socket's error code. */
  async get(): Promise<string> {
    this.buffer = "";
    this.socket.write("GET / HTTP/1.1\r\nhost: vip\r\n\r\n");
    await waitFor(() => this.error !== undefined || this.closed || /\r\n\r\n[\s\S]*\}/.test(this.buffer), {
      what: "a response or an error",
    });
    if (this.error !== undefined) throw new Error(this.error);
    const host = /"host":"([^"]+)"/.exec(this.buffer)?.[1];
    if (host === undefined)
      throw new Error(this.closed ? "closed without a response" : "no host in the body");
    return host;
  }
}

function vipOf(world: World): { host: string; port: number } {
  const url = new URL(world.device.vipUrl);
  return { host: url.hostname, port: Number(url.port) };
}

describe("rule (b): no connection stays idle past the L4 device's session aging", () => {
  // Aging 300 s at time scale 0.02: the device forgets an idle flow after 6 s.
  const device = { sessionIdleTimeoutSeconds: 300 };

  it("a target keep-alive longer than the aging: the idle client comes back to a forgotten flow and gets RST; preflight flags it", async () => {
    // Given two VMs whose keep-alive (30 s) outlives the device's 6 s aging
    const world = await lab(35, { vms: 2, device, vm: { keepAliveTimeoutMs: 30_000 } });
    const client = new KeepAliveClient(vipOf(world).host, vipOf(world).port);
    const first = await client.get();

    // When the client stays idle until the device has aged its session out (the VM still holds the connection)
    await waitFor(() => world.device.server(first)!.counters.agedOut === 1, {
      timeoutMs: 15_000,
      what: "the idle session aged out",
    });
    expect(client.closed).toBe(false);

    // Then its next request is a new flow to the device, scheduled to the other VM, which answers RST
    await expect(client.get()).rejects.toThrow(/ECONNRESET/);
    const other = world.vms.find((vm) => vm.name !== first)!.name;
    expect(world.device.server(other)!.counters.resetOnReschedule).toBe(1);

    // And preflight flags that configuration for every VM, with the numbers and the fix for this hop
    const findings = await preflightOf(world);
    expect(codes(findings)).toEqual(["idle_outlives_session_aging", "idle_outlives_session_aging"]);
    expect(findings[0]?.message).toContain("up to 30s");
    expect(findings[0]?.message).toContain("session aging (6s)");
    expect(findings[0]?.message).toContain("Lower the keep-alive timeout below 6s (e.g. 5s)");
  });

  it("a target keep-alive shorter than the aging: the VM's FIN clears the session, the client reconnects cleanly; preflight finds nothing", async () => {
    // Given two VMs whose keep-alive (1 s) ends before the device's 6 s aging
    const world = await lab(36, { vms: 2, device, vm: { keepAliveTimeoutMs: 1_000 } });
    const client = new KeepAliveClient(vipOf(world).host, vipOf(world).port);
    const first = await client.get();

    // When the client stays idle: the VM closes the connection with a FIN, which the device sees
    await waitFor(() => client.closed, { timeoutMs: 15_000, what: "the VM closed the idle connection" });

    // Then the device ended the flow (nothing to age out, nothing reset), and a new connection just works
    const server = world.device.server(first)!;
    expect(server.counters).toMatchObject({ closedByFin: 1, agedOut: 0, sessionsActive: 0 });
    expect(client.error).toBeUndefined();
    const again = new KeepAliveClient(vipOf(world).host, vipOf(world).port);
    expect(world.vms.map((vm) => vm.name)).toContain(await again.get());
    expect(world.device.counters().totals.resetOnReschedule).toBe(0);
    expect(await preflightOf(world)).toEqual([]);
  });
});

describe("rule (a): a pooling proxy gives up idle connections before the target's keep-alive closes them", () => {
  /** A FrontProxy pooling connections to the VIP, on the lab's own loopback net. */
  async function proxyInFront(world: World, net: number, idleTimeoutMs: number): Promise<FrontProxy> {
    const proxy = await FrontProxy.start({
      listen: { host: `127.0.${net}.2`, port: 0 },
      upstream: vipOf(world),
      idleTimeoutMs,
    });
    cleanups.push(() => proxy.stop());
    return proxy;
  }

  /** One request on its own client connection, so only the proxy's upstream pool is reused. */
  function statusOf(url: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request(url, { agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", reject);
      });
      req.on("error", reject);
      req.end();
    });
  }

  /** Each request waits until the device saw every flow of the earlier ones end, by either side's idle close. */
  async function spacedRequests(world: World, proxy: FrontProxy, count: number): Promise<number[]> {
    const statuses: number[] = [];
    for (let i = 0; i < count; i++) {
      statuses.push(await statusOf(proxy.url));
      await waitFor(() => world.device.counters().totals.sessionsActive === 0, {
        timeoutMs: 10_000,
        what: "the idle upstream connection closed",
      });
    }
    return statuses;
  }

  it("pool idle 10 s over a 500 ms target keep-alive: the reused connection gets RST, the client 502; preflight flags it", async () => {
    // Given a proxy that keeps idle connections to the VIP for 10 s, in front of VMs closing them after 500 ms
    const world = await lab(37, { vms: 2, vm: { keepAliveTimeoutMs: 500 } });
    const proxy = await proxyInFront(world, 37, 10_000);

    // When requests come spaced out, each after the VM closed the pooled connection
    const statuses = await spacedRequests(world, proxy, 4);

    // Then every reuse of a connection the VM had closed answers 502
    expect(statuses).toEqual([200, 502, 200, 502]);
    expect(proxy.stats()).toMatchObject({ requests: 4, responses502: 2, upstreamResets: 2, poolReuses: 2 });

    // And preflight, told of the pool in front, flags that configuration for every VM with both numbers
    const findings = await preflightOf(world, { poolIdleTimeoutMs: 10_000 });
    expect(codes(findings)).toEqual(["pool_idle_not_below_keepalive", "pool_idle_not_below_keepalive"]);
    expect(findings[0]?.message).toContain(
      "up to 10s, not less than the target's keep-alive timeout (500ms)",
    );
    expect(findings[0]?.message).toContain("lower its idle timeout below 500ms (e.g. 250ms)");
  });

  it("pool idle 200 ms under a 3 s target keep-alive: the pool closes first and the same pattern gets no 502; preflight finds nothing", async () => {
    const world = await lab(38, { vms: 2, vm: { keepAliveTimeoutMs: 3_000 } });
    const proxy = await proxyInFront(world, 38, 200);

    const statuses = await spacedRequests(world, proxy, 4);

    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(proxy.stats()).toMatchObject({ requests: 4, responses502: 0, upstreamResets: 0 });
    expect(await preflightOf(world, { poolIdleTimeoutMs: 200 })).toEqual([]);
  });
});

describe("the lab's own defaults", () => {
  it("pass both rules: VM keep-alive below the device's session aging at the lab's time scale", async () => {
    const { timeScale } = parseLabConfig({});
    const world = await lab(39, { timeScale, device: {} });
    const timing = await new L4Balancer({ adminUrl: world.device.adminUrl }).timing();
    // 75 s and 600 s at the time scale: 7.5 s against 60 s by default.
    expect(world.vms[0]!.keepAliveTimeoutMs).toBeLessThan(timing.sessionIdleTimeoutMs);
    expect(await preflightOf(world)).toEqual([]);
  });
});
