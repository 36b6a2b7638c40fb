import {
  isPodReady,
  K8S_DEPLOYMENTS,
  K8S_PODS,
  K8S_REPLICASETS,
  type K8sObject,
  type K8sPod,
  type LoadGenerator,
  registerLabDeploy,
  registerLabPods,
} from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { api, givenEbbWith, type RunningEbb } from "../support/ebb.js";
import { createRollout, errorsOf, untilTerminal } from "../support/rollouts.js";
import { givenLabCluster, loadThroughDeployment, servedVersion } from "./support.js";

// issue #12: the rollout's maxSurge on a Deployment. With maxSurge 1 each replacement pod is created at its
// target's take-out, while the old pod still drains (window, quiet hold), instead of after its retire: its
// start overlaps the drain. Never more than replicas + 1 pods that are not terminating, no request lost
// under keep-alive load. A StatefulSet fleet refuses the field in preflight (its pods have fixed names).

const NET = 197;
const PROPAGATION_MS = 800;

type Lab = Awaited<ReturnType<typeof givenLabCluster>>;
let lab: Lab | undefined;
let ebb: RunningEbb | undefined;
let load: LoadGenerator | undefined;

afterEach(async () => {
  await load?.stop();
  await ebb?.cleanup();
  await lab?.cleanup();
  [load, ebb, lab] = [undefined, undefined, undefined];
});

interface Rs extends K8sObject {
  spec: { replicas?: number; template: { metadata?: { annotations?: Record<string, string> } } };
}
interface Dep extends K8sObject {
  spec: { paused?: boolean };
}

/** The Deployment of 4 pods (no drain hook, no preStop) and its StatefulSet of 1, both registered as fleets. */
async function givenDeploymentAndStatefulSet() {
  lab = await givenLabCluster(NET, {
    replicas: 1,
    propagationDelayMs: PROPAGATION_MS,
    deployment: {
      proxy: { host: `127.0.${NET}.1`, port: 0 },
      podFirstHost: `127.0.${NET}.41`,
      replicas: 4,
      drainHook: false,
      preStopSeconds: 0,
    },
  });
  const l = lab;
  await waitFor(() => l.deployment!.pods().filter((p) => p.ready).length === 4, {
    timeoutMs: 30_000,
    what: "4 pods of the Deployment ready",
  });
  ebb = await givenEbbWith(async (prisma) => {
    await registerLabPods(prisma, l);
    await registerLabDeploy(prisma, l);
  }, NET);
  return l;
}

/**
 * From the cluster's own event stream (in commit order, by resourceVersion): the most pods of the
 * Deployment at once that were not terminating, and per pod the version at which it was created and at which
 * it got its deletionTimestamp (retired).
 */
function recordPods(l: Lab) {
  const d = l.deployment!;
  const mine = (o: K8sObject) => o.metadata.labels?.app === d.name;
  const live = new Set(
    (l.cluster.store.list(K8S_PODS, d.namespace, mine) as K8sPod[])
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => p.metadata.name ?? ""),
  );
  const created = new Map<string, number>();
  const retired = new Map<string, number>();
  let maxLive = live.size;
  const stop = l.cluster.store.subscribe((e) => {
    if (e.resource !== K8S_PODS || !mine(e.object)) return;
    const name = e.object.metadata.name ?? "";
    if (e.type === "ADDED") created.set(name, e.rv);
    if (e.type === "DELETED" || e.object.metadata.deletionTimestamp) {
      if (!retired.has(name)) retired.set(name, e.rv);
      live.delete(name);
    } else {
      live.add(name);
    }
    maxLive = Math.max(maxLive, live.size);
  });
  return { created, retired, maxLive: () => maxLive, stop };
}

describe("an Ebb rollout of a Deployment with maxSurge 1", () => {
  it("Given keep-alive load through its Service, When Ebb rolls 4 pods to 2.0.0 with maxSurge 1, Then no request fails, every pod runs 2.0.0, never more than 5 pods run, and each replacement was created before its old pod was retired", async () => {
    const l = await givenDeploymentAndStatefulSet();
    load = await loadThroughDeployment(l);
    const before = l.deployment!.pods().map((p) => p.name);
    const rec = recordPods(l);

    const id = await createRollout(ebb!, {
      fleet: "lab-deploy",
      version: "2.0.0",
      runbook: "k8s-pod-drain",
      maxSurge: 1,
    });
    const done = await untilTerminal(ebb!, id, 120_000);
    rec.stop();
    expect(done.status, JSON.stringify(done.targets)).toBe("succeeded");
    const report = await load.stop();
    load = undefined;
    const { count, samples } = errorsOf(report);
    expect(count, samples).toBe(0);
    expect(report.byVersion["2.0.0"]).toBeGreaterThan(0);

    // Never more than replicas + maxSurge pods that are not terminating; and surge was used (5 at some point).
    expect(rec.maxLive()).toBe(5);

    const d = l.deployment!;
    const dep = l.cluster.store.peek(K8S_DEPLOYMENTS, d.namespace, d.name) as Dep;
    expect(dep.spec.paused ?? false).toBe(false);
    expect(dep.metadata.annotations?.["ebb.dev/rollout"]).toBeUndefined();
    const rss = l.cluster.store.list(
      K8S_REPLICASETS,
      d.namespace,
      (o) => o.metadata.ownerReferences?.some((r) => r.uid === dep.metadata.uid) ?? false,
    ) as Rs[];
    const version = (rs: Rs) => rs.spec.template.metadata?.annotations?.["ebb.dev/version"];
    expect(rss.map((rs) => [version(rs), rs.spec.replicas]).sort()).toEqual([
      ["1.0.0", 0],
      ["2.0.0", 4],
    ]);

    const pods = (
      l.cluster.store.list(K8S_PODS, d.namespace, (o) => o.metadata.labels?.app === d.name) as K8sPod[]
    ).filter((p) => !p.metadata.deletionTimestamp);
    expect(pods).toHaveLength(4);
    for (const pod of pods) {
      expect(before).not.toContain(pod.metadata.name);
      expect(isPodReady(pod)).toBe(true);
      expect(await servedVersion(pod.status!.podIP!, 8080)).toBe("2.0.0");
    }
    // each target claimed one new pod, and that pod was created before its target was retired: the point of
    // surge (without it, the new ReplicaSet grows only in the retire's own write, after the old pod is marked)
    const pairs = pods.map((p) => [
      p.metadata.name ?? "",
      p.metadata.annotations?.["ebb.dev/replaces"] ?? "",
    ]);
    expect(pairs.map(([, old]) => old).sort()).toEqual([...before].sort());
    for (const [pod, old] of pairs) {
      expect(rec.created.get(pod!), `${pod} created`).toBeDefined();
      expect(rec.retired.get(old!), `${old} retired`).toBeDefined();
      expect(rec.created.get(pod!)!, `${pod} created before ${old} was retired`).toBeLessThan(
        rec.retired.get(old!)!,
      );
    }
  }, 180_000);

  it("refuses maxSurge on a StatefulSet fleet in preflight, naming the field and why", async () => {
    await givenDeploymentAndStatefulSet();
    const body = { fleet: "lab-pods", version: "2.0.0", runbook: "k8s-pod-drain", maxSurge: "25%" };
    const preview = await api<{ findings: { severity: string; code: string; message: string }[] }>(
      ebb!,
      "POST",
      "/rollouts/preview",
      body,
    );
    expect(preview.status).toBe(200);
    const surge = preview.body.findings.filter((f) => f.code === "max_surge_unsupported");
    expect(surge).toHaveLength(1);
    expect(surge[0]!.severity).toBe("error");
    expect(surge[0]!.message).toMatch(/strategy\.maxSurge is 1, .*StatefulSet's pods have fixed names/);
    const refused = await api<{ error: { message: string } }>(ebb!, "POST", "/rollouts", body);
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toMatch(/max_surge_unsupported|maxSurge/);
    // the same fleet without surge is fine
    const plain = await api<{ findings: { code: string }[] }>(ebb!, "POST", "/rollouts/preview", {
      ...body,
      maxSurge: 0,
    });
    expect(plain.body.findings.map((f) => f.code)).not.toContain("max_surge_unsupported");
  }, 120_000);
});
