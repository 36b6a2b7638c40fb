import { type Balancer, EbbError, type Executor, type Target } from "@ebb/core";
import { createExecutor, type ExecutorDeps, L4Balancer } from "@ebb/drivers";
import { z } from "zod";
import type { DriverRegistry, FleetRecord, TargetRecord } from "./engine.js";

const l4ConfigSchema = z.object({
  /** The device's admin API, e.g. http://127.0.0.1:8081. */
  adminUrl: z.url(),
  /** The VIP clients use, for http.check `via: vip`. */
  vipUrl: z.url().optional(),
});

/**
 * Drivers for stored fleets and targets. Balancers are cached per fleet (they keep traffic baselines and
 * event streams); executors are cheap and built per use, so a changed target config applies at once.
 */
export class DefaultDriverRegistry implements DriverRegistry {
  private readonly balancers = new Map<string, { config: string; balancer: Balancer }>();

  constructor(private readonly executorDeps: ExecutorDeps) {}

  balancer(fleet: FleetRecord): Balancer {
    const key = JSON.stringify(fleet.balancerConfig);
    const hit = this.balancers.get(fleet.id);
    if (hit && hit.config === key) return hit.balancer;
    const balancer = createBalancer(fleet);
    this.balancers.set(fleet.id, { config: key, balancer });
    return balancer;
  }

  executor(target: TargetRecord): Promise<Executor> {
    return createExecutor(toDriverTarget(target), target.executorConfig, this.executorDeps);
  }

  watch(fleet: FleetRecord, onChange: (target: string) => void): (() => void) | undefined {
    const balancer = this.balancer(fleet);
    if (!(balancer instanceof L4Balancer)) return undefined;
    return balancer.watch((e) => {
      if (e.type === "server.health" || e.type === "server.admin" || e.server === "*") onChange(e.server);
    });
  }

  vipUrl(fleet: FleetRecord): string | undefined {
    const parsed = l4ConfigSchema.safeParse(fleet.balancerConfig);
    return parsed.success ? parsed.data.vipUrl : undefined;
  }
}

function createBalancer(fleet: FleetRecord): Balancer {
  switch (fleet.balancer) {
    case "l4": {
      const parsed = l4ConfigSchema.safeParse(fleet.balancerConfig);
      if (!parsed.success) {
        throw new EbbError(
          "param_invalid",
          `fleet ${fleet.name}: balancerConfig: ${parsed.error.issues[0]?.message}`,
          {
            details: parsed.error.issues.map((i) => ({
              field: `balancerConfig.${i.path.join(".")}`,
              message: i.message,
            })),
          },
        );
      }
      return new L4Balancer({ adminUrl: parsed.data.adminUrl });
    }
    default:
      throw new EbbError(
        "param_invalid",
        `fleet ${fleet.name}: balancer "${fleet.balancer}" is not supported yet`,
      );
  }
}

export function toDriverTarget(row: TargetRecord): Target {
  return {
    name: row.name,
    host: row.host,
    port: row.port,
    executor: row.executor === "ssh" ? "ssh" : "local",
    labels: (row.labels ?? {}) as Record<string, string>,
  };
}
