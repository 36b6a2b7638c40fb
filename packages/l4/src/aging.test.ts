import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { connectClient, givenHttpLab, serverOf, startTestDevice, Teardown } from "../test-support/device.js";
import { startEchoUpstream } from "../test-support/upstreams.js";
import type { L4Device } from "./device.js";

// Aging time 120 s at time scale 0.01: entries idle for 1.2 s are forgotten.
const teardown = new Teardown();
afterEach(() => teardown.run());

const givenDevice = (names: string[]) => givenHttpLab(teardown, names);
const client = (d: L4Device) => connectClient(teardown, d);

describe("session aging", () => {
  it("an idle entry ages out while its connection stays open; later data on the same server goes on", async () => {
    const { d, ups } = await givenDevice(["a"]);
    const c = await client(d);
    await c.request("/");
    await waitFor(() => d.server("a")!.counters.agedOut === 1, { timeoutMs: 5000, what: "entry aged out" });

    // The device forgot the flow, but nobody touched the connection.
    expect(d.sessions()).toHaveLength(0);
    expect(c.closed).toBe(false);
    expect(ups.a!.clientSockets.size).toBe(1);
    expect(d.counters().totals).toMatchObject({ connectionsOpen: 1, sessionsActive: 0 });

    // Rescheduled onto the only bound server, which is the one holding the connection.
    expect(serverOf(await c.request("/"))).toBe("a");
    expect(d.sessions()).toHaveLength(1);
    expect(d.server("a")!.counters).toMatchObject({ sessionsOpened: 2, resetOnReschedule: 0 });
    expect(c.error).toBeUndefined();
  });

  it("data after aging that the scheduler sends to another server gets RST", async () => {
    const { d, ups } = await givenDevice(["a", "b"]);
    const c = await client(d);
    const mine = serverOf(await c.request("/"));
    const other = mine === "a" ? "b" : "a";
    d.setAdminState(mine, "disabled");
    await waitFor(() => d.server(mine)!.counters.agedOut === 1, { timeoutMs: 5000, what: "entry aged out" });

    await expect(c.request("/")).rejects.toThrow(/ECONNRESET/);
    expect(c.error).toBe("ECONNRESET");
    expect(d.server(other)!.counters.resetOnReschedule).toBe(1);
    expect(d.counters().totals.resetOnReschedule).toBe(1);
    // The device ends the old upstream connection rather than leave it dangling.
    await waitFor(() => ups[mine]!.clientSockets.size === 0, { what: "old upstream closed" });
    await waitFor(() => d.counters().totals.connectionsOpen === 0, { what: "pair released" });
    expect(d.events()).toContainEqual(
      expect.objectContaining({
        type: "session.reset",
        server: other,
        reason: "resetOnReschedule",
        count: 1,
      }),
    );
  });

  it("data after aging with no bound server gets RST, counted noServer", async () => {
    const { d } = await givenDevice(["a"]);
    const c = await client(d);
    await c.request("/");
    d.setAdminState("a", "disabled");
    await waitFor(() => d.server("a")!.counters.agedOut === 1, { timeoutMs: 5000, what: "entry aged out" });
    await expect(c.request("/")).rejects.toThrow(/ECONNRESET/);
    expect(d.counters().totals.noServer).toBe(1);
  });

  it("server-to-client traffic does not keep an entry alive (DSR)", async () => {
    // An upstream that streams to the client without being asked.
    const sockets = new Set<Socket>();
    const streamer = createServer((s) => {
      sockets.add(s);
      s.on("error", () => {});
      const tick = setInterval(() => s.write("tick\n"), 50);
      s.on("close", () => clearInterval(tick));
    });
    streamer.listen(0, "127.0.2.10");
    await once(streamer, "listening");
    teardown.add(streamer, (srv) => {
      for (const s of sockets) s.destroy();
      srv.close();
    });
    const port = (streamer.address() as { port: number }).port;
    const d = teardown.add(
      await startTestDevice({ healthCheck: { mode: "l4" } }, [{ name: "s", host: "127.0.2.10", port }]),
      (x) => x.stop(),
    );
    await waitFor(() => d.server("s")?.bound, { what: "s bound" });
    const c = await client(d);
    c.write("hello\n");
    await waitFor(() => d.server("s")!.counters.agedOut === 1, { timeoutMs: 5000, what: "entry aged out" });
    const received = c.received.length;
    expect(received).toBeGreaterThan(20 * "tick\n".length);
    await waitFor(() => c.received.length > received, { what: "the stream still flowing after aging" });
  });

  it("client traffic keeps an entry alive past the aging time", async () => {
    const echo = teardown.add(await startEchoUpstream("127.0.2.10"), (u) => u.close());
    const d = teardown.add(
      await startTestDevice({ healthCheck: { mode: "l4" } }, [
        { name: "e", host: echo.host, port: echo.port },
      ]),
      (x) => x.stop(),
    );
    await waitFor(() => d.server("e")?.bound, { what: "e bound" });
    const c = await client(d);
    const keepAlive = teardown.add(
      setInterval(() => c.write("."), 100),
      (t) => clearInterval(t),
    );
    c.write(".");
    await waitFor(() => (d.sessions()[0]?.ageMs ?? 0) > 2000, {
      timeoutMs: 5000,
      what: "entry older than 2 s",
    });
    clearInterval(keepAlive);
    expect(d.server("e")!.counters.agedOut).toBe(0);
    expect(d.sessions()[0]!.idleMs).toBeLessThan(1200);
  });
});
