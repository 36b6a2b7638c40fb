import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RedisConnections } from "./connections.js";
import { type EmbeddedRedis, startEmbeddedRedis } from "./embedded.js";

const HOST = "127.0.7.4";
let dir: string;
let port: number;
let redis: EmbeddedRedis | undefined;
let connections: RedisConnections | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "ebb-redis-conn-"));
  port = await freePort(HOST);
  redis = await startEmbeddedRedis({ port, dir, host: HOST });
});

afterEach(async () => {
  await connections?.closeAll();
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("RedisConnections", () => {
  it("makes BullMQ-ready connections and closes them all", async () => {
    connections = new RedisConnections(redis!.url);
    const worker = connections.create("worker");
    const queue = connections.queueConnection();
    expect(connections.queueConnection()).toBe(queue);
    expect(worker.options.maxRetriesPerRequest).toBeNull();
    // The queue connection has no offline queue: a call before it is connected would fail.
    await waitFor(() => queue.status === "ready", { timeoutMs: 3000, what: "queue connection" });
    expect(await worker.ping()).toBe("PONG");
    expect(await queue.ping()).toBe("PONG");
    await connections.closeAll();
    expect(worker.status).toBe("end");
    expect(queue.status).toBe("end");
  });

  it("fails queue calls at once while Redis is down, holds worker calls until it is back, and logs each transition once", async () => {
    const lines: string[] = [];
    connections = new RedisConnections(redis!.url, (l) => lines.push(l));
    const worker = connections.create("worker", "w1");
    const queue = connections.queueConnection();
    await waitFor(() => queue.status === "ready", { timeoutMs: 3000, what: "queue connection" });
    await Promise.all([worker.ping(), queue.ping()]);

    await redis!.stop();
    await waitFor(() => worker.status !== "ready" && queue.status !== "ready", {
      timeoutMs: 3000,
      what: "disconnect",
    });
    await expect(queue.ping()).rejects.toThrow();
    const held = worker.ping();

    redis = await startEmbeddedRedis({ port, dir, host: HOST });
    await expect(held).resolves.toBe("PONG");
    await waitFor(() => queue.status === "ready", { timeoutMs: 5000, what: "queue connection back" });
    expect(await queue.ping()).toBe("PONG");
    expect(lines.filter((l) => l.includes("w1") && l.includes("lost"))).toHaveLength(1);
    expect(lines.filter((l) => l.includes("w1") && l.includes("is back"))).toHaveLength(1);
  });
});
