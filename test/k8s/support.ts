import { rm } from "node:fs/promises";
import type { KubernetesConfigInput } from "@ebb/drivers";
import { type LabCluster, type LabClusterOptions, startLabCluster } from "@ebb/lab";
import { ensureVmServerBuilt, tempDir } from "../../apps/lab/src/k8s/testing.js";

export { kubectl } from "../../apps/lab/src/k8s/testing.js";

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

export function totalErrors(errors: Record<string, number>): number {
  return Object.values(errors).reduce((a, b) => a + b, 0);
}
