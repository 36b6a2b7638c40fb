import { type BalancerFacts, hasSilentSessionTable, type TargetFacts } from "../facts.js";
import { errorFinding, type Finding, warningFinding } from "../findings.js";
import { formatDuration } from "../runbook/duration.js";
import { execKind } from "../runbook/roles.js";
import type { Runbook } from "../runbook/schema.js";
import { resolveStepTimeoutMs } from "../runbook/step-types.js";
import type { StepOf } from "../runbook/steps.js";

/** Above this many targets, a mass failure with resetOnPortFail resets a dangerous number of sessions. */
export const RESET_ON_PORT_FAIL_FLEET_LIMIT = 8;

/**
 * Domain §2, per hop from the client to the target: pooling client -> (L4 session table) -> target.
 * (a) A pooling client (an L7 proxy, an ingress controller, a client's connection pool) must give up an idle
 *     connection before the target's keep-alive closes it: otherwise it sends a request on a connection the
 *     target has just closed, the target answers RST and the client sees a 502/503 the target never logged.
 * (b) No connection may stay idle longer than the aging time of a session table it crosses (the L4 device
 *     forgets the flow silently; the next packet is a new flow, may be scheduled to another target, and
 *     that one answers RST). Whoever closes idle connections first must do so below the aging time: here a
 *     LONGER target keep-alive is the dangerous direction. A target that closes first sends FIN, which the
 *     device sees and clears the entry: the safe case.
 */
export function idleTimeoutFindings(targets: readonly TargetFacts[], balancer: BalancerFacts): Finding[] {
  const findings: Finding[] = [];
  const aging = hasSilentSessionTable(balancer.kind) ? balancer.timing.sessionIdleTimeoutMs : undefined;
  for (const target of targets) {
    const keepAlive = target.keepAliveTimeoutMs;
    if (keepAlive === undefined) continue;
    const pool = target.poolIdleTimeoutMs ?? balancer.frontProxyIdleTimeoutMs;
    const at = { target: target.name };
    if (pool !== undefined && pool >= keepAlive) {
      // Raising the keep-alive is the field fix (proxy 300 s, upstream 301 s) unless a session table caps it.
      const raised = pool + ONE_SECOND_MS;
      const canRaise = aging === undefined || raised < aging;
      findings.push(
        warningFinding(
          "pool_idle_not_below_keepalive",
          `${target.name}: the pooling proxy in front keeps idle connections up to ${formatDuration(pool)}, ` +
            `not less than the target's keep-alive timeout (${formatDuration(keepAlive)}): the proxy reuses a ` +
            "connection the target has just closed, the target answers RST and the client gets a 502/503 with " +
            `no log line on the target. Make the pool give up first: lower its idle timeout below ` +
            `${formatDuration(keepAlive)} (e.g. ${formatDuration(below(keepAlive))})` +
            (canRaise
              ? `, or raise the target's keep-alive above it (e.g. ${formatDuration(raised)})` +
                (aging === undefined
                  ? ""
                  : `, still below the device's ${formatDuration(aging)} session aging`)
              : `; raising the keep-alive instead would outlive the device's ${formatDuration(aging)} session aging`),
          at,
        ),
      );
    }
    if (aging === undefined) continue;
    // The side that closes an idle connection first decides how long it stays idle in the session table.
    const poolClosesFirst = pool !== undefined && pool < keepAlive;
    const idleFor = poolClosesFirst ? pool : keepAlive;
    if (idleFor < aging) continue;
    const who = poolClosesFirst
      ? `the pooling proxy's idle timeout (${formatDuration(pool)})`
      : `${target.name}'s keep-alive timeout (${formatDuration(keepAlive)})`;
    findings.push(
      warningFinding(
        "idle_outlives_session_aging",
        `${target.name}: an idle connection stays open up to ${formatDuration(idleFor)} (${who}), not less than ` +
          `the L4 device's session aging (${formatDuration(aging)}): the device forgets the idle flow, the ` +
          "client's next request on it is a new flow that may go to another target, and that target answers " +
          `RST. Lower ${poolClosesFirst ? "the pool's idle timeout" : "the keep-alive timeout"} below ` +
          `${formatDuration(aging)} (e.g. ${formatDuration(below(aging))}), so the connection is closed with a ` +
          "FIN the device sees" +
          (pool !== undefined && !poolClosesFirst ? `, and keep the pool's idle timeout below that` : ""),
        at,
      ),
    );
  }
  return findings;
}

const ONE_SECOND_MS = 1_000;

/** A suggested value safely under a limit: one second less, or half of a limit that short (a scaled lab). */
function below(limitMs: number): number {
  return limitMs > 2 * ONE_SECOND_MS ? limitMs - ONE_SECOND_MS : Math.floor(limitMs / 2);
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
