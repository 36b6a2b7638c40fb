import type { BalancerFacts, TargetFacts } from "../facts.js";
import { errorFinding, type Finding, warningFinding } from "../findings.js";
import { formatDuration } from "../runbook/duration.js";
import { execKind } from "../runbook/roles.js";
import type { Runbook } from "../runbook/schema.js";
import { resolveStepTimeoutMs } from "../runbook/step-types.js";
import type { StepOf } from "../runbook/steps.js";

/** Above this many targets, a mass failure with resetOnPortFail resets a dangerous number of sessions. */
export const RESET_ON_PORT_FAIL_FLEET_LIMIT = 8;

/**
 * Domain §2: a target that closes idle keep-alive connections sooner than the balancer (or proxy) in
 * front forgets them gets requests on connections it already closed: it answers RST, the client sees
 * a reset or a 502/503, and the target logs nothing.
 */
export function keepAliveFindings(targets: readonly TargetFacts[], balancer: BalancerFacts): Finding[] {
  const findings: Finding[] = [];
  // kube-proxy keeps no idle table (a connection lives until one end closes it): for pods, only a proxy
  // that pools connections to them (ingress controller, mesh sidecar) can reuse one the pod closed.
  const fronts: [string, number | undefined][] = [
    ...(balancer.kind === "kubernetes"
      ? []
      : [["the balancer's idle session timeout", balancer.timing.sessionIdleTimeoutMs] as [string, number]]),
    ["the idle timeout of the proxy in front", balancer.frontProxyIdleTimeoutMs],
  ];
  for (const target of targets) {
    const keepAlive = target.keepAliveTimeoutMs;
    if (keepAlive === undefined) continue;
    for (const [what, idle] of fronts) {
      if (idle === undefined || keepAlive > idle) continue;
      findings.push(
        warningFinding(
          "keepalive_below_idle",
          `keep-alive timeout ${formatDuration(keepAlive)} is not above ${what} (${formatDuration(idle)}): the ` +
            "target closes idle connections the front still uses, answers the next request with RST and the " +
            `client sees a reset or 502/503 with no log line on the target. Set it above, e.g. ` +
            `${formatDuration(idle + 1_000)}`,
          { target: target.name },
        ),
      );
    }
  }
  return findings;
}

export function resetOnPortFailFindings(targets: readonly TargetFacts[], balancer: BalancerFacts): Finding[] {
  if (!balancer.timing.resetOnPortFail) return [];
  const large = targets.length > RESET_ON_PORT_FAIL_FLEET_LIMIT;
  return [
    warningFinding(
      "reset_on_port_fail",
      "resetOnPortFail is on: when a drained target is failed, the balancer sends RST to every client " +
        "still in a session with it, so keep-alive clients see resets during the rollout" +
        (large
          ? `. With ${targets.length} targets a mass failure makes the device reset every session at once, ` +
            "and its own load can spread the outage. Turn it off"
          : ". Turn it off unless something depends on it"),
    ),
  ];
}

/** A stop step that gives up before the target's graceful stop may finish loses background work. */
export function stopDeadlineFindings(
  runbook: Runbook,
  targets: readonly TargetFacts[],
  balancer: BalancerFacts,
): Finding[] {
  const findings: Finding[] = [];
  for (const step of runbook.steps) {
    if (step.type !== "exec" || execKind(step) !== "stop") continue;
    const deadline = resolveStepTimeoutMs(step, balancer.timing);
    for (const target of targets) {
      const budget = target.backgroundWorkBudgetMs;
      if (budget === undefined || deadline > budget) continue;
      findings.push(
        errorFinding(
          "stop_deadline_too_short",
          `stop deadline ${formatDuration(deadline)} is not longer than ${target.name}'s background-work budget ` +
            `(${formatDuration(budget)}): the stop may be cut short while jobs are pending. Raise the step's timeout`,
          { stepId: step.id, target: target.name },
        ),
      );
    }
  }
  return findings;
}

/**
 * Pods against the k8s.* steps that drain them (domain §3): how the pod leaves its Services, whether its
 * grace period leaves room for preStop and the app's drain, and whether a mesh sidecar can outlive the app.
 */
export function podFindings(
  runbook: Runbook,
  targets: readonly TargetFacts[],
  balancer: BalancerFacts,
): Finding[] {
  const findings: Finding[] = [];
  const takeOut = runbook.steps.find((s) => s.type === "k8s.setReadiness" && !s.ready);
  const deletes = runbook.steps.filter((s): s is StepOf<"k8s.deletePod"> => s.type === "k8s.deletePod");
  for (const target of targets) {
    const pod = target.pod;
    if (pod === undefined) continue;
    const at = { target: target.name };
    if (takeOut !== undefined && !pod.readinessGate) {
      findings.push(
        pod.labelFallback
          ? warningFinding(
              "readiness_gate_missing",
              `${target.name} has no readiness gate ebb.dev/serving (spec.readinessGates): Ebb takes it out by ` +
                "flipping its Service-selector label instead, so the Service stops selecting it altogether " +
                "(not just marks it not ready). Add the gate to the pod template",
              { ...at, stepId: takeOut.id },
            )
          : errorFinding(
              "readiness_gate_missing",
              `${target.name} has no readiness gate ebb.dev/serving and its Service does not select on the label ` +
                "ebb.dev/serving: Ebb cannot take it out of its Services without stopping it. Add " +
                "`readinessGates: [{conditionType: ebb.dev/serving}]` to the pod template",
              { ...at, stepId: takeOut.id },
            ),
      );
    }
    for (const step of deletes) {
      const grace = step.gracePeriod ?? pod.terminationGracePeriodMs;
      const drain = target.backgroundWorkBudgetMs ?? 0;
      if (grace <= pod.preStopMs + drain) {
        findings.push(
          errorFinding(
            "grace_period_too_short",
            `${target.name}: grace period ${formatDuration(grace)} is not longer than its preStop ` +
              `(${formatDuration(pod.preStopMs)})` +
              (drain > 0 ? ` plus the app's drain budget (${formatDuration(drain)})` : "") +
              ": the kubelet SIGKILLs the app before it has finished its requests and background work. Raise " +
              "terminationGracePeriodSeconds" +
              (step.gracePeriod === undefined ? "" : ` (or the step's gracePeriod)`),
            { ...at, stepId: step.id },
          ),
        );
      }
      const deadline = resolveStepTimeoutMs(step, balancer.timing);
      if (deadline <= grace) {
        findings.push(
          errorFinding(
            "stop_deadline_too_short",
            `${step.id} gives up after ${formatDuration(deadline)}, not longer than ${target.name}'s grace period ` +
              `(${formatDuration(grace)}): the step may fail while the pod is still stopping as it should. Raise ` +
              "the step's timeout",
            { ...at, stepId: step.id },
          ),
        );
      }
      if (pod.sidecar && pod.preStopMs === 0) {
        findings.push(
          errorFinding(
            "sidecar_without_prestop",
            `${target.name} has a mesh sidecar and no preStop delay: on deletion the app gets SIGTERM at once ` +
              "and exits while the sidecar still holds its clients' keep-alive connections and accepts new ones; " +
              "their requests get 503 from the sidecar and leave no log in the app. Add a preStop sleep to the " +
              "app container, longer than the sidecar needs to close its clients' connections",
            { ...at, stepId: step.id },
          ),
        );
      }
    }
  }
  return findings;
}
