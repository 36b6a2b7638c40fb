import { createHash, randomBytes } from "node:crypto";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import {
  connectClient,
  freshRequest,
  startTestDevice,
  Teardown,
  vipAddress,
} from "../test-support/device.js";
import { RawClient } from "../test-support/raw-client.js";
import { type EchoUpstream, startEchoUpstream, startHttpUpstream } from "../test-support/upstreams.js";
import type { L4Device } from "./device.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

async function echoDevice(
  config: Parameters<typeof startTestDevice>[0] = {},
): Promise<{ d: L4Device; echo: EchoUpstream }> {
  const echo = teardown.add(await startEchoUpstream("127.0.2.10"), (u) => u.close());
  const d = teardown.add(
    await startTestDevice({ healthCheck: { mode: "l4" }, ...config }, [
      { name: "e", host: echo.host, port: echo.port },
    ]),
    (x) => x.stop(),
  );
  await waitFor(() => d.server("e")?.bound, { what: "e bound" });
  return { d, echo };
}

const client = (d: L4Device) => connectClient(teardown, d);

const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

describe("robustness", () => {
  it("forwards garbage bytes untouched, both ways, with backpressure on a large stream", async () => {
    // Aging counts client packets only, and the kernel's loopback buffers (tcp_rmem up to 32 MiB on some
    // machines) can swallow all 8 MiB at once: the client then sends nothing while the echo drains for
    // seconds on a busy machine, longer than the 1.2 s test aging. This test is about forwarding and
    // counting, not aging, so its entry gets the longest aging (36 s scaled), beyond the 20 s wait.
    const { d } = await echoDevice({ sessionIdleTimeoutSeconds: 3600 });
    const c = await client(d);
    const garbage = randomBytes(8 * 1024 * 1024);
    c.write(garbage);
    await waitFor(() => c.received.length >= garbage.length, { timeoutMs: 20_000, what: "echo of 8 MiB" });
    expect(sha(c.received)).toBe(sha(garbage));
    expect(d.sessions()[0]!.clientBytes).toBe(garbage.length);
    expect(d.server("e")!.counters.clientBytes).toBe(garbage.length);
  });

  it("a half-open connection (connects, never sends) ages out and then holds no entry", async () => {
    const { d, echo } = await echoDevice();
    const c = await client(d);
    await waitFor(() => d.sessions().length === 1 && echo.sockets.size === 1, { what: "entry and upstream" });
    await waitFor(() => d.counters().totals.agedOut === 1, { timeoutMs: 5000, what: "aged out" });
    expect(d.sessions()).toEqual([]);
    expect(d.counters().totals.connectionsOpen).toBe(1);
    c.end();
    await waitFor(() => d.counters().totals.connectionsOpen === 0, { what: "pair released" });
    // The upstream learns of the close a moment later than the device (its own 'close' event).
    await waitFor(() => echo.sockets.size === 0, { what: "upstream connection closed" });
  });

  it("a full session table resets new flows (tableFull, sessions.full) and the device keeps serving", async () => {
    const { d } = await echoDevice({ maxSessions: 2 });
    const held = [await client(d), await client(d)];
    await waitFor(() => d.sessions().length === 2, { what: "two entries" });

    const rejected = [RawClient.open(vipAddress(d)), RawClient.open(vipAddress(d))];
    for (const r of rejected) teardown.add(r, (x) => x.destroy());
    await waitFor(() => rejected.every((r) => r.closed), { what: "extra flows reset" });
    expect(rejected.map((r) => r.error)).toEqual(["ECONNRESET", "ECONNRESET"]);
    expect(d.counters().totals.tableFull).toBe(2);
    expect(d.events()).toContainEqual(
      expect.objectContaining({ type: "sessions.full", maxSessions: 2, rejected: 1 }),
    );

    // The held flows still work, and a freed slot is usable at once.
    held[0]!.write("ping");
    await waitFor(() => held[0]!.received.toString() === "ping", { what: "echo on a held flow" });
    held[1]!.end();
    await waitFor(() => d.sessions().length === 1, { what: "a slot freed" });
    const next = await client(d);
    next.write("pong");
    await waitFor(() => next.received.toString() === "pong", { what: "echo on a new flow" });
  });

  it("survives a client that resets while the upstream connection is still being opened", async () => {
    const up = teardown.add(await startHttpUpstream("127.0.2.10", "a"), (u) => u.close());
    const d = teardown.add(await startTestDevice({}, [{ name: "a", host: up.host, port: up.port }]), (x) =>
      x.stop(),
    );
    await waitFor(() => d.server("a")?.bound, { what: "a bound" });
    for (let i = 0; i < 20; i++) {
      const c = RawClient.open(vipAddress(d));
      c.socket.once("connect", () => c.socket.resetAndDestroy());
    }
    await waitFor(() => d.counters().totals.connectionsOpen === 0 && d.sessions().length === 0, {
      what: "every pair released",
    });
    await waitFor(() => up.clientSockets.size === 0, { what: "no upstream left" });
    expect(await freshRequest(d)).toBe("a");
  });
});
