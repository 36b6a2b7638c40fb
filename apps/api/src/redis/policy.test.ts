import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "@ebb/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { RedisSetupError } from "./errors.js";
import { checkRedisPolicy } from "./policy.js";
import { pingRedis } from "./probe.js";

const HOST = "127.0.7.2";
const servers: ChildProcess[] = [];
const dirs: string[] = [];

/** A redis-server configured like someone else's: we choose the flags the check must catch. */
async function startRedis(args: string[]): Promise<string> {
  const port = await freePort(HOST);
  const dir = await mkdtemp(join(tmpdir(), "ebb-redis-policy-"));
  dirs.push(dir);
  const child = spawn(
    "redis-server",
    ["--bind", HOST, "--port", String(port), "--save", "", "--dir", dir, ...args],
    {
      stdio: "ignore",
    },
  );
  servers.push(child);
  const url = `redis://${HOST}:${port}`;
  await waitFor(() => pingRedis(url, { timeoutMs: 200 }), {
    timeoutMs: 5000,
    what: "redis-server to answer",
  });
  return url;
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(async (child) => {
      if (child.exitCode === null) {
        child.kill("SIGKILL");
        await once(child, "exit");
      }
    }),
  );
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("checkRedisPolicy", () => {
  it("accepts noeviction", async () => {
    const url = await startRedis(["--maxmemory-policy", "noeviction"]);
    await expect(checkRedisPolicy(url)).resolves.toEqual({ policy: "noeviction" });
  });

  it("refuses allkeys-lru, saying why", async () => {
    const url = await startRedis(["--maxmemory-policy", "allkeys-lru"]);
    const err = await checkRedisPolicy(url).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisSetupError);
    expect((err as Error).message).toMatch(/allkeys-lru/);
    expect((err as Error).message).toMatch(/lost job/);
    expect((err as Error).message).toMatch(/noeviction/);
  });

  it("warns and goes on when CONFIG is disabled (managed Redis)", async () => {
    const url = await startRedis(["--rename-command", "CONFIG", ""]);
    const lines: string[] = [];
    const result = await checkRedisPolicy(url, { log: (l) => lines.push(l) });
    expect(result.policy).toBe("unknown");
    expect(lines.join("\n")).toMatch(/cannot verify maxmemory-policy/);
  });

  it("fails with a clear error when nothing answers, without leaking the password", async () => {
    const port = await freePort(HOST);
    const err = await checkRedisPolicy(`redis://:hunter2@${HOST}:${port}`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisSetupError);
    expect((err as Error).message).toContain(`cannot check the Redis at redis://:***@${HOST}:${port}`);
    expect((err as Error).message).not.toContain("hunter2");
  });
});
