// Test helper: every database test runs on embedded PGlite and on a real PostgreSQL
// (`describe.each(testDatabases())`). Not imported by production code.
import { execFile, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { access, mkdtemp, readdir, readFile, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import {
  type Database,
  type DatabaseConfig,
  type OpenDatabaseOptions,
  openDatabase,
} from "../src/database/client.js";
import { connectPostgres, connectSql } from "../src/database/connect-sql.js";
import { DEFAULT_MIGRATIONS_DIR } from "../src/database/migrations-dir.js";
import { openPGlite } from "../src/database/pglite-data-dir.js";
import { secretsSafeUrl } from "../src/database/safe-url.js";
import type { DatabaseKind, SqlConnection } from "../src/database/sql-client.js";

const execFileAsync = promisify(execFile);

export const DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres";

export interface TestDatabase extends Database {
  config: DatabaseConfig;
  /** Closes the database and deletes it (the PGlite folder, or the PostgreSQL database). */
  drop(): Promise<void>;
}

/** A fresh database with nothing in it (no migrations), for tests of the migration runner. */
export interface EmptyTestDatabase {
  kind: DatabaseKind;
  config: DatabaseConfig;
  /** A new raw connection (PGlite: only one may be open at a time, as in production). */
  connect(): Promise<SqlConnection>;
  drop(): Promise<void>;
}

export interface TestDatabaseVariant {
  kind: DatabaseKind;
  /** A fresh database opened with openDatabase (migrated unless `{ migrate: false }`). */
  open(opts?: OpenDatabaseOptions): Promise<TestDatabase>;
  empty(): Promise<EmptyTestDatabase>;
}

let postgresAvailable: boolean | undefined;

/**
 * PGlite always; PostgreSQL at EBB_TEST_DATABASE_URL (default DEFAULT_TEST_DATABASE_URL) when it is
 * reachable. Unreachable: an error under CI, a warning and no postgres variant elsewhere (a fresh
 * machine has no PostgreSQL).
 */
export function testDatabases(): TestDatabaseVariant[] {
  const adminUrl = process.env.EBB_TEST_DATABASE_URL?.trim() || DEFAULT_TEST_DATABASE_URL;
  postgresAvailable ??= probePostgres(adminUrl);
  const variants: TestDatabaseVariant[] = [
    withOpen("pglite", emptyPGlite, () => pgliteFrom(migratedTemplateDir())),
  ];
  if (postgresAvailable) {
    variants.push(withOpen("postgres", () => emptyPostgres(adminUrl)));
  } else if (process.env.CI) {
    throw new Error(
      `PostgreSQL is not reachable at ${secretsSafeUrl(adminUrl)} (EBB_TEST_DATABASE_URL) and CI is set: ` +
        "the database tests must run on PostgreSQL too",
    );
  } else {
    console.warn(
      `PostgreSQL is not reachable at ${secretsSafeUrl(adminUrl)}: skipping the postgres variant of the ` +
        "database tests (set EBB_TEST_DATABASE_URL to run them)",
    );
  }
  return variants;
}

function withOpen(
  kind: DatabaseKind,
  empty: () => Promise<EmptyTestDatabase>,
  migrated: () => Promise<EmptyTestDatabase> = empty,
): TestDatabaseVariant {
  return {
    kind,
    empty,
    async open(opts) {
      // The runner still runs on open, and finds every migration applied. A caller that chose the migrations,
      // or listens to the runner's log, gets them applied in front of it.
      const fromMigrated =
        opts?.migrate !== false && opts?.migrationsDir === undefined && opts?.log === undefined;
      const fresh = await (fromMigrated ? migrated() : empty());
      let db: Database;
      try {
        db = await openDatabase(fresh.config, opts);
      } catch (err) {
        await fresh.drop();
        throw err;
      }
      return {
        ...db,
        config: fresh.config,
        async drop() {
          try {
            await db.close();
          } finally {
            await fresh.drop();
          }
        },
      };
    },
  };
}

// initdb takes seconds in PGlite, and applying the migrations another second and a half; copying a cleanly
// closed data folder takes milliseconds. The templates are shared by every test file and run: the empty one
// per PGlite version (its on-disk format follows it), the migrated one also per content of the migrations.
let pgliteTemplate: Promise<string> | undefined;
let pgliteMigratedTemplate: Promise<string> | undefined;

async function pgliteVersion(): Promise<string> {
  const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
  const pkg = JSON.parse(await readFile(path.join(path.dirname(entry), "..", "package.json"), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function templateDir(): Promise<string> {
  pgliteTemplate ??= (async () =>
    buildOnce(path.join(tmpdir(), `ebb-pglite-template-${await pgliteVersion()}`), async (building) => {
      const opened = await openPGlite(building);
      await opened.close();
    }))();
  return pgliteTemplate;
}

/** The empty template with every migration of prisma/migrations applied (by the app's own runner). */
function migratedTemplateDir(): Promise<string> {
  pgliteMigratedTemplate ??= (async () => {
    const hash = createHash("sha256");
    for (const name of (await readdir(DEFAULT_MIGRATIONS_DIR, { recursive: true })).sort()) {
      const file = path.join(DEFAULT_MIGRATIONS_DIR, name);
      if (!name.endsWith(".sql")) continue;
      hash.update(name).update(await readFile(file));
    }
    const dir = path.join(
      tmpdir(),
      `ebb-pglite-migrated-${await pgliteVersion()}-${hash.digest("hex").slice(0, 16)}`,
    );
    const empty = await templateDir();
    return buildOnce(dir, async (building) => {
      await copyDir(empty, building);
      const db = await openDatabase({ dataDir: building });
      await db.close();
    });
  })();
  return pgliteMigratedTemplate;
}

// cp(1) copies the thousand small files of a data folder three times faster than fs.cp.
async function copyDir(from: string, to: string): Promise<void> {
  await execFileAsync("cp", ["-a", "--reflink=auto", `${from}/.`, to]);
}

/** `dir`, built by `build` into a temporary folder first: a reader sees a complete template or none. */
async function buildOnce(dir: string, build: (building: string) => Promise<void>): Promise<string> {
  if (await exists(path.join(dir, "PG_VERSION"))) return dir;
  const building = await mkdtemp(`${dir}-building-`);
  try {
    await build(building);
    await rename(building, dir);
  } catch (err) {
    await rm(building, { recursive: true, force: true });
    // Another test process built it first.
    if (!(await exists(path.join(dir, "PG_VERSION")))) throw err;
  }
  return dir;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

function emptyPGlite(): Promise<EmptyTestDatabase> {
  return pgliteFrom(templateDir());
}

async function pgliteFrom(templateReady: Promise<string>): Promise<EmptyTestDatabase> {
  const template = await templateReady;
  const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-pglite-"));
  await copyDir(template, dataDir);
  return {
    kind: "pglite",
    config: { dataDir },
    connect: () => connectSql({ dataDir }),
    drop: () => rm(dataDir, { recursive: true, force: true }),
  };
}

async function emptyPostgres(adminUrl: string): Promise<EmptyTestDatabase> {
  const name = `ebb_test_${randomBytes(6).toString("hex")}`;
  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const config: DatabaseConfig = { url: url.toString(), dataDir: "" };
  return {
    kind: "postgres",
    config,
    connect: () => connectSql(config),
    // FORCE: a test that failed half-way may have left connections open.
    drop: () => withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
}

async function withAdmin(
  adminUrl: string,
  fn: (admin: import("pg").Client) => Promise<unknown>,
): Promise<void> {
  const admin = await connectPostgres(adminUrl);
  try {
    await fn(admin);
  } finally {
    await admin.end();
  }
}

/**
 * describe.each needs its table synchronously, so the reachability check is a TCP (or Unix socket)
 * connect in a child process. Authentication problems are left to fail loudly in the tests themselves.
 */
function probePostgres(adminUrl: string): boolean {
  let url: URL;
  try {
    url = new URL(adminUrl);
  } catch (err) {
    throw new Error("EBB_TEST_DATABASE_URL is not a valid URL", { cause: err });
  }
  const port = url.port || "5432";
  const socketHost = url.searchParams.get("host");
  const env: NodeJS.ProcessEnv = { ...process.env, EBB_PROBE_PORT: port };
  if (socketHost?.startsWith("/")) env.EBB_PROBE_PATH = path.join(socketHost, `.s.PGSQL.${port}`);
  else env.EBB_PROBE_HOST = socketHost || url.hostname.replace(/^\[|\]$/g, "") || "localhost";
  const script = `
    const net = require("node:net");
    const e = process.env;
    const s = e.EBB_PROBE_PATH ? net.connect({ path: e.EBB_PROBE_PATH })
      : net.connect({ host: e.EBB_PROBE_HOST, port: Number(e.EBB_PROBE_PORT) });
    s.setTimeout(2000, () => process.exit(2));
    s.on("connect", () => process.exit(0));
    s.on("error", () => process.exit(1));`;
  const result = spawnSync(process.execPath, ["-e", script], { env, timeout: 5000, stdio: "ignore" });
  return result.status === 0;
}
