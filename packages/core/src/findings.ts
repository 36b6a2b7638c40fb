/** A problem found before anything runs. Errors block the rollout; warnings are shown and acknowledged. */
export interface Finding {
  severity: "error" | "warning";
  code: FindingCode;
  message: string;
  stepId?: string;
  target?: string;
}

export const FINDING_CODES = [
  // runbook against balancer timing
  "sleep_instead_of_observe",
  "sleep_shorter_than_detection",
  "stop_before_unbind",
  "unbind_not_observed",
  "health_check_step_ineffective",
  "runbook_balancer_mismatch",
  // plan against fleet
  "no_capacity",
  "batch_size_reduced",
  "target_out_of_service",
  "plan_exceeds_max_unavailable",
  "plan_breaks_min_healthy",
  "plan_unknown_target",
  // strategy.maxSurge on a fleet whose platform cannot start a target before its old one is gone
  "max_surge_unsupported",
  // a target leased by a failed or paused rollout: nothing starts there until a person releases it
  "fleet_held",
  // targets and balancer configuration
  "pool_idle_not_below_keepalive",
  "idle_outlives_session_aging",
  "reset_on_port_fail",
  "stop_deadline_too_short",
  // what the balancer itself reports (HAProxy: backend and servers exist, timing matches the declaration)
  "balancer_backend_unknown",
  "balancer_server_unknown",
  "balancer_timing_mismatch",
  // pods
  "grace_period_too_short",
  "readiness_gate_missing",
  "sidecar_without_prestop",
  "step_balancer_mismatch",
  // a Deployment whose strategy or state Ebb cannot drive safely (Recreate, paused, mid-rollout, an HPA)
  "workload_not_drivable",
] as const;
export type FindingCode = (typeof FINDING_CODES)[number];

export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === "error");
}

export function errorFinding(
  code: FindingCode,
  message: string,
  at: { stepId?: string; target?: string } = {},
): Finding {
  return { severity: "error", code, message, ...at };
}

export function warningFinding(
  code: FindingCode,
  message: string,
  at: { stepId?: string; target?: string } = {},
): Finding {
  return { severity: "warning", code, message, ...at };
}
