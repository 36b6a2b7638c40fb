import {
  isPodReady,
  K8S_DEPLOYMENTS,
  K8S_PODS,
  K8S_REPLICASETS,
  type K8sObject,
  type K8sPod,
  type LoadGenerator,
  registerLabDeploy,
} from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { api, givenEbbWith, type RunningEbb } from "../support/ebb.js";
import { createRollout, errorsOf, untilTerminal } from "../support/rollouts.js";
import { givenLabCluster, loadThroughDeployment, servedVersion } from "./support.js";

// issue #12 §1, consecutive rollouts: a Deployment's pods get new names on every rollout (a new ReplicaSet),
// so the targets Ebb stored when the fleet was registered are gone after the first one. The fleet's members
// come from the cluster when a rollout is prepared: the second rollout drains and replaces the pods the first
// one created, under keep-alive load, with no request lost; the pods that are gone are left out of its plan
// (and shown as gone), the new ones become targets, and the change is in the audit history.

const NET = 196;
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
  status?: { readyReplicas?: number };
}

async function givenDeployment(): Promise<Lab> {
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
  ebb = await givenEbbWith((prisma) => registerLabDeploy(prisma, l), NET);
  return l;
}

/** The Deployment's pods that are not terminating, and its ReplicaSets, as the emulator stores them. */
function objects(l: Lab) {
  const d = l.deployment!;
  const dep = l.cluster.store.peek(K8S_DEPLOYMENTS, d.namespace, d.name) as K8sObject;
  const rss = l.cluster.store.list(
    K8S_REPLICASETS,
    d.namespace,
    (o) => o.metadata.ownerReferences?.some((r) => r.uid === dep.metadata.uid) ?? false,
  ) as Rs[];
  const pods = (
    l.cluster.store.list(K8S_PODS, d.namespace, (o) => o.metadata.labels?.app === d.name) as K8sPod[]
  ).filter((p) => !p.metadata.deletionTimestamp);
  const version = (rs: Rs) => rs.spec.template.metadata?.annotations?.["ebb.dev/version"];
  return { rss, pods, version };
}

const podNames = (l: Lab) =>
  objects(l)
    .pods.map((p) => p.metadata.name ?? "")
    .sort();

interface FleetTargets {
  targets: { name: string; goneAt: string | null }[];
}

describe("consecutive Ebb rollouts of a Deployment", () => {
  it("Given 1.0.0 rolled to 2.0.0, When Ebb rolls it to 3.0.0 under keep-alive load, Then it drains and replaces the pods the first rollout created, with no request lost", async () => {
    const l = await givenDeployment();
    load = await loadThroughDeployment(l);
    const registered = podNames(l);

    const first = await createRollout(ebb!, {
      fleet: "lab-deploy",
      version: "2.0.0",
      runbook: "k8s-pod-drain",
    });
    const firstDone = await untilTerminal(ebb!, first, 120_000);
    expect(firstDone.status, JSON.stringify(firstDone.targets)).toBe("succeeded");
    const afterFirst = podNames(l);
    expect(afterFirst.filter((n) => registered.includes(n))).toEqual([]);

    // The preview shows the plan the create will run: the pods that are there now, none of the gone ones
    const preview = await api<{ batches: string[][] }>(ebb!, "POST", "/rollouts/preview", {
      fleet: "lab-deploy",
      version: "3.0.0",
      runbook: "k8s-pod-drain",
    });
    expect(preview.status, JSON.stringify(preview.body)).toBe(200);
    expect(preview.body.batches.flat().sort()).toEqual(afterFirst);

    const startedAt = Date.now();
    const second = await createRollout(ebb!, {
      fleet: "lab-deploy",
      version: "3.0.0",
      runbook: "k8s-pod-drain",
    });
    const secondDone = await untilTerminal(ebb!, second, 120_000);
    expect(secondDone.status, JSON.stringify(secondDone.targets)).toBe("succeeded");
    // Then its targets are the pods the first rollout created, each drained and replaced
    expect(secondDone.targets.map((t) => t.name).sort()).toEqual(afterFirst);
    expect(secondDone.targets.every((t) => t.status === "succeeded")).toBe(true);
    expect(Date.now() - startedAt).toBeGreaterThan(4 * PROPAGATION_MS);

    const report = await load.stop();
    load = undefined;
    const { count, samples } = errorsOf(report);
    expect(count, samples).toBe(0);
    expect(report.byVersion["3.0.0"]).toBeGreaterThan(0);

    // every pod new, serving 3.0.0, and the 3.0.0 ReplicaSet at full size and ready
    const { rss, pods, version } = objects(l);
    expect(pods).toHaveLength(4);
    for (const pod of pods) {
      expect(afterFirst).not.toContain(pod.metadata.name);
      expect(isPodReady(pod)).toBe(true);
      expect(await servedVersion(pod.status!.podIP!, 8080)).toBe("3.0.0");
    }
    const rs3 = rss.find((rs) => version(rs) === "3.0.0");
    expect(rs3?.spec.replicas).toBe(4);
    expect(rs3?.status?.readyReplicas).toBe(4);
    for (const rs of rss.filter((r) => r !== rs3)) expect(rs.spec.replicas).toBe(0);

    // The fleet (read: the platform's pods again) shows the pods of 3.0.0 as its targets, and those of 1.0.0
    // and 2.0.0 as gone: their rows and rollout history stay
    const now = podNames(l);
    const fleet = await api<FleetTargets>(ebb!, "GET", "/fleets/lab-deploy");
    const present = fleet.body.targets.filter((t) => t.goneAt === null).map((t) => t.name);
    expect(present.sort()).toEqual(now);
    const gone = fleet.body.targets.filter((t) => t.goneAt !== null).map((t) => t.name);
    expect(gone.sort()).toEqual([...registered, ...afterFirst].sort());

    // and every change of the targets is in the audit history, recorded by Ebb
    const audit = await api<{ items: { actorName: string; summary: Record<string, string[]> }[] }>(
      ebb!,
      "GET",
      "/audit?action=fleet.discover&fleet=lab-deploy",
    );
    expect(audit.status).toBe(200);
    expect(audit.body.items.every((e) => e.actorName === "ebb")).toBe(true);
    const added = audit.body.items.flatMap((e) => e.summary.added ?? []);
    expect(added.sort()).toEqual([...afterFirst, ...now].sort());
    const goneEvents = audit.body.items.flatMap((e) => e.summary.gone ?? []);
    expect(goneEvents.sort()).toEqual([...registered, ...afterFirst].sort());
  }, 300_000);
});
