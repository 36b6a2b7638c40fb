import { assertNever } from "../errors.js";
import { type BalancerTiming, bringUpWindowMs, detectionWindowMs, type TargetFacts } from "../facts.js";
import { execKind } from "../runbook/roles.js";
import type { Runbook } from "../runbook/schema.js";
import type { Step } from "../runbook/steps.js";

/** Used when the target reports no measured durations. */
export const DEFAULT_ESTIMATES = {
  stopMs: 10_000,
  deployMs: 5_000,
  startMs: 3_000,
  /** Any other command (rename a file, flip a flag). */
  execMs: 1_000,
  probeMs: 1_000,
  balancerApiMs: 500,
} as const;

export interface TargetEstimate {
  /** With the balancer at its slowest: detection at the end of its window, bring-up a full interval. */
  expectedMs: number;
  /**
   * What the balancer's timing and the runbook's own waits impose whatever the commands take:
   * detection at the start of its window, instant bring-up, hold times, sleeps. A faster stop or
   * deploy cannot beat it; only different health-check timing can.
   */
  floorMs: number;
}

/** Approval steps count as 0: a human's delay cannot be estimated. */
export function estimateTarget(
  runbook: Runbook,
  target: TargetFacts,
  timing: BalancerTiming,
): TargetEstimate {
  let expectedMs = 0;
  let floorMs = 0;
  for (const step of runbook.steps) {
    const e = estimateStep(step, target, timing);
    expectedMs += e.expectedMs;
    floorMs += e.floorMs;
  }
  return { expectedMs, floorMs };
}

function estimateStep(step: Step, target: TargetFacts, timing: BalancerTiming): TargetEstimate {
  switch (step.type) {
    case "exec": {
      const kind = execKind(step);
      const est = target.estimates ?? {};
      const ms =
        kind === "stop"
          ? (est.stopMs ?? DEFAULT_ESTIMATES.stopMs)
          : kind === "deploy"
            ? (est.deployMs ?? DEFAULT_ESTIMATES.deployMs)
            : kind === "start"
              ? (est.startMs ?? DEFAULT_ESTIMATES.startMs)
              : DEFAULT_ESTIMATES.execMs;
      return { expectedMs: ms, floorMs: 0 };
    }
    case "balancer.awaitUnbound": {
      const w = detectionWindowMs(timing);
      return { expectedMs: w.maxMs, floorMs: w.minMs };
    }
    case "balancer.awaitBound": {
      const w = bringUpWindowMs(timing);
      return { expectedMs: w.maxMs, floorMs: w.minMs };
    }
    case "balancer.disable":
    case "balancer.enable":
      return { expectedMs: DEFAULT_ESTIMATES.balancerApiMs, floorMs: 0 };
    case "traffic.awaitQuiet":
      return { expectedMs: step.holdFor, floorMs: step.holdFor };
    case "http.check":
      return { expectedMs: DEFAULT_ESTIMATES.probeMs, floorMs: 0 };
    case "approval":
      return { expectedMs: 0, floorMs: 0 };
    case "sleep":
      return { expectedMs: step.duration, floorMs: step.duration };
    default:
      return assertNever(step, "step type");
  }
}
