import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { connectClient, givenHttpLab, serverOf, Teardown } from "../test-support/device.js";
import type { RawClient } from "../test-support/raw-client.js";
import type { HttpUpstream } from "../test-support/upstreams.js";
import type { L4Device } from "./device.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

async function givenDevice(resetOnPortFail: boolean): Promise<{ d: L4Device; a: HttpUpstream }> {
  const { d, ups } = await givenHttpLab(teardown, ["a", "b"], { resetOnPortFail });
  return { d, a: ups.a! };
}

/** Keep-alive clients until `n` of them sit on server `name`, plus the others they displaced. */
async function clientsOn(
  d: L4Device,
  name: string,
  n: number,
): Promise<{ on: RawClient[]; off: RawClient[] }> {
  const on: RawClient[] = [];
  const off: RawClient[] = [];
  while (on.length < n) {
    const c = await connectClient(teardown, d);
    const server = serverOf(await c.request("/"));
    (server === name ? on : off).push(c);
  }
  return { on, off };
}

describe("resetOnPortFail", () => {
  it("on: when a server fails, its clients get RST at once and its entries are dropped", async () => {
    const { d, a } = await givenDevice(true);
    const { on, off } = await clientsOn(d, "a", 3);
    a.healthStatus = 404;
    await waitFor(() => d.server("a")?.health === "failed", { what: "a failed" });
    await waitFor(() => on.every((c) => c.error === "ECONNRESET"), { what: "a's clients reset" });
    expect(d.server("a")!.counters).toMatchObject({ resetByDevice: 3, sessionsActive: 0 });
    expect(d.sessions("a")).toEqual([]);
    // Only the client gets a RST; the server's side is closed with FIN.
    await waitFor(() => a.clientSockets.size === 0, { what: "a's upstream connections closed" });
    expect(d.events()).toContainEqual(
      expect.objectContaining({ type: "session.reset", server: "a", reason: "resetOnPortFail", count: 3 }),
    );
    // The other server's clients are untouched.
    for (const c of off) expect((await c.request("/")).status).toBe(200);
  });

  it("off (the default): the failed server's keep-alive clients keep flowing", async () => {
    const { d, a } = await givenDevice(false);
    expect(d.config.resetOnPortFail).toBe(false);
    const { on } = await clientsOn(d, "a", 3);
    a.healthStatus = 404;
    await waitFor(() => d.server("a")?.health === "failed", { what: "a failed" });
    for (const c of on)
      expect((JSON.parse((await c.request("/")).body) as { server: string }).server).toBe("a");
    expect(on.every((c) => c.error === undefined)).toBe(true);
    expect(d.server("a")!.counters).toMatchObject({ resetByDevice: 0, sessionsActive: 3 });
  });
});
