import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { QUEUES } from "@ebb/contracts";
import { freePort } from "@ebb/testkit";
import { Worker } from "bullmq";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { type EmbeddedRedis, startEmbeddedRedis } from "../redis/embedded.js";

const HOST = "127.0.7.4";
const check = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../dist/health/worker-check.js");

function runCheck(redisUrl: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [check], {
    env: { PATH: process.env.PATH ?? "", REDIS_URL: redisUrl },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => {
    output += String(d);
  });
  child.stderr.on("data", (d) => {
    output += String(d);
  });
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, output })));
}

// The built entry point, as the container runs it: `npm test` builds first.
describe.runIf(existsSync(check))("worker-check (a worker container's health check)", () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it("is healthy while a worker of the rollout queue from this host is connected, and not after it closed", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ebb-worker-check-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const redis: EmbeddedRedis = await startEmbeddedRedis({ port: await freePort(HOST), dir, host: HOST });
    cleanups.push(() => redis.stop());
    const url = redis.url;
    const worker = new Worker(QUEUES.rollout, async () => undefined, {
      connection: new Redis(url, { maxRetriesPerRequest: null }),
    });
    await worker.waitUntilReady();

    const up = await runCheck(url);
    expect(up.output).toMatch(/healthy: \d+ worker connection/);
    expect(up.code).toBe(0);

    await worker.close();
    const down = await runCheck(url);
    expect(down.output).toContain(`no worker of queue "${QUEUES.rollout}" from this host`);
    expect(down.code).toBe(1);
  });
});
