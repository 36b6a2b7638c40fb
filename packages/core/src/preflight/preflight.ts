import type { BalancerFacts, TargetFacts } from "../facts.js";
import type { Finding } from "../findings.js";
import type { RolloutPlan } from "../plan/planner.js";
import type { Runbook } from "../runbook/schema.js";
import {
  idleTimeoutFindings,
  podFindings,
  resetOnPortFailFindings,
  stopDeadlineFindings,
} from "./fleet-checks.js";
import { planFindings, surgeFindings } from "./plan-checks.js";
import { runbookFindings } from "./runbook-checks.js";

export interface PreflightInput {
  runbook: Runbook;
  fleet: { targets: readonly TargetFacts[] };
  balancer: BalancerFacts;
  plan: RolloutPlan;
}

/**
 * Everything that can be known to go wrong before a rollout touches a target, computed from facts
 * alone. Includes the plan's own findings, so the result is the complete list. Errors first.
 */
export function preflight(input: PreflightInput): Finding[] {
  const { runbook, balancer, plan } = input;
  const targets = input.fleet.targets;
  const all = [
    ...plan.findings,
    ...runbookFindings(runbook, balancer),
    ...planFindings(plan, targets),
    ...surgeFindings(plan, balancer),
    ...idleTimeoutFindings(targets, balancer),
    ...resetOnPortFailFindings(targets, balancer),
    ...stopDeadlineFindings(runbook, targets, balancer),
    ...podFindings(runbook, targets, balancer),
  ];
  const seen = new Set<string>();
  const unique = all.filter((f) => {
    const key = `${f.code}\u0000${f.stepId ?? ""}\u0000${f.target ?? ""}\u0000${f.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
  return [...unique.filter((f) => f.severity === "error"), ...unique.filter((f) => f.severity === "warning")];
}
