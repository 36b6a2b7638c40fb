import { DefaultDriverRegistry } from "@ebb/drivers";
import type { PrismaClient } from "../generated/prisma/client.js";
import { upsertFleet } from "./upsert-fleet.js";

export interface L4LabFleetSpec {
  balancer?: "l4";
  /** `lab` in the defaults table. */
  name: string;
  /** The emulated device's admin API. */
  adminUrl: string;
  vipUrl: string;
  /** Where the lab VMs live; `ebb-vm` finds a VM there by its target name. */
  labDir: string;
  /** PATH for the targets' commands: the repo's node_modules/.bin (ebb-vm) and node itself. */
  path: string;
  targets: { name: string; host: string; port: number; facts?: Record<string, unknown> }[];
  /** More environment for every command on the targets. */
  env?: Record<string, string>;
}

/** The emulated cluster's pods (`lab-pods`): a StatefulSet and its Service, reached through the kubeconfig. */
export interface KubernetesLabFleetSpec {
  balancer: "kubernetes";
  name: string;
  /** A Kubernetes balancer config (see @ebb/drivers parseKubernetesConfig). */
  balancerConfig: Record<string, unknown>;
  /** The pods, by name; their steps go through the Kubernetes API, so they need no executor config. */
  targets: { name: string; host: string; port: number; facts?: Record<string, unknown> }[];
}

/** VMs behind a real HAProxy (`lab-haproxy`): driven through `ebb-vm` like `lab`, balanced by HAProxy. */
export interface HaproxyLabFleetSpec {
  balancer: "haproxy";
  name: string;
  /** An haproxy balancer config (see @ebb/drivers parseHaproxyConfig). */
  balancerConfig: Record<string, unknown>;
  labDir: string;
  path: string;
  targets: { name: string; host: string; port: number; facts?: Record<string, unknown> }[];
  env?: Record<string, string>;
}

export type LabFleetSpec = L4LabFleetSpec | KubernetesLabFleetSpec | HaproxyLabFleetSpec;

/**
 * Registers (or updates) a lab fleet: the VMs behind the emulated L4 device, driven by the local executor
 * through `ebb-vm` as a production fleet is driven through ssh and systemctl; or the emulated cluster's pods,
 * driven through its Kubernetes API. Through the fleets feature's own upsert, with its checks: the lab's
 * fleets are fleets a user could have registered with `POST /fleets`.
 */
export async function registerLabFleet(prisma: PrismaClient, spec: LabFleetSpec): Promise<string> {
  const executorConfig =
    spec.balancer === "kubernetes" ? {} : { env: { ...spec.env, EBB_LAB_DIR: spec.labDir, PATH: spec.path } };
  const fleet = await upsertFleet(
    // Only to check the balancer config: building a balancer opens no connection.
    { prisma, drivers: new DefaultDriverRegistry({}) },
    {
      name: spec.name,
      balancer: spec.balancer ?? "l4",
      balancerConfig:
        spec.balancer === "kubernetes" || spec.balancer === "haproxy"
          ? spec.balancerConfig
          : { adminUrl: spec.adminUrl, vipUrl: spec.vipUrl },
      targets: spec.targets.map((t) => ({
        name: t.name,
        host: t.host,
        port: t.port,
        executor: "local",
        executorConfig,
        facts: t.facts ?? {},
      })),
    },
  );
  return fleet.id;
}
