import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import {
  connectClient,
  freshRequest,
  givenHttpLab,
  serverOf,
  startTestDevice,
  Teardown,
  vipAddress,
} from "../test-support/device.js";
import { RawClient } from "../test-support/raw-client.js";
import type { L4Device } from "./device.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

const givenDevice = (names: string[], config: Parameters<typeof givenHttpLab>[2] = {}) =>
  givenHttpLab(teardown, names, config);
const client = (d: L4Device) => connectClient(teardown, d);

function rejectedClient(d: L4Device): RawClient {
  return teardown.add(RawClient.open(vipAddress(d)), (c) => c.destroy());
}

describe("known flows follow their session entry", () => {
  it("a keep-alive client keeps reaching its server after it is failed; new connections do not", async () => {
    const { d, ups } = await givenDevice(["a", "b"]);
    const c = await client(d);
    const mine = serverOf(await c.request("/"));
    const other = mine === "a" ? "b" : "a";

    ups[mine]!.healthStatus = 404;
    await waitFor(() => d.server(mine)?.health === "failed", { what: `${mine} failed` });
    for (let i = 0; i < 5; i++) expect(serverOf(await c.request("/"))).toBe(mine);
    expect(d.sessions(mine)).toHaveLength(1);
    expect(d.sessions(mine)[0]).toMatchObject({
      client: `127.0.0.1:${c.localPort}`,
      server: mine,
      clientPackets: 6,
    });

    for (let i = 0; i < 4; i++) expect(await freshRequest(d)).toBe(other);
  });

  it("a keep-alive client keeps reaching its server after it is disabled; new connections do not", async () => {
    const { d } = await givenDevice(["a", "b"]);
    const c = await client(d);
    const mine = serverOf(await c.request("/"));
    const other = mine === "a" ? "b" : "a";

    const view = d.setAdminState(mine, "disabled");
    expect(view).toMatchObject({ adminState: "disabled", health: "up", bound: false });
    for (let i = 0; i < 5; i++) expect(serverOf(await c.request("/"))).toBe(mine);
    for (let i = 0; i < 4; i++) expect(await freshRequest(d)).toBe(other);

    d.setAdminState(mine, "enabled");
    const picks = new Set<string>();
    for (let i = 0; i < 4; i++) picks.add(await freshRequest(d));
    expect(picks).toEqual(new Set(["a", "b"]));
  });
});

describe("removing a server", () => {
  it("drops its entries but resets nothing: its open connections keep flowing", async () => {
    const { d, ups } = await givenDevice(["a", "b"]);
    const c = await client(d);
    const mine = serverOf(await c.request("/"));
    d.removeServer(mine);
    expect(d.server(mine)).toBeUndefined();
    expect(d.sessions()).toEqual([]);
    for (let i = 0; i < 3; i++) expect(serverOf(await c.request("/"))).toBe(mine);
    expect(c.error).toBeUndefined();
    expect(d.sessions()).toEqual([]);
    expect(d.counters().totals).toMatchObject({ resetOnReschedule: 0, connectionsOpen: 1 });
    expect(ups[mine]!.clientSockets.size).toBe(1);
    expect(d.events()).toContainEqual(
      expect.objectContaining({ type: "server.removed", server: mine, sessionsDropped: 1 }),
    );
  });
});

describe("FIN and RST", () => {
  it("a FIN from the server drops the entry (closedByFin) and the client sees a clean close", async () => {
    const { d } = await givenDevice(["a"]);
    const c = await client(d);
    await c.request("/");
    expect(d.sessions()).toHaveLength(1);
    expect((await c.request("/close")).status).toBe(200);
    await waitFor(() => c.ended, { what: "client sees FIN" });
    expect(c.error).toBeUndefined();
    expect(d.sessions()).toHaveLength(0);
    expect(d.server("a")!.counters).toMatchObject({ closedByFin: 1, closedByRst: 0, sessionsActive: 0 });
    c.end();
    await waitFor(() => c.closed && d.counters().totals.connectionsOpen === 0, { what: "pair released" });
  });

  it("a RST from the server reaches the client as RST (ECONNRESET), counted closedByRst", async () => {
    const { d } = await givenDevice(["a"]);
    const c = await client(d);
    await c.request("/");
    await expect(c.request("/reset")).rejects.toThrow(/ECONNRESET/);
    expect(c.error).toBe("ECONNRESET");
    await waitFor(() => d.counters().totals.connectionsOpen === 0, { what: "pair released" });
    expect(d.server("a")!.counters).toMatchObject({ closedByRst: 1, closedByFin: 0, sessionsActive: 0 });
  });

  it("a FIN from the client is passed to the server and drops the entry", async () => {
    const { d, ups } = await givenDevice(["a"]);
    const c = await client(d);
    await c.request("/");
    expect(ups.a!.clientSockets.size).toBe(1);
    c.end();
    await waitFor(() => ups.a!.clientSockets.size === 0, { what: "server side closed" });
    await waitFor(() => c.closed, { what: "client closed" });
    expect(c.error).toBeUndefined();
    expect(d.server("a")!.counters).toMatchObject({ closedByFin: 1, sessionsActive: 0 });
    await waitFor(() => d.counters().totals.connectionsOpen === 0, { what: "pair released" });
  });

  it("after the client's FIN the entry is gone at once, and the server's side keeps flowing until it ends", async () => {
    // An upstream that answers a half-close later, on its own schedule.
    let serverSide: Socket | undefined;
    const halfOpen = createServer({ allowHalfOpen: true }, (s) => {
      s.on("error", () => {});
      // The client's connection is the one that carries data; health checks only connect.
      s.once("data", () => {
        serverSide = s;
      });
    });
    halfOpen.listen(0, "127.0.2.10");
    await once(halfOpen, "listening");
    teardown.add(halfOpen, (srv) => {
      serverSide?.destroy();
      srv.close();
    });
    const port = (halfOpen.address() as { port: number }).port;
    const d = teardown.add(
      await startTestDevice({ healthCheck: { mode: "l4" } }, [{ name: "h", host: "127.0.2.10", port }]),
      (x) => x.stop(),
    );
    await waitFor(() => d.server("h")?.bound, { what: "h bound" });
    const c = await client(d);
    c.write("request");
    await waitFor(() => serverSide, { what: "upstream connection" });
    const ended = once(serverSide!, "end");
    c.end();
    await ended;
    expect(d.server("h")!.counters).toMatchObject({ closedByFin: 1, sessionsActive: 0 });
    expect(d.counters().totals.connectionsOpen).toBe(1);

    serverSide!.write("late response");
    await waitFor(() => c.received.toString() === "late response", { what: "data after the client's FIN" });
    serverSide!.end();
    await waitFor(() => c.ended && c.closed, { what: "client sees the server's FIN" });
    expect(c.error).toBeUndefined();
    await waitFor(() => d.counters().totals.connectionsOpen === 0, { what: "pair released" });
    expect(d.server("h")!.counters.closedByFin).toBe(1);
  });

  it("a client that vanishes (RST) mid-stream leaves no upstream connection behind", async () => {
    const { d, ups } = await givenDevice(["a"]);
    const c = await client(d);
    await c.request("/");
    c.socket.resetAndDestroy();
    await waitFor(() => ups.a!.clientSockets.size === 0, { what: "upstream connection gone" });
    await waitFor(() => d.counters().totals.connectionsOpen === 0, { what: "pair released" });
    expect(d.server("a")!.counters).toMatchObject({ closedByRst: 1, sessionsActive: 0 });
  });
});

describe("new flows the device cannot place", () => {
  it("no bound server: the client gets RST, counted noServer", async () => {
    const { d } = await givenDevice(["a"]);
    d.setAdminState("a", "disabled");
    const c = rejectedClient(d);
    await waitFor(() => c.closed, { what: "client reset" });
    expect(c.error).toBe("ECONNRESET");
    expect(d.counters().totals).toMatchObject({ noServer: 1, sessionsOpened: 0, connectionsOpen: 0 });
  });

  it("a bound server that refuses the connection: the client gets RST, counted refused on it", async () => {
    // Checks every 3 s (scaled): the server is still bound when its port closes.
    const { d, ups } = await givenDevice(["a"], { healthCheck: { intervalSeconds: 300 } });
    await ups.a!.close();
    const c = rejectedClient(d);
    await waitFor(() => c.closed, { what: "client reset" });
    expect(c.error).toBe("ECONNRESET");
    expect(d.server("a")!.counters).toMatchObject({ refused: 1, sessionsActive: 0 });
    expect(d.counters().totals.connectionsOpen).toBe(0);
  });
});

describe("DSR: only client packets refresh an entry", () => {
  it("client bytes and packets are counted per session, per server and in total", async () => {
    const { d } = await givenDevice(["a"]);
    const c = await client(d);
    await c.request("/one");
    await c.request("/two");
    const bytes =
      "GET /one HTTP/1.1\r\nHost: vip\r\n\r\n".length + "GET /two HTTP/1.1\r\nHost: vip\r\n\r\n".length;
    expect(d.sessions()[0]).toMatchObject({ clientBytes: bytes, clientPackets: 2 });
    expect(d.server("a")!.counters).toMatchObject({ clientBytes: bytes, clientPackets: 2 });
    expect(d.counters().totals).toMatchObject({ clientBytes: bytes, clientPackets: 2 });
  });
});
