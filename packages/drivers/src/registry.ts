import { type Balancer, EbbError, type Executor, targetOf } from "@ebb/core";
import { z } from "zod";
import { CommandBalancer } from "./command/balancer.js";
import { createExecutor, type ExecutorDeps } from "./factory.js";
import { HaproxyBalancer } from "./haproxy/balancer.js";
import { parseKubernetesConfig } from "./kubernetes/config.js";
import { LazyKubernetesBalancer } from "./kubernetes/lazy.js";
import { L4Balancer } from "./l4/balancer.js";
import { MemberBalancer } from "./members/member-balancer.js";

/** A stored fleet, as far as its balancer goes. */
export interface BalancerRecord {
  name: string;
  balancer: string;
  balancerConfig: unknown;
}

/** A stored target, as far as its executor goes. */
export interface ExecutorRecord {
  name: string;
  host: string;
  port: number;
  executor: string;
  executorConfig: unknown;
  labels: unknown;
}

const l4ConfigSchema = z.object({
  /** The device's admin API, e.g. http://127.0.0.1:8081. */
  adminUrl: z.url(),
  /** The VIP clients use, for http.check `via: vip`. */
  vipUrl: z.url().optional(),
  /** The Prometheus that scrapes the targets, for analysis steps with `source: prometheus`. */
  prometheusUrl: z.url().optional(),
});

/**
 * The balancer of a stored fleet, from its (untrusted, stored) kind and config. Errors are EbbError
 * `param_invalid` naming the fleet and the field. The one place that knows every balancer class.
 */
export function createBalancer(
  fleet: BalancerRecord,
  /** The command balancer's commands start from this environment, like the local executor's. */
  options: { baseEnv?: Readonly<Record<string, string>> } = {},
): Balancer {
  const members = membersOf(fleet);
  if (members)
    return new MemberBalancer(
      members.map(({ name, ...config }) => ({
        name,
        balancer: createBalancer(
          {
            ...fleet,
            name: `${fleet.name} (member ${name})`,
            balancerConfig: config,
          },
          options,
        ),
      })),
    );
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
      return new L4Balancer({
        adminUrl: parsed.data.adminUrl,
        ...(parsed.data.vipUrl === undefined ? {} : { vipUrl: parsed.data.vipUrl }),
      });
    }
    case "kubernetes":
      // Validates now (errors name balancerConfig.<field>); @kubernetes/client-node loads on first use.
      return new LazyKubernetesBalancer(parseKubernetesConfig(fleet.balancerConfig));
    case "haproxy":
      return new HaproxyBalancer({ config: fleet.balancerConfig, fleetName: fleet.name });
    case "command":
      return new CommandBalancer({ config: fleet.balancerConfig, fleetName: fleet.name, ...options });
    default:
      throw new EbbError(
        "param_invalid",
        `fleet ${fleet.name}: balancer "${fleet.balancer}" is not supported (l4, haproxy, kubernetes, command)`,
      );
  }
}

const membersSchema = z.object({
  /** Several devices in front of the fleet (an HA pair): each entry is one member's own config. */
  members: z
    .array(
      z.looseObject({ name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be a short name") }),
    )
    .min(1),
});

/** A config with `members` names several devices; undefined for a single one. */
function membersOf(fleet: BalancerRecord): { name: string; [key: string]: unknown }[] | undefined {
  const config = fleet.balancerConfig;
  if (typeof config !== "object" || config === null || !("members" in config)) return undefined;
  const parsed = membersSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new EbbError(
      "param_invalid",
      `fleet ${fleet.name}: balancerConfig.${issue?.path.join(".")}: ${issue?.message}`,
      {
        details: parsed.error.issues.map((i) => ({
          field: `balancerConfig.${i.path.join(".")}`,
          message: i.message,
        })),
      },
    );
  }
  const names = parsed.data.members.map((m) => m.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice !== undefined)
    throw new EbbError(
      "param_invalid",
      `fleet ${fleet.name}: balancerConfig.members: the name ${twice} is used twice`,
      {
        details: [{ field: "balancerConfig.members", message: `the name ${twice} is used twice` }],
      },
    );
  return parsed.data.members;
}

/**
 * Drivers for stored fleets and targets. Balancers are cached per balancer config (they keep traffic
 * baselines and event streams), so fleets behind one device share one client and one event stream;
 * executors are cheap and built per use, so a changed target config applies at once.
 */
export class DefaultDriverRegistry {
  private readonly balancers = new Map<string, Balancer>();

  constructor(private readonly executorDeps: ExecutorDeps) {}

  balancer(fleet: BalancerRecord): Balancer {
    const key = `${fleet.balancer} ${JSON.stringify(fleet.balancerConfig)}`;
    let balancer = this.balancers.get(key);
    if (!balancer) {
      balancer = createBalancer(
        fleet,
        this.executorDeps.baseEnv === undefined ? {} : { baseEnv: this.executorDeps.baseEnv },
      );
      this.balancers.set(key, balancer);
    }
    return balancer;
  }

  executor(target: ExecutorRecord): Promise<Executor> {
    return createExecutor(targetOf(target), target.executorConfig, this.executorDeps);
  }
}
