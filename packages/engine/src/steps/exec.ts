import {
  buildCommandEnv,
  commandSpecFor,
  type ExecResult,
  execEnvTemplates,
  execSucceeded,
  redact,
  type Step,
} from "@ebb/core";
import type { StepContext } from "./context.js";
import { failed, type StepOutcome } from "./outcome.js";

/** What running one exec step needs, from a step run or from a restore. */
export type ExecContext = Pick<
  StepContext,
  "rolloutId" | "version" | "params" | "secrets" | "runbook" | "target" | "executor"
>;

/** Runs an exec step's command with its environment (parameters as variables only), output redacted. */
export async function execCommand(
  ctx: ExecContext,
  step: Extract<Step, { type: "exec" }>,
  deadlineMs: number,
): Promise<{ ok: boolean; result: ExecResult; outputTail: string }> {
  const env = buildCommandEnv({
    rolloutId: ctx.rolloutId,
    version: ctx.version,
    target: { name: ctx.target.name, host: ctx.target.host, port: ctx.target.port },
    params: ctx.params,
    env: execEnvTemplates(ctx.runbook, step),
  });
  const result = await ctx.executor.run(commandSpecFor(step, env, Math.max(1, deadlineMs)));
  return { ok: execSucceeded(step, result), result, outputTail: redact(result.outputTail, ctx.secrets) };
}

export async function runExec(ctx: StepContext, step: Extract<Step, { type: "exec" }>): Promise<StepOutcome> {
  const { ok, result, outputTail } = await execCommand(ctx, step, ctx.deadlineAtMs - ctx.now());
  const observation = {
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut: result.timedOut,
    durationMs: result.durationMs,
  };
  if (ok) return { kind: "succeeded", observation, outputTail };
  const lastLine = outputTail.trim().split("\n").at(-1) ?? "";
  const why = result.timedOut
    ? `timed out after ${result.durationMs} ms`
    : result.exitCode === null
      ? `killed by ${result.signal ?? "a signal"}`
      : `exit code ${result.exitCode}`;
  return {
    kind: "failed",
    error: {
      code: result.timedOut ? "step_timeout" : "exec_failed",
      message: `${step.id} on ${ctx.target.name}: ${why}${lastLine ? `: ${lastLine}` : ""}`,
    },
    observation,
    outputTail,
  };
}

type ExecStep = Extract<Step, { type: "exec" }>;

/**
 * A non-idempotent command was launched by a worker that never reported. Its `verify` decides whether the
 * effect is in place; without one, or when it says no, a person decides (the command may still be running,
 * or may have half-run): `outcome_unknown` fails the target until `retry`, `skip` or `abort`.
 */
export async function verifyLaunched(
  ctx: StepContext,
  step: ExecStep,
  launchedAt: number,
): Promise<StepOutcome> {
  const when = new Date(launchedAt).toISOString();
  const what = `${step.id} on ${ctx.target.name}: its command was launched at ${when} by a worker that never reported (killed, or its result lost)`;
  const ask = "`retry` runs it again, `skip` counts it as done, `abort` restores the target";
  if (step.verify === undefined)
    return failed(
      "outcome_unknown",
      `${what}; it is not idempotent and has no verify, so Ebb does not run it again blindly: ${ask}`,
      { launchedAt: when },
    );
  const check: ExecStep = {
    ...step,
    ...(step.verify.run === undefined
      ? { run: undefined, script: step.verify.script }
      : { run: step.verify.run, script: undefined }),
    expectExit: [0],
  };
  const { ok, result, outputTail } = await execCommand(ctx, check, ctx.deadlineAtMs - ctx.now());
  const observation = {
    launchedAt: when,
    verified: ok,
    verifyExitCode: result.exitCode,
    durationMs: result.durationMs,
  };
  if (ok) return { kind: "succeeded", observation, outputTail };
  const why = result.timedOut ? "it timed out" : `exit code ${result.exitCode ?? result.signal}`;
  return {
    kind: "failed",
    error: {
      code: "outcome_unknown",
      message: `${what}; its verify says the effect is not in place (${why}): ${ask}`,
    },
    observation,
    outputTail,
  };
}
