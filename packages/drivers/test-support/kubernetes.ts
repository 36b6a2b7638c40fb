// Blocking forms of the k8s.* checks, for tests that drive a KubernetesFleet step by step. The engine never
// blocks on them: a waiting step re-runs the check on the next change instead.
import type {
  DeletePodOptions,
  DeleteResult,
  EndpointRemoval,
  KubernetesFleet,
  WaitOptions,
} from "../src/kubernetes/fleet.js";
import type { PodFacts } from "../src/kubernetes/pods.js";
import { waitUntil } from "../src/kubernetes/waits.js";

/** k8s.awaitEndpointRemoved as one call: removed from the slices, then the propagation window. */
export function awaitEndpointRemoved(
  fleet: KubernetesFleet,
  name: string,
  opts: WaitOptions,
): Promise<EndpointRemoval> {
  const { workload, config } = fleet;
  let observedAt: number | undefined;
  return waitUntil<EndpointRemoval>(
    workload,
    `endpoint of pod ${name} removed and propagated`,
    opts.timeoutMs,
    async () => {
      const r = await fleet.checkEndpointRemoved(name, observedAt !== undefined ? { observedAt } : {});
      if (r.removed) observedAt ??= workload.now();
      if (r.propagated) return { done: r };
      return r.removed
        ? { retryInMs: r.remainingMs, why: "propagating" }
        : { retryInMs: config.pollIntervalMs, why: "still ready" };
    },
  );
}

/** k8s.awaitReplacementReady as one call: the pod of that name at `version`, Ready and in the slices. */
export function awaitReplacementReady(
  fleet: KubernetesFleet,
  name: string,
  version: string,
  opts: WaitOptions,
): Promise<PodFacts> {
  return waitUntil<PodFacts>(
    fleet.workload,
    `replacement of ${name} at ${version} ready`,
    opts.timeoutMs,
    async () => {
      const r = await fleet.checkReplacementReady(name, version);
      return r.ready && r.pod ? { done: r.pod } : { retryInMs: fleet.config.pollIntervalMs, why: r.reason };
    },
  );
}

/**
 * k8s.deletePod, then waits until that incarnation is gone: "deleted", with the time from the call. The wait
 * is bounded by `timeoutMs`, else by the grace period (in the cluster's time scale) plus 30 s.
 */
export async function deletePodAndWait(
  fleet: KubernetesFleet,
  name: string,
  opts: DeletePodOptions & { timeoutMs?: number } = {},
): Promise<DeleteResult> {
  const { workload, config } = fleet;
  const started = workload.now();
  const r = await fleet.deletePod(name, opts);
  if (r.outcome !== "deleting" || r.uid === undefined) return r;
  const uid = r.uid;
  const timeoutMs = opts.timeoutMs ?? Math.ceil((r.graceSeconds ?? 0) * 1000 * config.timeScale) + 30_000;
  await waitUntil(workload, `pod ${name} (uid ${uid}) gone`, timeoutMs, async () =>
    (await fleet.checkPodGone(name, uid))
      ? { done: true }
      : { retryInMs: config.pollIntervalMs, why: "still terminating" },
  );
  return { outcome: "deleted", uid, waitedMs: workload.now() - started };
}
