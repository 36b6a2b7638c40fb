#!/usr/bin/env node
import "reflect-metadata";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { bootstrap, DATABASE, type Database, ensureFirstAdmin, featureModules, parseConfig } from "@ebb/api";
import { parseLabConfig } from "./config.js";
import { labCredentials } from "./credentials.js";
import { type RunningDashboard, startDashboard } from "./dashboard.js";
import {
  LAB_DEPLOY_FLEET,
  registerHaproxyWorld,
  registerLabDeploy,
  registerLabPods,
  registerWorld,
} from "./fleet.js";
import { HAPROXY_INSTALL_HINT, type HaproxyWorld, haproxyAvailable, startHaproxyWorld } from "./haproxy.js";
import { type LabCluster, startLabCluster } from "./k8s/lab-cluster.js";
import { startWorld } from "./world.js";

// `npm start`: the lab world (L4 device + VMs), Ebb itself (API + worker) and the dashboard, on embedded
// defaults. The one place that reads the environment; everything below takes typed options.
if (process.argv.slice(2).length > 0) {
  // Configuration is by environment only; any argument is a question, never a reason to start a lab.
  const help = process.argv.includes("--help") || process.argv.includes("-h");
  (help ? console.log : console.error)(`usage: ebb-lab   (npm start)

Starts the emulated lab (L4 device, VMs, Kubernetes emulator, HAProxy when installed), Ebb (API and
worker) and the dashboard, on embedded defaults; Ctrl-C stops everything. It takes no arguments: the
EBB_* and EBB_LAB_* variables configure it (docs/configuration.md).`);
  process.exit(help ? 0 : 2);
}
const labConfig = (() => {
  try {
    return parseLabConfig(process.env);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
})();
// Without EBB_ADMIN_TOKEN / EBB_ADMIN_PASSWORD, the lab makes its own (kept in the data folder, so they
// survive a restart) and prints them below: there is no default password.
const credentials = await labCredentials(path.resolve(process.env.EBB_DATA_DIR?.trim() || ".ebb"));
const givenToken = process.env.EBB_ADMIN_TOKEN?.trim();
const ebbConfig = (() => {
  try {
    return parseConfig({ ...process.env, EBB_ADMIN_TOKEN: givenToken || credentials.adminToken });
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
})();

const world = await startWorld({
  labDir: labConfig.labDir,
  vms: labConfig.vms,
  vmFirstHost: labConfig.vmFirstHost,
  vmPort: labConfig.vmPort,
  version: labConfig.version,
  timeScale: labConfig.timeScale,
  vip: labConfig.vip,
  admin: labConfig.admin,
  log: (line) => console.log(`[l4] ${line}`),
});

let ebb: Awaited<ReturnType<typeof bootstrap>>;
let dashboard: RunningDashboard | undefined;
let cluster: LabCluster | undefined;
let haproxy: HaproxyWorld | undefined;
let adminCreated = false;
// The drain hooks of lab-deploy report to Ebb with a read-scoped token the lab writes here once Ebb is up
// (the hook reads the file at each report, as it would a mounted Secret).
const hookTokenFile = path.resolve(labConfig.labDir, "k8s", "drain-hook.token");
try {
  // A real HAProxy in front of four more VMs, on the same time scale, when it is installed.
  if (labConfig.haproxy && !haproxyAvailable()) console.log(`[haproxy] ${HAPROXY_INSTALL_HINT}`);
  else if (labConfig.haproxy) {
    haproxy = await startHaproxyWorld({
      labDir: labConfig.labDir,
      vmFirstHost: labConfig.haproxy.vmFirstHost,
      vmPort: labConfig.vmPort,
      vip: labConfig.haproxy.vip,
      mode: labConfig.haproxy.mode,
      version: labConfig.version,
      timeScale: labConfig.timeScale,
      log: (line) => console.log(`[haproxy] ${line}`),
    });
  }
  // The emulated cluster next to the device: its API server, the demo StatefulSet's 4 pods (real lab VM
  // processes) and the Service's proxy, all on the same time scale as the device.
  if (labConfig.k8s) {
    cluster = await startLabCluster({
      labDir: labConfig.labDir,
      api: labConfig.k8s.api,
      proxy: labConfig.k8s.proxy,
      podFirstHost: labConfig.k8s.podFirstHost,
      propagationDelayMs: labConfig.k8s.propagationDelayMs,
      sidecar: labConfig.k8s.sidecar,
      ...(labConfig.k8s.deploy
        ? {
            deployment: {
              proxy: labConfig.k8s.deploy.proxy,
              podFirstHost: labConfig.k8s.deploy.podFirstHost,
              ebb: {
                url: `http://${ebbConfig.api.host.includes(":") ? `[${ebbConfig.api.host}]` : ebbConfig.api.host}:${ebbConfig.api.port}`,
                fleet: LAB_DEPLOY_FLEET,
                tokenFile: hookTokenFile,
              },
            },
          }
        : {}),
      version: labConfig.version,
      timeScale: labConfig.timeScale,
      log: (line) => console.log(`[k8s] ${line}`),
    });
  }
  ebb = await bootstrap(ebbConfig, { modules: featureModules(ebbConfig, process.env) });
  const database = ebb.app.get<Database>(DATABASE);
  await registerWorld(database.prisma, world);
  if (cluster) await registerLabPods(database.prisma, cluster);
  if (haproxy) await registerHaproxyWorld(database.prisma, haproxy);
  if (cluster?.deployment) {
    await registerLabDeploy(database.prisma, cluster);
    await writeHookToken(new URL(ebb.apiUrl!).origin, givenToken || credentials.adminToken);
  }
  if (!ebbConfig.firstAdmin)
    adminCreated = await ensureFirstAdmin(database.prisma, {
      username: credentials.username,
      password: credentials.password,
    });
  dashboard = await startDashboard({
    ...labConfig.dashboard,
    apiOrigin: new URL(ebb.apiUrl!).origin,
    log: (line) => console.log(`[dashboard] ${line}`),
  });
} catch (err) {
  const message = (err as Error).message;
  console.error(`Ebb failed to start: ${message}`);
  if (labConfig.k8s && !cluster)
    console.error(
      "  (the emulated cluster: set EBB_K8S_API / EBB_K8S_PROXY, or EBB_K8S=off to leave it out)",
    );
  else if (labConfig.haproxy && haproxyAvailable() && !haproxy)
    console.error("  (the HAProxy lab: set EBB_HAPROXY_VIP, or EBB_HAPROXY=off to leave it out)");
  await haproxy?.stop();
  await cluster?.stop();
  await world.stop();
  process.exit(1);
}

const hc = world.device.config.healthCheck;
const scale = labConfig.timeScale;
const token = givenToken ? "(the EBB_ADMIN_TOKEN you set)" : credentials.adminToken;
const login = ebbConfig.firstAdmin
  ? `${ebbConfig.firstAdmin.username} / (the EBB_ADMIN_PASSWORD you set)`
  : adminCreated || (await isLabAdmin())
    ? `${credentials.username} / ${credentials.password}`
    : "(users exist already: log in as one of them)";
console.log(
  [
    "",
    "Ebb is up, with its lab.",
    dashboard
      ? `  dashboard         ${dashboard.url}   log in as ${login}`
      : "  dashboard         not built: run `npm run build`, then `npm start` again",
    `  API               ${ebb.apiUrl}   (fleets ${fleetNames()} registered; OpenAPI at ${new URL(ebb.apiUrl!).origin}/api/docs)`,
    `  API token         ${token}   (scope admin)`,
    `  VIP (L4 device)   ${world.device.vipUrl}`,
    `  device admin API  ${world.device.adminUrl}   (GET /servers, /sessions, /counters, /events, /metrics)`,
    `  time scale        ${scale} (health check every ${hc.intervalSeconds * scale} s, ` +
      `session aging ${world.device.config.sessionIdleTimeoutSeconds * scale} s)`,
    ...world.vms.map((vm) => `  ${vm.name.padEnd(17)} http://${vm.host}:${vm.port}   ${vm.dir}`),
    ...(cluster ? clusterLines(cluster) : []),
    ...(haproxy ? haproxyLines(haproxy) : []),
    "",
    `Roll the lab:  export EBB_URL=${new URL(ebb.apiUrl!).origin} EBB_TOKEN=${givenToken ? "<your token>" : credentials.adminToken}`,
    `               npx ebb rollout start --fleet lab --version 2.0.0 --wait`,
    `   or:         curl -s -X POST $EBB_URL/api/v1/rollouts -H "authorization: Bearer $EBB_TOKEN" \\`,
    `                 -H 'content-type: application/json' -d '{"fleet":"lab","version":"2.0.0","runbook":"l4-drain"}'`,
    ...(cluster
      ? [
          `Roll the pods: npx ebb rollout start --fleet lab-pods --version 2.0.0 --runbook k8s-pod-drain --wait`,
        ]
      : []),
    ...(haproxy
      ? [
          `Roll HAProxy:  npx ebb rollout start --fleet lab-haproxy --version 2.0.0 --runbook haproxy-drain --wait`,
        ]
      : []),
    `Ctrl-C stops everything.`,
    "",
  ].join("\n"),
);

/** A read-scoped API token for the drain hooks (they can report terminations and nothing else). */
async function writeHookToken(origin: string, adminToken: string): Promise<void> {
  const res = await fetch(`${origin}/api/v1/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "lab-drain-hook", scope: "read", expiresInDays: 30 }),
  });
  if (res.status !== 201) throw new Error(`creating the drain hook's token: HTTP ${res.status}`);
  const { token } = (await res.json()) as { token: string };
  await writeFile(hookTokenFile, token, { mode: 0o600 });
}

/** The banner's lines for the emulated cluster: where to point kubectl, the Service, the pods. */
function clusterLines(c: LabCluster): string[] {
  const lag = c.propagationDelayMs / 1000;
  return [
    `  Kubernetes API    ${c.apiUrl}   kubectl --kubeconfig ${c.kubeconfigPath} get pods`,
    `  service proxy     ${c.proxyUrl}   (Service ${c.namespace}/${c.service}, fleet "lab-pods"; ` +
      `proxies lag ${lag} s${c.sidecar ? ", Envoy-like sidecars" : ""})`,
    ...c.pods.map((p) => `  ${p.name.padEnd(17)} http://${p.host}:${p.port}`),
    ...(c.deployment
      ? [
          `  deploy proxy      ${c.deployment.proxyUrl}   (Deployment ${c.deployment.namespace}/${c.deployment.name}, ` +
            `fleet "${LAB_DEPLOY_FLEET}"; pods carry the drain hook)`,
          `                    kubectl --kubeconfig ${c.kubeconfigPath} scale deployment ${c.deployment.name} --replicas=2`,
        ]
      : []),
  ];
}

function fleetNames(): string {
  const names = [
    "lab",
    ...(cluster ? ["lab-pods"] : []),
    ...(cluster?.deployment ? [LAB_DEPLOY_FLEET] : []),
    ...(haproxy ? ["lab-haproxy"] : []),
  ];
  return names.map((n) => `"${n}"`).join(", ");
}

/** The banner's lines for the real HAProxy: VIP, runtime socket, timing, its VMs. */
function haproxyLines(h: HaproxyWorld): string[] {
  const t = h.timing;
  return [
    `  VIP (HAProxy)     ${h.vipUrl}   (${h.mode} mode, fleet "lab-haproxy"; check every ${t.interMs} ms, fall ${t.fall}, rise ${t.rise})`,
    `  runtime socket    ${h.socketPath}   echo "show stat" | socat - UNIX:${h.socketPath}`,
    ...h.vms.map((vm) => `  ${`haproxy/${vm.name}`.padEnd(17)} http://${vm.host}:${vm.port}   ${vm.dir}`),
  ];
}

/** Whether the generated lab admin is (still) an account, so its password is worth printing. */
async function isLabAdmin(): Promise<boolean> {
  const { prisma } = ebb.app.get<Database>(DATABASE);
  return (await prisma.user.count({ where: { username: credentials.username } })) > 0;
}

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the dashboard, Ebb and the lab...`);
  await dashboard?.stop();
  await ebb.close();
  await haproxy?.stop();
  await cluster?.stop();
  await world.stop();
  console.log("stopped.");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
