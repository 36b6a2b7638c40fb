import { EbbError, renderTemplate, type Step } from "@ebb/core";
import type { StepContext } from "./context.js";
import { failed, type StepOutcome } from "./outcome.js";

export async function runHttpCheck(
  ctx: StepContext,
  step: Extract<Step, { type: "http.check" }>,
): Promise<StepOutcome> {
  // A pod's address is whatever its current incarnation got: the replacement may have a new IP.
  const pod = ctx.balancer.pods ? await (await ctx.balancer.pods()).pod(ctx.target.name) : null;
  const target = pod?.host ? { ...ctx.target, host: pod.host } : ctx.target;
  const template = { params: { ...ctx.params, version: ctx.version }, target };
  const url =
    step.url !== undefined
      ? renderTemplate(step.url, template)
      : step.via === "vip"
        ? vipOf(ctx)
        : `http://${target.host}:${target.port}/`;
  const expectBody =
    step.bodyIncludes === undefined ? undefined : renderTemplate(step.bodyIncludes, template);
  const probes = typeof ctx.previous?.probes === "number" ? ctx.previous.probes + 1 : 1;
  let problem: string;
  try {
    const res = await fetch(url, {
      signal: AbortSignal.timeout(Math.max(1, Math.min(5_000, ctx.deadlineAtMs - ctx.now()))),
    });
    const body = await res.text();
    if (res.status !== step.expectStatus) problem = `status ${res.status}, expected ${step.expectStatus}`;
    else if (expectBody !== undefined && !body.includes(expectBody))
      problem = `body does not include "${expectBody}"`;
    else return { kind: "succeeded", observation: { url, status: res.status, probes } };
  } catch (err) {
    problem = (err as Error).message;
  }
  const observation = { url, probes, problem };
  if (probes <= step.retries) return { kind: "waiting", observation, recheckAtMs: ctx.now() + 250 };
  return failed("verify_failed", `${step.id} on ${ctx.target.name}: ${url}: ${problem}`, observation);
}

function vipOf(ctx: StepContext): string {
  if (!ctx.balancer.vipUrl)
    throw new EbbError("verify_failed", "http.check via: vip, but the fleet has no VIP configured");
  return `${ctx.balancer.vipUrl}/`;
}
