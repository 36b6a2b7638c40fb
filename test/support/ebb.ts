import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootstrap, featureModules, parseConfig, type RunningApp } from "@ebb/api";
import { registerWorld, type World } from "@ebb/lab";
import { freePort } from "@ebb/testkit";
import { type TestDatabase, testDatabases } from "../../apps/api/test-support/database.js";

/**
 * The EBB_ADMIN_TOKEN every givenEbb() starts with: `api()` sends it, so scenarios act as an admin
 * script. Tests of authorization itself create narrower tokens with it.
 */
export const TEST_ADMIN_TOKEN = "ebb-test-admin-token-0123456789abcdef";

export interface RunningEbb {
  app: RunningApp;
  apiUrl: string;
  prisma: Awaited<ReturnType<ReturnType<typeof testDatabases>[number]["open"]>>["prisma"];
  cleanup(): Promise<void>;
}

/**
 * Ebb in this process (api + worker roles), on its own embedded Redis and a fresh PGlite database, with the
 * lab world registered as fleet `lab`. Timings short enough for tests: the reconciler every 500 ms, a killed
 * worker's jobs move on after 2 s.
 */
export async function givenEbb(
  world: World,
  net: number,
  env: Record<string, string> = {},
  opts: { database?: "pglite" | "postgres" | (() => Promise<TestDatabase>) } = {},
): Promise<RunningEbb> {
  return givenEbbWith((prisma) => registerWorld(prisma, world), net, env, opts);
}

/** givenEbb with another fleet registration (the emulated cluster's pods, say). */
export async function givenEbbWith(
  register: (prisma: RunningEbb["prisma"]) => Promise<unknown>,
  net: number,
  env: Record<string, string> = {},
  opts: { database?: "pglite" | "postgres" | (() => Promise<TestDatabase>) } = {},
): Promise<RunningEbb> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-data-"));
  const host = `127.0.${net}.1`;
  const config = parseConfig(
    {
      EBB_API_HOST: host,
      EBB_API_PORT: String(await freePort(host)),
      EBB_REDIS_PORT: String(await freePort("127.0.0.1")),
      EBB_DATA_DIR: dataDir,
      EBB_RECONCILE_INTERVAL_MS: "500",
      EBB_JOB_LOCK_MS: "2000",
      EBB_LOG_LEVEL: "warn",
      EBB_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
      ...env,
    },
    { cwd: dataDir },
  );
  // PostgreSQL when asked for and reachable (always in CI, where testDatabases() insists on it); PGlite
  // otherwise, so a fresh machine still runs the scenario. Or the test's own (a cluster it stops and starts).
  const wanted = opts.database ?? "pglite";
  const database =
    typeof wanted === "function"
      ? await wanted()
      : await (testDatabases().find((v) => v.kind === wanted) ?? testDatabases()[0]!).open();
  const app = await bootstrap(config, {
    database,
    modules: featureModules(config, process.env),
    logger: false,
  });
  await register(database.prisma);
  return {
    app,
    apiUrl: app.apiUrl!,
    prisma: database.prisma,
    async cleanup() {
      await app.close();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** A call to the API as the admin script (Authorization: Bearer TEST_ADMIN_TOKEN), or with `token`. */
export async function api<T = unknown>(
  ebb: RunningEbb,
  method: string,
  route: string,
  body?: unknown,
  token: string = TEST_ADMIN_TOKEN,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${ebb.apiUrl}${route}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}
