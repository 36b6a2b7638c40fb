import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseDuration } from "./config.js";
import { parseProcNetTcp } from "./connections.js";
import { Drain } from "./drain.js";
import { endpointView } from "./kube.js";

const settings = { propagationMs: 1_000, holdMs: 300, graceMs: 5_000, shutdownBudgetMs: 1_000 };
const out = { listed: ["web/web-abc"], serving: [] };
const serving = { listed: ["web/web-abc"], serving: ["web/web-abc"] };
const conn = (remote: string, inode = "1") => ({ remote, inode });

describe("Drain: when to let SIGTERM through", () => {
  it("holds while a slice still serves the pod, then for the window after it is out, then releases when quiet", () => {
    const d = new Drain(settings, 0);
    d.observe({ at: 0, endpoints: serving, connections: [conn("127.0.0.1:5000")] });
    expect(d.decide(0)).toBeNull();
    d.observe({ at: 400, endpoints: out, connections: [conn("127.0.0.1:5000")] });
    expect(d.decide(1_300)).toBeNull();
    d.observe({ at: 1_400, endpoints: out, connections: [conn("127.0.0.1:5000")] });
    expect(d.decide(1_400)).toBe("drained");
    expect(d.report("drained", 1_400)).toMatchObject({
      endpointOutAtMs: 400,
      newConnections: 0,
      lateConnections: 0,
      slices: ["web/web-abc"],
      openConnectionsAtRelease: 1,
    });
  });

  it("a new connection after the window restarts the hold and is reported as late traffic", () => {
    const d = new Drain(settings, 0);
    d.observe({ at: 0, endpoints: out, connections: [] });
    d.observe({ at: 1_100, endpoints: out, connections: [conn("127.0.0.1:6000")] });
    expect(d.decide(1_200)).toBeNull();
    d.observe({ at: 1_450, endpoints: out, connections: [conn("127.0.0.1:6000")] });
    expect(d.decide(1_450)).toBe("drained");
    expect(d.report("drained", 1_450)).toMatchObject({ newConnections: 1, lateConnections: 1 });
  });

  it("a reused remote port with a new socket is a new connection", () => {
    const d = new Drain(settings, 0);
    d.observe({ at: 0, endpoints: out, connections: [conn("127.0.0.1:6000", "1")] });
    d.observe({ at: 100, endpoints: out, connections: [conn("127.0.0.1:6000", "2")] });
    expect(d.report("drained", 100).newConnections).toBe(1);
  });

  it("releases at grace - shutdown budget when the pod never leaves the slices or the API is unreachable", () => {
    const d = new Drain(settings, 0);
    d.observe({ at: 0, endpoints: null, connections: [] });
    expect(d.decide(3_999)).toBeNull();
    expect(d.decide(4_000)).toBe("grace-limit");
    expect(d.report("grace-limit", 4_000)).toMatchObject({
      endpointOutAtMs: null,
      apiErrors: 1,
      limitMs: 4_000,
    });
  });

  it("a pod back in service (ready again) restarts the window", () => {
    const d = new Drain(settings, 0);
    d.observe({ at: 0, endpoints: out, connections: [] });
    d.observe({ at: 500, endpoints: serving, connections: [] });
    d.observe({ at: 600, endpoints: out, connections: [] });
    expect(d.decide(1_500)).toBeNull();
    expect(d.decide(1_600)).toBe("drained");
  });
});

describe("the hook's inputs", () => {
  it("reads the app port's connections from /proc/net/tcp, not the listener, other ports, other pods or the node", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 2900007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1",
      "   1: 2900007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 101 1",
      "   2: 2900007F:1F90 FE00007F:C351 01 00000000:00000000 00:00000000 00000000     0        0 102 1",
      "   3: 2A00007F:1F90 0100007F:C352 01 00000000:00000000 00:00000000 00000000     0        0 103 1",
      "   4: 2900007F:1F91 0100007F:C353 01 00000000:00000000 00:00000000 00000000     0        0 104 1",
    ].join("\n");
    expect(parseProcNetTcp(text, false, "127.0.0.41", 8080, new Set(["127.0.0.254"]))).toEqual([
      { remote: "127.0.0.1:50000", inode: "101" },
    ]);
  });

  it("finds the pod in every slice by targetRef or address; not ready or terminating is out", () => {
    const list = {
      items: [
        {
          metadata: { name: "web-x", labels: { "kubernetes.io/service-name": "web" } },
          endpoints: [
            {
              addresses: ["127.0.0.41"],
              conditions: { ready: false, terminating: true },
              targetRef: { kind: "Pod", name: "p" },
            },
          ],
        },
        {
          metadata: { name: "admin-y", labels: { "kubernetes.io/service-name": "admin" } },
          endpoints: [{ addresses: ["127.0.0.41"], conditions: { ready: true } }],
        },
      ],
    };
    expect(endpointView(list, "p", "127.0.0.41")).toEqual({
      listed: ["web/web-x", "admin/admin-y"],
      serving: ["admin/admin-y"],
    });
  });

  it("names the variable that is wrong", () => {
    expect(parseDuration("X", "1.5s")).toBe(1_500);
    expect(parseDuration("X", "30")).toBe(30_000);
    expect(() => parseDuration("DRAIN_HOOK_HOLD", "soon")).toThrow(/DRAIN_HOOK_HOLD/);
    const base = {
      POD_NAME: "p",
      POD_NAMESPACE: "lab",
      POD_IP: "127.0.0.41",
      KUBE_API_URL: "http://127.0.0.1:6443",
    };
    expect(loadConfig(base)).toMatchObject({ propagationMs: 5_000, holdMs: 1_000, graceMs: 30_000 });
    expect(() => loadConfig({ ...base, POD_IP: "" })).toThrow(/POD_IP is required/);
    expect(() => loadConfig({ ...base, DRAIN_HOOK_SHUTDOWN_BUDGET: "40s" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, EBB_URL: "http://x" })).toThrow(/EBB_TOKEN/);
  });
});
