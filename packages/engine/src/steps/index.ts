import {
  assertNever,
  boundCondition,
  quietCondition,
  quietMeansNoNewSessions,
  sleepCondition,
  unboundCondition,
} from "@ebb/core";
import { runAnalysis } from "./analysis.js";
import { runAdminStep } from "./balancer.js";
import type { StepContext } from "./context.js";
import { runExec } from "./exec.js";
import { runHttpCheck } from "./http-check.js";
import { failed, fromCondition, type StepOutcome } from "./outcome.js";
import { runPodStep } from "./pods.js";

export type { StepContext } from "./context.js";
export { type ExecContext, execCommand } from "./exec.js";
export type { StepOutcome } from "./outcome.js";
export { podsOf, restorePod } from "./pods.js";

/** The step interpreter: runs (or checks) one step once. Waiting steps return `waiting`. */
export async function runStep(ctx: StepContext): Promise<StepOutcome> {
  const { step } = ctx;
  switch (step.type) {
    case "exec":
      return runExec(ctx, step);
    case "balancer.awaitUnbound":
      return fromCondition(unboundCondition(await ctx.balancer.observe(ctx.target)));
    case "balancer.awaitBound":
      return fromCondition(boundCondition(await ctx.balancer.observe(ctx.target)));
    case "balancer.disable":
    case "balancer.enable":
      return runAdminStep(ctx, step);
    case "traffic.awaitQuiet":
      return fromCondition(
        quietCondition({
          sample: await ctx.balancer.traffic(ctx.target),
          previous: ctx.previous,
          holdForMs: step.holdFor,
          maxNewSessions: step.maxNewSessions,
          newSessionsOnly: step.newSessionsOnly ?? quietMeansNoNewSessions(ctx.balancer.kind),
          now: ctx.now(),
        }),
      );
    case "http.check":
      return runHttpCheck(ctx, step);
    case "sleep":
      return fromCondition(sleepCondition(ctx.stepStartedAt, step.duration, ctx.now()));
    case "analysis":
      return runAnalysis(ctx, step);
    case "approval":
      // Approval gates are held by the state machine (awaitApproval); a job never runs them.
      return failed("internal", "approval steps are released by an operator, not run");
    case "k8s.setReadiness":
    case "k8s.awaitEndpointRemoved":
    case "k8s.deletePod":
    case "k8s.awaitReplacementReady":
      return runPodStep(ctx, step);
    default:
      return assertNever(step, "step");
  }
}
