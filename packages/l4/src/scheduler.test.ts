import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { connectClient, freshRequest, givenHttpLab, serverOf, Teardown } from "../test-support/device.js";
import type { RawClient } from "../test-support/raw-client.js";
import type { L4Device } from "./device.js";
import { RealServer } from "./real-server.js";
import { createScheduler } from "./scheduler.js";

const teardown = new Teardown();
afterEach(() => teardown.run());

function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

async function heldClient(d: L4Device): Promise<{ client: RawClient; server: string }> {
  const client = await connectClient(teardown, d);
  return { client, server: serverOf(await client.request("/")) };
}

describe("scheduler", () => {
  it("round robin spreads new flows by weight", async () => {
    const { d } = await givenHttpLab(teardown, [
      { name: "a", weight: 1 },
      { name: "b", weight: 3 },
    ]);
    const picks: string[] = [];
    for (let i = 0; i < 8; i++) picks.push(await freshRequest(d));
    expect(tally(picks)).toEqual({ a: 2, b: 6 });
    expect(d.counters().servers.b!.sessionsOpened).toBe(6);
  });

  it("round robin with equal weights alternates", async () => {
    const { d } = await givenHttpLab(teardown, ["a", "b"]);
    const picks: string[] = [];
    for (let i = 0; i < 6; i++) picks.push(await freshRequest(d));
    for (let i = 1; i < picks.length; i++) expect(picks[i]).not.toBe(picks[i - 1]);
  });

  it("least connections sends new flows to the server with the fewest session entries", async () => {
    const { d } = await givenHttpLab(teardown, ["a", "b"], { scheduler: "leastConnections" });
    const held = [];
    for (let i = 0; i < 4; i++) held.push(await heldClient(d));
    expect(tally(held.map((h) => h.server))).toEqual({ a: 2, b: 2 });

    // When a's two clients leave, the next two flows both go to a (round robin would split them).
    for (const h of held.filter((x) => x.server === "a")) h.client.end();
    await waitFor(() => d.server("a")!.counters.sessionsActive === 0, { what: "a's entries gone" });
    const next = [await heldClient(d), await heldClient(d)];
    expect(next.map((h) => h.server)).toEqual(["a", "a"]);
  });

  it("source hash keeps each client IP on one server and spreads IPs over servers", async () => {
    const { d } = await givenHttpLab(teardown, ["a", "b"], { scheduler: "sourceHash" });
    const byIp = new Map<string, Set<string>>();
    for (let i = 0; i < 16; i++) {
      const ip = `127.0.2.${100 + i}`;
      const seen = new Set<string>();
      for (let j = 0; j < 3; j++) seen.add(await freshRequest(d, "/", ip));
      byIp.set(ip, seen);
    }
    for (const [ip, seen] of byIp) expect(seen.size, `${ip} went to ${[...seen]}`).toBe(1);
    const servers = tally([...byIp.values()].map((s) => [...s][0]!));
    expect(servers.a).toBeGreaterThan(0);
    expect(servers.b).toBeGreaterThan(0);
  });
});

describe("scheduler functions", () => {
  const servers = (weights: number[]) =>
    weights.map((weight, i) => new RealServer({ name: `s${i}`, host: "127.0.2.10", port: 1000 + i, weight }));

  it("smooth weighted round robin interleaves rather than bursts", () => {
    const pick = createScheduler("roundRobin");
    const list = servers([1, 3]);
    const seq = Array.from({ length: 8 }, () => pick("1.2.3.4", list)!.name);
    expect(seq).toEqual(["s1", "s0", "s1", "s1", "s1", "s0", "s1", "s1"]);
  });

  it("source hash only moves the clients of a server that leaves", () => {
    const pick = createScheduler("sourceHash");
    const list = servers([1, 1, 1]);
    const ips = Array.from({ length: 200 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
    const before = ips.map((ip) => pick(ip, list)!.name);
    const after = ips.map((ip) => pick(ip, list.slice(0, 2))!.name);
    ips.forEach((_, i) => {
      if (before[i] !== "s2") expect(after[i]).toBe(before[i]);
    });
    const share = tally(before);
    for (const name of ["s0", "s1", "s2"]) expect(share[name]).toBeGreaterThan(40);
  });

  it("source hash honours weights", () => {
    const pick = createScheduler("sourceHash");
    const list = servers([1, 4]);
    const share = tally(
      Array.from({ length: 1000 }, (_, i) => pick(`10.1.${i >> 8}.${i & 255}`, list)!.name),
    );
    expect(share.s1! / 1000).toBeGreaterThan(0.7);
    expect(share.s1! / 1000).toBeLessThan(0.9);
  });
});
