// Test helper: every database test runs on embedded PGlite and on a real PostgreSQL
// (`describe.each(testDatabases())`). Not imported by production code.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, cp, mkdtemp, readFile, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  type Database,
  type DatabaseConfig,
  type OpenDatabaseOptions,
  openDatabase,
} from "../src/database/client.js";
import { connectPostgres, connectSql } from "../src/database/connect-sql.js";
import { openPGlite } from "../src/database/pglite-data-dir.js";
import { secretsSafeUrl } from "../src/database/safe-url.js";
import type { DatabaseKind, SqlConnection } from "../src/database/sql-client.js";

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
  const variants: TestDatabaseVariant[] = [withOpen("pglite", emptyPGlite)];
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

function withOpen(kind: DatabaseKind, empty: () => Promise<EmptyTestDatabase>): TestDatabaseVariant {
  return {
    kind,
    empty,
    async open(opts) {
      const fresh = await empty();
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

// initdb takes seconds in PGlite; copying a cleanly closed data folder takes milliseconds. The template
// is shared by every test file and run (one per PGlite version, as its on-disk format follows it).
let pgliteTemplate: Promise<string> | undefined;

function templateDir(): Promise<string> {
  pgliteTemplate ??= (async () => {
    const entry = createRequire(import.meta.url).resolve("@electric-sql/pglite");
    const pkg = JSON.parse(await readFile(path.join(path.dirname(entry), "..", "package.json"), "utf8")) as {
      version: string;
    };
    const dir = path.join(tmpdir(), `ebb-pglite-template-${pkg.version}`);
    if (await exists(path.join(dir, "PG_VERSION"))) return dir;
    const building = await mkdtemp(`${dir}-building-`);
    const opened = await openPGlite(building);
    await opened.close();
    try {
      // Atomic: a reader sees a complete template or none.
      await rename(building, dir);
    } catch (err) {
      await rm(building, { recursive: true, force: true });
      // Another test process built it first.
      if (!(await exists(path.join(dir, "PG_VERSION")))) throw err;
    }
    return dir;
  })();
  return pgliteTemplate;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function emptyPGlite(): Promise<EmptyTestDatabase> {
  const template = await templateDir();
  const dataDir = await mkdtemp(path.join(tmpdir(), "ebb-pglite-"));
  await cp(template, dataDir, { recursive: true });
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
