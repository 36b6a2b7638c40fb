import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrap, featureModules, parseConfig, type RunningApp } from "@ebb/api";
import type { RolloutView } from "@ebb/contracts";
import { freePort } from "@ebb/testkit";
import { type EmbeddedRedis, startEmbeddedRedis } from "../../apps/api/src/redis/embedded.js";
import type { TestDatabase, TestDatabaseVariant } from "../../apps/api/test-support/database.js";
import { TEST_ADMIN_TOKEN } from "./ebb.js";

const root = path.resolve(import.meta.dirname, "../..");
const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

export interface SplitEbb {
  api: RunningApp;
  db: TestDatabase;
  dataDir: string;
  /** Starts a worker process (`node apps/api/dist/main.js`, role worker); one at a time. */
  startWorker(): void;
  /** `kill -9` of the running worker, resolved once it exited. */
  killWorker(): Promise<void>;
  getRollout(id: string): Promise<RolloutView>;
  cleanup(): Promise<void>;
}

/**
 * The API in this process and the worker as a real process of its own, on PostgreSQL (embedded PGlite
 * serves one process) and an embedded Redis: what `kill -9` scenarios need. One lock directory for every
 * worker: a killed worker's orphaned command still holds its target's lock.
 */
export async function givenSplitEbb(opts: {
  net: number;
  postgres: TestDatabaseVariant;
  /** Registers the fleet; `dataDir` is the scenario's own folder (for command logs and the like). */
  register: (db: TestDatabase, dataDir: string) => Promise<unknown>;
}): Promise<SplitEbb> {
  const db = await opts.postgres.open();
  const redis: EmbeddedRedis = await startEmbeddedRedis({
    port: await freePort("127.0.0.1"),
    dir: await mkdtemp(path.join(tmpdir(), "ebb-redis-")),
  });
  const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-split-"));
  const env = {
    DATABASE_URL: db.config.url!,
    REDIS_URL: redis.url,
    EBB_DATA_DIR: dataDir,
    EBB_LOCK_DIR: path.join(dataDir, "locks"),
    EBB_RECONCILE_INTERVAL_MS: "500",
    EBB_JOB_LOCK_MS: "2000",
    EBB_LOG_LEVEL: "warn",
    EBB_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    // Workers serve /metrics on a port of their own: any free one, so a restarted or second worker starts.
    EBB_METRICS_PORT: "0",
  };
  const host = `127.0.${opts.net}.1`;
  const config = parseConfig({
    ...env,
    EBB_ROLE: "api",
    EBB_API_HOST: host,
    EBB_API_PORT: String(await freePort(host)),
  });
  const api = await bootstrap(config, {
    database: db,
    modules: featureModules(config, process.env),
    logger: false,
  });
  await opts.register(db, dataDir);
  const workerEnv = { ...process.env, ...env, EBB_ROLE: "worker" };
  let worker: ChildProcess | undefined;

  const killWorker = async () => {
    const w = worker;
    if (!w || w.exitCode !== null) return;
    const exited = new Promise((resolve) => w.once("exit", resolve));
    w.kill("SIGKILL");
    await exited;
  };
  return {
    api,
    db,
    dataDir,
    startWorker() {
      worker = spawn(process.execPath, [path.join(root, "apps/api/dist/main.js")], {
        env: workerEnv,
        stdio: ["ignore", "ignore", "inherit"],
      });
    },
    killWorker,
    async getRollout(id) {
      return (await (await fetch(`${api.apiUrl}/rollouts/${id}`, { headers: auth })).json()) as RolloutView;
    },
    async cleanup() {
      await killWorker();
      await api.close();
      await redis.stop();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
