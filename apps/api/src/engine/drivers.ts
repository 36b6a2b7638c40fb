import { type Balancer, EbbError, type Executor, type Target } from "@ebb/core";
import {
  createExecutor,
  type ExecutorDeps,
  L4Balancer,
  LazyKubernetesBalancer,
  parseKubernetesConfig,
} from "@ebb/drivers";
import { z } from "zod";
import type { DriverRegistry, FleetRecord, TargetRecord } from "./engine.js";

const l4ConfigSchema = z.object({
  /** The device's admin API, e.g. http://127.0.0.1:8081. */
  adminUrl: z.url(),
  /** The VIP clients use, for http.check `via: vip`. */
  vipUrl: z.url().optional(),
});

/**
 * Drivers for stored fleets and targets. Balancers are cached per balancer config (they keep traffic
 * baselines and event streams), so fleets behind one device share one client and one event stream;
 * executors are cheap and built per use, so a changed target config applies at once.
 */
export class DefaultDriverRegistry implements DriverRegistry {
  private readonly balancers = new Map<string, Balancer>();
  private readonly streams = new Map<
    Balancer,
    { listeners: Set<(target: string) => void>; stop: () => void }
  >();

  constructor(private readonly executorDeps: ExecutorDeps) {}

  balancer(fleet: FleetRecord): Balancer {
    const key = `${fleet.balancer} ${JSON.stringify(fleet.balancerConfig)}`;
    let balancer = this.balancers.get(key);
    if (!balancer) {
      balancer = createBalancer(fleet);
      this.balancers.set(key, balancer);
    }
    return balancer;
  }

  executor(target: TargetRecord): Promise<Executor> {
    return createExecutor(toDriverTarget(target), target.executorConfig, this.executorDeps);
  }

  /**
   * One event stream per device however many fleets and waiting targets listen: fifty fleets behind one
   * device would otherwise each parse every event of every server.
   */
  watch(fleet: FleetRecord, onChange: (target: string) => void): (() => void) | undefined {
    const balancer = this.balancer(fleet);
    if (!(balancer instanceof L4Balancer) && !(balancer instanceof LazyKubernetesBalancer)) return undefined;
    let stream = this.streams.get(balancer);
    if (!stream) {
      const listeners = new Set<(target: string) => void>();
      const notify = (target: string) => {
        for (const listener of listeners) listener(target);
      };
      const stop =
        balancer instanceof L4Balancer
          ? balancer.watch((e) => {
              if (e.type !== "server.health" && e.type !== "server.admin" && e.server !== "*") return;
              notify(e.server);
            })
          : watchPods(balancer, notify);
      stream = { listeners, stop };
      this.streams.set(balancer, stream);
    }
    const { listeners } = stream;
    listeners.add(onChange);
    return () => {
      listeners.delete(onChange);
      if (listeners.size === 0 && this.streams.get(balancer) === stream) {
        this.streams.delete(balancer);
        stream.stop();
      }
    };
  }

  vipUrl(fleet: FleetRecord): string | undefined {
    const balancer = this.balancer(fleet);
    if (balancer instanceof LazyKubernetesBalancer) return balancer.config.vipUrl;
    const parsed = l4ConfigSchema.safeParse(fleet.balancerConfig);
    return parsed.success ? parsed.data.vipUrl : undefined;
  }
}

/**
 * The pods and EndpointSlices of a Kubernetes fleet, watched (informers) so that its waiting k8s.* steps
 * re-check when the cluster changes. Starting needs the client loaded: until then, and if the watch cannot
 * start, the steps' own polling carries on.
 */
function watchPods(balancer: LazyKubernetesBalancer, notify: (target: string) => void): () => void {
  let stopped = false;
  let stop: (() => Promise<void>) | undefined;
  void balancer
    .fleet()
    .then((fleet) => fleet.watchChanges(notify, () => {}))
    .then((s) => {
      stop = s;
      if (stopped) void s();
    })
    .catch(() => {});
  return () => {
    stopped = true;
    void stop?.();
  };
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
    case "kubernetes":
      // Validates now (errors name balancerConfig.<field>); @kubernetes/client-node loads on first use.
      return new LazyKubernetesBalancer(parseKubernetesConfig(fleet.balancerConfig));
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
