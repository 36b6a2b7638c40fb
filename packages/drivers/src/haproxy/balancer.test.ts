import { once } from "node:events";
import { connect, createServer, type Socket } from "node:net";
import { isEbbError, type Target } from "@ebb/core";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { startHaproxyLab } from "../../test-support/haproxy-lab.js";
import { Teardown } from "../../test-support/teardown.js";
import { createBalancer } from "../registry.js";
import { HaproxyBalancer } from "./balancer.js";
import { parseRuntimeAddress, RuntimeApiClient } from "./runtime-api.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error("expected a rejection"),
    (err: unknown) => err,
  );
}

/** A keep-alive client through the VIP: one TCP connection, one HTTP request per call. */
async function keepAliveClient(port: number): Promise<{ socket: Socket; get(): Promise<string> }> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  teardown.defer(() => socket.destroy());
  return {
    socket,
    get: async () => {
      socket.write("GET / HTTP/1.1\r\nhost: vip\r\n\r\n");
      const [chunk] = (await once(socket, "data")) as [Buffer];
      return chunk.toString("utf8");
    },
  };
}

describe("parseRuntimeAddress", () => {
  it("takes unix paths and ipv4@host:port, and names the field otherwise", () => {
    expect(parseRuntimeAddress("/run/haproxy/admin.sock")).toEqual({
      kind: "unix",
      path: "/run/haproxy/admin.sock",
    });
    expect(parseRuntimeAddress("unix@/tmp/a.sock")).toEqual({ kind: "unix", path: "/tmp/a.sock" });
    expect(parseRuntimeAddress("ipv4@127.0.0.1:9999")).toEqual({
      kind: "tcp",
      host: "127.0.0.1",
      port: 9999,
    });
    const err = (() => {
      try {
        parseRuntimeAddress("admin.sock");
      } catch (e) {
        return e;
      }
    })();
    expect(isEbbError(err) && err.code).toBe("param_invalid");
    expect((err as Error).message).toContain("balancerConfig.socket");
  });
});

describe("RuntimeApiClient", () => {
  it("says when the socket is missing, refused, silent, or names an unknown server", async () => {
    const missing = await errorOf(
      new RuntimeApiClient("/tmp/ebb-no-such-haproxy.sock", 500).command("show info"),
    );
    expect(isEbbError(missing) && missing.code).toBe("balancer_unavailable");
    expect((missing as Error).message).toMatch(/\/tmp\/ebb-no-such-haproxy\.sock: the socket does not exist/);

    const refused = await errorOf(
      new RuntimeApiClient(`ipv4@127.0.0.1:${await freePort()}`, 500).command("show info"),
    );
    expect((refused as Error).message).toContain("connection refused");
    expect(isEbbError(refused) && refused.retryable).toBe(true);

    // A listener that never answers: the call ends at its deadline, not never.
    const silent = createServer(() => {});
    silent.listen(0, "127.0.0.1");
    await once(silent, "listening");
    teardown.defer(() => silent.close());
    const port = (silent.address() as { port: number }).port;
    const timedOut = await errorOf(new RuntimeApiClient(`ipv4@127.0.0.1:${port}`, 200).command("show stat"));
    expect((timedOut as Error).message).toContain('no complete answer to "show stat" within 200 ms');

    const lab = await startHaproxyLab(teardown, ["vm1"]);
    const client = new RuntimeApiClient(lab.haproxy.socketPath, 2000);
    const noServer = await errorOf(client.command("set server web/vm9 state drain"));
    expect(isEbbError(noServer) && noServer.code).toBe("not_found");
    expect((noServer as Error).message).toContain("No such server");
    const injected = await errorOf(client.command("show stat; shutdown sessions server web/vm1"));
    expect(isEbbError(injected) && injected.code).toBe("param_invalid");
  });

  it("speaks to an ipv4@host:port socket as to a unix one", async () => {
    const tcpSocketPort = await freePort();
    await startHaproxyLab(teardown, ["vm1"], { tcpSocketPort });
    const answer = await new RuntimeApiClient(`ipv4@127.0.0.1:${tcpSocketPort}`).command(
      "show servers state web",
    );
    expect(answer).toContain(" web 1 vm1 ");
  });
});

describe("HaproxyBalancer", () => {
  it("observes HAProxy's own health verdict: UP, then DOWN after `fall` failed checks, UP again", async () => {
    const lab = await startHaproxyLab(teardown, ["vm1", "vm2"], { fall: 3 });
    const balancer = lab.balancer();
    const vm1 = lab.targets.vm1!;
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up" });
    expect(await balancer.observe(vm1)).toMatchObject({ state: "up", bound: true, sessions: 0 });

    lab.upstreams.vm1!.healthStatus = 404;
    const seen = new Set<string>();
    await waitFor(
      async () => {
        const o = await balancer.observe(vm1);
        seen.add(o.state);
        return o.state === "failed";
      },
      { what: "vm1 DOWN" },
    );
    // "UP 1/3", "UP 2/3": failing but still routed to, as HAProxy says.
    expect(seen.has("suspect")).toBe(true);
    expect(await balancer.observe(vm1)).toMatchObject({ state: "failed", bound: false });
    expect((await balancer.observe(lab.targets.vm2!)).state).toBe("up");

    lab.upstreams.vm1!.healthStatus = 200;
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up again" });
  });

  it("drains and readies a server and verifies the admin state it set", async () => {
    const lab = await startHaproxyLab(teardown, ["vm1"]);
    const balancer = lab.balancer();
    const vm1 = lab.targets.vm1!;
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up" });

    await balancer.disable(vm1);
    expect(await balancer.observe(vm1)).toMatchObject({ state: "disabled", bound: false });
    expect((await balancer.serverState(vm1)).admin).toBe("drain");

    await balancer.setState(vm1, "maint");
    expect((await balancer.observe(vm1)).state).toBe("disabled");
    expect((await balancer.serverState(vm1)).admin).toBe("maint");

    await balancer.enable(vm1);
    expect((await balancer.serverState(vm1)).admin).toBe("ready");
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up after ready" });

    // The admin state is what was set even while checks hold the server DOWN.
    lab.upstreams.vm1!.healthStatus = 500;
    await waitFor(async () => (await balancer.observe(vm1)).state === "failed", { what: "vm1 DOWN" });
    await balancer.admin.disable(vm1);
    expect((await balancer.serverState(vm1)).admin).toBe("drain");
    // show stat prints DOWN; the operator's DRAIN wins, so the engine sees its disable applied.
    expect(await balancer.observe(vm1)).toMatchObject({ state: "disabled", bound: false });
    await balancer.admin.enable(vm1);
    expect(await balancer.observe(vm1)).toMatchObject({ state: "failed", bound: false });

    const ghost: Target = { ...vm1, name: "vm9" };
    const err = await errorOf(balancer.disable(ghost));
    expect(isEbbError(err) && err.code).toBe("not_found");
    expect((err as Error).message).toMatch(/target vm9: .*No such server.*"web".*"vm9"/);
  });

  it("counts a keep-alive client as one session until it leaves, and new sessions as stot's growth", async () => {
    const lab = await startHaproxyLab(teardown, ["vm1"]);
    const balancer = lab.balancer();
    const vm1 = lab.targets.vm1!;
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up" });
    await balancer.traffic(vm1); // baseline

    const client = await keepAliveClient(lab.spec.vip.port);
    expect(await client.get()).toContain("200 OK");
    expect(await client.get()).toContain("200 OK");
    const busy = await waitFor(
      async () => {
        const s = await balancer.traffic(vm1);
        return s.activeSessions === 1 ? s : undefined;
      },
      { what: "one session" },
    );
    expect(busy.newSessions).toBe(1);
    // TCP mode: HAProxy relays bytes, it counts no requests.
    expect(busy.requests ?? 0).toBe(0);

    // Drained: the established session stays, no new one comes.
    await balancer.disable(vm1);
    expect(await client.get()).toContain("200 OK");
    client.socket.end();
    const quiet = await waitFor(
      async () => {
        const s = await balancer.traffic(vm1);
        return s.activeSessions === 0 ? s : undefined;
      },
      { what: "scur 0" },
    );
    expect(quiet.newSessions).toBe(0);
    const snap = await balancer.snapshot([vm1, { ...vm1, name: "ghost" }]);
    expect(snap[0]).toMatchObject({
      name: "vm1",
      state: "disabled",
      bound: false,
      sessions: 0,
      sessionsOpened: 1,
    });
    expect(snap[1]).toMatchObject({ name: "ghost", state: "unknown" });
  });

  it("reads every target from one show stat per tick, however many ask", async () => {
    const names = ["vm1", "vm2", "vm3", "vm4"];
    const lab = await startHaproxyLab(teardown, names);
    const balancer = lab.balancer({ pollIntervalMs: 10_000 });
    let commands = 0;
    const original = balancer.client.command.bind(balancer.client);
    balancer.client.command = (line: string) => {
      commands += 1;
      return original(line);
    };
    const targets = names.map((n) => lab.targets[n]!);
    await Promise.all([
      ...targets.map((t) => balancer.observe(t)),
      ...targets.map((t) => balancer.traffic(t)),
    ]);
    await balancer.snapshot(targets);
    expect(commands).toBe(1);
  });

  it("reports rise and fall as HAProxy has them, inter from the declaration", async () => {
    const lab = await startHaproxyLab(teardown, ["vm1"], { interMs: 150, fall: 4, rise: 3 });
    const timing = await lab.balancer({ timing: { interMs: 150, idleTimeoutMs: 7000 } }).timing();
    expect(timing).toMatchObject({
      healthCheckIntervalMs: 150,
      retryCount: 3,
      riseCount: 3,
      checkTimeoutMs: 150,
      sessionIdleTimeoutMs: 7000,
      resetOnPortFail: false,
    });
    // Declared fall 2 is wrong: HAProxy's 4 wins.
    expect((await lab.balancer({ timing: { fall: 2 } }).timing()).retryCount).toBe(3);
    await waitFor(async () => (await lab.balancer().timing()).mode === "l7", { what: "an L7 check result" });
  });

  it("preflight names a missing backend, a missing server, and timing that contradicts the declaration", async () => {
    const lab = await startHaproxyLab(teardown, ["vm1", "vm2"], { fall: 3, rise: 2 });
    const targets = [lab.targets.vm1!, lab.targets.vm2!];
    expect(await lab.balancer().preflight(targets)).toEqual([]);

    const wrongBackend = await lab.balancer({ backend: "webz" }).preflight(targets);
    expect(wrongBackend).toMatchObject([{ severity: "error", code: "balancer_backend_unknown" }]);
    expect(wrongBackend[0]?.message).toContain('no backend "webz"');

    const wrongServer = await lab.balancer({ servers: { vm2: "vm2-old" } }).preflight(targets);
    expect(wrongServer).toMatchObject([
      { severity: "error", code: "balancer_server_unknown", target: "vm2" },
    ]);
    expect(wrongServer[0]?.message).toContain('no server "vm2-old"');

    const declared = await lab.balancer({ timing: { fall: 5, rise: 2 } }).preflight(targets);
    expect(declared.map((f) => [f.severity, f.code])).toEqual([
      ["warning", "balancer_timing_mismatch"],
      ["warning", "balancer_timing_mismatch"],
    ]);
    expect(declared[0]?.message).toMatch(/reports fall 3 .* declares fall 5/);
  });

  it("preflight warns when the check interval a drain saw is not the declared one", async () => {
    const lab = await startHaproxyLab(teardown, ["vm1"], { interMs: 300, fall: 3 });
    const balancer = lab.balancer({ timing: { interMs: 100 }, pollIntervalMs: 20 });
    const vm1 = lab.targets.vm1!;
    const stop = balancer.watch(() => {});
    teardown.defer(stop);
    await waitFor(async () => (await balancer.observe(vm1)).state === "up", { what: "vm1 up" });
    lab.upstreams.vm1!.healthStatus = 404;
    await waitFor(async () => (await balancer.observe(vm1)).state === "failed", {
      what: "vm1 DOWN",
      timeoutMs: 5000,
    });
    const findings = await balancer.preflight([vm1]);
    const mismatch = findings.find((f) => f.code === "balancer_timing_mismatch");
    expect(mismatch?.message).toMatch(/every (2[6-9]\d|3[0-4]\d) ms; the fleet declares inter 100 ms/);
  });

  it("watch() calls back with the target whose state changed", async () => {
    const lab = await startHaproxyLab(teardown, ["vm1", "vm2"]);
    const balancer = lab.balancer({ servers: { app1: "vm1" } });
    const changed: string[] = [];
    const stop = balancer.watch((t) => changed.push(t));
    teardown.defer(stop);
    await waitFor(async () => (await balancer.observe({ ...lab.targets.vm1!, name: "app1" })).state === "up");
    await waitFor(async () => (await balancer.observe(lab.targets.vm2!)).state === "up");
    changed.length = 0;
    await balancer.disable({ ...lab.targets.vm1!, name: "app1" });
    await waitFor(() => changed.includes("app1"), { what: "a change for app1" });
    expect(changed).not.toContain("vm2");
  });
});

describe("createBalancer", () => {
  it("builds an haproxy balancer and names a bad field", () => {
    const ok = createBalancer({
      name: "f",
      balancer: "haproxy",
      balancerConfig: { socket: "/tmp/x.sock", backend: "web" },
    });
    expect(ok).toBeInstanceOf(HaproxyBalancer);
    const err = (() => {
      try {
        createBalancer({
          name: "f",
          balancer: "haproxy",
          balancerConfig: { socket: "/tmp/x.sock", backend: "w b" },
        });
      } catch (e) {
        return e;
      }
    })();
    expect(isEbbError(err) && err.code).toBe("param_invalid");
    expect((err as Error).message).toContain(
      "fleet f: invalid haproxy balancerConfig: balancerConfig.backend",
    );
    const noSocket = (() => {
      try {
        createBalancer({ name: "f", balancer: "haproxy", balancerConfig: { backend: "web" } });
      } catch (e) {
        return e;
      }
    })();
    expect((noSocket as Error).message).toContain("balancerConfig.socket");
  });
});
