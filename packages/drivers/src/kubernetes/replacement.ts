import { EbbError } from "@ebb/core";
import { type PodFacts, podFacts } from "./pods.js";
import { setReadiness } from "./readiness.js";
import { type WaitOptions, waitUntil } from "./waits.js";
import type { FleetWorkload } from "./workload.js";

export interface DeleteResult {
  /**
   * deleting: deletion issued (by this or an earlier call), re-check with checkPodGone(name, uid);
   * already-gone: no such pod; replaced: the pod there now is a replacement, left alone; deleted: a caller
   * that waited saw that incarnation gone.
   */
  outcome: "deleted" | "deleting" | "already-gone" | "replaced";
  uid?: string;
  /** While deleting: the grace period the pod has (the one asked, or the one a running deletion carries). */
  graceSeconds?: number;
  waitedMs: number;
}

export interface DeletePodOptions {
  graceSeconds?: number;
  uid?: string;
  since?: number;
  /** Delete a pod still in service, as a plain `kubectl delete` would (a baseline, never the drain). */
  allowInService?: boolean;
  /** The delete never blocks a worker; `false` is all there is (callers that once chose may still say it). */
  wait?: false;
}

export interface ReplacementCheck {
  ready: boolean;
  /** Why not yet (for the step's record); "ready" when ready. */
  reason: string;
  pod?: PodFacts;
}

/** Whether the incarnation `uid` of the pod is gone (a replacement of the same name does not count). */
export async function checkPodGone(w: FleetWorkload, name: string, uid: string): Promise<boolean> {
  const pod = await w.readPod(name);
  return !pod || pod.metadata?.uid !== uid;
}

/**
 * k8s.deletePod: deletes the drained pod with its grace period (preStop, then SIGTERM, SIGKILL at the
 * deadline); whether that incarnation is gone is checkPodGone's to tell, later, so no worker is held. Safe to
 * run again after a crash: a pod being deleted is "deleting" again, a missing one is "already-gone", and a pod
 * in service that is not the one drained (a uid other than `uid`, or created at or after `since`, e.g. the
 * step's first start) is the replacement an earlier run caused: "replaced", left alone. Any other pod still in
 * service was never drained: refused.
 */
export async function deletePod(
  w: FleetWorkload,
  name: string,
  opts: DeletePodOptions = {},
): Promise<DeleteResult> {
  const started = w.now();
  const pod = await w.readPod(name);
  if (!pod) return { outcome: "already-gone", waitedMs: 0 };
  const facts = podFacts(pod, w.config.gate);
  if (opts.uid !== undefined && facts.uid !== opts.uid)
    return { outcome: "replaced", uid: facts.uid, waitedMs: 0 };
  if (!facts.terminating) {
    if (!(await w.isOutOfService(facts))) {
      const created = pod.metadata?.creationTimestamp
        ? new Date(pod.metadata.creationTimestamp).getTime()
        : 0;
      // creationTimestamp has whole seconds: a pod created in the same second as `since` counts as newer.
      if (opts.since !== undefined && created >= Math.floor(opts.since / 1000) * 1000) {
        return { outcome: "replaced", uid: facts.uid, waitedMs: 0 };
      }
      if (!opts.allowInService)
        throw new EbbError(
          "step_failed",
          `pod ${name} is still in service (${facts.hasGate ? `gate ${w.config.gate}=${facts.gate ?? "absent"}` : `label ${w.config.gate}=${facts.servingLabel}`}): take it out (k8s.setReadiness) before deleting it`,
          { details: { target: name, reason: "not_drained" } },
        );
    }
    const graceSeconds = opts.graceSeconds ?? facts.terminationGracePeriodSeconds;
    try {
      await w.api(`delete pod ${w.ns}/${name}`, () =>
        w.clients.core.deleteNamespacedPod({
          name,
          namespace: w.ns,
          gracePeriodSeconds: graceSeconds,
          // The uid precondition: never the replacement that may already carry this name.
          body: { gracePeriodSeconds: graceSeconds, preconditions: { uid: facts.uid } },
        }),
      );
    } catch (err) {
      if (!(err instanceof EbbError && (err.code === "not_found" || err.code === "conflict"))) throw err;
    }
  }
  const grace =
    opts.graceSeconds ?? pod.metadata?.deletionGracePeriodSeconds ?? facts.terminationGracePeriodSeconds;
  return { outcome: "deleting", uid: facts.uid, graceSeconds: grace, waitedMs: w.now() - started };
}

/**
 * k8s.awaitReplacementReady, one check: the pod of that name runs `version`, is Ready and ready in the
 * EndpointSlices. A new pod is born without Ebb's gate condition (the gate is Ebb's to set): once its
 * containers are ready, this sets it True.
 */
export async function checkReplacementReady(
  w: FleetWorkload,
  name: string,
  version: string,
): Promise<ReplacementCheck> {
  let pod = await w.readPod(name);
  if (!pod) return { ready: false, reason: `waiting for the workload to create pod ${name}` };
  let facts = podFacts(pod, w.config.gate);
  if (facts.terminating)
    return { ready: false, reason: `the old pod ${name} is still terminating`, pod: facts };
  if (facts.version !== version)
    return {
      ready: false,
      reason: `pod ${name} runs version ${facts.version}, not ${version}`,
      pod: facts,
    };
  if (facts.hasGate && facts.gate === null && facts.containersReady) {
    await setReadiness(w, name, true);
    pod = await w.mustReadPod(name);
    facts = podFacts(pod, w.config.gate);
  }
  if (facts.hasGate && facts.gate !== "True") {
    return {
      ready: false,
      reason: facts.gate === null ? "containers not ready yet" : `gate ${w.config.gate} is ${facts.gate}`,
      pod: facts,
    };
  }
  if (!facts.ready) return { ready: false, reason: `pod ${name} is not Ready yet`, pod: facts };
  const ep = await w.endpoint(name);
  if (!ep.present || !ep.ready || ep.uid !== facts.uid) {
    return {
      ready: false,
      reason: `pod ${name} is not ready in the EndpointSlices of ${w.config.service} yet`,
      pod: facts,
    };
  }
  return { ready: true, reason: "ready", pod: facts };
}

/**
 * An aborted drain: brings the pod back into its Services on whatever version it runs. A pod still there is
 * put back (gate True, or its label restored); a deleted one is waited for until its replacement exists,
 * whose gate is set True once its containers are ready. Done when the endpoint of the pod there now is
 * ready in the EndpointSlices. Blocking (aborts are rare), bounded by `timeoutMs`.
 */
export async function restore(w: FleetWorkload, name: string, opts: WaitOptions): Promise<PodFacts> {
  return waitUntil<PodFacts>(w, `pod ${name} back in service`, opts.timeoutMs, async () => {
    const pod = await w.readPod(name);
    if (!pod) return { retryInMs: w.config.pollIntervalMs, why: "no pod of that name yet" };
    let facts = podFacts(pod, w.config.gate);
    if (facts.terminating)
      return { retryInMs: w.config.pollIntervalMs, why: "the old pod is still terminating" };
    const putBack = facts.hasGate
      ? facts.gate === "False" || (facts.gate === null && facts.containersReady)
      : await w.isOutOfService(facts);
    if (putBack) facts = (await setReadiness(w, name, true)).pod;
    const ep = await w.endpoint(name);
    if (ep.present && ep.ready && ep.uid === facts.uid) {
      // The facts above may predate what made the endpoint ready (the gate controller, a readiness probe):
      // answer with the pod as it is now, which the endpoint's readiness was derived from.
      const now = await w.readPod(name);
      return { done: now && now.metadata?.uid === facts.uid ? podFacts(now, w.config.gate) : facts };
    }
    return { retryInMs: w.config.pollIntervalMs, why: "not ready in the EndpointSlices yet" };
  });
}
