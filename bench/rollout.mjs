#!/usr/bin/env node
// The lab fleet under keep-alive load, rolled three ways in one run (issue #3):
//   ebb-l4-drain        Ebb's observed l4-drain
//   fixed-sleeps        the same procedure with fixed sleeps sized for the worst case
//   stop-without-drain  stop, deploy, start
// For each: failed requests, wall time, and per target the time against the floor the device's timing
// allows (its observed detection, stop, deploy, start and first good check). JSON on stdout.
//
// With `haproxy` on PATH, the same three over `lab-haproxy` (4 more VMs behind a real HAProxy in TCP mode,
// the lab's timing scaled alike), plus `ebb-haproxy-drain` (the Runtime API drain): the floor there is
// what HAProxy reports (`show stat` polled every 10 ms for the moments it marks a server DOWN and UP), and
// the fixed sleeps are sized for HAProxy's timing (fall * inter + timeout check; rise * inter + timeout).
//
//   npm run bench:rollout                           # the device's real timing: 10 s checks (~5 minutes)
//   BENCH_TIME_SCALE=0.25 npm run bench:rollout     # a quicker look (a fixed ~0.45 s per target of
//                                                   # commands and transactions weighs more against the floor)
import "reflect-metadata";
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrap, DATABASE, featureModules, parseConfig } from "@ebb/api";
import { parseShowStat, RuntimeApiClient } from "@ebb/drivers";
import {
  haproxyAvailable,
  LoadGenerator,
  registerHaproxyWorld,
  registerWorld,
  startHaproxyWorld,
  startWorld,
} from "@ebb/lab";
import { freePort, waitFor } from "@ebb/testkit";

const timeScale = Number(process.env.BENCH_TIME_SCALE ?? 1);
const net = "127.0.30";
const naive = (name, balancer) => `apiVersion: ebb/v1
kind: Runbook
name: ${name}
balancer: ${balancer}
steps:
  - { id: stop, type: exec, run: ["ebb-vm", "stop"] }
  - { id: deploy, type: exec, run: ["ebb-vm", "deploy"] }
  - { id: start, type: exec, run: ["ebb-vm", "start"] }
`;

const dir = await mkdtemp(path.join(tmpdir(), "ebb-bench-rollout-"));
const log = (line) => process.stderr.write(`${line}\n`);

const world = await startWorld({
  labDir: path.join(dir, "lab"),
  vms: 4,
  vmFirstHost: `${net}.11`,
  vmPort: await freePort(`${net}.11`),
  timeScale,
  vip: { host: `${net}.1`, port: await freePort(`${net}.1`) },
  admin: { host: `${net}.1`, port: await freePort(`${net}.1`) },
});
const ADMIN_TOKEN = "bench-rollout-admin-token";
const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const config = parseConfig(
  {
    EBB_API_HOST: `${net}.1`,
    EBB_API_PORT: String(await freePort(`${net}.1`)),
    EBB_REDIS_PORT: String(await freePort("127.0.0.1")),
    EBB_DATA_DIR: path.join(dir, "ebb"),
    EBB_LOG_LEVEL: "warn",
    EBB_ADMIN_TOKEN: ADMIN_TOKEN,
  },
  { cwd: dir },
);
const ebb = await bootstrap(config, { modules: featureModules(config, process.env), logger: false });
const { prisma } = ebb.app.get(DATABASE);
let haproxyWorld;

try {
  await waitFor(() => world.device.servers().every((s) => s.bound), { timeoutMs: 60_000, what: "VMs bound" });
  await registerWorld(prisma, world);

  const hc = world.device.config.healthCheck;
  const ms = (s) => Math.round(s * 1000 * timeScale);
  const detectionMax = ms((hc.retryCount + 1) * hc.intervalSeconds + hc.timeoutSeconds);
  const bringUpMax = ms(hc.intervalSeconds + hc.timeoutSeconds);
  await storeRunbook("fixed-sleeps", fixedSleeps("fixed-sleeps", "l4", detectionMax, bringUpMax));
  await storeRunbook("stop-without-drain", naive("stop-without-drain", "l4"));

  const device = {
    fleet: "lab",
    vipUrl: world.device.vipUrl,
    vms: world.vms.length,
    mark: () => world.device.events().at(-1)?.seq ?? 0,
    transitions: (since) =>
      world.device
        .events(since)
        .filter((e) => e.type === "server.health")
        .map((e) => ({ server: e.server, to: e.to, atMs: e.atMs })),
  };
  const results = [];
  for (const [variant, runbook, version] of [
    ["ebb-l4-drain", "l4-drain", "2.0.0"],
    ["fixed-sleeps", "fixed-sleeps", "3.0.0"],
    ["stop-without-drain", "stop-without-drain", "4.0.0"],
  ]) {
    log(`${variant}...`);
    results.push(await roll(device, variant, runbook, version));
  }
  const [observed, sleeps, naiveRun] = results;

  let haproxy;
  if (haproxyAvailable()) {
    haproxyWorld = await startHaproxyWorld({
      labDir: path.join(dir, "lab"),
      vmFirstHost: `${net}.31`,
      vmPort: await freePort(`${net}.31`),
      vip: { host: `${net}.2`, port: await freePort(`${net}.2`) },
      mode: "tcp",
      timeScale,
    });
    const hw = haproxyWorld;
    const recorder = recordHaproxy(hw);
    try {
      await waitFor(() => hw.vms.every((vm) => recorder.status(vm.name)?.startsWith("UP")), {
        timeoutMs: 60_000,
        what: "VMs UP in HAProxy",
      });
      await registerHaproxyWorld(prisma, hw);
      const t = hw.timing;
      const hDetectionMax = t.fall * t.interMs + t.checkTimeoutMs;
      const hBringUpMax = t.rise * t.interMs + t.checkTimeoutMs;
      await storeRunbook(
        "fixed-sleeps-haproxy",
        fixedSleeps("fixed-sleeps-haproxy", "haproxy", hDetectionMax, hBringUpMax),
      );
      await storeRunbook("stop-without-drain-haproxy", naive("stop-without-drain-haproxy", "haproxy"));
      const lab = {
        fleet: "lab-haproxy",
        vipUrl: hw.vipUrl,
        vms: hw.vms.length,
        mark: () => recorder.transitions.length,
        transitions: (since) => recorder.transitions.slice(since),
      };
      const hResults = [];
      for (const [variant, runbook, version] of [
        ["ebb-l4-drain", "l4-drain", "2.0.0"],
        ["ebb-haproxy-drain", "haproxy-drain", "3.0.0"],
        ["fixed-sleeps", "fixed-sleeps-haproxy", "4.0.0"],
        ["stop-without-drain", "stop-without-drain-haproxy", "5.0.0"],
      ]) {
        log(`lab-haproxy ${variant}...`);
        hResults.push(await roll(lab, variant, runbook, version));
      }
      const [hObserved, hDirect, hSleeps, hNaive] = hResults;
      haproxy = {
        setup: {
          vms: hw.vms.length,
          mode: hw.mode,
          timing: t,
          fixedSleeps: { afterHealthFailMs: hDetectionMax, afterRestoreMs: hBringUpMax },
        },
        results: hResults,
        targets: {
          "ebb loses no request (l4-drain and haproxy-drain) where stop-without-drain loses some":
            hObserved.failedRequests === 0 && hDirect.failedRequests === 0 && hNaive.failedRequests > 0,
          "ebb l4-drain per-target time within 5% of the floor HAProxy's timing allows":
            hObserved.perTarget.worstRatioToFloor <= 1.05,
          "ebb l4-drain whole rollout at least 25% faster than fixed sleeps":
            hObserved.wallMs <= 0.75 * hSleeps.wallMs,
          ebbL4DrainFasterThanFixedSleepsBy: round(1 - hObserved.wallMs / hSleeps.wallMs),
          ebbHaproxyDrainFasterThanFixedSleepsBy: round(1 - hDirect.wallMs / hSleeps.wallMs),
        },
      };
    } finally {
      recorder.stop();
    }
  } else {
    log("haproxy is not installed: lab-haproxy left out of this run");
  }
  console.log(
    JSON.stringify(
      {
        benchmark: "rollout",
        at: new Date().toISOString(),
        setup: {
          vms: world.vms.length,
          timeScale,
          healthCheck: {
            intervalMs: ms(hc.intervalSeconds),
            retryCount: hc.retryCount,
            timeoutMs: ms(hc.timeoutSeconds),
          },
          load: { clients: 8, rate: 200 },
          fixedSleeps: { afterHealthFailMs: detectionMax, afterRestoreMs: bringUpMax },
        },
        results,
        targets: {
          "ebb loses no request where stop-without-drain loses some":
            observed.failedRequests === 0 && naiveRun.failedRequests > 0,
          "ebb per-target time within 5% of the floor": observed.perTarget.worstRatioToFloor <= 1.05,
          "ebb whole rollout at least 25% faster than fixed sleeps": observed.wallMs <= 0.75 * sleeps.wallMs,
          ebbFasterThanFixedSleepsBy: round(1 - observed.wallMs / sleeps.wallMs),
        },
        ...(haproxy ? { haproxy } : {}),
      },
      null,
      2,
    ),
  );
} finally {
  await ebb.close();
  await haproxyWorld?.stop();
  await world.stop();
  await rm(dir, { recursive: true, force: true });
}

/** `lab`: the fleet, its VIP, its VM count, and how to read the balancer's health transitions. */
async function roll(lab, variant, runbook, version) {
  const vip = new URL(lab.vipUrl);
  const load = new LoadGenerator({
    target: { host: vip.hostname, port: Number(vip.port) },
    clients: 8,
    rate: 200,
  });
  load.start();
  await waitFor(() => Object.keys(load.snapshot().byServer).length === lab.vms, {
    what: "all VMs answering",
  });
  const mark = lab.mark();
  const started = Date.now();
  const observed = runbook === "l4-drain" || runbook === "haproxy-drain";
  const res = await fetch(`${ebb.apiUrl}/rollouts`, {
    method: "POST",
    headers: { "content-type": "application/json", ...auth },
    body: JSON.stringify({ fleet: lab.fleet, version, runbook, force: !observed }),
  });
  if (res.status !== 201) throw new Error(`${variant}: ${res.status} ${await res.text()}`);
  const { id } = await res.json();
  const done = await waitFor(
    async () => {
      const r = await (await fetch(`${ebb.apiUrl}/rollouts/${id}`, { headers: auth })).json();
      return ["succeeded", "failed", "aborted"].includes(r.status) ? r : undefined;
    },
    { timeoutMs: 600_000, intervalMs: 100, what: `${variant} to finish` },
  );
  const wallMs = Date.now() - started;
  const report = await load.stop();
  const failedRequests = Object.values(report.errors).reduce((a, b) => a + b, 0);
  const perTarget = await targetTimes(id, lab.transitions(mark));
  return {
    variant,
    fleet: lab.fleet,
    status: done.status,
    failedRequests,
    errors: report.errors,
    requests: report.requests,
    wallMs,
    perTarget,
  };
}

/**
 * HAProxy has no event stream: `show stat` every 10 ms, noting when each server turns DOWN (`failed`) and
 * UP again (`up`). "UP 1/2" (failing, still UP) and "DOWN 1/2" (rising, still DOWN) are not transitions.
 */
function recordHaproxy(hw) {
  const client = new RuntimeApiClient(hw.socketPath, 1000);
  const last = new Map();
  const transitions = [];
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      const atMs = Date.now();
      for (const stat of parseShowStat(await client.command("show stat"))) {
        if (stat.backend !== hw.backend || stat.server === "BACKEND") continue;
        const to = stat.status.startsWith("UP")
          ? "up"
          : stat.status.startsWith("DOWN")
            ? "failed"
            : undefined;
        const before = last.get(stat.server);
        last.set(stat.server, stat.status);
        const was = before?.startsWith("UP") ? "up" : before?.startsWith("DOWN") ? "failed" : undefined;
        if (to && before !== undefined && to !== was) transitions.push({ server: stat.server, to, atMs });
      }
    } catch {
      // A missed poll widens the floor by 10 ms at most; HAProxy is restarting only at the very end.
    } finally {
      busy = false;
    }
  }, 10);
  return {
    transitions,
    status: (server) => last.get(server),
    stop: () => clearInterval(timer),
  };
}

/** Per target: its run time, and the floor from what the balancer and the commands took. */
async function targetTimes(rolloutId, events) {
  const runs = await prisma.targetRun.findMany({
    where: { rolloutId },
    include: { target: true, stepRuns: { orderBy: { stepIndex: "asc" } } },
  });
  const rows = runs.map((run) => {
    const name = run.target.name;
    const step = (id) => run.stepRuns.find((s) => s.stepId === id);
    const dur = (id) => (step(id) ? step(id).finishedAt - step(id).startedAt : 0);
    const timeMs = run.finishedAt - run.startedAt;
    const failAt = step("fail-health-check")?.finishedAt?.getTime();
    const restoreAt = step("restore-health-check")?.finishedAt?.getTime();
    const failed = events.find((e) => e.server === name && e.to === "failed" && e.atMs >= (failAt ?? 0));
    const up = events.find((e) => e.server === name && e.to === "up" && e.atMs >= (restoreAt ?? Infinity));
    if (!failAt || !restoreAt || !failed || !up) return { name, timeMs };
    const floor = {
      detectionMs: failed.atMs - failAt,
      stopMs: dur("stop"),
      deployMs: dur("deploy"),
      startMs: dur("start"),
      firstGoodCheckMs: up.atMs - restoreAt,
    };
    const floorMs = Object.values(floor).reduce((a, b) => a + b, 0);
    return { name, timeMs, floorMs, ratioToFloor: round(timeMs / floorMs), floor };
  });
  const ratios = rows.map((r) => r.ratioToFloor).filter((r) => r !== undefined);
  return {
    targets: rows,
    meanTimeMs: Math.round(rows.reduce((a, r) => a + r.timeMs, 0) / rows.length),
    ...(ratios.length
      ? {
          worstRatioToFloor: Math.max(...ratios),
          meanRatioToFloor: round(ratios.reduce((a, b) => a + b, 0) / ratios.length),
        }
      : {}),
  };
}

async function storeRunbook(name, source) {
  const checksum = createHash("sha256").update(source).digest("hex");
  await prisma.runbookVersion.create({ data: { name, version: 1, source, checksum } });
}

function fixedSleeps(name, balancer, afterFailMs, afterRestoreMs) {
  return `apiVersion: ebb/v1
kind: Runbook
name: ${name}
balancer: ${balancer}
steps:
  - { id: fail-health-check, type: exec, run: ["ebb-vm", "health", "fail"] }
  - { id: wait-detection, type: sleep, duration: ${afterFailMs}ms }
  - { id: stop, type: exec, run: ["ebb-vm", "stop"] }
  - { id: deploy, type: exec, run: ["ebb-vm", "deploy"] }
  - { id: start, type: exec, run: ["ebb-vm", "start"] }
  - { id: restore-health-check, type: exec, run: ["ebb-vm", "health", "restore"] }
  - { id: wait-bring-up, type: sleep, duration: ${afterRestoreMs}ms }
  - { id: verify, type: http.check, url: "http://\${target.host}:\${target.port}/", bodyIncludes: "\${params.version}" }
`;
}

function round(x) {
  return Math.round(x * 1000) / 1000;
}
