import { request } from "node:http";
import { waitFor } from "@ebb/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestDevice, Teardown, vipAddress } from "../test-support/device.js";
import { RawClient } from "../test-support/raw-client.js";
import { type HttpUpstream, startHttpUpstream } from "../test-support/upstreams.js";
import type { L4Device } from "./device.js";
import type { DeviceEvent } from "./types.js";

const teardown = new Teardown();
let d: L4Device;
let a: HttpUpstream;
let b: HttpUpstream;

beforeEach(async () => {
  a = teardown.add(await startHttpUpstream("127.0.2.10", "a"), (u) => u.close());
  b = teardown.add(await startHttpUpstream("127.0.2.11", "b"), (u) => u.close());
  d = teardown.add(await startTestDevice({}, [{ name: "a", host: a.host, port: a.port }]), (x) => x.stop());
  await waitFor(() => d.server("a")?.bound, { what: "a bound" });
});
afterEach(() => teardown.run());

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/** One admin call on its own connection, with the body sent as given (so it can be broken JSON). */
function call(
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(`${d.adminUrl}${path}`, { method, agent: false, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => {
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

const json = (method: string, path: string, body: unknown) =>
  call(method, path, JSON.stringify(body), { "content-type": "application/json" });

describe("admin API", () => {
  it("GET /healthz", async () => {
    expect(await call("GET", "/healthz")).toMatchObject({ status: 200, json: { ok: true } });
  });

  it("GET /config shows the vendor's numbers; PATCH /config changes them and emits config.changed", async () => {
    const got = await call("GET", "/config");
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({
      scheduler: "roundRobin",
      healthCheck: {
        mode: "l7",
        path: "/health_check.html",
        intervalSeconds: 10,
        retryCount: 1,
        timeoutSeconds: 5,
      },
      sessionIdleTimeoutSeconds: 120,
      timeScale: 0.01,
    });
    const patched = await json("PATCH", "/config", { healthCheck: { retryCount: 2 }, resetOnPortFail: true });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({
      healthCheck: { retryCount: 2, intervalSeconds: 10 },
      resetOnPortFail: true,
    });
    expect(d.config.healthCheck.retryCount).toBe(2);
    expect(d.events()).toContainEqual(
      expect.objectContaining({
        type: "config.changed",
        fields: ["healthCheck.retryCount", "resetOnPortFail"],
      }),
    );
  });

  it("PATCH /config rejects invalid fields naming them, invalid JSON, unknown and read-only fields", async () => {
    const bad = await json("PATCH", "/config", { healthCheck: { intervalSeconds: -1 } });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({
      error: {
        code: "invalid_config",
        details: [expect.objectContaining({ field: "healthCheck.intervalSeconds" })],
      },
    });
    expect(d.config.healthCheck.intervalSeconds).toBe(10);

    const broken = await call("PATCH", "/config", '{"healthCheck": {', {
      "content-type": "application/json",
    });
    expect(broken.status).toBe(400);
    expect(broken.json).toMatchObject({
      error: { code: "invalid_body", message: expect.stringMatching(/JSON/) },
    });

    const unknown = await json("PATCH", "/config", { healthCheck: { intervalSecs: 5 } });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({
      error: { details: [{ field: "healthCheck.intervalSecs", message: "unknown field" }] },
    });

    const readOnly = await json("PATCH", "/config", { timeScale: 1 });
    expect(readOnly.status).toBe(400);
    expect(readOnly.json).toMatchObject({ error: { details: [{ field: "timeScale" }] } });

    const aging = await json("PATCH", "/config", { sessionIdleTimeoutSeconds: 60 });
    expect(aging.json).toMatchObject({ error: { details: [{ field: "sessionIdleTimeoutSeconds" }] } });

    const tooLarge = await call("PATCH", "/config", JSON.stringify({ x: "y".repeat(70_000) }));
    expect(tooLarge.status).toBe(413);
  });

  it("GET/POST /servers, GET/DELETE /servers/:name, disable and enable", async () => {
    const list = await call("GET", "/servers");
    expect(list.json).toEqual([
      expect.objectContaining({
        name: "a",
        host: a.host,
        port: a.port,
        weight: 1,
        health: "up",
        bound: true,
      }),
    ]);

    const added = await json("POST", "/servers", { host: b.host, port: b.port, weight: 2 });
    const bName = `${b.host}:${b.port}`;
    expect(added).toMatchObject({
      status: 201,
      json: { name: bName, health: "failed", reason: "initial", bound: false },
    });
    await waitFor(() => d.server(bName)?.bound, { what: "b bound after its first check" });

    const one = await call("GET", `/servers/${encodeURIComponent(bName)}`);
    expect(one).toMatchObject({
      status: 200,
      json: { name: bName, weight: 2, health: "up", lastCheck: { ok: true } },
    });

    const duplicate = await json("POST", "/servers", { name: "a", host: "127.0.2.12", port: 80 });
    expect(duplicate).toMatchObject({ status: 409, json: { error: { code: "conflict" } } });
    const invalid = await json("POST", "/servers", { host: "127.0.2.12", port: 70000, weight: 0 });
    expect(invalid.status).toBe(400);
    expect(
      (invalid.json as { error: { details: { field: string }[] } }).error.details.map((x) => x.field),
    ).toEqual(["port", "weight"]);

    const disabled = await call("POST", "/servers/a/disable");
    expect(disabled).toMatchObject({ status: 200, json: { adminState: "disabled", bound: false } });
    expect(d.server("a")!.bound).toBe(false);
    const enabled = await call("POST", "/servers/a/enable");
    expect(enabled).toMatchObject({ status: 200, json: { adminState: "enabled", bound: true } });

    expect((await call("DELETE", `/servers/${encodeURIComponent(bName)}`)).status).toBe(204);
    expect(d.server(bName)).toBeUndefined();
    expect(d.events().map((e) => e.type)).toEqual(
      expect.arrayContaining(["server.added", "server.admin", "server.removed"]),
    );
  });

  it("unknown servers and paths are 404, wrong methods 405", async () => {
    for (const [method, path] of [
      ["GET", "/servers/nope"],
      ["DELETE", "/servers/nope"],
      ["POST", "/servers/nope/disable"],
      ["GET", "/sessions?server=nope"],
      ["GET", "/nowhere"],
    ] as const) {
      const r = await call(method, path);
      expect(r.status, `${method} ${path}`).toBe(404);
      expect(r.json).toMatchObject({ error: { code: "not_found" } });
    }
    const wrong = await call("PUT", "/config");
    expect(wrong).toMatchObject({ status: 405, json: { error: { code: "method_not_allowed" } } });
    expect(wrong.headers.allow).toBe("GET, PATCH");
  });

  it("GET /sessions lists entries with per-server counts, filter and limit; GET /counters", async () => {
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const c = teardown.add(await RawClient.connect(vipAddress(d)), (x) => x.destroy());
      await c.request("/");
      clients.push(c);
    }
    const all = await call("GET", "/sessions");
    expect(all.json).toMatchObject({ total: 3, perServer: { a: 3 } });
    const entries = (all.json as { entries: unknown[] }).entries;
    expect(entries).toHaveLength(3);
    expect(entries[0]).toMatchObject({
      client: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      server: "a",
      clientPackets: 1,
      ageMs: expect.any(Number),
      idleMs: expect.any(Number),
    });
    expect((await call("GET", "/sessions?server=a&limit=2")).json).toMatchObject({
      total: 3,
      entries: [expect.anything(), expect.anything()],
    });
    expect((await call("GET", "/sessions?limit=x")).status).toBe(400);

    const counters = await call("GET", "/counters");
    expect(counters.json).toMatchObject({
      totals: { sessionsActive: 3, sessionsOpened: 3, connectionsOpen: 3, noServer: 0, tableFull: 0 },
      servers: { a: { sessionsActive: 3, clientPackets: 3 } },
    });
  });

  it("GET /events?format=json&since=N returns the ring buffer after N", async () => {
    const all = (await call("GET", "/events?format=json")).json as DeviceEvent[];
    expect(all.map((e) => e.type)).toEqual(["server.added", "server.health"]);
    const after = (await call("GET", `/events?format=json&since=${all[0]!.seq}`)).json as DeviceEvent[];
    expect(after).toEqual([all[1]]);
    expect(after[0]).toMatchObject({ server: "a", from: "failed", to: "up", reason: "status 200" });
  });

  it("GET /events streams SSE: replays after Last-Event-ID, then delivers live health events", async () => {
    const controller = new AbortController();
    teardown.add(controller, (c) => c.abort());
    const res = await fetch(`${d.adminUrl}/events`, {
      headers: { "last-event-id": "1" },
      signal: controller.signal,
    });
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    const readUntil = async (needle: string): Promise<void> => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}; got ${text}`);
        text += value;
      }
    };
    // Replay: seq 1 (server.added) is skipped, seq 2 (a's first health change) is sent.
    await readUntil("id: 2\n");
    expect(text).not.toContain("id: 1\n");
    expect(text).toMatch(/id: 2\nevent: server\.health\ndata: \{[^\n]*"to":"up"/);

    a.healthStatus = 404;
    await readUntil('"to":"suspect"');
    const frame = /id: (\d+)\nevent: server\.health\ndata: (\{[^\n]*"to":"suspect"[^\n]*\})\n\n/.exec(text);
    expect(frame).not.toBeNull();
    expect(JSON.parse(frame![2]!)).toMatchObject({
      type: "server.health",
      server: "a",
      from: "up",
      reason: "status 404",
    });
    controller.abort();
  });

  it("GET /metrics answers Prometheus text", async () => {
    const r = await call("GET", "/metrics");
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(r.text).toContain('ebb_l4_server_up{server="a"} 1');
  });
});

describe("foreign Host and Origin (CSRF, DNS rebinding)", () => {
  it("refuses a page's cross-origin request and a rebinding host name; the device keeps its state", async () => {
    const rebound = await call("POST", "/servers/a/disable", undefined, {
      host: `evil.example:${new URL(d.adminUrl).port}`,
    });
    expect(rebound.status).toBe(403);
    const crossSite = await call("POST", "/servers/a/disable", undefined, { origin: "https://evil.example" });
    expect(crossSite.status).toBe(403);
    expect(d.server("a")?.bound).toBe(true);
    // Same-origin and non-browser callers (no Origin) still work.
    expect((await call("GET", "/servers")).status).toBe(200);
    expect((await call("GET", "/servers", undefined, { origin: d.adminUrl })).status).toBe(200);
  });
});
