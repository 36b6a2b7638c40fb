#!/usr/bin/env node
// Deployments (issue #12 §6), under keep-alive load through the Deployment's service proxy. JSON on stdout.
//
// 1. rollout: an Ebb rollout (k8s-pod-drain) of the lab-deploy Deployment, 4 pods with the drain hook,
//    against its floor. The floor of one pod is what the cluster and the declared timing make anyone wait:
//    the propagation window and the quiet hold after the take-out, then the longer of the old pod's
//    termination (preStop: the hook, then the app's stop) and the new pod's start until it is ready in the
//    EndpointSlices, both measured from the cluster's own events in this run. Pods go one at a time
//    (maxUnavailable 1), so the rollout's floor is the sum. Target: wall time within 1.10x of it.
//    The same rollout with the rollout's maxSurge 1: each new pod is created at its target's take-out, so
//    its start overlaps the drain; a pod's floor is then the longer of (window + hold + the old pod's
//    termination, which delete-pod waits for) and the new pod's start from the take-out. Its JSON also
//    gives the no-surge floor of the same run, to compare with.
// 2. scale-down: the Deployment scaled from 8 to 4 pods (what `kubectl scale` and an HPA do), with the drain
//    hook vs `preStop: sleep` of 5, 15 and 30 s: per pod, the time from its deletion to its end, and the
//    failed requests. Target for the hook: zero failed requests, each pod released within 1.10x of
//    (propagation window + hold time).
//
//   npm run bench:deploy                             # time scale 0.1 (cluster seconds x 0.1; the proxy's
//                                                    # lag and the hook's window are real time)
//   BENCH_TIME_SCALE=1 npm run bench:deploy          # real pod durations (preStop 30 s takes 30 s)
import "reflect-metadata";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrap, DATABASE, featureModules, parseConfig } from "@ebb/api";
import {
  K8S_DEPLOYMENTS,
  K8S_ENDPOINTSLICES,
  K8S_PODS,
  LoadGenerator,
  registerLabDeploy,
  startLabCluster,
} from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";

const timeScale = Number(process.env.BENCH_TIME_SCALE ?? 0.1);
const PROPAGATION_MS = Number(process.env.BENCH_PROPAGATION_MS ?? 800);
const WINDOW_MS = PROPAGATION_MS + 200; // the hook's window (the lab's default: the lag + 200 ms)
const HOLD_MS = 300; // the hook's hold (the lab's default)
const net = "127.0.31";
const log = (line) => process.stderr.write(`${line}\n`);
const dir = await mkdtemp(path.join(tmpdir(), "ebb-bench-deploy-"));

if (!existsSync(path.resolve(import.meta.dirname, "../apps/lab/dist/vm/server.js"))) {
  throw new Error("apps/lab is not built: npm run build");
}

const failed = (report) => Object.values(report.errors).reduce((a, b) => a + b, 0);
// The lab-deploy fleet's window (registerLabDeploy: the proxy's lag + 500 ms) and k8s-pod-drain's quiet hold.
const FLEET_WINDOW_MS = PROPAGATION_MS + 500;
const RUNBOOK_HOLD_MS = 1_000;

async function cluster(name, deployment) {
  const labDir = path.join(dir, name);
  return startLabCluster({
    labDir,
    api: { host: `${net}.1`, port: await freePort(`${net}.1`) },
    proxy: { host: `${net}.1`, port: await freePort(`${net}.1`) },
    podFirstHost: `${net}.21`,
    replicas: 1,
    timeScale,
    propagationDelayMs: PROPAGATION_MS,
    deployment: {
      proxy: { host: `${net}.1`, port: await freePort(`${net}.1`) },
      podFirstHost: `${net}.41`,
      ...deployment,
    },
  });
}

function startLoad(lab, pods) {
  const url = new URL(lab.deployment.proxyUrl);
  const load = new LoadGenerator({
    target: { host: url.hostname, port: Number(url.port) },
    clients: 12,
    rate: 240,
    timeoutMs: 2_000,
  });
  load.start();
  return waitFor(() => Object.keys(load.snapshot().byServer).length === pods, {
    timeoutMs: 30_000,
    what: `all ${pods} pods answering`,
  }).then(() => load);
}

/** Per pod of the Deployment, when (Date.now()) the cluster showed each moment a floor is made of. */
function recordPods(lab) {
  const d = lab.deployment;
  const pods = new Map();
  const at = (name) => {
    if (!pods.has(name)) pods.set(name, {});
    return pods.get(name);
  };
  const ready = new Set();
  const off = lab.cluster.store.subscribe((e) => {
    const now = Date.now();
    const o = e.object;
    if (e.resource === K8S_PODS && o.metadata.labels?.app === d.name) {
      const p = at(o.metadata.name);
      if (e.type === "ADDED") p.created ??= now;
      if (e.type === "DELETED") p.gone ??= now;
      const gate = (o.status?.conditions ?? []).find((c) => c.type === "ebb.dev/serving");
      if (gate?.status === "False") p.out ??= now;
      if (o.metadata.deletionTimestamp) p.deleting ??= now;
      const replaces = o.metadata.annotations?.["ebb.dev/replaces"];
      if (replaces) p.replaces ??= replaces;
    }
    if (
      e.resource === K8S_ENDPOINTSLICES &&
      o.metadata.labels?.["kubernetes.io/service-name"] === d.service
    ) {
      for (const ep of o.endpoints ?? []) {
        const name = ep.targetRef?.name;
        if (name && ep.conditions?.ready !== false && !ready.has(name)) {
          ready.add(name);
          at(name).inSlices ??= now;
        }
      }
    }
  });
  return { pods, stop: off };
}

async function rollout({ maxSurge = 0 } = {}) {
  const lab = await cluster(maxSurge > 0 ? `rollout-surge-${maxSurge}` : "rollout", { replicas: 4 });
  const ADMIN_TOKEN = "bench-deploy-admin-token";
  const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const config = parseConfig(
    {
      EBB_API_HOST: `${net}.1`,
      EBB_API_PORT: String(await freePort(`${net}.1`)),
      EBB_REDIS_PORT: String(await freePort("127.0.0.1")),
      EBB_DATA_DIR: path.join(dir, maxSurge > 0 ? `ebb-surge-${maxSurge}` : "ebb"),
      EBB_LOG_LEVEL: "warn",
      EBB_ADMIN_TOKEN: ADMIN_TOKEN,
    },
    { cwd: dir },
  );
  const ebb = await bootstrap(config, { modules: featureModules(config, process.env), logger: false });
  try {
    await waitFor(() => lab.deployment.pods().filter((p) => p.ready).length === 4, {
      timeoutMs: 60_000,
      what: "4 pods ready",
    });
    await registerLabDeploy(ebb.app.get(DATABASE).prisma, lab);
    const before = new Set(lab.deployment.pods().map((p) => p.name));
    const load = await startLoad(lab, 4);
    const rec = recordPods(lab);
    const started = Date.now();
    const res = await fetch(`${ebb.apiUrl}/rollouts`, {
      method: "POST",
      headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({
        fleet: "lab-deploy",
        version: "2.0.0",
        runbook: "k8s-pod-drain",
        ...(maxSurge > 0 ? { maxSurge } : {}),
      }),
    });
    if (res.status !== 201) throw new Error(`rollout: ${res.status} ${await res.text()}`);
    const { id } = await res.json();
    const done = await waitFor(
      async () => {
        const r = await (await fetch(`${ebb.apiUrl}/rollouts/${id}`, { headers: auth })).json();
        return ["succeeded", "failed", "aborted"].includes(r.status) ? r : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 50, what: "the rollout" },
    );
    const wallMs = Date.now() - started;
    rec.stop();
    const report = await load.stop();
    // Each old pod and the new pod that stands for it (its ebb.dev/replaces claim; else in creation order).
    const olds = [...before].map((name) => ({ name, ...rec.pods.get(name) })).sort((a, b) => a.out - b.out);
    const news = [...rec.pods.entries()]
      .filter(([name]) => !before.has(name))
      .map(([name, p]) => ({ name, ...p }))
      .sort((a, b) => a.created - b.created);
    const drainMs = FLEET_WINDOW_MS + RUNBOOK_HOLD_MS;
    const perPod = olds.map((o, i) => {
      const n = news.find((x) => x.replaces === o.name) ?? news[i] ?? {};
      const terminationMs = o.gone - o.deleting;
      const startMs = n.inSlices - n.created;
      const noSurgeFloorMs = drainMs + Math.max(terminationMs, startMs);
      // With surge the new pod is created at the take-out: its start runs beside the drain and the stop.
      const floorMs = maxSurge > 0 ? Math.max(drainMs + terminationMs, startMs) : noSurgeFloorMs;
      const actualMs = (n.inSlices ?? 0) - o.out;
      const createdAfterOutMs = (n.created ?? 0) - o.out;
      return {
        pod: o.name,
        replacement: n.name,
        terminationMs,
        startMs,
        createdAfterOutMs,
        floorMs,
        noSurgeFloorMs,
        actualMs,
      };
    });
    const floorMs = perPod.reduce((s, p) => s + p.floorMs, 0);
    const noSurgeFloorMs = perPod.reduce((s, p) => s + p.noSurgeFloorMs, 0);
    return {
      status: done.status,
      pods: 4,
      maxSurge,
      wallMs,
      floorMs,
      ratio: Number((wallMs / floorMs).toFixed(3)),
      target: 1.1,
      ...(maxSurge > 0
        ? { noSurgeFloorMs, ratioToNoSurgeFloor: Number((wallMs / noSurgeFloorMs).toFixed(3)) }
        : {}),
      failedRequests: failed(report),
      requests: report.requests,
      perPod,
      floorModel:
        maxSurge > 0
          ? "per pod: max(the fleet's propagation window + the runbook's quiet hold (1 s) + old pod termination, new pod start from its creation at the take-out to ready in the EndpointSlices); pods one at a time"
          : "per pod: the fleet's propagation window + the runbook's quiet hold (1 s) + max(old pod termination, new pod start to ready in the EndpointSlices); pods one at a time",
    };
  } finally {
    await ebb.close();
    await lab.stop();
  }
}

async function scaleDown(variant, deployment) {
  const lab = await cluster(variant, { replicas: 8, ...deployment });
  try {
    await waitFor(() => lab.deployment.pods().filter((p) => p.ready).length === 8, {
      timeoutMs: 60_000,
      what: "8 pods ready",
    });
    const load = await startLoad(lab, 8);
    const rec = recordPods(lab);
    const d = lab.deployment;
    const started = Date.now();
    lab.cluster.store.mutate(K8S_DEPLOYMENTS, d.namespace, d.name, (o) => {
      o.spec.replicas = 4;
    });
    await waitFor(() => [...rec.pods.values()].filter((p) => p.gone).length === 4, {
      timeoutMs: 300_000,
      intervalMs: 20,
      what: `${variant}: 4 pods gone`,
    });
    const wallMs = Date.now() - started;
    rec.stop();
    const report = await load.stop();
    const terminations = [...rec.pods.entries()]
      .filter(([, p]) => p.gone)
      .map(([name, p]) => ({ pod: name, terminationMs: p.gone - p.deleting }));
    const ms = terminations.map((t) => t.terminationMs);
    return {
      variant,
      failedRequests: failed(report),
      wallMs,
      perPodTerminationMs: ms,
      maxTerminationMs: Math.max(...ms),
      terminations,
    };
  } finally {
    await lab.stop();
  }
}

try {
  log("rollout of lab-deploy ...");
  const roll = await rollout();
  log(`rollout: ${roll.wallMs} ms, floor ${roll.floorMs} ms, ${roll.failedRequests} failed`);
  log("rollout of lab-deploy with maxSurge 1 ...");
  const surge = await rollout({ maxSurge: 1 });
  log(`rollout maxSurge 1: ${surge.wallMs} ms, floor ${surge.floorMs} ms, ${surge.failedRequests} failed`);
  const variants = [];
  const grace = 60;
  const hook = await scaleDown("drain-hook", { drainHook: true, terminationGracePeriodSeconds: grace });
  hook.releaseTargetMs = Math.round(1.1 * (WINDOW_MS + HOLD_MS));
  hook.withinTarget = hook.maxTerminationMs <= hook.releaseTargetMs;
  variants.push(hook);
  for (const s of [5, 15, 30]) {
    log(`scale-down with preStop sleep ${s} s ...`);
    variants.push(
      await scaleDown(`prestop-sleep-${s}s`, {
        drainHook: false,
        preStopSeconds: s,
        terminationGracePeriodSeconds: grace,
      }),
    );
  }
  process.stdout.write(
    `${JSON.stringify(
      {
        timeScale,
        propagationDelayMs: PROPAGATION_MS,
        hook: { windowMs: WINDOW_MS, holdMs: HOLD_MS },
        rollout: roll,
        rolloutSurge: surge,
        scaleDown: variants,
      },
      null,
      2,
    )}\n`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
