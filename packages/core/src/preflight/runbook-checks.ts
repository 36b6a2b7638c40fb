import { type BalancerFacts, detectionWindowMs, runbookFitsBalancer } from "../facts.js";
import { errorFinding, type Finding, warningFinding } from "../findings.js";
import { formatDuration } from "../runbook/duration.js";
import { execKind } from "../runbook/roles.js";
import type { Runbook } from "../runbook/schema.js";
import { stepOutOfServiceEffect, stepRole } from "../runbook/step-types.js";
import { isK8sStep, type Step } from "../runbook/steps.js";

/** The runbook's steps against the balancer's health-check mode and timing. */
export function runbookFindings(runbook: Runbook, balancer: BalancerFacts): Finding[] {
  const findings: Finding[] = [];
  if (!runbookFitsBalancer(runbook.balancer, balancer.kind)) {
    findings.push(
      // Its commands and checks assume the other kind of target (a VM's web server, not a pod): running it
      // would act on the wrong thing, so only an explicit force may.
      errorFinding(
        "runbook_balancer_mismatch",
        `runbook ${runbook.name} is written for a ${runbook.balancer} balancer; this fleet is behind ` +
          `${balancer.kind}: its steps would run against the wrong kind of target. Choose a ${balancer.kind} ` +
          "runbook, or force the rollout",
      ),
    );
  }
  findings.push(
    ...k8sStepFindings(runbook.steps, balancer),
    ...sleepFindings(runbook.steps, balancer),
    ...unbindFindings(runbook.steps, balancer),
  );
  return findings;
}

/** A server stop: `systemctl stop` (and the like), or deleting a pod. */
function isStop(step: Step): boolean {
  return stepRole(step) === "stop";
}

/** k8s.* steps act on pods through the fleet's Kubernetes API: behind any other balancer they cannot run. */
function k8sStepFindings(steps: readonly Step[], balancer: BalancerFacts): Finding[] {
  if (balancer.kind === "kubernetes") return [];
  return steps
    .filter(isK8sStep)
    .map((step) =>
      errorFinding(
        "step_balancer_mismatch",
        `${step.type} acts on a pod through the Kubernetes API; this fleet is behind ${balancer.kind}, which has no pods`,
        { stepId: step.id },
      ),
    );
}

/** The words of the hints, by balancer: pods are observed in their EndpointSlices. */
function vocabulary(balancer: BalancerFacts) {
  return balancer.kind === "kubernetes"
    ? { awaitOut: "k8s.awaitEndpointRemoved", awaitIn: "k8s.awaitReplacementReady" }
    : { awaitOut: "balancer.awaitUnbound", awaitIn: "balancer.awaitBound" };
}

/**
 * Every sleep is a guess where the state could be observed; a sleep shorter than the detection window
 * while the balancer has not yet unbound the target is a guess that is wrong on bad days: the next step
 * runs while the device may still send the target new flows.
 */
function sleepFindings(steps: readonly Step[], balancer: BalancerFacts): Finding[] {
  const findings: Finding[] = [];
  const pods = balancer.kind === "kubernetes";
  const words = vocabulary(balancer);
  // Behind Kubernetes, a pod out of its EndpointSlices still gets new connections until the proxies caught up.
  const detection = pods
    ? { maxMs: balancer.timing.propagationWindowMs ?? 0 }
    : detectionWindowMs(balancer.timing);
  let awaitingUnbind = false;
  let previous: Step | undefined;
  for (const step of steps) {
    if (step.type === "sleep") {
      findings.push(
        warningFinding(
          "sleep_instead_of_observe",
          `sleep ${formatDuration(step.duration)} waits blindly: observe instead (${observeHint(previous, balancer)})`,
          { stepId: step.id },
        ),
      );
      if (awaitingUnbind && step.duration < detection.maxMs) {
        findings.push(
          errorFinding(
            "sleep_shorter_than_detection",
            pods
              ? `sleep ${formatDuration(step.duration)} is shorter than the fleet's propagation window ` +
                  `(${formatDuration(detection.maxMs)}): the proxies may still send the pod new connections ` +
                  `when the next step runs. Use ${words.awaitOut}`
              : `sleep ${formatDuration(step.duration)} is shorter than the balancer's detection window ` +
                  `(up to ${formatDuration(detection.maxMs)}: (retry + 1) x interval + check timeout): the next ` +
                  `step may run while the target is still bound. Use ${words.awaitOut}`,
            { stepId: step.id },
          ),
        );
      }
    }
    const effect = stepOutOfServiceEffect(step);
    // An admin disable unbinds at once; only a failing health check takes a detection window. Pods always
    // wait for the proxies.
    if (effect === "takesOut" && (pods || step.type !== "balancer.disable")) awaitingUnbind = true;
    if (effect === "observesOut" || effect === "bringsIn" || effect === "observesIn") awaitingUnbind = false;
    previous = step;
  }
  return findings;
}

function observeHint(previous: Step | undefined, balancer: BalancerFacts): string {
  const { awaitOut, awaitIn } = vocabulary(balancer);
  const effect = previous === undefined ? undefined : stepOutOfServiceEffect(previous);
  if (previous !== undefined && isStop(previous))
    return balancer.kind === "kubernetes" ? awaitIn : `${awaitOut}, then traffic.awaitQuiet`;
  if (effect === "takesOut") return awaitOut;
  if (effect === "bringsIn") return awaitIn;
  return `${awaitOut} / ${awaitIn}, traffic.awaitQuiet or http.check`;
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
      if (balancer.kind === "kubernetes") {
        findings.push(
          errorFinding(
            "stop_before_unbind",
            "deletes the pod before k8s.awaitEndpointRemoved has observed its endpoint removed and the proxies " +
              "caught up: removal from the EndpointSlices and SIGTERM then happen at once, and the proxies keep " +
              "sending new connections to a pod that is shutting down (refused, or 503 from its sidecar). Take " +
              "it out first (k8s.setReadiness), then await the removal",
            { stepId: step.id },
          ),
        );
      } else if (mode === "l7") {
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
