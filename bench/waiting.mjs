#!/usr/bin/env node
// One worker holding 1,000 targets in wait steps at once (issue #3): 50 fleets of 20 targets, all behind
// one emulated L4 device (its own process), each fleet rolled by its own rollout with every target in one
// batch, every target waiting on `balancer.awaitUnbound`. Measured in this process (API + worker, embedded
// Redis and PGlite): RSS and CPU while the 1,000 wait, then the step overhead from the device failing a
// target to that target's next step starting. JSON on stdout.
//
//   npm run bench:waiting     (node --max-old-space-size=160: the worker's heap cap, see below)
//   BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/ebb_bench npm run bench:waiting
//   BENCH_FLEETS=5 (100 targets) for a quick look
// Targets: < 300 MB RSS and < 0.5 core while waiting; step overhead p99 < 50 ms.
// The live heap of 1,000 waits is ~75 MB (a heap snapshot after GC); without a cap V8 keeps the ~240 MB
// heap it grew while the 50 rollouts were set up (steady RSS ~380 MB), so a worker runs with its heap
// capped (NODE_OPTIONS=--max-old-space-size=..., docker-compose.yml) and the bench measures it that way.
import "reflect-metadata";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { getHeapStatistics } from "node:v8";
import { bootstrap, DATABASE, featureModules, parseConfig } from "@ebb/api";
import { freePort, waitFor } from "@ebb/testkit";

const root = path.resolve(import.meta.dirname, "..");
const FLEETS = Number(process.env.BENCH_FLEETS ?? 50);
const PER_FLEET = 20;
const TOTAL = FLEETS * PER_FLEET;
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 1); // the device's real 10 s checks
// Long enough for the heap to settle after the burst of setting up 50 rollouts (V8 gives memory back
// once allocation calms down, ~30 s here): the steady-state RSS is what holding 1,000 waits costs.
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 60_000);
const net = "127.0.31";
const ADMIN_TOKEN = "bench-waiting-admin-token";
const dir = await mkdtemp(path.join(tmpdir(), "ebb-bench-waiting-"));
const log = (line) => process.stderr.write(`${line}\n`);
const children = [];

const RUNBOOK = `apiVersion: ebb/v1
kind: Runbook
name: wait-bench
balancer: l4
steps:
  - { id: await-unbound, type: balancer.awaitUnbound, timeout: 10m }
  - { id: await-bound, type: balancer.awaitBound, timeout: 10m }
`;

try {
  // The targets' upstream: one process listening on 1,000 loopback addresses (the device binds each
  // host:port once), answering its health check 200 until /flip, then 404 (and back).
  const upstreamPort = await freePort(`${net}.2`);
  const hostOf = (i) => `127.${32 + Math.floor(i / 250)}.${(i % 250) + 1}.1`;
  children.push(
    spawn(
      process.execPath,
      [
        "-e",
        `let failing = false; const http = require("node:http");
         const handler = (req, res) => {
           if (req.url === "/flip") { failing = !failing; res.end("ok"); return; }
           res.statusCode = failing ? 404 : 200; res.end(failing ? "no" : "ok");
         };
         http.createServer(handler).listen(${upstreamPort}, "${net}.2");
         ${JSON.stringify(Array.from({ length: TOTAL }, (_, i) => hostOf(i)))}
           .forEach((host) => http.createServer(handler).listen(${upstreamPort}, host));`,
      ],
      { stdio: "inherit" },
    ),
  );
  const names = Array.from({ length: TOTAL }, (_, i) => `t${String(i).padStart(4, "0")}`);
  const deviceConfig = path.join(dir, "device.json");
  await writeFile(deviceConfig, JSON.stringify({ timeScale: TIME_SCALE }));
  const [vipPort, adminPort] = [await freePort(`${net}.1`), await freePort(`${net}.1`)];
  const adminUrl = `http://${net}.1:${adminPort}`;
  children.push(
    spawn(
      process.execPath,
      [
        path.join(root, "packages/l4/dist/cli.js"),
        "--vip",
        `${net}.1:${vipPort}`,
        "--admin",
        `${net}.1:${adminPort}`,
        "--config",
        deviceConfig,
      ],
      { stdio: ["ignore", "ignore", "inherit"] },
    ),
  );
  await waitFor(async () => (await fetch(`${adminUrl}/healthz`).catch(() => undefined))?.ok === true, {
    timeoutMs: 10_000,
    what: "the device's admin API",
  });
  // Servers join one after another over one health-check interval, so their checks are spread over it as
  // on a real device (each member's monitor runs on its own schedule), not all in one tick: a condition
  // then comes true for a few targets at a time and the overhead measured is the engine's, not a backlog.
  const interval = 10_000 * TIME_SCALE;
  const joinStart = performance.now();
  for (let i = 0; i < TOTAL; i++) {
    const due = joinStart + (i * interval) / TOTAL;
    if (performance.now() < due)
      await waitFor(() => performance.now() >= due, {
        timeoutMs: interval + 1_000,
        intervalMs: 1,
        what: "the join slot",
      });
    const res = await fetch(`${adminUrl}/servers`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: names[i], host: hostOf(i), port: upstreamPort }),
    });
    if (res.status !== 201) throw new Error(`adding ${names[i]}: ${res.status} ${await res.text()}`);
  }
  const servers = async () => (await fetch(`${adminUrl}/servers`)).json();
  await waitFor(async () => (await servers()).filter((s) => s.bound).length === TOTAL, {
    timeoutMs: 60_000,
    what: "all bound",
  });

  const config = parseConfig(
    {
      EBB_API_HOST: `${net}.1`,
      EBB_API_PORT: String(await freePort(`${net}.1`)),
      EBB_REDIS_PORT: String(await freePort("127.0.0.1")),
      EBB_DATA_DIR: path.join(dir, "ebb"),
      EBB_LOG_LEVEL: "warn",
      EBB_WORKER_CONCURRENCY: "100",
      EBB_ADMIN_TOKEN: ADMIN_TOKEN,
      EBB_ROLLOUT_RATE_LIMIT: "1000",
      // PostgreSQL when given (what a production worker uses); embedded PGlite otherwise.
      ...(process.env.BENCH_DATABASE_URL ? { DATABASE_URL: process.env.BENCH_DATABASE_URL } : {}),
    },
    { cwd: dir },
  );
  const ebb = await bootstrap(config, { modules: featureModules(config, process.env), logger: false });
  const { prisma } = ebb.app.get(DATABASE);
  try {
    await prisma.runbookVersion.create({
      data: {
        name: "wait-bench",
        version: 1,
        source: RUNBOOK,
        checksum: createHash("sha256").update(RUNBOOK).digest("hex"),
      },
    });
    for (let f = 0; f < FLEETS; f++) {
      const fleet = await prisma.fleet.create({
        data: { name: `bench-${f}`, balancer: "l4", balancerConfig: { adminUrl } },
      });
      await prisma.target.createMany({
        data: names
          .slice(f * PER_FLEET, (f + 1) * PER_FLEET)
          .map((name) => ({ fleetId: fleet.id, name, host: `${net}.2`, port: upstreamPort })),
      });
    }
    const ids = [];
    for (let f = 0; f < FLEETS; f++) {
      const res = await fetch(`${ebb.apiUrl}/rollouts`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ADMIN_TOKEN}` },
        body: JSON.stringify({
          fleet: `bench-${f}`,
          version: "1",
          runbook: "wait-bench",
          maxUnavailable: PER_FLEET,
        }),
      });
      if (res.status !== 201) throw new Error(`rollout ${f}: ${res.status} ${await res.text()}`);
      ids.push((await res.json()).id);
    }
    const waitingAt = (index) =>
      prisma.targetRun.count({ where: { rolloutId: { in: ids }, status: "waiting", stepIndex: index } });
    await waitFor(
      async () => {
        const n = await waitingAt(0);
        log(`${n} waiting`);
        return n === TOTAL;
      },
      { timeoutMs: 120_000, intervalMs: 2_000, what: "1,000 waiting" },
    );
    log(`1,000 targets waiting; measuring ${HOLD_MS} ms`);

    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let maxRss = 0;
    const lateRss = [];
    const rssTimer = setInterval(() => {
      const rss = process.memoryUsage().rss;
      maxRss = Math.max(maxRss, rss);
      // The last third of the hold: the steady state, after the set-up burst's garbage is collected.
      if (performance.now() - t0 >= (HOLD_MS * 2) / 3) lateRss.push(rss);
    }, 100);
    await waitFor(() => performance.now() - t0 >= HOLD_MS, {
      timeoutMs: HOLD_MS + 5_000,
      intervalMs: 100,
      what: "the hold",
    });
    clearInterval(rssTimer);
    const memory = process.memoryUsage();
    if (process.env.BENCH_HEAP_SNAPSHOT)
      (await import("node:v8")).writeHeapSnapshot(process.env.BENCH_HEAP_SNAPSHOT);
    log(
      `memory at the end of the hold: ${JSON.stringify(Object.fromEntries(Object.entries(memory).map(([k, v]) => [k, Math.round(v / 1048576)])))} MB`,
    );
    const cpu = process.cpuUsage(cpu0);
    const elapsed = performance.now() - t0;
    const coresWhileWaiting = (cpu.user + cpu.system) / 1000 / elapsed;

    const flipAt = Date.now();
    await fetch(`http://${net}.2:${upstreamPort}/flip`);
    await waitFor(async () => (await waitingAt(1)) === TOTAL, {
      timeoutMs: 120_000,
      intervalMs: 250,
      what: "1,000 at the next step",
    });

    // Overhead: the device's `failed` event for a target -> that target's next step started.
    const events = await (await fetch(`${adminUrl}/events?format=json&since=0`)).json();
    const failedAt = new Map(
      events
        .filter((e) => e.type === "server.health" && e.to === "failed" && e.atMs >= flipAt)
        .map((e) => [e.server, e.atMs]),
    );
    const next = await prisma.stepRun.findMany({
      where: { stepIndex: 1, targetRun: { rolloutId: { in: ids } } },
      select: { startedAt: true, targetRun: { select: { target: { select: { name: true } } } } },
    });
    const overheads = next
      .map((s) => s.startedAt.getTime() - (failedAt.get(s.targetRun.target.name) ?? Number.NaN))
      .filter((x) => Number.isFinite(x))
      .sort((a, b) => a - b);
    const pct = (p) => overheads[Math.min(overheads.length - 1, Math.ceil((p / 100) * overheads.length) - 1)];
    await fetch(`http://${net}.2:${upstreamPort}/flip`);
    await waitFor(
      async () =>
        (await prisma.rollout.count({ where: { id: { in: ids }, status: "succeeded" } })) === FLEETS,
      { timeoutMs: 120_000, intervalMs: 250, what: "every rollout done" },
    );

    const rssMb = Math.round(maxRss / 1024 / 1024);
    lateRss.sort((a, b) => a - b);
    const steadyRssMb = Math.round((lateRss[Math.floor(lateRss.length / 2)] ?? maxRss) / 1024 / 1024);
    console.log(
      JSON.stringify(
        {
          benchmark: "waiting",
          at: new Date().toISOString(),
          setup: {
            heapLimitMb: Math.round(getHeapStatistics().heap_size_limit / 1048576),
            targets: TOTAL,
            fleets: FLEETS,
            perFleet: PER_FLEET,
            healthCheckIntervalMs: 10_000 * TIME_SCALE,
            holdMs: HOLD_MS,
          },
          whileWaiting: {
            // Median over the last third of the hold; max includes what the set-up burst left behind.
            steadyRssMb,
            maxRssMb: rssMb,
            cores: Math.round(coresWhileWaiting * 1000) / 1000,
          },
          stepOverheadMs: {
            samples: overheads.length,
            p50: pct(50),
            p90: pct(90),
            p99: pct(99),
            max: overheads.at(-1),
          },
          targets: {
            "rss < 300 MB (steady)": steadyRssMb < 300,
            "cpu < 0.5 core": coresWhileWaiting < 0.5,
            "step overhead p99 < 50 ms": pct(99) < 50,
          },
        },
        null,
        2,
      ),
    );
  } finally {
    await ebb.close();
  }
} finally {
  for (const c of children) c.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
