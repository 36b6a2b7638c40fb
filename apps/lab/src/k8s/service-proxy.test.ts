import { rm } from "node:fs/promises";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureVmServerBuilt, tempDir } from "../../test-support/k8s.js";
import { LoadGenerator, type LoadReport } from "../loadgen/index.js";
import { type LabCluster, startLabCluster } from "./lab-cluster.js";
import { PODS, STATEFULSETS } from "./resources.js";
import { isPodReady, type Pod } from "./types.js";

const SCALE = 0.05;
const PROPAGATION_MS = 400;
// In sidecar mode the app lives on after SIGTERM until the sidecar's pooled connections to it have drained
// (the VM's 500 ms linger): the lag must outlast that for a plain delete to show its 503s.
const SIDECAR_PROPAGATION_MS = 1_500;

function errorCount(report: LoadReport): number {
  return Object.values(report.errors).reduce((a, b) => a + b, 0);
}

async function givenCluster(
  net: string,
  dir: string,
  o: { sidecar: boolean; propagationDelayMs: number; preStopSeconds: number },
): Promise<LabCluster> {
  return startLabCluster({
    labDir: dir,
    api: { host: `${net}.1`, port: 0 },
    proxy: { host: `${net}.1`, port: 0 },
    podFirstHost: `${net}.21`,
    replicas: 3,
    timeScale: SCALE,
    propagationDelayMs: o.propagationDelayMs,
    preStopSeconds: o.preStopSeconds,
    sidecar: o.sidecar,
  });
}

/** Keep-alive load through the service proxy while `action` runs; the report once it is done. */
async function underLoad(lab: LabCluster, action: () => Promise<void>): Promise<LoadReport> {
  const url = new URL(lab.proxyUrl);
  const gen = new LoadGenerator({
    target: { host: url.hostname, port: Number(url.port) },
    clients: 12,
    rate: 240,
    timeoutMs: 2_000,
  });
  gen.start();
  try {
    await waitFor(() => Object.keys(gen.snapshot().byServer).length === 3, { what: "load on every pod" });
    await action();
    // Let the replacement take traffic before the tally closes.
    await waitFor(() => gen.snapshot().requests > 0, { what: "load still flowing" });
  } finally {
    await gen.stop();
  }
  return gen.snapshot();
}

function podOf(lab: LabCluster, name: string): Pod | undefined {
  return lab.cluster.store.peek(PODS, lab.namespace, name) as Pod | undefined;
}

/** The documented pod drain: gate False, endpoint gone from the proxy, then delete, then the replacement. */
async function drainByGate(lab: LabCluster, name: string): Promise<void> {
  const { registry } = lab.cluster;
  const uid = podOf(lab, name)?.metadata.uid;
  registry.patch(
    PODS,
    lab.namespace,
    name,
    "application/strategic-merge-patch+json",
    {
      status: { conditions: [{ type: "ebb.dev/serving", status: "False" }] },
    },
    "status",
  );
  await waitFor(() => lab.proxy.endpoints().find((e) => e.pod === name)?.conditions.ready === false, {
    what: `${name} out of the proxy's view`,
  });
  registry.delete(PODS, lab.namespace, name);
  await waitFor(() => podOf(lab, name)?.metadata.uid !== uid && isPodReady(podOf(lab, name)!), {
    timeoutMs: 15_000,
    what: `${name} replaced and ready`,
  });
  const replacement = podOf(lab, name)?.metadata.uid;
  await waitFor(() => lab.proxy.endpoints().find((e) => e.uid === replacement)?.conditions.ready, {
    timeoutMs: 15_000,
    what: `the replacement of ${name} in the proxy's view`,
  });
}

/** What kubectl delete does alone: removal from the slices and SIGTERM at the same moment. */
async function plainDelete(lab: LabCluster, name: string): Promise<void> {
  const uid = podOf(lab, name)?.metadata.uid;
  lab.cluster.registry.delete(PODS, lab.namespace, name);
  await waitFor(() => podOf(lab, name)?.metadata.uid !== uid && isPodReady(podOf(lab, name)!), {
    timeoutMs: 15_000,
    what: `${name} replaced and ready`,
  });
  const replacement = podOf(lab, name)?.metadata.uid;
  await waitFor(() => lab.proxy.endpoints().find((e) => e.uid === replacement)?.conditions.ready, {
    timeoutMs: 15_000,
    what: `the replacement of ${name} in the proxy's view`,
  });
}

describe("the service proxy learns of endpoint changes late", () => {
  let dir: string;
  let lab: LabCluster;

  beforeAll(async () => {
    ensureVmServerBuilt();
    dir = await tempDir();
    // No preStop: the pod form of "stop the server at once"; only a drain that waits for the proxies saves it.
    lab = await givenCluster("127.0.53", dir, {
      sidecar: false,
      propagationDelayMs: PROPAGATION_MS,
      preStopSeconds: 0,
    });
  });
  afterAll(async () => {
    await lab?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("routes round robin to ready endpoints only, and acts on a change only after the propagation delay", async () => {
    const ready = () =>
      lab.proxy
        .endpoints()
        .filter((e) => e.conditions.ready)
        .map((e) => e.pod);
    expect(ready().sort()).toEqual(["web-0", "web-1", "web-2"]);
    const started = Date.now();
    lab.cluster.registry.patch(
      PODS,
      "lab",
      "web-2",
      "application/strategic-merge-patch+json",
      {
        status: { conditions: [{ type: "ebb.dev/serving", status: "False" }] },
      },
      "status",
    );
    await waitFor(() => !ready().includes("web-2"), { what: "web-2 out of the proxy" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(PROPAGATION_MS - 5);
    lab.cluster.registry.patch(
      PODS,
      "lab",
      "web-2",
      "application/strategic-merge-patch+json",
      {
        status: { conditions: [{ type: "ebb.dev/serving", status: "True" }] },
      },
      "status",
    );
    await waitFor(() => ready().includes("web-2"), { what: "web-2 back in the proxy" });
  });

  it("Given keep-alive load, When a pod is drained gate-first, Then no request fails", async () => {
    const report = await underLoad(lab, () => drainByGate(lab, "web-0"));
    expect(report.errorSamples).toEqual([]);
    expect(errorCount(report)).toBe(0);
    expect(report.ok).toBeGreaterThan(100);
  });

  it("Given keep-alive load, When a pod is only deleted, Then clients see errors (the proxy still routes to it)", async () => {
    const report = await underLoad(lab, () => plainDelete(lab, "web-1"));
    expect(errorCount(report)).toBeGreaterThan(0);
    expect(report.errors.refused + report.errors.rst).toBeGreaterThan(0);
  });
});

describe("sidecar mode: the pod's proxy outlives the application", () => {
  let dir: string;
  let lab: LabCluster;

  beforeAll(async () => {
    ensureVmServerBuilt();
    dir = await tempDir();
    // With a sidecar the app must outlive the sidecar's own drain of its keep-alive clients: a preStop sleep
    // (5 s, scaled to 250 ms) shorter than the proxies' lag, so a plain delete still fails.
    lab = await givenCluster("127.0.54", dir, {
      sidecar: true,
      propagationDelayMs: SIDECAR_PROPAGATION_MS,
      preStopSeconds: 5,
    });
  });
  afterAll(async () => {
    await lab?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("injects the sidecar and exposes Envoy-style stats on the admin port", async () => {
    const pod = podOf(lab, "web-0")!;
    expect(pod.spec.containers.map((c) => c.name)).toEqual(["web", "istio-proxy"]);
    const res = await fetch(`http://${pod.status?.podIP}:8080/`);
    expect(res.status).toBe(200);
    const stats = await (await fetch(`http://${pod.status?.podIP}:15000/stats`)).text();
    expect(stats).toMatch(/http\.inbound_0\.0\.0\.0_8080\.downstream_rq_total: [1-9]/);
  });

  it("Given keep-alive load, When a pod is drained gate-first, Then no request fails", async () => {
    const report = await underLoad(lab, () => drainByGate(lab, "web-0"));
    expect(report.errorSamples).toEqual([]);
    expect(errorCount(report)).toBe(0);
  });

  it("Given keep-alive load and no preStop, When a pod is only deleted, Then clients get 503 from the sidecar", async () => {
    // Domain §3: the app exits at once while its sidecar still accepts. The template loses its preStop, and
    // web-1 is replaced once (quietly, without load) so that it runs the new template.
    lab.cluster.registry.patch(STATEFULSETS, "lab", "web", "application/json-patch+json", [
      { op: "remove", path: "/spec/template/spec/containers/0/lifecycle" },
    ]);
    await plainDelete(lab, "web-1");
    expect(podOf(lab, "web-1")?.spec.containers[0]?.lifecycle).toBeUndefined();
    const report = await underLoad(lab, () => plainDelete(lab, "web-1"));
    expect(report.errors.http5xx).toBeGreaterThan(0);
  });
});
