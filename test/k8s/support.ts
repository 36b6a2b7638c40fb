import { rm } from "node:fs/promises";
import type { KubernetesConfigInput } from "@ebb/drivers/kubernetes";
import {
  type LabCluster,
  type LabClusterOptions,
  LoadGenerator,
  registerLabPods,
  startLabCluster,
} from "@ebb/lab";
import { waitFor } from "@ebb/testkit";
import { ensureVmServerBuilt, tempDir } from "../../apps/lab/test-support/k8s.js";
import { givenEbbWith, type RunningEbb } from "../support/ebb.js";

export { kubectl } from "../../apps/lab/test-support/k8s.js";

export const SCALE = 0.05;

/**
 * The lab's emulated cluster for a cross-package scenario: API and service proxy on `127.0.<net>.1` (free
 * ports), pods from `127.0.<net>.21`, durations at 0.05 (probe every 500 ms, preStop 5 s = 250 ms, grace
 * 30 s = 1.5 s), kubeconfig in a temp dir.
 */
export async function givenLabCluster(
  net: number,
  opts: Partial<LabClusterOptions> = {},
): Promise<LabCluster & { dir: string; cleanup(): Promise<void> }> {
  ensureVmServerBuilt();
  const dir = await tempDir();
  const lab = await startLabCluster({
    labDir: dir,
    api: { host: `127.0.${net}.1`, port: 0 },
    proxy: { host: `127.0.${net}.1`, port: 0 },
    podFirstHost: `127.0.${net}.21`,
    replicas: 3,
    timeScale: SCALE,
    propagationDelayMs: 500,
    ...opts,
  });
  return Object.assign(lab, {
    dir,
    async cleanup() {
      await lab.stop();
      await rm(dir, { recursive: true, force: true });
    },
  });
}

/** The driver's config for the lab cluster, as a fleet would store it. */
export function fleetConfig(
  lab: LabCluster,
  extra: Partial<KubernetesConfigInput> = {},
): KubernetesConfigInput {
  return {
    kubeconfigPath: lab.kubeconfigPath,
    namespace: lab.namespace,
    workload: lab.workload,
    service: lab.service,
    propagationWindowMs: 600,
    timeScale: SCALE,
    pollIntervalMs: 50,
    ...extra,
  };
}

export { totalErrors } from "../support/world.js";

/** Ebb in this process (api + worker) with the emulated cluster's pods registered as `lab-pods`. */
export function givenEbbWithPods(lab: LabCluster, net: number): Promise<RunningEbb> {
  return givenEbbWith((prisma) => registerLabPods(prisma, lab), net);
}

/**
 * Continuous keep-alive load through the Service's proxy, resolved once every pod has answered (so a later
 * "zero errors" is about the rollout, not about start-up).
 */
export function loadThroughService(lab: LabCluster): Promise<LoadGenerator> {
  return loadThrough(lab.proxyUrl, lab.pods.length);
}

/** The same load through the lab Deployment's own service proxy. */
export function loadThroughDeployment(lab: LabCluster): Promise<LoadGenerator> {
  return loadThrough(lab.deployment!.proxyUrl, lab.deployment!.replicas);
}

async function loadThrough(proxyUrl: string, pods: number): Promise<LoadGenerator> {
  const url = new URL(proxyUrl);
  const gen = new LoadGenerator({
    target: { host: url.hostname, port: Number(url.port) },
    clients: 12,
    rate: 240,
    timeoutMs: 2_000,
  });
  gen.start();
  await waitFor(() => Object.keys(gen.snapshot().byServer).length === pods, {
    what: `all ${pods} pods answering through the service proxy`,
  });
  return gen;
}

/** What a pod's web server says it runs (GET /), or null when it does not answer. */
export async function servedVersion(host: string, port: number): Promise<string | null> {
  try {
    const res = await fetch(`http://${host}:${port}/`, {
      signal: AbortSignal.timeout(2_000),
      headers: { connection: "close" },
    });
    return ((await res.json()) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}
