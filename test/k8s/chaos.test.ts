import type { RolloutView } from "@ebb/contracts";
import { isPodReady, K8S_PODS, type K8sPod, registerLabPods } from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { testDatabases } from "../../apps/api/test-support/database.js";
import { TEST_ADMIN_TOKEN } from "../support/ebb.js";
import { errorsOf } from "../support/rollouts.js";
import { givenSplitEbb, type SplitEbb } from "../support/split.js";
import { givenLabCluster, loadThroughService, servedVersion } from "./support.js";

// issue #6: `kill -9` of the worker in the middle of a pod rollout, at each kind of k8s step: a new worker
// resumes from the database and completes it. No pod is deleted twice (each is replaced exactly once), never
// more than one pod is out of the Service, and clients under load see no error.
//
// The worker is a real process (`node apps/api/dist/main.js`, role worker) next to the API in this process,
// so the suite needs PostgreSQL (embedded PGlite serves one process); elsewhere it is skipped with a warning.

const NET = 53;
const postgres = testDatabases().find((v) => v.kind === "postgres");
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
/** Per pod, in turn: where its worker dies. */
const KILL_AT = ["await-endpoint-removed", "delete-pod", "await-replacement", "await-quiet"];

let lab: Awaited<ReturnType<typeof givenLabCluster>>;
let ebb: SplitEbb;

describe.skipIf(!postgres)("kill -9 of the worker during a pod rollout", () => {
  beforeAll(async () => {
    lab = await givenLabCluster(NET, { replicas: 4, sidecar: true, propagationDelayMs: 1_000 });
    ebb = await givenSplitEbb({
      net: NET,
      postgres: postgres!,
      register: (db) => registerLabPods(db.prisma, lab),
    });
    ebb.startWorker();
  }, 60_000);

  afterAll(async () => {
    await ebb?.cleanup();
    await lab?.cleanup();
  });

  it("resumes after every kill and completes: each pod replaced once, one out at a time, no client error", async () => {
    const load = await loadThroughService(lab);
    // Every incarnation of every pod, and how many pods are out of the Service, sampled every 20 ms.
    const uids = new Map<string, Set<string>>(lab.pods.map((p) => [p.name, new Set<string>()]));
    let maxOut = 0;
    const sampler = setInterval(() => {
      let out = 0;
      for (const p of lab.pods) {
        const pod = lab.cluster.store.peek(K8S_PODS, lab.namespace, p.name) as K8sPod | undefined;
        if (pod?.metadata.uid) uids.get(p.name)!.add(pod.metadata.uid);
        if (!pod || !isPodReady(pod)) out++;
      }
      maxOut = Math.max(maxOut, out);
    }, 20);
    let final: RolloutView;
    const kills: string[] = [];
    try {
      const res = await fetch(`${ebb.api.apiUrl}/rollouts`, {
        method: "POST",
        headers: { "content-type": "application/json", ...auth },
        body: JSON.stringify({ fleet: "lab-pods", version: "2.0.0", runbook: "k8s-pod-drain" }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const { id } = (await res.json()) as { id: string };
      for (const [i, pod] of lab.pods.entries()) {
        const step = KILL_AT[i]!;
        // When the worker dies while this pod is at that step
        await waitFor(
          async () => {
            const t = (await ebb.getRollout(id)).targets.find((x) => x.name === pod.name);
            return t?.step === step && (t.status === "running" || t.status === "waiting");
          },
          { timeoutMs: 60_000, intervalMs: 10, what: `${pod.name} at ${step}` },
        );
        await ebb.killWorker();
        kills.push(`${pod.name}@${step}`);
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
    for (const p of lab.pods) {
      // the old pod and its one replacement: a resumed delete never deleted the replacement
      expect(uids.get(p.name)?.size, p.name).toBe(2);
      expect(await servedVersion(p.host, p.port)).toBe("2.0.0");
    }
    expect(maxOut).toBe(1);
  }, 300_000);
});
