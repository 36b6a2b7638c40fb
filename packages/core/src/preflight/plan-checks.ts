import type { BalancerFacts, TargetFacts } from "../facts.js";
import { errorFinding, type Finding } from "../findings.js";
import type { RolloutPlan } from "../plan/planner.js";

/**
 * Re-checks a plan against the fleet as it is NOW (a plan may be stale or hand-made): during every
 * batch, targets out of service (already out + the batch) stay within maxUnavailable, and targets
 * in service stay at or above minHealthy.
 */
export function planFindings(plan: RolloutPlan, targets: readonly TargetFacts[]): Finding[] {
  const findings: Finding[] = [];
  const byName = new Map(targets.map((t) => [t.name, t]));
  for (const name of plan.batches.flat()) {
    if (!byName.has(name)) {
      findings.push(
        errorFinding("plan_unknown_target", `${name} is in the plan but not in the fleet`, { target: name }),
      );
    }
  }
  const { maxUnavailable, minHealthy } = plan.limits;
  plan.batches.forEach((batch, index) => {
    const inBatch = new Set(batch);
    const alreadyOut = targets.filter((t) => !t.inService && !inBatch.has(t.name)).length;
    const unavailable = alreadyOut + batch.length;
    if (unavailable > maxUnavailable) {
      findings.push(
        errorFinding(
          "plan_exceeds_max_unavailable",
          `batch ${index + 1} takes ${batch.length} target(s) out while ${alreadyOut} already are: ` +
            `${unavailable} out of service, maxUnavailable is ${maxUnavailable}`,
        ),
      );
    }
    const healthy = targets.filter((t) => t.inService && !inBatch.has(t.name)).length;
    if (healthy < minHealthy) {
      findings.push(
        errorFinding(
          "plan_breaks_min_healthy",
          `during batch ${index + 1} only ${healthy} target(s) stay in service, minHealthy is ${minHealthy}`,
        ),
      );
    }
  });
  return findings;
}

/**
 * strategy.maxSurge needs a platform that can run a replacement beside the target it replaces: a
 * Deployment's new ReplicaSet can. A StatefulSet's pod comes back under the same name, so its replacement can
 * only be created once the old pod is gone; a VM is deployed in place, and a VM fleet has no spare server to
 * start the new version on.
 */
export function surgeFindings(
  plan: RolloutPlan,
  balancer: Pick<BalancerFacts, "kind" | "workload">,
): Finding[] {
  const { maxSurge } = plan.limits;
  if (!maxSurge || (balancer.kind === "kubernetes" && balancer.workload === "Deployment")) return [];
  const why =
    balancer.kind !== "kubernetes"
      ? "a VM fleet has no spare servers: each VM is deployed in place, so nothing can start before it is drained"
      : balancer.workload === "StatefulSet"
        ? "a StatefulSet's pods have fixed names: a pod's replacement can only be created once that pod is gone"
        : "the fleet's workload is not known to be a Deployment, the only kind whose new pods can start early";
  return [
    errorFinding(
      "max_surge_unsupported",
      `strategy.maxSurge is ${maxSurge}, but this fleet cannot surge: ${why}. Leave maxSurge at 0 (its default)`,
    ),
  ];
}
