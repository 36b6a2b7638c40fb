import path from "node:path";
import { type Database, registerLabFleet } from "@ebb/api";
import { type HaproxyWorld, haproxyBalancerConfig } from "./haproxy.js";
import { type LabCluster, labPodsFleet } from "./k8s/lab-cluster.js";

/** The Deployment fleet's name (its pods carry the drain hook, which reports here). */
export const LAB_DEPLOY_FLEET = "lab-deploy";

import type { World } from "./world.js";

const repoRoot = path.resolve(import.meta.dirname, "../../..");

/**
 * Registers a running lab world in Ebb as a fleet (`lab` by default): the device as its l4 balancer, the
 * VMs as targets driven by the local executor through `ebb-vm`. Extra environment reaches every command
 * on the targets (e.g. EBB_VM_COMMAND_LOG for chaos tests).
 */
export function registerWorld(
  prisma: Database["prisma"],
  world: World,
  opts: { name?: string; env?: Record<string, string> } = {},
): Promise<string> {
  return registerLabFleet(prisma, {
    name: opts.name ?? "lab",
    adminUrl: world.device.adminUrl,
    vipUrl: world.device.vipUrl,
    labDir: world.labDir,
    path: targetPath(),
    targets: vmTargets(world.vms),
    ...(opts.env ? { env: opts.env } : {}),
  });
}

/** ebb-vm (the repo's node_modules/.bin) and the node that runs it. */
function targetPath(): string {
  return [
    path.join(repoRoot, "node_modules/.bin"),
    path.dirname(process.execPath),
    "/usr/local/bin",
    "/usr/bin",
    "/bin",
  ].join(":");
}

/** versionUrl: the dashboard shows what each VM reports it runs (GET / of a lab VM answers its version). */
function vmTargets(vms: World["vms"]) {
  return vms.map((vm) => ({
    name: vm.name,
    host: vm.host,
    port: vm.port,
    facts: {
      versionUrl: `http://${vm.host}:${vm.port}/`,
      // Real ms, like the device's timing the driver reports: preflight holds it against the session aging.
      keepAliveTimeoutMs: vm.keepAliveTimeoutMs,
      // What the lab's commands take (process start and stop, a symlink swap), whatever the time scale:
      // without them the planner assumes a real server's 10 s stop and its estimate means nothing here.
      estimates: { stopMs: 1_500, deployMs: 500, startMs: 1_000 },
    },
  }));
}

/**
 * Registers the lab's real HAProxy and its VMs as a fleet (`lab-haproxy` by default): HAProxy's Runtime
 * API as the balancer, the VMs driven through `ebb-vm` like the `lab` fleet's.
 */
export function registerHaproxyWorld(
  prisma: Database["prisma"],
  world: HaproxyWorld,
  opts: { name?: string; env?: Record<string, string> } = {},
): Promise<string> {
  return registerLabFleet(prisma, {
    balancer: "haproxy",
    name: opts.name ?? "lab-haproxy",
    balancerConfig: haproxyBalancerConfig(world),
    labDir: world.labDir,
    path: targetPath(),
    targets: vmTargets(world.vms),
    ...(opts.env ? { env: opts.env } : {}),
  });
}

/**
 * Registers the lab's emulated cluster in Ebb as a fleet (`lab-pods` by default): the StatefulSet's pods
 * behind their Service, driven through the cluster's Kubernetes API with the kubeconfig the lab wrote.
 */
export function registerLabPods(
  prisma: Database["prisma"],
  cluster: LabCluster,
  opts: { name?: string } = {},
): Promise<string> {
  const fleet = labPodsFleet(cluster, opts);
  return registerLabFleet(prisma, {
    balancer: "kubernetes",
    name: fleet.name,
    balancerConfig: fleet.balancerConfig,
    targets: fleet.targets,
  });
}

/**
 * Registers the lab's Deployment as the `lab-deploy` fleet: its pods behind their Service, with the pods
 * there at start as targets (Ebb rolls it through its ReplicaSets: docs/kubernetes.md), and where the drain
 * hooks report the terminations they held (`/api/v1/fleets/lab-deploy/terminations`).
 */
export function registerLabDeploy(prisma: Database["prisma"], cluster: LabCluster): Promise<string> {
  const dep = cluster.deployment;
  if (!dep) throw new Error("the lab cluster runs no Deployment");
  return registerLabFleet(prisma, {
    balancer: "kubernetes",
    name: LAB_DEPLOY_FLEET,
    balancerConfig: {
      kubeconfigPath: cluster.kubeconfigPath,
      namespace: dep.namespace,
      workload: { kind: "Deployment", name: dep.name },
      service: dep.service,
      vipUrl: dep.proxyUrl,
      propagationWindowMs: dep.propagationDelayMs + 500,
      timeScale: cluster.cluster.timeScale,
      metrics: { source: "lab-vm" },
    },
    targets: dep.pods().map((p) => ({
      name: p.name,
      host: p.host,
      port: p.port,
      facts: { versionUrl: `http://${p.host}:${p.port}/status` },
    })),
  });
}
