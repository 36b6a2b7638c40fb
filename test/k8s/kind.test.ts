import type { Target } from "@ebb/core";
import { isEbbError } from "@ebb/core";
import { KubernetesBalancer, KubernetesFleet } from "@ebb/drivers/kubernetes";
import { waitFor } from "@ebb/testkit";
import { beforeAll, describe, expect, it } from "vitest";
import {
  awaitEndpointRemoved,
  awaitReplacementReady,
  deletePodAndWait,
} from "../../packages/drivers/test-support/kubernetes.js";

// The driver against a real API server and kubelet (kind), which the emulator can only imitate: the status
// patch of a readiness gate, the kubelet's Ready and the EndpointSlice controller following it, a delete with
// a uid precondition and a grace period, the OnDelete replacement at the new template. Runs in CI where
// Docker exists (see docs/kubernetes.md): EBB_KIND_KUBECONFIG names the cluster's kubeconfig, after
// `kubectl apply -f test/k8s/kind/web.yaml`. Skipped elsewhere.

const kubeconfig = process.env.EBB_KIND_KUBECONFIG;
const PODS = ["web-0", "web-1"];
const target = (name: string): Target => ({ name, host: "", port: 80, executor: "local", labels: {} });

describe.skipIf(!kubeconfig)("the Kubernetes driver on a real cluster (kind)", () => {
  const config = {
    kubeconfigPath: kubeconfig!,
    namespace: "ebb-kind",
    workload: { kind: "StatefulSet" as const, name: "web" },
    service: "web",
    propagationWindowMs: 1_000,
  };
  let fleet: KubernetesFleet;

  beforeAll(async () => {
    fleet = new KubernetesFleet(config);
    // Born without Ebb's gate condition: not Ready until it is set, as for any pod no rollout created.
    for (const name of PODS) {
      await waitFor(async () => (await fleet.pod(name))?.containersReady === true, {
        timeoutMs: 240_000,
        intervalMs: 1_000,
        what: `${name}'s containers ready (image pulled, probe passing)`,
      });
      await fleet.setReadiness(name, true);
    }
    await waitFor(async () => (await Promise.all(PODS.map((p) => fleet.endpoint(p)))).every((e) => e.ready), {
      timeoutMs: 60_000,
      intervalMs: 500,
      what: "both pods ready in the EndpointSlices",
    });
  }, 300_000);

  it("reads the drain facts preflight needs from the pod spec", async () => {
    const live = await new KubernetesBalancer(config).liveFacts(PODS.map(target));
    expect(live.targets["web-0"]).toMatchObject({
      backgroundWorkBudgetMs: 3_000,
      pod: { terminationGracePeriodMs: 10_000, preStopMs: 2_000, readinessGate: true, sidecar: false },
    });
  });

  it("refuses to delete a pod still in its Service", async () => {
    const err = await fleet.deletePod("web-1", { wait: false }).catch((e: unknown) => e);
    expect(isEbbError(err, "step_failed")).toBe(true);
  });

  it("drains web-0 and replaces it at the new version; web-1 is untouched", async () => {
    const old = (await fleet.pod("web-0"))!;
    expect(await fleet.setReadiness("web-0", false)).toMatchObject({ method: "gate", changed: true });
    const removal = await awaitEndpointRemoved(fleet, "web-0", { timeoutMs: 60_000 });
    expect(removal).toMatchObject({ removed: true, propagated: true });
    // Still running: only out of the Service.
    expect((await fleet.pod("web-0"))?.phase).toBe("Running");

    await fleet.setTemplateVersion("2.0.0");
    const deleted = await deletePodAndWait(fleet, "web-0", { uid: old.uid, timeoutMs: 60_000 });
    expect(deleted).toMatchObject({ outcome: "deleted", uid: old.uid });
    // preStop (2 s) ran before the pod could go.
    expect(deleted.waitedMs).toBeGreaterThanOrEqual(2_000);

    const replacement = await awaitReplacementReady(fleet, "web-0", "2.0.0", { timeoutMs: 180_000 });
    expect(replacement.uid).not.toBe(old.uid);
    expect(replacement).toMatchObject({ version: "2.0.0", ready: true, gate: "True" });
    expect(await fleet.endpoint("web-0")).toMatchObject({ ready: true, uid: replacement.uid });
    // A resumed delete step finds the replacement and leaves it alone.
    expect(await fleet.deletePod("web-0", { uid: old.uid })).toMatchObject({ outcome: "replaced" });
    expect(await fleet.pod("web-1")).toMatchObject({ version: "1.0.0", ready: true });
  }, 300_000);
});
