import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrap, featureModules, parseConfig } from "@ebb/api";
import type { KubernetesConfigInput } from "@ebb/drivers/kubernetes";
import {
  type LabCluster,
  type LabClusterOptions,
  LoadGenerator,
  type LoadReport,
  startLabCluster,
} from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";
import { testDatabases } from "../../apps/api/src/database/testing.js";
// Not re-exported by @ebb/lab (its index is not ours to edit): the lead may add it to the export line.
import { registerLabPods } from "../../apps/lab/src/fleet.js";
import { ensureVmServerBuilt, tempDir } from "../../apps/lab/src/k8s/testing.js";
import { api, type RunningEbb, TEST_ADMIN_TOKEN } from "../support/ebb.js";

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

/**
 * Ebb in this process (api + worker roles) on its own embedded Redis and a fresh PGlite database, with the lab
 * cluster registered as the fleet `lab-pods` (the pods need no VM world: test/support's givenEbb registers one).
 */
export async function givenEbbWithPods(lab: LabCluster, net: number): Promise<RunningEbb> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-data-"));
  const host = `127.0.${net}.1`;
  const config = parseConfig(
    {
      EBB_API_HOST: host,
      EBB_API_PORT: String(await freePort(host)),
      EBB_REDIS_PORT: String(await freePort("127.0.0.1")),
      EBB_DATA_DIR: dataDir,
      EBB_RECONCILE_INTERVAL_MS: "500",
      EBB_JOB_LOCK_MS: "2000",
      EBB_LOG_LEVEL: "warn",
      EBB_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    },
    { cwd: dataDir },
  );
  const database = await testDatabases()[0]!.open();
  const app = await bootstrap(config, {
    database,
    modules: featureModules(config, process.env),
    logger: false,
  });
  await registerLabPods(database.prisma, lab);
  return {
    app,
    apiUrl: app.apiUrl!,
    prisma: database.prisma,
    async cleanup() {
      await app.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface RolloutView {
  id: string;
  status: string;
  targets: {
    name: string;
    status: string;
    step: string | null;
    stepIndex: number;
    error: { message: string } | null;
  }[];
}

export async function startRollout(ebb: RunningEbb, body: Record<string, unknown>): Promise<string> {
  const created = await api<{ id: string }>(ebb, "POST", "/rollouts", body);
  if (created.status !== 201)
    throw new Error(`POST /rollouts answered ${created.status}: ${JSON.stringify(created.body)}`);
  return created.body.id;
}

export function untilRolloutDone(ebb: RunningEbb, id: string, timeoutMs = 120_000): Promise<RolloutView> {
  return waitFor(
    async () => {
      const { body } = await api<RolloutView>(ebb, "GET", `/rollouts/${id}`);
      return ["succeeded", "failed", "aborted"].includes(body.status) ? body : undefined;
    },
    { timeoutMs, intervalMs: 200, what: `rollout ${id} to finish` },
  );
}

/**
 * Continuous keep-alive load through the Service's proxy, resolved once every pod has answered (so a later
 * "zero errors" is about the rollout, not about start-up).
 */
export async function loadThroughService(lab: LabCluster): Promise<LoadGenerator> {
  const url = new URL(lab.proxyUrl);
  const gen = new LoadGenerator({
    target: { host: url.hostname, port: Number(url.port) },
    clients: 12,
    rate: 240,
    timeoutMs: 2_000,
  });
  gen.start();
  await waitFor(() => Object.keys(gen.snapshot().byServer).length === lab.pods.length, {
    what: `all ${lab.pods.length} pods answering through the service proxy`,
  });
  return gen;
}

export function errorsOf(report: LoadReport): { count: number; samples: string } {
  return { count: totalErrors(report.errors), samples: JSON.stringify(report.errorSamples.slice(0, 5)) };
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
