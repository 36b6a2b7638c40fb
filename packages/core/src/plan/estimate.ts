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
    case "analysis":
      // A pass takes the whole window; a breach ends it sooner.
      return { expectedMs: step.window, floorMs: 0 };
    case "k8s.setReadiness":
      return { expectedMs: DEFAULT_ESTIMATES.balancerApiMs, floorMs: 0 };
    case "k8s.awaitEndpointRemoved": {
      // The gate turns Ready False at once; the proxies' lag is the wait.
      const window = timing.propagationWindowMs ?? 0;
      return { expectedMs: window + DEFAULT_ESTIMATES.balancerApiMs, floorMs: window };
    }
    case "k8s.deletePod": {
      // preStop always runs to its end; the app's drain after SIGTERM is what a measured stop adds.
      const pod = target.pod;
      const preStop = pod?.preStopMs ?? 0;
      const drain = target.estimates?.stopMs ?? target.backgroundWorkBudgetMs;
      const expected =
        pod === undefined
          ? (drain ?? DEFAULT_ESTIMATES.stopMs)
          : Math.min(pod.terminationGracePeriodMs, preStop + (drain ?? DEFAULT_ESTIMATES.execMs));
      return { expectedMs: expected, floorMs: preStop };
    }
    case "k8s.awaitReplacementReady": {
      // Created at once by the controller, then started and probed: the first passing probe makes it Ready.
      const start = target.estimates?.startMs ?? DEFAULT_ESTIMATES.startMs;
      const w = bringUpWindowMs(timing);
      return { expectedMs: start + w.maxMs, floorMs: w.minMs };
    }
    default:
      return assertNever(step, "step type");
  }
}
