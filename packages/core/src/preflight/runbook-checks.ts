import { type BalancerFacts, detectionWindowMs } from "../facts.js";
import { errorFinding, type Finding, warningFinding } from "../findings.js";
import { formatDuration } from "../runbook/duration.js";
import { execKind } from "../runbook/roles.js";
import type { Runbook } from "../runbook/schema.js";
import { stepOutOfServiceEffect } from "../runbook/step-types.js";
import type { Step } from "../runbook/steps.js";

/** The runbook's steps against the balancer's health-check mode and timing. */
export function runbookFindings(runbook: Runbook, balancer: BalancerFacts): Finding[] {
  const findings: Finding[] = [];
  if (runbook.balancer !== balancer.kind) {
    findings.push(
      warningFinding(
        "runbook_balancer_mismatch",
        `runbook ${runbook.name} is written for a ${runbook.balancer} balancer; this fleet is behind ${balancer.kind}`,
      ),
    );
  }
  findings.push(...sleepFindings(runbook.steps, balancer), ...unbindFindings(runbook.steps, balancer));
  return findings;
}

function isStop(step: Step): boolean {
  return step.type === "exec" && execKind(step) === "stop";
}

/**
 * Every sleep is a guess where the state could be observed; a sleep shorter than the detection window
 * while the balancer has not yet unbound the target is a guess that is wrong on bad days: the next step
 * runs while the device may still send the target new flows.
 */
function sleepFindings(steps: readonly Step[], balancer: BalancerFacts): Finding[] {
  const findings: Finding[] = [];
  const detection = detectionWindowMs(balancer.timing);
  let awaitingUnbind = false;
  let previous: Step | undefined;
  for (const step of steps) {
    if (step.type === "sleep") {
      findings.push(
        warningFinding(
          "sleep_instead_of_observe",
          `sleep ${formatDuration(step.duration)} waits blindly: observe instead (${observeHint(previous)})`,
          { stepId: step.id },
        ),
      );
      if (awaitingUnbind && step.duration < detection.maxMs) {
        findings.push(
          errorFinding(
            "sleep_shorter_than_detection",
            `sleep ${formatDuration(step.duration)} is shorter than the balancer's detection window ` +
              `(up to ${formatDuration(detection.maxMs)}: (retry + 1) x interval + check timeout): the next ` +
              "step may run while the target is still bound. Use balancer.awaitUnbound",
            { stepId: step.id },
          ),
        );
      }
    }
    const effect = stepOutOfServiceEffect(step);
    // An admin disable unbinds at once; only a failing health check takes a detection window.
    if (effect === "takesOut" && step.type !== "balancer.disable") awaitingUnbind = true;
    if (effect === "observesOut" || effect === "bringsIn" || effect === "observesIn") awaitingUnbind = false;
    previous = step;
  }
  return findings;
}

function observeHint(previous: Step | undefined): string {
  const effect = previous === undefined ? undefined : stepOutOfServiceEffect(previous);
  if (previous !== undefined && isStop(previous)) return "balancer.awaitUnbound, then traffic.awaitQuiet";
  if (effect === "takesOut") return "balancer.awaitUnbound";
  if (effect === "bringsIn") return "balancer.awaitBound";
  return "balancer.awaitUnbound / awaitBound, traffic.awaitQuiet or http.check";
}

/**
 * With an L7 health check, stopping the server while the balancer still routes to it refuses new
 * flows and resets keep-alive clients: the unbind must be observed first. With an L4 check the stop
 * itself fails the check (that is the procedure), but nothing may proceed before the unbind is seen.
 */
function unbindFindings(steps: readonly Step[], balancer: BalancerFacts): Finding[] {
  const findings: Finding[] = [];
  const mode = balancer.timing.mode;
  let unbindObserved = false;
  steps.forEach((step, index) => {
    const effect = stepOutOfServiceEffect(step);
    if (mode === "l4" && step.type === "exec" && execKind(step) === "health-fail") {
      findings.push(
        errorFinding(
          "health_check_step_ineffective",
          "the balancer checks the target with a TCP connect (L4 mode): failing the health-check file does " +
            "not unbind it, so the next wait for an unbind would time out. Use a runbook for L4 checks " +
            "(l4-drain-l4check) or switch the balancer to an L7 check",
          { stepId: step.id },
        ),
      );
    }
    if (isStop(step) && !unbindObserved) {
      if (mode === "l7") {
        findings.push(
          errorFinding(
            "stop_before_unbind",
            "stops the server before balancer.awaitUnbound has observed the target unbound: with an L7 " +
              "health check the balancer still sends it new flows, which are refused, and keep-alive clients " +
              "lose their connections. Fail the health check and await the unbind first",
            { stepId: step.id },
          ),
        );
      } else if (!observedBeforeReturn(steps, index + 1)) {
        findings.push(
          errorFinding(
            "unbind_not_observed",
            "stopping the server fails the L4 check, but no balancer.awaitUnbound follows before the target " +
              "is brought back: nothing observes that the balancer stopped routing to it",
            { stepId: step.id },
          ),
        );
      }
    }
    if (effect === "observesOut") unbindObserved = true;
    if (effect === "bringsIn" || effect === "observesIn") unbindObserved = false;
  });
  return findings;
}

/** An awaitUnbound comes after `from` and before anything brings the target back (or the end). */
function observedBeforeReturn(steps: readonly Step[], from: number): boolean {
  for (const step of steps.slice(from)) {
    const effect = stepOutOfServiceEffect(step);
    if (effect === "observesOut") return true;
    if (effect === "bringsIn" || effect === "observesIn") return false;
  }
  return false;
}
