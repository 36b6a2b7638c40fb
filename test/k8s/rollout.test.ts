import type { Target } from "@ebb/core";
import { KubernetesBalancer } from "@ebb/drivers/kubernetes";
import { LoadGenerator, type LoadReport } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  awaitEndpointRemoved,
  awaitReplacementReady,
  deletePodAndWait,
} from "../../packages/drivers/test-support/kubernetes.js";
import { fleetConfig, givenLabCluster, totalErrors } from "./support.js";

// The pod form of the drain runbook (k8s-pod-drain), step by step through the driver, under keep-alive
// load through the service proxy, with Envoy-like sidecars and a proxy lag of 800 ms.
const PROPAGATION_MS = 800;

describe("k8s-pod-drain through the driver, sidecar mode", () => {
  let lab: Awaited<ReturnType<typeof givenLabCluster>>;
  let balancer: KubernetesBalancer;

  beforeAll(async () => {
    lab = await givenLabCluster(57, { sidecar: true, propagationDelayMs: PROPAGATION_MS });
    balancer = new KubernetesBalancer(
      fleetConfig(lab, { propagationWindowMs: PROPAGATION_MS + 200, metrics: { source: "envoy" } }),
    );
  });
  afterAll(async () => {
    await lab?.cleanup();
  });

  /** traffic.awaitQuiet: no new session for `holdMs`, sampled every 100 ms. */
  async function awaitQuiet(target: Target, holdMs: number): Promise<void> {
    await balancer.traffic(target);
    let quietSince = Date.now();
    await waitFor(
      async () => {
        const sample = await balancer.traffic(target);
        if (sample.newSessions > 0) quietSince = Date.now();
        return Date.now() - quietSince >= holdMs;
      },
      { timeoutMs: 10_000, intervalMs: 100, what: `no new sessions on ${target.name}` },
    );
  }

  async function drainAndReplace(name: string, version: string): Promise<void> {
    const fleet = balancer.fleet;
    const pod = (await fleet.pod(name))!;
    const target: Target = { name, host: pod.host, port: pod.port, executor: "local", labels: {} };
    await fleet.setReadiness(name, false);
    await awaitEndpointRemoved(fleet, name, { timeoutMs: 10_000 });
    await awaitQuiet(target, 300);
    await deletePodAndWait(fleet, name, { uid: pod.uid });
    await awaitReplacementReady(fleet, name, version, { timeoutMs: 20_000 });
    const res = await fetch(`http://${pod.host}:${pod.port}/`);
    expect(((await res.json()) as { version: string }).version).toBe(version);
  }

  it("Given keep-alive load, When every pod is drained and replaced one at a time, Then no request fails", async () => {
    const url = new URL(lab.proxyUrl);
    const gen = new LoadGenerator({
      target: { host: url.hostname, port: Number(url.port) },
      clients: 12,
      rate: 240,
      timeoutMs: 2_000,
    });
    gen.start();
    let report: LoadReport;
    try {
      await waitFor(() => Object.keys(gen.snapshot().byServer).length === 3, { what: "load on every pod" });
      // The sidecar's stats see the load: requests on the pod's keep-alive connections.
      const web0 = lab.pods[0]!;
      const t0: Target = { name: "web-0", host: web0.host, port: web0.port, executor: "local", labels: {} };
      await balancer.traffic(t0);
      await waitFor(async () => ((await balancer.traffic(t0)).requests ?? 0) > 0, {
        what: "requests on web-0",
      });
      expect((await balancer.observe(t0)).sessions).toBeGreaterThan(0);
      await balancer.fleet.setTemplateVersion("2.0.0");
      for (const name of ["web-0", "web-1", "web-2"]) await drainAndReplace(name, "2.0.0");
    } finally {
      report = await gen.stop();
    }
    expect(report.errorSamples).toEqual([]);
    expect(totalErrors(report.errors)).toBe(0);
    expect(report.byVersion["2.0.0"]).toBeGreaterThan(0);
    expect((await balancer.fleet.pods()).map((p) => p.version)).toEqual(["2.0.0", "2.0.0", "2.0.0"]);
  });
});
