import { describe, expect, it } from "vitest";
import { parseKubernetesConfig } from "./config.js";
import { PodTrafficMeter, parseEnvoyStats, parseLabVmStatus } from "./metrics.js";

const envoy = (cx: number, total: number, rq: number, e5: number) => ({
  stats: [
    { name: "http.inbound_0.0.0.0_8080.downstream_cx_active", value: cx },
    { name: "http.inbound_0.0.0.0_8080.downstream_cx_total", value: total },
    { name: "http.inbound_0.0.0.0_8080.downstream_rq_total", value: rq },
    { name: "http.inbound_0.0.0.0_8080.downstream_rq_5xx", value: e5 },
    { name: "http.admin.downstream_cx_active", value: 99 },
    { name: "server.state", value: 0 },
  ],
});

describe("traffic metrics", () => {
  it("reads Envoy's inbound listener stats (not the admin listener's)", () => {
    expect(parseEnvoyStats(envoy(3, 10, 50, 1))).toEqual({
      activeSessions: 3,
      sessionsTotal: 10,
      requestsTotal: 50,
      errorsTotal: 1,
    });
    expect(() => parseEnvoyStats(envoy(1, 1, 1, 0), "inbound_0.0.0.0_9999")).toThrow(/statPrefix/);
    expect(() => parseEnvoyStats({})).toThrow(/not Envoy stats/);
  });

  it("reads the lab VM's /status traffic counters, which leave out probes and scrapes", () => {
    // An older VM: open connections only, this scrape's own among them.
    expect(parseLabVmStatus({ connections: { total: 4, idle: 3, active: 1 } })).toEqual({
      activeSessions: 3,
    });
    expect(
      parseLabVmStatus({
        connections: { total: 3 },
        connectionsAccepted: 30,
        requestsTotal: 90,
        traffic: { connections: 8, requests: 20, active: 2 },
      }),
    ).toEqual({ activeSessions: 2, sessionsTotal: 8, requestsTotal: 20 });
    // Requests that crossed the pod's FIN are errors its clients saw (issue 17).
    expect(
      parseLabVmStatus({
        connections: { total: 1 },
        traffic: { connections: 8, requests: 20, active: 0, lostAfterFin: 3 },
      }),
    ).toEqual({ activeSessions: 0, sessionsTotal: 8, requestsTotal: 20, errorsTotal: 3 });
  });

  it("turns counters into deltas per pod incarnation", () => {
    const meter = new PodTrafficMeter();
    const at = new Date("2025-01-01T00:00:00Z");
    const pod = { name: "web-0", uid: "a" };
    expect(meter.sample(pod, parseEnvoyStats(envoy(2, 10, 100, 0)), at)).toMatchObject({
      newSessions: 0,
      requests: 0,
    });
    expect(meter.sample(pod, parseEnvoyStats(envoy(2, 13, 140, 2)), at)).toMatchObject({
      activeSessions: 2,
      newSessions: 3,
      requests: 40,
      resets: 2,
    });
    // The replacement starts from zero: a new baseline, not a negative delta.
    expect(meter.sample({ name: "web-0", uid: "b" }, parseEnvoyStats(envoy(1, 1, 5, 0)), at)).toMatchObject({
      newSessions: 0,
      requests: 0,
    });
  });
});

describe("kubernetes balancer config", () => {
  it("fills defaults and names bad fields", () => {
    const c = parseKubernetesConfig({
      namespace: "lab",
      workload: { kind: "StatefulSet", name: "web" },
      service: "web",
      propagationWindowMs: 2000,
      metrics: { source: "envoy" },
    });
    expect(c).toMatchObject({
      gate: "ebb.dev/serving",
      timeScale: 1,
      metrics: { source: "envoy", port: 15000 },
    });
    expect(() => parseKubernetesConfig({ namespace: "lab", service: "web", propagationWindowMs: 1 })).toThrow(
      /balancerConfig\.workload/,
    );
    expect(() => parseKubernetesConfig({ ...c, inCluster: true, kubeconfigPath: "/x", extra: 1 })).toThrow(
      /balancerConfig\.extra|balancerConfig\.inCluster/,
    );
  });
});
