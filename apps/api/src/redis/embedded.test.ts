import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type EmbeddedRedis, startEmbeddedRedis } from "./embedded.js";
import { pingRedis, withRedisProbe } from "./probe.js";

const HOST = "127.0.7.3";
let dir: string;
const started: EmbeddedRedis[] = [];
const servers: Server[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ebb-embedded-redis-"));
});

afterEach(async () => {
  for (const redis of started.splice(0).reverse()) await redis.stop();
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  await rm(dir, { recursive: true, force: true });
});

async function start(port: number, extra: Partial<Parameters<typeof startEmbeddedRedis>[0]> = {}) {
  const redis = await startEmbeddedRedis({ port, dir, host: HOST, ...extra });
  started.push(redis);
  return redis;
}

describe("startEmbeddedRedis", () => {
  it("starts redis-server configured for a job queue and stops it", async () => {
    const port = await freePort(HOST);
    const redis = await start(port);
    expect(redis).toMatchObject({ url: `redis://${HOST}:${port}`, reused: false });
    const settings = await withRedisProbe(redis.url, async (c) => ({
      policy: await c.config("GET", "maxmemory-policy"),
      aof: await c.config("GET", "appendonly"),
      fsync: await c.config("GET", "appendfsync"),
      save: await c.config("GET", "save"),
      dir: await c.config("GET", "dir"),
    }));
    expect(settings).toEqual({
      policy: ["maxmemory-policy", "noeviction"],
      aof: ["appendonly", "yes"],
      fsync: ["appendfsync", "everysec"],
      save: ["save", ""],
      dir: ["dir", dir],
    });
    await redis.stop();
    expect(await pingRedis(redis.url, { timeoutMs: 300 })).toBe(false);
  });

  it("refuses to share a Redis another running Ebb owns; reuses a previous run's and never stops it", async () => {
    const port = await freePort(HOST);
    const first = await start(port);
    await expect(startEmbeddedRedis({ port, dir, host: HOST })).rejects.toThrow(/belongs to a running Ebb/);

    // A previous run that died left its server behind: its owner is gone, so it is reused ...
    await withRedisProbe(first.url, (c) => c.set("ebb:embedded-redis:owner", "2147483646"));
    const lines: string[] = [];
    const second = await start(port, { log: (l) => lines.push(l) });
    expect(second.reused).toBe(true);
    expect(lines.join("\n")).toMatch(/reusing the embedded redis-server/);
    // ... and never stopped by the run that merely reused it (`ebb --help` in the same checkout did).
    await second.stop();
    expect(await pingRedis(first.url, { timeoutMs: 300 })).toBe(true);
  });

  it("keeps data across a restart (append-only file)", async () => {
    const port = await freePort(HOST);
    const first = await start(port);
    await withRedisProbe(first.url, (c) => c.set("ebb:probe", "kept"));
    await first.stop();
    const second = await start(port);
    expect(second.reused).toBe(false);
    expect(await withRedisProbe(second.url, (c) => c.get("ebb:probe"))).toBe("kept");
  });

  it("restarts its redis-server when it dies, says so, and keeps what the append-only file holds", async () => {
    const port = await freePort(HOST);
    const lines: string[] = [];
    const redis = await start(port, { log: (l) => lines.push(l) });
    await withRedisProbe(redis.url, async (c) => {
      await c.set("ebb:probe", "kept");
      // fsync now rather than within the second: the kill below must not race the append-only file
      await c.call("BGREWRITEAOF");
    });
    await waitFor(
      async () =>
        (await withRedisProbe(redis.url, (c) => c.info("persistence"))).includes("aof_rewrite_in_progress:0"),
      {
        what: "the append-only file rewritten",
      },
    );
    const pid = Number(
      await withRedisProbe(redis.url, (c) => c.info("server")).then((i) => /process_id:(\d+)/.exec(i)?.[1]),
    );
    process.kill(pid, "SIGKILL");
    await waitFor(() => lines.some((l) => /is back \(pid \d+\)/.test(l)), {
      timeoutMs: 15_000,
      what: "the restart",
    });
    expect(lines.join("\n")).toMatch(new RegExp(`pid ${pid}\\) exited \\(SIGKILL\\): restarting it`));
    expect(await withRedisProbe(redis.url, (c) => c.get("ebb:probe"))).toBe("kept");
    // and a stop is a stop: no restart after it
    await redis.stop();
    expect(await pingRedis(redis.url, { timeoutMs: 300 })).toBe(false);
  });

  it("says how to fix a missing redis-server", async () => {
    const port = await freePort(HOST);
    await expect(start(port, { command: "redis-server-not-installed" })).rejects.toThrow(
      /redis-server was not found on PATH: install redis-server .* or set REDIS_URL/,
    );
  });

  it("refuses a port held by something that is not Redis", async () => {
    const port = await freePort(HOST);
    const squatter = createServer((socket) => {
      socket.on("error", () => {});
      socket.resume();
      socket.end("HTTP/1.1 400 Bad Request\r\n\r\n");
    });
    servers.push(squatter);
    await new Promise<void>((resolve) => squatter.listen(port, HOST, resolve));
    await expect(start(port, { startTimeoutMs: 2000 })).rejects.toThrow(
      /in use by something that does not answer as a usable Redis/,
    );
  });
});
