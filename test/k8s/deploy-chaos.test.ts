import type { RolloutView } from "@ebb/contracts";
import {
  isPodReady,
  K8S_DEPLOYMENTS,
  K8S_PODS,
  K8S_REPLICASETS,
  type K8sObject,
  type K8sPod,
  LoadGenerator,
  registerLabDeploy,
} from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../../apps/api/test-support/database.js";
import { TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { errorsOf } from "../support/rollouts.js";
import { givenSplitEbb, type SplitEbb } from "../support/split.js";
import { givenLabCluster, servedVersion } from "./support.js";

// issue #12 §1: `kill -9` of the worker during an Ebb rollout of a Deployment, at four points (the first
// delete-pod, where the Deployment is paused and the new ReplicaSet created; await-replacement, where a new pod
// is claimed; a drain; another delete-pod): each new worker resumes from what the cluster records (the
// Deployment's ebb.dev/rollout, the old ReplicaSet's retired list, the pods' deletion cost and claims) and the
// rollout completes. Each old pod is retired once and exactly four new pods are made (no double scale-down or
// scale-up), never more than one pod is out of the Service, and clients under load see no error.

const NET = 195;
const postgres = testDatabases().find((v) => v.kind === "postgres");
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
const KILL_AT = ["delete-pod", "await-replacement", "await-endpoint-removed", "delete-pod"];

let lab: Awaited<ReturnType<typeof givenLabCluster>>;
let ebb: SplitEbb;

describe.skipIf(!postgres)("kill -9 of the worker during a Deployment rollout", () => {
  beforeAll(async () => {
    lab = await givenLabCluster(NET, {
      replicas: 1,
      propagationDelayMs: 800,
      deployment: {
        proxy: { host: `127.0.${NET}.1`, port: 0 },
        podFirstHost: `127.0.${NET}.41`,
        replicas: 4,
        drainHook: false,
        preStopSeconds: 0,
      },
    });
    await waitFor(() => lab.deployment!.pods().filter((p) => p.ready).length === 4, {
      timeoutMs: 30_000,
      what: "4 pods of the Deployment ready",
    });
    ebb = await givenSplitEbb({
      net: NET,
      postgres: postgres!,
      register: (db) => registerLabDeploy(db.prisma, lab),
    });
    ebb.startWorker();
  }, 60_000);

  afterAll(async () => {
    await ebb?.cleanup();
    await lab?.cleanup();
  });

  it("resumes after every kill and completes: each old pod retired once, four new pods, one out at a time, no client error", async () => {
    const d = lab.deployment!;
    const url = new URL(d.proxyUrl);
    const load = new LoadGenerator({
      target: { host: url.hostname, port: Number(url.port) },
      clients: 12,
      rate: 240,
      timeoutMs: 2_000,
    });
    load.start();
    await waitFor(() => Object.keys(load.snapshot().byServer).length === 4, { what: "load on every pod" });
    const podsNow = () =>
      lab.cluster.store.list(K8S_PODS, d.namespace, (o) => o.metadata.labels?.app === d.name) as K8sPod[];
    const before = new Set(podsNow().map((p) => p.metadata.uid));
    const seen = new Set<string>();
    let maxOut = 0;
    const sampler = setInterval(() => {
      let serving = 0;
      for (const p of podsNow()) {
        seen.add(p.metadata.uid ?? "");
        if (!p.metadata.deletionTimestamp && isPodReady(p)) serving++;
      }
      maxOut = Math.max(maxOut, 4 - serving);
    }, 20);
    let final: RolloutView;
    const kills: string[] = [];
    try {
      const res = await fetch(`${ebb.api.apiUrl}/rollouts`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth },
        body: JSON.stringify({ fleet: "lab-deploy", version: "2.0.0", runbook: "k8s-pod-drain" }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const used = new Set<string>();
      for (const step of KILL_AT) {
        // When the worker dies while a pod not yet used for a kill is at that step
        const at = await waitFor(
          async () => {
            const t = (await ebb.getRollout(id)).targets.find(
              (x) =>
                !used.has(x.name) && x.step === step && (x.status === "running" || x.status === "waiting"),
            );
            return t?.name;
          },
          { timeoutMs: 60_000, intervalMs: 10, what: `a pod at ${step}` },
        );
        used.add(at);
        await ebb.killWorker();
        kills.push(`${at}@${step}`);
        ebb.startWorker();
      }
      // Then a new worker takes over each time, and the rollout completes
      final = await waitFor(
        async () => {
          const r = await ebb.getRollout(id);
          return ["succeeded", "failed", "aborted"].includes(r.status) ? r : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100, what: "the rollout to finish" },
      );
    } finally {
      clearInterval(sampler);
      const report = await load.stop();
      const { count, samples } = errorsOf(report);
      expect(count, samples).toBe(0);
    }
    expect(final.status, JSON.stringify(final.targets)).toBe("succeeded");
    expect(kills).toHaveLength(4);
    // 4 old pods and exactly 4 new ones ever: no resumed step scaled a ReplicaSet twice
    const created = [...seen].filter((uid) => !before.has(uid));
    expect(created, kills.join(" ")).toHaveLength(4);
    const live = podsNow().filter((p) => !p.metadata.deletionTimestamp);
    expect(live).toHaveLength(4);
    for (const p of live) {
      expect(before.has(p.metadata.uid)).toBe(false);
      expect(await servedVersion(p.status!.podIP!, 8080)).toBe("2.0.0");
    }
    const dep = lab.cluster.store.peek(K8S_DEPLOYMENTS, d.namespace, d.name) as K8sObject & {
      spec: { paused?: boolean };
    };
    expect(dep.spec.paused ?? false).toBe(false);
    const rss = lab.cluster.store.list(K8S_REPLICASETS, d.namespace) as (K8sObject & {
      spec: { replicas?: number };
    })[];
    expect(rss.map((rs) => rs.spec.replicas).sort()).toEqual([0, 4]);
    expect(maxOut).toBe(1);
  }, 300_000);
});
