import {
  type Balancer,
  EbbError,
  endpointRemovedCondition,
  type PodControl,
  replacementReadyCondition,
  type Step,
  type StepError,
  type StepOf,
  type Target,
} from "@ebb/core";
import type { StepContext } from "./context.js";
import { fromCondition, type StepOutcome } from "./outcome.js";

/** The fleet's pod control, loaded on first use; a balancer without pods cannot run a k8s.* step. */
export async function podsOf(balancer: Balancer, step: Pick<Step, "id" | "type">): Promise<PodControl> {
  if (balancer.pods) return balancer.pods();
  throw new EbbError(
    "step_failed",
    `${step.id}: ${step.type} needs a fleet whose balancer manages pods; this one is behind ${balancer.kind}`,
  );
}

type PodStep = Extract<Step, { type: `k8s.${string}` }>;

export async function runPodStep(ctx: StepContext, step: PodStep): Promise<StepOutcome> {
  const pods = await podsOf(ctx.balancer, step);
  const name = ctx.target.name;
  switch (step.type) {
    case "k8s.setReadiness": {
      // strategy.maxSurge: the replacement starts before the take-out, so its start overlaps the drain (the
      // propagation window, the quiet hold, the old pod's stop) instead of following the retire. Before, not
      // after: a workload Ebb cannot drive fails this step with the pod still in service.
      const maxSurge = ctx.maxSurge ?? 0;
      const surge =
        !step.ready && maxSurge > 0 && pods.startReplacements
          ? await pods.startReplacements(ctx.version, maxSurge)
          : undefined;
      const r = await pods.setReadiness(name, step.ready);
      return {
        kind: "succeeded",
        observation: {
          method: r.method,
          changed: r.changed,
          uid: r.pod.uid,
          gate: r.pod.gate,
          ready: r.pod.ready,
          ...(surge?.replicas === undefined ? {} : { surgedTo: surge.replicas }),
        },
      };
    }
    case "k8s.awaitEndpointRemoved": {
      const seen = typeof ctx.previous?.removedAt === "number" ? { observedAt: ctx.previous.removedAt } : {};
      const r = await pods.checkEndpointRemoved(name, seen);
      const reading =
        r.removedAt === undefined ? { removed: r.removed } : { removed: r.removed, removedAt: r.removedAt };
      return fromCondition(
        endpointRemovedCondition(reading, ctx.previous, pods.config.propagationWindowMs, ctx.now()),
      );
    }
    case "k8s.deletePod":
      return deletePod(ctx, pods, step);
    case "k8s.awaitReplacementReady": {
      const r = await pods.checkReplacementReady(name, ctx.version);
      return fromCondition(
        replacementReadyCondition({
          ready: r.ready,
          reason: r.reason,
          ...(r.pod ? { uid: r.pod.uid, version: r.pod.version } : {}),
        }),
      );
    }
  }
}

/**
 * k8s.deletePod without holding a worker: the first check points the workload's template at the version
 * (so the OnDelete replacement runs it) and issues the delete; later checks only look whether that pod (by
 * uid) is gone. Run again after a crash lost the uid, it finds the pod terminating (waits for it), gone, or
 * replaced since the step started (done), and never deletes the replacement.
 */
async function deletePod(
  ctx: StepContext,
  pods: PodControl,
  step: StepOf<"k8s.deletePod">,
): Promise<StepOutcome> {
  const name = ctx.target.name;
  const uid = typeof ctx.previous?.uid === "string" ? ctx.previous.uid : undefined;
  if (uid !== undefined) {
    const observation = { ...ctx.previous, uid };
    return (await pods.checkPodGone(name, uid))
      ? { kind: "succeeded", observation: { ...observation, outcome: "deleted" } }
      : { kind: "waiting", observation };
  }
  const { revision } = await pods.setTemplateVersion(ctx.version);
  // Runbook durations are real time; the API's grace period is in the cluster's own (scaled in the lab).
  const graceSeconds =
    step.gracePeriod === undefined
      ? undefined
      : Math.max(0, Math.ceil(step.gracePeriod / 1000 / pods.config.timeScale));
  const r = await pods.deletePod(name, {
    wait: false,
    since: ctx.stepStartedAt,
    allowInService: step.allowInService,
    ...(graceSeconds === undefined ? {} : { graceSeconds }),
  });
  const observation = { outcome: r.outcome, uid: r.uid ?? null, revision };
  return r.outcome === "deleting" ? { kind: "waiting", observation } : { kind: "succeeded", observation };
}

/**
 * Brings an aborted pod back into its Services on whatever version it runs.
 * Holds its worker slot while it waits, as a VM's restore does: aborts are rare.
 */
export async function restorePod(
  pods: PodControl,
  target: Target,
  timeoutMs = 120_000,
): Promise<{ ok: boolean; error?: StepError }> {
  try {
    await pods.restore(target.name, { timeoutMs });
    return { ok: true };
  } catch (err) {
    return {
      ok: false,
      error: { code: "target_unhealthy", message: `restore: ${target.name}: ${(err as Error).message}` },
    };
  }
}
