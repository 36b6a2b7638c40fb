import { setTimeout as delay } from "node:timers/promises";
import {
  type Balancer,
  type BalancerTiming,
  boundCondition,
  bringUpWindowMs,
  type Executor,
  execKind,
  type Runbook,
  type StepError,
  type Target,
} from "@ebb/core";
import { execCommand } from "./step-runner.js";

export interface RestoreInput {
  rolloutId: string;
  version: string;
  params: Record<string, string>;
  secrets: string[];
  runbook: Runbook;
  target: Target;
  balancer: Balancer;
  executor: Executor;
  timing: BalancerTiming;
  now: () => number;
}

/**
 * Brings an aborted target back into service on whatever version it has: the runbook's own start and
 * health-restore commands (idempotent by contract), re-enabling it where the runbook disabled it, then
 * waiting until the balancer itself binds it. Rare (aborts only), so it may hold its worker slot while
 * it waits for the bind, bounded by the bring-up window.
 */
export async function runRestore(input: RestoreInput): Promise<{ ok: boolean; error?: StepError }> {
  const { runbook, target } = input;
  for (const step of runbook.steps) {
    if (step.type === "balancer.enable" || step.type === "balancer.disable") {
      if (input.balancer.enable) await input.balancer.enable(target);
      continue;
    }
    if (step.type !== "exec") continue;
    const kind = execKind(step);
    if (kind !== "start" && kind !== "health-restore") continue;
    const { ok, outputTail } = await execCommand(input, step, 60_000);
    if (!ok) {
      const tail = outputTail.trim().split("\n").at(-1) ?? "";
      return {
        ok: false,
        error: { code: "exec_failed", message: `restore: ${step.id} on ${target.name} failed: ${tail}` },
      };
    }
  }
  const deadline = input.now() + 2 * bringUpWindowMs(input.timing).maxMs + 5_000;
  const every = Math.max(20, Math.floor(input.timing.healthCheckIntervalMs / 4));
  for (;;) {
    const seen = boundCondition(await input.balancer.observe(target));
    if (seen.met) return { ok: true };
    if (input.now() > deadline) {
      return {
        ok: false,
        error: {
          code: "target_unhealthy",
          message: `restore: ${target.name} not bound again (${JSON.stringify(seen.observation)})`,
        },
      };
    }
    await delay(every);
  }
}
