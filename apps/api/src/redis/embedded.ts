import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, readFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { RedisSetupError } from "./errors.js";
import { checkRedisPolicy } from "./policy.js";
import { pingRedis, withRedisProbe } from "./probe.js";

export interface EmbeddedRedisOptions {
  port: number;
  /** Data directory: the append-only file and redis.log live here. */
  dir: string;
  /** Listen address. Default 127.0.0.1: the embedded Redis is never reachable from other hosts. */
  host?: string;
  log?: (line: string) => void;
  /** How long redis-server may take to answer PING. Default 10 s. */
  startTimeoutMs?: number;
  /** The executable, looked up on PATH. */
  command?: string;
}

export interface EmbeddedRedis {
  url: string;
  /** True when a Redis already served the port (a previous run) and we use it instead of starting one. */
  reused: boolean;
  /** Stops the server if this run owns it; a foreign Redis we merely reused is left running. */
  stop(): Promise<void>;
}

const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_TAIL_BYTES = 4096;

/**
 * Starts `redis-server` from PATH, configured for a job queue: append-only file fsynced every second
 * (a crash loses at most a second of queue operations, and the reconciler re-creates those from the
 * database), no RDB snapshots, and `noeviction` so memory pressure fails writes instead of deleting jobs.
 */
export async function startEmbeddedRedis(options: EmbeddedRedisOptions): Promise<EmbeddedRedis> {
  const { port, dir, host = "127.0.0.1", log = () => {} } = options;
  const url = `redis://${host}:${port}`;
  await mkdir(dir, { recursive: true });

  const existing = await reuseRunning(url, dir, log);
  if (existing) return existing;

  const child = spawnRedis(options.command ?? "redis-server", host, port, dir);
  const output = collectOutput(child);
  try {
    await waitUntilAnswering(child, url, options.startTimeoutMs ?? 10_000);
  } catch (err) {
    // Two processes booting at once both see a free port; the loser's server exits with "Address
    // already in use" while the winner's answers. Use the winner's.
    if (child.exitCode !== null && (await pingRedis(url))) {
      const raced = await reuseRunning(url, dir, log);
      if (raced) return raced;
    }
    await stopChild(child);
    const detail = [output.text(), await logTail(dir)].filter(Boolean).join("\n");
    throw new RedisSetupError(
      `${err instanceof Error ? err.message : String(err)}${detail ? `\nredis-server output:\n${detail}` : ""}`,
      { cause: err },
    );
  }
  log(`embedded redis-server (pid ${child.pid}) listening on ${host}:${port}, files in ${dir}`);
  const release = await claimOwnership(url);
  // Whatever ends it (OOM killer, a stray SHUTDOWN, kill), the queue must come back on its own: every
  // rollout waits on it, and nobody watches a lab's terminal. The append-only file keeps the jobs; the
  // reconciler re-creates what the last second lost.
  let current = child;
  let stopping = false;
  const restart = async (): Promise<void> => {
    for (let backoffMs = 500; !stopping; backoffMs = Math.min(backoffMs * 2, 15_000)) {
      const next = spawnRedis(options.command ?? "redis-server", host, port, dir);
      collectOutput(next);
      try {
        await waitUntilAnswering(next, url, options.startTimeoutMs ?? 10_000);
      } catch (err) {
        await stopChild(next);
        log(
          `embedded redis-server did not come back (${err instanceof Error ? err.message : String(err)}); ` +
            `trying again in ${backoffMs} ms`,
        );
        await delay(backoffMs);
        continue;
      }
      if (stopping) {
        await stopChild(next);
        return;
      }
      current = next;
      watch(next);
      await claimOwnership(url);
      log(`embedded redis-server is back (pid ${next.pid}) on ${host}:${port}`);
      return;
    }
  };
  const watch = (c: ChildProcess) =>
    c.once("exit", (code, signal) => {
      if (stopping) return;
      log(
        `embedded redis-server (pid ${c.pid}) exited (${signal ?? `code ${code}`}): restarting it on ` +
          `${host}:${port}; its append-only file in ${dir} keeps the queue`,
      );
      void restart();
    });
  watch(child);
  return {
    url,
    reused: false,
    stop: async () => {
      stopping = true;
      await release();
      await stopChild(current);
    },
  };
}

function spawnRedis(command: string, host: string, port: number, dir: string): ChildProcess {
  const args = [
    ["--bind", host],
    ["--port", String(port)],
    ["--save", ""],
    ["--appendonly", "yes"],
    ["--appendfsync", "everysec"],
    ["--dir", dir],
    ["--maxmemory-policy", "noeviction"],
    ["--logfile", join(dir, "redis.log")],
    ["--daemonize", "no"],
  ].flat();
  // Detached (own process group): a Ctrl-C in the terminal must not kill Redis before our graceful
  // shutdown has closed the workers that still use it; we stop it ourselves, last. If this process
  // dies without stopping it, the next run finds it on the port and reuses it.
  return spawn(command, args, { cwd: dir, detached: true, stdio: ["ignore", "pipe", "pipe"] });
}

async function waitUntilAnswering(child: ChildProcess, url: string, timeoutMs: number): Promise<void> {
  let spawnError: Error | undefined;
  child.on("error", (err) => {
    spawnError = err;
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) {
      const code = (spawnError as NodeJS.ErrnoException).code;
      throw code === "ENOENT"
        ? new RedisSetupError(
            "redis-server was not found on PATH: install redis-server (e.g. apt install redis-server, " +
              "brew install redis) or set REDIS_URL to an existing Redis",
            { cause: spawnError },
          )
        : spawnError;
    }
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new RedisSetupError(
        `redis-server exited (${child.exitCode ?? child.signalCode}) before answering on ${url}`,
      );
    }
    if (await pingRedis(url, { timeoutMs: 500 })) return;
    if (Date.now() >= deadline) {
      throw new RedisSetupError(`redis-server did not answer PING on ${url} within ${timeoutMs} ms`);
    }
    await delay(50);
  }
}

/** A Redis already on the port: ours from a previous run (same --dir), or someone else's. */
async function reuseRunning(
  url: string,
  dir: string,
  log: (line: string) => void,
): Promise<EmbeddedRedis | undefined> {
  const [host, port] = [new URL(url).hostname, Number(new URL(url).port)];
  if (!(await portIsOpen(host, port))) return undefined;
  let servedDir: unknown;
  try {
    servedDir = await withRedisProbe(url, async (client) => {
      await client.ping();
      return client.config("GET", "dir").then(
        (reply) => (Array.isArray(reply) ? reply[1] : undefined),
        () => undefined,
      );
    });
  } catch (err) {
    throw new RedisSetupError(
      `${host}:${port} is in use by something that does not answer as a usable Redis ` +
        `(${err instanceof Error ? err.message : String(err)}); set EBB_REDIS_PORT to a free port, ` +
        "or REDIS_URL to that Redis",
      { cause: err },
    );
  }
  const owner = await withRedisProbe(url, (client) => client.get(OWNER_KEY)).catch(() => null);
  const ownerPid = Number(owner ?? 0);
  if (ownerPid > 0 && processAlive(ownerPid)) {
    // Sharing it would let this process take jobs from the other Ebb's queue.
    throw new RedisSetupError(
      `the Redis on ${host}:${port} belongs to a running Ebb (pid ${ownerPid}); stop it first, or give ` +
        "this one its own EBB_DATA_DIR and EBB_REDIS_PORT",
    );
  }
  // The policy of a Redis we did not configure is unknown: check it like any external one.
  await checkRedisPolicy(url, { log });
  const ours = servedDir === dir;
  log(
    ours
      ? `reusing the embedded redis-server left running on ${host}:${port} by a previous run`
      : `a Redis already listens on ${host}:${port} (files in ${String(servedDir ?? "?")}); using it, ` +
          "and leaving it running at exit",
  );
  // Never stopped by us, even when a previous run of ours started it: we cannot know who else uses it
  // now, and a stopped queue strands every rollout of whoever does.
  const release = ours ? await claimOwnership(url) : async () => {};
  return { url, reused: true, stop: release };
}

/** Who runs an embedded Redis: the pid of the Ebb process that started (or adopted) it. */
const OWNER_KEY = "ebb:embedded-redis:owner";

async function claimOwnership(url: string): Promise<() => Promise<void>> {
  await withRedisProbe(url, (client) => client.set(OWNER_KEY, String(process.pid))).catch(() => {});
  return async () => {
    await withRedisProbe(url, async (client) => {
      if ((await client.get(OWNER_KEY)) === String(process.pid)) await client.del(OWNER_KEY);
    }).catch(() => {});
  };
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, "exit");
  // SIGTERM makes Redis fsync the append-only file and exit cleanly.
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

function portIsOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function collectOutput(child: ChildProcess): { text(): string } {
  let tail = "";
  const append = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_BYTES);
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  return { text: () => tail.trim() };
}

async function logTail(dir: string): Promise<string> {
  try {
    return (await readFile(join(dir, "redis.log"), "utf8")).slice(-OUTPUT_TAIL_BYTES).trim();
  } catch {
    return "";
  }
}
