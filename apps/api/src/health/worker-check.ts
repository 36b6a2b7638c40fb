#!/usr/bin/env node
// `node apps/api/dist/health/worker-check.js`: the health check of a worker container (EBB_ROLE=worker
// serves no HTTP). Healthy when Redis lists a BullMQ worker connection of the rollout queue coming from
// one of this host's addresses: the worker process is up and attached to the queue it serves. Exit 0
// healthy, 1 not. Reads REDIS_URL through the app's parseConfig.
import { networkInterfaces } from "node:os";
import { QUEUES } from "@ebb/contracts";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { ConfigError, parseConfig } from "../config/config.js";

/** The addresses of this host, as Redis shows a client's (`addr=10.0.0.5:51234`, `addr=[::1]:5123`). */
function localAddresses(): Set<string> {
  const addresses = new Set<string>();
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) addresses.add(a.address);
  return addresses;
}

/** The host part of Redis's `addr` field. */
function clientHost(addr: string): string {
  const at = addr.lastIndexOf(":");
  return (at < 0 ? addr : addr.slice(0, at)).replace(/^\[|\]$/g, "");
}

/** How many of the queue's worker connections come from one of `hosts`. */
async function workersFrom(redisUrl: string, hosts: ReadonlySet<string>): Promise<number> {
  const connection = new Redis(redisUrl, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
  });
  await connection.connect();
  const queue = new Queue(QUEUES.rollout, { connection });
  try {
    const workers = await queue.getWorkers();
    return workers.filter((w) => hosts.has(clientHost(String(w.addr ?? "")))).length;
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

try {
  const url = parseConfig(process.env).redis.url;
  if (!url) throw new Error("REDIS_URL is not set: a worker container is given its Redis");
  const found = await workersFrom(url, localAddresses());
  if (found === 0)
    throw new Error(`no worker of queue "${QUEUES.rollout}" from this host is connected to Redis`);
  console.log(`healthy: ${found} worker connection(s)`);
  process.exit(0);
} catch (err) {
  console.error(err instanceof ConfigError || err instanceof Error ? err.message : String(err));
  process.exit(1);
}
