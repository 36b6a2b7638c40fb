#!/usr/bin/env node
// Worker processes holding 1,000 targets in wait steps at once (issues #3, #13): 50 fleets of 20 targets,
// all behind one emulated L4 device (its own process), each fleet rolled by its own rollout with every
// target in one batch, every target waiting on `balancer.awaitUnbound`, then `balancer.awaitBound`. The
// API runs in this process; BENCH_WORKERS worker processes (EBB_ROLE=worker, bench/waiting-worker.mjs)
// do the work, sharing one redis-server and one PostgreSQL database made for the run. Measured on the
// workers, per phase (setup: rollouts created until all wait; waiting: the hold; draining: the device
// fails every target until each has started its next step): CPU seconds and cores, RSS, the engine's
// counts (balancer events, wake-ups, checks, re-created jobs) and the queue's depth over time, so a
// backlog (jobs piling up in `waiting`) can be told from latency. Then the step overhead, from the device
// failing a target to that target's next step starting, and the throughput (targets drained per minute).
// Workers sharing the work must never double-act: the bench checks that every target finished each step
// once and that no two step jobs of one target's step ever ran at the same time. JSON on stdout, progress on
// stderr.
//
//   BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres npm run bench:waiting
//   BENCH_WORKERS=3        three worker processes (default 1)
//   BENCH_FLEETS=5         100 targets, for a quick look (default 50: 1,000 targets)
//   BENCH_HOLD_MS=60000    the waiting phase; BENCH_CONCURRENCY=100 jobs per worker
//   BENCH_WORKER_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   node flags for the workers
// Targets (one worker, 1,000 targets): < 0.5 core while waiting, step overhead p99 < 50 ms, < 300 MB RSS,
// with no heap cap: the bench sets none (a deployment may cap the heap; the figure must not depend on it).
// The database in the URL is only used to create (and at the end drop) the run's own.
import "reflect-metadata";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrap, DATABASE, featureModules, parseConfig } from "@ebb/api";
import { freePort, waitFor } from "@ebb/testkit";
// biome-ignore lint/correctness/noUndeclaredDependencies: @ebb/api's queue, read directly for its depth
import { Queue } from "bullmq";
// biome-ignore lint/correctness/noUndeclaredDependencies: @ebb/api's driver, to create the run's database
import pg from "pg";

const root = path.resolve(import.meta.dirname, "..");
const FLEETS = Number(process.env.BENCH_FLEETS ?? 50);
const PER_FLEET = 20;
const TOTAL = FLEETS * PER_FLEET;
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 1); // the device's real 10 s checks
// Long enough for the heap to settle after the burst of setting up 50 rollouts (V8 gives memory back
// once allocation calms down, ~30 s here): the steady-state RSS is what holding 1,000 waits costs.
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 60_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 100);
const DATABASE_URL = process.env.BENCH_DATABASE_URL;
if (!DATABASE_URL) {
  process.stderr.write(
    "BENCH_DATABASE_URL is required (the workers are processes sharing one PostgreSQL), e.g.\n" +
      "  BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres npm run bench:waiting\n",
  );
  process.exit(2);
}
if (!Number.isInteger(WORKERS) || WORKERS < 1) throw new Error("BENCH_WORKERS must be a positive integer");
const round = (x, digits) => Math.round(x * 10 ** digits) / 10 ** digits;
const net = "127.0.31";
const ADMIN_TOKEN = "bench-waiting-admin-token";
const dir = await mkdtemp(path.join(tmpdir(), "ebb-bench-waiting-"));
const log = (line) => process.stderr.write(`${line}\n`);
const children = [];
/** Drops the run's database, however far the run got (set once it exists). */
let dropDatabase = async () => {};

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

  // The run's own database and redis-server: a second run never meets the first one's fleets or jobs.
  const dbName = `ebb_bench_waiting_${process.pid}_${Date.now().toString(36)}`;
  const adminDb = new pg.Client({ connectionString: DATABASE_URL });
  await adminDb.connect();
  dropDatabase = async () => {
    await adminDb.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    await adminDb.end();
  };
  await adminDb.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(DATABASE_URL);
  dbUrl.pathname = `/${dbName}`;
  const redisPort = await freePort("127.0.0.1");
  const redis = spawn(
    "redis-server",
    ["--bind", "127.0.0.1", "--port", String(redisPort), "--save", "", "--appendonly", "no"].concat([
      "--maxmemory-policy",
      "noeviction",
      "--dir",
      dir,
    ]),
    { stdio: "ignore" },
  );
  children.push(redis);
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const common = {
    DATABASE_URL: dbUrl.toString(),
    REDIS_URL: redisUrl,
    EBB_LOG_LEVEL: "warn",
    EBB_ADMIN_TOKEN: ADMIN_TOKEN,
    EBB_METRICS_PORT: "off",
  };
  const config = parseConfig(
    {
      ...common,
      EBB_ROLE: "api",
      EBB_API_HOST: `${net}.1`,
      EBB_API_PORT: String(await freePort(`${net}.1`)),
      EBB_DATA_DIR: path.join(dir, "api"),
      EBB_ROLLOUT_RATE_LIMIT: "1000",
    },
    { cwd: dir },
  );
  await waitFor(
    () =>
      new Promise((resolve) => {
        if (redis.exitCode !== null) throw new Error(`redis-server exited (${redis.exitCode})`);
        const socket = connect(redisPort, "127.0.0.1");
        socket.once("data", (d) => {
          socket.destroy();
          resolve(d.toString().startsWith("+PONG"));
        });
        socket.once("connect", () => socket.write("PING\r\n"));
        socket.once("error", () => resolve(false));
      }),
    { timeoutMs: 10_000, intervalMs: 50, what: "redis-server" },
  );
  const ebb = await bootstrap(config, { modules: featureModules(config, process.env), logger: false });
  const { prisma } = ebb.app.get(DATABASE);
  const queue = new Queue("ebb-rollout", { connection: { host: "127.0.0.1", port: redisPort } });

  // The workers: separate processes, like a deployment's; each answers "report" over IPC.
  const workers = [];
  let nextId = 0;
  const pending = new Map();
  for (let w = 0; w < WORKERS; w++) {
    const env = {
      ...common,
      EBB_ROLE: "worker",
      EBB_DATA_DIR: path.join(dir, `worker-${w}`),
      EBB_WORKER_CONCURRENCY: String(CONCURRENCY),
    };
    // BENCH_WORKER_ARGS: node flags for the workers, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const args = (process.env.BENCH_WORKER_ARGS ?? "").split(" ").filter(Boolean);
    const child = spawn(process.execPath, [...args, path.join(root, "bench/waiting-worker.mjs")], {
      env: { ...process.env, BENCH_WORKER_ENV: JSON.stringify(env) },
      // Their log lines go to stderr with the progress: stdout is the JSON.
      stdio: ["ignore", process.stderr, "inherit", "ipc"],
    });
    children.push(child);
    const ready = new Promise((resolve, reject) => {
      child.once("exit", (code) => reject(new Error(`worker ${w} exited (${code}) before it was ready`)));
      child.on("message", (msg) => {
        if (msg.type === "ready") resolve();
        else pending.get(msg.id)?.(msg);
      });
    });
    workers.push({ child, ready });
  }
  await Promise.all(workers.map((w) => w.ready));
  const report = (withRuns = false) =>
    Promise.all(
      workers.map(
        ({ child }) =>
          new Promise((resolve) => {
            const id = nextId++;
            pending.set(id, (msg) => {
              pending.delete(id);
              resolve(msg);
            });
            child.send({ type: "report", id, runs: withRuns });
          }),
      ),
    );

  // Queue depth and RSS once a second, tagged with the phase.
  let phase = "setup";
  const depth = [];
  const rssByPhase = { setup: [], waiting: [], draining: [] };
  const t0 = performance.now();
  let sampling = Promise.resolve();
  const sampler = setInterval(() => {
    sampling = (async () => {
      const [counts, reports] = await Promise.all([
        queue.getJobCounts("waiting", "prioritized", "delayed", "active"),
        report(),
      ]);
      depth.push({
        s: Math.round((performance.now() - t0) / 100) / 10,
        phase,
        waiting: counts.waiting + counts.prioritized,
        delayed: counts.delayed,
        active: counts.active,
      });
      rssByPhase[phase]?.push(Math.max(...reports.map((r) => r.rss)));
    })().catch(() => {});
  }, 1_000);
  const phases = {};
  let mark = { at: performance.now(), reports: await report() };
  const endPhase = async (name) => {
    const now = { at: performance.now(), reports: await report() };
    const seconds = (now.at - mark.at) / 1000;
    const perWorker = now.reports.map((r, i) => {
      const was = mark.reports[i];
      const cpu = (r.cpu.user + r.cpu.system - was.cpu.user - was.cpu.system) / 1e6;
      const stats = Object.fromEntries(Object.entries(r.stats).map(([k, v]) => [k, v - was.stats[k]]));
      return { cpuSeconds: round(cpu, 2), cores: round(cpu / seconds, 3), ...stats };
    });
    const sum = (k) => perWorker.reduce((a, w) => a + w[k], 0);
    const inPhase = depth.filter((d) => d.phase === name);
    const maxOf = (k) => Math.max(0, ...inPhase.map((d) => d[k]));
    const rss = [...rssByPhase[name]].sort((a, b) => a - b);
    phases[name] = {
      seconds: round(seconds, 1),
      cpuSeconds: round(sum("cpuSeconds"), 2),
      cores: round(sum("cpuSeconds") / seconds, 3),
      ...Object.fromEntries(
        ["balancerEvents", "wakeUps", "checks", "quietChecks", "reconciles", "jobsRecreated"].map((k) => [
          k,
          sum(k),
        ]),
      ),
      queueMax: { waiting: maxOf("waiting"), delayed: maxOf("delayed"), active: maxOf("active") },
      rssMb: {
        median: Math.round((rss[Math.floor(rss.length / 2)] ?? 0) / 1048576),
        max: Math.round((rss.at(-1) ?? 0) / 1048576),
      },
      // The first worker's memory at the phase's end, split (MB): is it the JS heap, the young generation
      // V8 keeps committed, or memory outside the heap?
      memoryMb: Object.fromEntries(
        ["rss", "heapTotal", "heapUsed", "newSpace", "oldSpaceUsed", "external"].map((k) => [
          k,
          Math.round((now.reports[0]?.[k] ?? 0) / 1048576),
        ]),
      ),
      ...(WORKERS > 1 ? { perWorker } : {}),
    };
    log(`${name}: ${JSON.stringify(phases[name])}`);
    mark = now;
  };

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
    mark = { at: performance.now(), reports: await report() };
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
      { timeoutMs: 300_000, intervalMs: 2_000, what: `${TOTAL} waiting` },
    );
    await endPhase("setup");
    phase = "waiting";
    log(`${TOTAL} targets waiting; holding ${HOLD_MS} ms`);
    await waitFor(() => performance.now() - mark.at >= HOLD_MS, {
      timeoutMs: HOLD_MS + 5_000,
      intervalMs: 100,
      what: "the hold",
    });
    await endPhase("waiting");

    phase = "draining";
    const flipAt = Date.now();
    await fetch(`http://${net}.2:${upstreamPort}/flip`);
    await waitFor(async () => (await waitingAt(1)) === TOTAL, {
      timeoutMs: 300_000,
      intervalMs: 250,
      what: `${TOTAL} at the next step`,
    });
    await endPhase("draining");

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
    // Throughput: targets that left their wait per minute, from the first device failure to the last
    // target's next step; the device fails them over one health-check interval (plus its retries), so
    // this is bounded by the device unless the workers fall behind.
    const starts = next.map((s) => s.startedAt.getTime()).sort((a, b) => a - b);
    const firstFailed = Math.min(...failedAt.values());
    const drainMinutes = ((starts.at(-1) ?? firstFailed) - firstFailed) / 60_000;

    await fetch(`http://${net}.2:${upstreamPort}/flip`);
    await waitFor(
      async () =>
        (await prisma.rollout.count({ where: { id: { in: ids }, status: "succeeded" } })) === FLEETS,
      { timeoutMs: 300_000, intervalMs: 250, what: "every rollout done" },
    );
    clearInterval(sampler);
    await sampling;

    // Never double-acting: each target finished each step once (the timeline), and no two step.run jobs
    // of one target's step overlapped in time, on one worker or across workers.
    const finished = await prisma.$queryRaw`
      SELECT target, (data->>'stepIndex')::int AS step, count(*)::int AS n FROM rollout_events
      WHERE rollout_id = ANY(${ids}::uuid[]) AND type = 'step.finished' GROUP BY 1, 2`;
    const finishedTwice = finished.filter((r) => r.n !== 1).length;
    const allRuns = (await report(true)).flatMap((r, w) => r.runs.map((x) => [...x, w]));
    const byTarget = new Map();
    // Per target and step: the next step's job may start on another worker the moment this one's
    // transition commits, while this job is still returning; only two jobs of one step at once act twice.
    for (const r of allRuns) {
      const key = `${r[0]}#${r[1]}`;
      byTarget.set(key, [...(byTarget.get(key) ?? []), r]);
    }
    let overlaps = 0;
    let crossWorker = 0;
    for (const runs of byTarget.values()) {
      runs.sort((a, b) => a[2] - b[2]);
      for (let i = 1; i < runs.length; i++)
        if (runs[i][2] < runs[i - 1][3]) {
          overlaps++;
          if (runs[i][5] !== runs[i - 1][5]) crossWorker++;
        }
    }
    const perWorkerJobs = workers.map((_, w) => allRuns.filter((r) => r[5] === w).length);

    const waiting = phases.waiting;
    console.log(
      JSON.stringify(
        {
          benchmark: "waiting",
          at: new Date().toISOString(),
          setup: {
            workers: WORKERS,
            concurrencyPerWorker: CONCURRENCY,
            heapCap: process.execArgv
              .concat(process.env.NODE_OPTIONS ?? "")
              .join(" ")
              .includes("max-old-space")
              ? "set (not the target's condition)"
              : "none",
            targets: TOTAL,
            fleets: FLEETS,
            perFleet: PER_FLEET,
            healthCheckIntervalMs: 10_000 * TIME_SCALE,
            holdMs: HOLD_MS,
            cpus: (await import("node:os")).cpus().length,
            loadavg: (await import("node:os")).loadavg().map((x) => round(x, 2)),
          },
          phases,
          stepOverheadMs: {
            samples: overheads.length,
            p50: pct(50),
            p90: pct(90),
            p99: pct(99),
            max: overheads.at(-1),
          },
          throughput: {
            targetsDrained: starts.length,
            minutes: round(drainMinutes, 3),
            targetsPerMinute: Math.round(starts.length / drainMinutes),
            // What the workers spent per target drained: the capacity the device's pace does not show.
            workerCpuMsPerTarget: Math.round(
              (phases.draining.cpuSeconds * 1000) / Math.max(1, starts.length),
            ),
          },
          exactlyOnce: {
            stepsFinished: finished.length,
            finishedMoreThanOnce: finishedTwice,
            stepJobs: allRuns.length,
            stepJobsPerWorker: perWorkerJobs,
            overlappingChecksOfOneStep: overlaps,
            ofWhichAcrossWorkers: crossWorker,
          },
          // Queue depth every 5 s (waiting/delayed/active): jobs piling up in `waiting` is a backlog.
          queueDepth: depth
            .filter((_, i) => i % 5 === 0)
            .map((d) => [d.s, d.phase[0], d.waiting, d.delayed, d.active]),
          targets: {
            "rss < 300 MB (waiting, median)": waiting.rssMb.median < 300,
            "cpu < 0.5 core (waiting)": waiting.cores < 0.5,
            "step overhead p99 < 50 ms": pct(99) < 50,
            "no step finished twice, no overlapping checks": finishedTwice === 0 && overlaps === 0,
          },
        },
        null,
        2,
      ),
    );
  } finally {
    clearInterval(sampler);
    await Promise.all(
      workers.map(
        ({ child }) =>
          new Promise((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once("exit", resolve);
            child.send({ type: "stop" });
            setTimeout(() => child.kill("SIGKILL"), 10_000).unref();
          }),
      ),
    );
    await queue.close();
    await ebb.close();
  }
} finally {
  await dropDatabase();
  for (const c of children) c.kill("SIGTERM");
  await rm(dir, { recursive: true, force: true });
}
