import { setTimeout as delay } from "node:timers/promises";
import { boundCondition, bringUpWindowMs, execKind, type StepError } from "@ebb/core";
import type { TargetContext } from "./context-loader.js";
import type { Clock, DriverRegistry } from "./ports.js";
import { execCommand, restorePod } from "./steps/index.js";

/**
 * Brings an aborted target back into service on whatever version it has. A pod is put back through its
 * platform (its gate, or its replacement's), not by commands. A VM gets the runbook's own start and
 * health-restore commands (idempotent by contract), is re-enabled where the runbook disabled it, then
 * waited for until the balancer itself binds it. Rare (aborts only), so it may hold its worker slot while
 * it waits for the bind, bounded by the bring-up window.
 */
export async function restoreTarget(
  ctx: TargetContext,
  drivers: DriverRegistry,
  clock: Clock,
): Promise<{ ok: boolean; error?: StepError }> {
  const { balancer, runbook, target } = ctx;
  if (balancer.pods) return restorePod(await balancer.pods(), target);
  const executor = await drivers.executor(ctx.targetRecord);
  for (const step of runbook.steps) {
    if (step.type === "balancer.enable" || step.type === "balancer.disable") {
      await balancer.admin?.enable(target);
      continue;
    }
    if (step.type !== "exec") continue;
    const kind = execKind(step);
    if (kind !== "start" && kind !== "health-restore") continue;
    const { ok, outputTail } = await execCommand({ ...ctx, executor }, step, 60_000);
    if (!ok) {
      const tail = outputTail.trim().split("\n").at(-1) ?? "";
      return {
        ok: false,
        error: { code: "exec_failed", message: `restore: ${step.id} on ${target.name} failed: ${tail}` },
      };
    }
  }
  const timing = await balancer.timing();
  const deadline = clock.now() + 2 * bringUpWindowMs(timing).maxMs + 5_000;
  const every = Math.max(20, Math.floor(timing.healthCheckIntervalMs / 4));
  for (;;) {
    const seen = boundCondition(await balancer.observe(target));
    if (seen.met) return { ok: true };
    if (clock.now() > deadline) {
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
