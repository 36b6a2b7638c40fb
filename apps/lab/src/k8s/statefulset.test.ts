import { rm } from "node:fs/promises";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureVmServerBuilt, tempDir } from "../../test-support/k8s.js";
import { getJson } from "../vm/probe.js";
import { type Cluster, startCluster } from "./cluster.js";
import { demoStatefulSet } from "./lab-cluster.js";
import { ENDPOINTSLICES, PODS, SERVICES, STATEFULSETS } from "./resources.js";
import { REVISION_LABEL } from "./statefulset-controller.js";
import { type EndpointSlice, isPodReady, type Pod, type StatefulSet } from "./types.js";

const NET = "127.0.52";
const SCALE = 0.05;

describe("StatefulSet (OnDelete) and EndpointSlices", () => {
  let dir: string;
  let cluster: Cluster;
  const pod = (name: string) => cluster.store.peek(PODS, "lab", name) as Pod | undefined;
  const sts = () => cluster.store.peek(STATEFULSETS, "lab", "web") as StatefulSet;
  const endpoints = () =>
    (cluster.store.list(ENDPOINTSLICES, "lab") as EndpointSlice[]).flatMap((s) => s.endpoints ?? []);
  const endpointOf = (name: string) => endpoints().find((e) => e.targetRef?.name === name);

  beforeAll(async () => {
    ensureVmServerBuilt();
    dir = await tempDir();
    cluster = await startCluster({
      labDir: dir,
      api: { host: `${NET}.1`, port: 0 },
      podAddresses: [21, 22, 23, 24].map((n) => `${NET}.${n}`),
      timeScale: SCALE,
      namespaces: ["lab"],
    });
    cluster.registry.create(SERVICES, "lab", {
      metadata: { name: "web" },
      spec: {
        selector: { app: "web", "ebb.dev/serving": "true" },
        ports: [{ name: "http", port: 80, targetPort: "http" }],
      },
    });
    cluster.registry.create(
      STATEFULSETS,
      "lab",
      demoStatefulSet({
        namespace: "lab",
        name: "web",
        replicas: 2,
        port: 8080,
        version: "1.0.0",
        preStopSeconds: 10,
        terminationGracePeriodSeconds: 30,
        readinessGate: true,
      }),
    );
  });

  afterAll(async () => {
    await cluster?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("creates the pods with stable names, addresses and the template's version, ready in the slice", async () => {
    await waitFor(() => ["web-0", "web-1"].every((n) => endpointOf(n)?.conditions.ready), {
      what: "both pods ready in the EndpointSlice",
    });
    expect(pod("web-0")?.status?.podIP).toBe(`${NET}.21`);
    expect(pod("web-1")?.status?.podIP).toBe(`${NET}.22`);
    expect(await getJson(`${NET}.22`, 8080, "/")).toMatchObject({ version: "1.0.0" });
    const slice = cluster.store.list(ENDPOINTSLICES, "lab")[0] as EndpointSlice;
    expect(slice.ports).toEqual([{ name: "http", protocol: "TCP", port: 8080 }]);
    expect(slice.metadata.labels?.["kubernetes.io/service-name"]).toBe("web");
    await waitFor(() => sts().status?.readyReplicas === 2, { what: "status.readyReplicas" });
  });

  it("a gate set False takes the pod out of the slice (ready=false) while it keeps running", async () => {
    cluster.registry.patch(
      PODS,
      "lab",
      "web-0",
      "application/strategic-merge-patch+json",
      {
        status: { conditions: [{ type: "ebb.dev/serving", status: "False" }] },
      },
      "status",
    );
    await waitFor(() => endpointOf("web-0")?.conditions.ready === false, { what: "web-0 not ready" });
    expect(endpointOf("web-0")?.conditions).toEqual({ ready: false, serving: false, terminating: false });
    expect(await getJson(`${NET}.21`, 8080, "/")).toMatchObject({ version: "1.0.0" });
    cluster.registry.patch(
      PODS,
      "lab",
      "web-0",
      "application/strategic-merge-patch+json",
      {
        status: { conditions: [{ type: "ebb.dev/serving", status: "True" }] },
      },
      "status",
    );
    await waitFor(() => endpointOf("web-0")?.conditions.ready === true, { what: "web-0 ready again" });
  });

  it("OnDelete: a new template changes nothing until a pod is deleted; it comes back on the new revision", async () => {
    const oldRevision = sts().status?.updateRevision;
    cluster.registry.patch(STATEFULSETS, "lab", "web", "application/merge-patch+json", {
      spec: { template: { metadata: { annotations: { "ebb.dev/version": "2.0.0" } } } },
    });
    await waitFor(() => sts().status?.updateRevision !== oldRevision, { what: "a new update revision" });
    expect(sts().status?.updatedReplicas).toBe(0);
    expect(pod("web-1")?.metadata.deletionTimestamp).toBeUndefined();

    const oldUid = pod("web-1")?.metadata.uid;
    cluster.registry.delete(PODS, "lab", "web-1");
    // While it terminates (preStop 10 s scaled: 500 ms) its endpoint is terminating, not ready, still serving.
    await waitFor(() => endpointOf("web-1")?.conditions.terminating, { what: "terminating endpoint" });
    expect(endpointOf("web-1")?.conditions).toEqual({ ready: false, serving: true, terminating: true });
    await waitFor(() => pod("web-1") && pod("web-1")?.metadata.uid !== oldUid && isPodReady(pod("web-1")!), {
      timeoutMs: 15_000,
      what: "web-1 replaced and ready",
    });
    const replaced = pod("web-1")!;
    expect(replaced.status?.podIP).toBe(`${NET}.22`);
    expect(replaced.metadata.labels?.[REVISION_LABEL]).toBe(sts().status?.updateRevision);
    expect(await getJson(`${NET}.22`, 8080, "/")).toMatchObject({ version: "2.0.0" });
    expect(await getJson(`${NET}.21`, 8080, "/")).toMatchObject({ version: "1.0.0" });
    await waitFor(() => endpointOf("web-1")?.conditions.ready && sts().status?.updatedReplicas === 1, {
      what: "the replacement in the slice and counted as updated",
    });
    expect(sts().status?.currentRevision).toBe(oldRevision);
  });

  it("scales down from the highest ordinal", async () => {
    cluster.registry.patch(STATEFULSETS, "lab", "web", "application/merge-patch+json", {
      spec: { replicas: 1 },
    });
    await waitFor(() => pod("web-1") === undefined, { timeoutMs: 15_000, what: "web-1 removed" });
    expect(pod("web-0")).toBeDefined();
    await waitFor(() => endpoints().length === 1, { what: "one endpoint left" });
  });
});
