import type { CommandSpec, ExecResult } from "./drivers.js";
import type { Runbook } from "./runbook/schema.js";
import type { ExecStep } from "./runbook/steps.js";

/** The runbook's `env` overlaid with the step's: the templates buildCommandEnv() expands. */
export function execEnvTemplates(runbook: Runbook, step: ExecStep): Record<string, string> {
  return { ...runbook.env, ...step.env };
}

/** The command of an exec step, ready for an executor. */
export function commandSpecFor(
  step: ExecStep,
  env: Readonly<Record<string, string>>,
  deadlineMs: number,
): CommandSpec {
  const command = step.run !== undefined ? { argv: [...step.run] } : { script: step.script ?? "" };
  return { ...command, env, deadlineMs };
}

/** Whether an exec result counts as success for this step (a timeout or a signal never does). */
export function execSucceeded(step: ExecStep, result: ExecResult): boolean {
  return !result.timedOut && result.exitCode !== null && step.expectExit.includes(result.exitCode);
}
