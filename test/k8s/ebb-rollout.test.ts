import {
  isPodReady,
  K8S_ENDPOINTSLICES,
  K8S_PODS,
  type K8sObject,
  type K8sPod,
  type LoadGenerator,
} from "@ebb/lab";
import { afterEach, describe, expect, it } from "vitest";
import { api, type RunningEbb } from "../support/ebb.js";
import { createRollout, errorsOf, storeRunbook, untilTerminal } from "../support/rollouts.js";
import { givenEbbWithPods, givenLabCluster, loadThroughService, servedVersion } from "./support.js";

// issue #6: under continuous keep-alive load through the Service's proxy, with proxies lagging 2 s behind the
// EndpointSlices and an Envoy-like sidecar in every pod, Ebb's k8s-pod-drain rolls a StatefulSet of 4 pods to a
// new version with zero failed requests; a plain delete-and-replace runbook loses requests.

const PROPAGATION_MS = 2_000;

let lab: Awaited<ReturnType<typeof givenLabCluster>> | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;
let sampler: NodeJS.Timeout | undefined;

afterEach(async () => {
  clearInterval(sampler);
  await load?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [load, ebb, lab, sampler] = [undefined, undefined, undefined, undefined];
});

interface SliceEndpoint {
  targetRef?: { name?: string };
  conditions?: { ready?: boolean };
}

/** Pods of the fleet that are not ready in the Service's EndpointSlices right now (missing ones included). */
function podsOut(l: NonNullable<typeof lab>): number {
  const slices = l.cluster.store.list(K8S_ENDPOINTSLICES, l.namespace) as (K8sObject & {
    endpoints?: SliceEndpoint[];
  })[];
  const ready = new Set(
    slices
      .flatMap((s) => s.endpoints ?? [])
      .filter((e) => e.conditions?.ready !== false)
      .map((e) => e.targetRef?.name),
  );
  return l.pods.filter((p) => !ready.has(p.name)).length;
}

describe("k8s-pod-drain run by Ebb, sidecar mode, proxies 2 s behind", () => {
  it("Given keep-alive load through the Service, When Ebb rolls 4 pods, Then no request fails and every pod runs the new version", async () => {
    // Given the lab's cluster (4 pods with sidecars, preStop 5 s, grace 30 s, at 0.05) registered as lab-pods
    lab = await givenLabCluster(51, { replicas: 4, sidecar: true, propagationDelayMs: PROPAGATION_MS });
    const l = lab;
    ebb = await givenEbbWithPods(l, 51);
    load = await loadThroughService(l);
    let maxOut = 0;
    sampler = setInterval(() => {
      maxOut = Math.max(maxOut, podsOut(l));
    }, 20);

    // When CI asks for a rollout of version 2.0.0 with the documented pod runbook
    const id = await createRollout(ebb, { fleet: "lab-pods", version: "2.0.0", runbook: "k8s-pod-drain" });
    const done = await untilTerminal(ebb, id, 120_000);

    // Then it succeeds
    expect(done.status, JSON.stringify(done.targets)).toBe("succeeded");
    clearInterval(sampler);
    const report = await load.stop();
    load = undefined;
    // with zero failed client requests, and the new version served through the Service
    const { count, samples } = errorsOf(report);
    expect(count, samples).toBe(0);
    expect(report.byVersion["2.0.0"]).toBeGreaterThan(0);
    // every pod replaced, on the new version, Ready, and ready in the EndpointSlices
    for (const pod of l.pods) {
      const object = l.cluster.store.peek(K8S_PODS, l.namespace, pod.name) as K8sPod;
      expect(isPodReady(object)).toBe(true);
      expect(object.metadata.annotations?.["ebb.dev/version"]).toBe("2.0.0");
      expect(await servedVersion(pod.host, pod.port)).toBe("2.0.0");
    }
    expect(podsOut(l)).toBe(0);
    // never more than one pod out of the Service at a time (maxUnavailable 1)
    expect(maxOut).toBe(1);

    // and each pod was deleted only once its removal had reached the proxies
    const steps = await ebb.prisma.stepRun.findMany({
      where: { targetRun: { rolloutId: id } },
      orderBy: [{ stepIndex: "asc" }, { attempt: "asc" }],
      include: { targetRun: { include: { target: true } } },
    });
    for (const pod of l.pods) {
      const mine = steps.filter((s) => s.targetRun.target.name === pod.name);
      expect(mine.map((s) => s.stepId)).toEqual([
        "take-out",
        "await-endpoint-removed",
        "await-quiet",
        "delete-pod",
        "await-replacement",
        "verify",
      ]);
      expect(mine.every((s) => s.status === "succeeded")).toBe(true);
      const removed = mine[1]!.observations as { removedAt: number; propagatedAt: number }[];
      const last = removed.at(-1)!;
      expect(last.propagatedAt - last.removedAt).toBe(PROPAGATION_MS + 500);
      expect(mine[3]!.startedAt!.getTime()).toBeGreaterThanOrEqual(last.propagatedAt);
    }
  }, 180_000);
});

const PLAIN_DELETE = `apiVersion: ebb/v1
kind: Runbook
name: plain-delete
balancer: kubernetes
steps:
  - { id: delete-pod, type: k8s.deletePod, allowInService: true }
  - { id: await-replacement, type: k8s.awaitReplacementReady }
`;

describe("a plain delete-and-replace runbook", () => {
  it("loses requests under the same load (the test above can fail)", async () => {
    // Given sidecars without a preStop delay (the app exits at once on SIGTERM) and the same 2 s lag
    lab = await givenLabCluster(52, {
      replicas: 3,
      sidecar: true,
      preStopSeconds: 0,
      propagationDelayMs: PROPAGATION_MS,
    });
    ebb = await givenEbbWithPods(lab, 52);
    await storeRunbook(ebb, "plain-delete", PLAIN_DELETE);
    load = await loadThroughService(lab);

    // When it is forced past the preflight, which refuses it otherwise
    const refused = await api<{ error: { message: string } }>(ebb, "POST", "/rollouts", {
      fleet: "lab-pods",
      version: "2.0.0",
      runbook: "plain-delete",
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/preflight.*k8s\.awaitEndpointRemoved/);
    const id = await createRollout(ebb, {
      fleet: "lab-pods",
      version: "2.0.0",
      runbook: "plain-delete",
      force: true,
    });
    const done = await untilTerminal(ebb, id, 120_000);
    expect(done.status, JSON.stringify(done.targets)).toBe("succeeded");

    // Then clients saw errors: 503 from sidecars whose app had exited, refusals from pods already gone
    const report = await load.stop();
    load = undefined;
    expect(errorsOf(report).count).toBeGreaterThan(0);
  }, 180_000);
});
