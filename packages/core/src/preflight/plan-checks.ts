import type { TargetFacts } from "../facts.js";
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
