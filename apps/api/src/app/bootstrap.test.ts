import { randomUUID } from "node:crypto";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiErrorBodySchema, buildJob, QUEUES, readinessSchema } from "@ebb/contracts";
import { freePort, waitFor } from "@ebb/testkit";
import { Controller, Get, Inject, Injectable, Module } from "@nestjs/common";
import type { Queue } from "bullmq";
import { afterEach, describe, expect, it } from "vitest";
import { testDatabases } from "../../test-support/database.js";
import { Access } from "../auth/access.js";
import { CONFIG, DATABASE, REDIS_CONNECTION, ROLLOUT_QUEUE } from "../common/tokens.js";
import { type EbbConfig, parseConfig } from "../config/config.js";
import type { Database } from "../database/client.js";
import type { RedisConnections } from "../redis/connections.js";
import { type EmbeddedRedis, startEmbeddedRedis } from "../redis/embedded.js";
import { pingRedis, withRedisProbe } from "../redis/probe.js";
import { bootstrap, type RunningApp } from "./bootstrap.js";

const HOST = "127.0.7.10";
const pglite = testDatabases().find((v) => v.kind === "pglite")!;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A data dir whose pglite/ is a copy of an initialised (unmigrated) database: initdb takes seconds. */
async function dataDir(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "ebb-api-boot-"));
  cleanups.push(() => rm(root, { recursive: true, force: true }));
  const empty = await pglite.empty();
  await rename(empty.config.dataDir, join(root, "pglite"));
  return root;
}

async function config(env: Record<string, string>): Promise<EbbConfig> {
  return parseConfig({
    EBB_DATA_DIR: await dataDir(),
    EBB_API_HOST: HOST,
    EBB_API_PORT: String(await freePort(HOST)),
    EBB_REDIS_PORT: String(await freePort(HOST)),
    EBB_METRICS_HOST: HOST,
    EBB_METRICS_PORT: "0",
    ...env,
  });
}

async function boot(cfg: EbbConfig, modules: Parameters<typeof bootstrap>[1] = {}): Promise<RunningApp> {
  const running = await bootstrap(cfg, { embeddedRedisHost: HOST, logger: false, ...modules });
  cleanups.push(() => running.close());
  return running;
}

async function embeddedRedis(): Promise<EmbeddedRedis> {
  const dir = await mkdtemp(join(tmpdir(), "ebb-api-redis-"));
  const redis = await startEmbeddedRedis({ port: await freePort(HOST), dir, host: HOST });
  cleanups.push(async () => {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return redis;
}

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
}

describe("bootstrap", () => {
  it("boots on embedded Redis and PGlite in EBB_DATA_DIR; live and ready answer; close releases everything", async () => {
    const cfg = await config({});
    const running = await boot(cfg);
    expect(running.apiUrl).toBe(`http://${HOST}:${cfg.api.port}/api/v1`);
    expect(running.redisUrl).toBe(`redis://${HOST}:${cfg.redis.embeddedPort}`);

    const live = await get(`${running.apiUrl}/health/live`);
    expect(live).toMatchObject({ status: 200, body: { ok: true } });

    const ready = await get(`${running.apiUrl}/health/ready`);
    expect(ready.status).toBe(200);
    const readiness = readinessSchema.parse(ready.body);
    expect(readiness.ok).toBe(true);
    expect(Object.keys(readiness.checks).sort()).toEqual(["database", "queue", "redis"]);

    // Routes live under the prefix only; a miss answers in the API's error shape, with a request id.
    const miss = await get(`http://${HOST}:${cfg.api.port}/health/live`, { "x-request-id": "trace-42" });
    expect(miss.status).toBe(404);
    expect(apiErrorBodySchema.parse(miss.body).error).toMatchObject({
      code: "not_found",
      requestId: "trace-42",
    });
    expect(miss.headers.get("x-request-id")).toBe("trace-42");

    await running.close();
    await expect(fetch(`${running.apiUrl}/health/live`)).rejects.toThrow();
    expect(await pingRedis(running.redisUrl, { timeoutMs: 300 })).toBe(false);
    // PGlite released its folder: another process (here, a second boot) may open it.
    const again = await boot(cfg);
    expect((await get(`${again.apiUrl}/health/ready`)).status).toBe(200);
  });

  it("answers 503 naming Redis and the queue when Redis is stopped, and still shuts down", async () => {
    const redis = await embeddedRedis();
    const running = await boot(await config({ REDIS_URL: redis.url }));
    expect((await get(`${running.apiUrl}/health/ready`)).status).toBe(200);

    await redis.stop();
    const ready = await get(`${running.apiUrl}/health/ready`);
    expect(ready.status).toBe(503);
    const { error } = apiErrorBodySchema.parse(ready.body);
    expect(error).toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/not ready: redis .*queue/),
    });
    const readiness = readinessSchema.parse(error.details);
    expect(readiness.ok).toBe(false);
    expect(readiness.checks.database?.ok).toBe(true);
    expect(readiness.checks.redis).toMatchObject({ ok: false, error: expect.any(String) });
    expect(readiness.checks.queue?.ok).toBe(false);

    const started = Date.now();
    await running.close();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("runs the worker role without HTTP, with the infrastructure tokens injectable", async () => {
    @Injectable()
    class Probe {
      @Inject(CONFIG) readonly config!: EbbConfig;
      @Inject(DATABASE) readonly database!: Database;
      @Inject(REDIS_CONNECTION) readonly redis!: RedisConnections;
      @Inject(ROLLOUT_QUEUE) readonly queue!: Queue;
    }
    @Module({ providers: [Probe] })
    class ProbeModule {}

    const cfg = await config({ EBB_ROLE: "worker" });
    const running = await boot(cfg, { modules: [ProbeModule] });
    expect(running.apiUrl).toBeUndefined();
    await expect(fetch(`http://${HOST}:${cfg.api.port}/api/v1/health/live`)).rejects.toThrow();
    // No API, but /metrics on a port of its own (EBB_METRICS_PORT=0 here: the OS picked it).
    expect(running.metricsUrl).toMatch(new RegExp(`^http://${HOST.replaceAll(".", "\\.")}:\\d+/metrics$`));
    const scraped = await fetch(running.metricsUrl!);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain("process_cpu_seconds_total");
    expect((await fetch(running.metricsUrl!.replace("/metrics", "/other"))).status).toBe(404);
    const probe = running.app.get(Probe);
    expect(probe.config).toBe(cfg);
    expect(probe.database.kind).toBe("pglite");
    expect(await probe.redis.queueConnection().ping()).toBe("PONG");
    expect(probe.queue.name).toBe(QUEUES.rollout);
    expect(await probe.queue.getJobCounts("waiting")).toEqual({ waiting: 0 });

    // BullMQ 6 accepts the catalog's ids (no ':'), and adding the same job twice keeps one.
    const job = buildJob("step.run", {
      rolloutId: randomUUID(),
      target: "vm:1",
      stepIndex: 3,
      attempt: 1,
      leaseToken: "7",
    });
    await probe.queue.add(job.name, job.data, job.opts);
    await probe.queue.add(job.name, job.data, job.opts);
    expect(await probe.queue.getJobCounts("waiting")).toEqual({ waiting: 1 });
    expect((await probe.queue.getJob(job.opts.jobId))?.data).toEqual(job.data);
  });

  it("shuts down gracefully: refuses new connections, lets the request in flight finish", async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let entered = false;
    @Controller("slow")
    class SlowController {
      @Get()
      @Access("public")
      async slow(): Promise<{ done: true }> {
        entered = true;
        await gate;
        return { done: true };
      }
    }
    @Module({ controllers: [SlowController] })
    class SlowModule {}

    const running = await boot(await config({}), { modules: [SlowModule] });
    const inFlight = fetch(`${running.apiUrl}/slow`);
    await waitFor(() => entered, { timeoutMs: 3000, what: "the slow request to start" });

    const closing = running.close();
    await waitFor(
      () =>
        fetch(`${running.apiUrl}/health/live`).then(
          () => false,
          () => true,
        ),
      { timeoutMs: 3000, what: "new connections to be refused" },
    );
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    // Its connection is not kept alive: close() does not wait for a keep-alive timeout.
    expect(res.headers.get("connection")).toBe("close");
    expect(await res.json()).toEqual({ done: true });
    await closing;
  });

  it("refuses a Redis that may evict keys, and releases what it opened", async () => {
    const redis = await embeddedRedis();
    await withRedisProbe(redis.url, (c) => c.config("SET", "maxmemory-policy", "allkeys-lru"));
    const cfg = await config({ REDIS_URL: redis.url });
    await expect(bootstrap(cfg, { logger: false })).rejects.toThrow(/maxmemory-policy "allkeys-lru"/);
    await expect(fetch(`http://${HOST}:${cfg.api.port}/api/v1/health/live`)).rejects.toThrow();
  });
});
