import type { BalancerFacts, TargetFacts } from "../facts.js";
import { errorFinding, type Finding, warningFinding } from "../findings.js";
import { formatDuration } from "../runbook/duration.js";
import { execKind } from "../runbook/roles.js";
import type { Runbook } from "../runbook/schema.js";
import { resolveStepTimeoutMs } from "../runbook/step-types.js";

/** Above this many targets, a mass failure with resetOnPortFail resets a dangerous number of sessions. */
export const RESET_ON_PORT_FAIL_FLEET_LIMIT = 8;

/**
 * Domain §2: a target that closes idle keep-alive connections sooner than the balancer (or proxy) in
 * front forgets them gets requests on connections it already closed: it answers RST, the client sees
 * a reset or a 502/503, and the target logs nothing.
 */
export function keepAliveFindings(targets: readonly TargetFacts[], balancer: BalancerFacts): Finding[] {
  const findings: Finding[] = [];
  const fronts: [string, number | undefined][] = [
    ["the balancer's idle session timeout", balancer.timing.sessionIdleTimeoutMs],
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
