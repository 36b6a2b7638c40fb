import type { Step } from "@ebb/core";
import type { StepContext } from "./context.js";
import { failed, type StepOutcome } from "./outcome.js";

/**
 * balancer.disable / balancer.enable: done when the balancer reports the new state, not when the call
 * returned (a device may accept the change and apply it later, or not at all). Each check asks again
 * (both are idempotent) and looks; the step's deadline bounds a balancer that never applies it.
 */
export async function runAdminStep(
  ctx: StepContext,
  step: Extract<Step, { type: "balancer.disable" | "balancer.enable" }>,
): Promise<StepOutcome> {
  const admin = ctx.balancer.admin;
  if (!admin)
    return failed("step_failed", `the ${ctx.balancer.kind} balancer has no admin API for ${step.type}`);
  const disable = step.type === "balancer.disable";
  await (disable ? admin.disable(ctx.target) : admin.enable(ctx.target));
  const o = await ctx.balancer.observe(ctx.target);
  const observation = { state: o.state, bound: o.bound, sessions: o.sessions };
  const applied = disable ? o.state === "disabled" && !o.bound : o.state !== "disabled";
  return applied
    ? { kind: "succeeded", observation }
    : {
        kind: "waiting",
        observation: { ...observation, notYet: true },
        recheckAtMs: ctx.now() + ctx.recheckMs,
      };
}
