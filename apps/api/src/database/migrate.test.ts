import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { appendFile, cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { waitFor } from "@ebb/testkit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { MIGRATION_LOCK_KEY, MigrationError, migrate } from "./migrate.js";
import { DEFAULT_MIGRATIONS_DIR } from "./migrations-dir.js";
import type { SqlConnection } from "./sql-client.js";

/** The project's own migration folders, in the order the runner applies them. */
const PROJECT_MIGRATIONS = readdirSync(DEFAULT_MIGRATIONS_DIR, { withFileTypes: true })
  .filter((e) => e.isDirectory())
  .map((e) => e.name)
  .sort();

import { type EmptyTestDatabase, testDatabases } from "../../test-support/database.js";

const TABLES = [
  "api_tokens",
  "audit_events",
  "fleets",
  "leases",
  "rollout_events",
  "rollouts",
  "runbook_versions",
  "sessions",
  "step_runs",
  "target_runs",
  "targets",
  "users",
  "webhook_deliveries",
  "webhooks",
];

async function tableNames(sql: SqlConnection): Promise<string[]> {
  const { rows } = await sql.query<{ name: string }>(
    "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
  );
  return rows.map((row) => row.name);
}

/** A migrations folder of our own: { "0001_a": "CREATE TABLE ...", ... }; null = a folder without the file. */
async function migrationsDir(files: Record<string, string | null>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "ebb-migrations-"));
  await writeFile(path.join(dir, "migration_lock.toml"), 'provider = "postgresql"\n');
  for (const [name, sql] of Object.entries(files)) {
    await mkdir(path.join(dir, name));
    if (sql !== null) await writeFile(path.join(dir, name, "migration.sql"), sql);
  }
  return dir;
}

describe.each(testDatabases())("migrate() on $kind", ({ kind, empty }) => {
  let db: EmptyTestDatabase;
  const open: SqlConnection[] = [];
  const dirs: string[] = [];

  async function connect(): Promise<SqlConnection> {
    const sql = await db.connect();
    open.push(sql);
    return sql;
  }
  async function dir(files: Record<string, string | null>): Promise<string> {
    const created = await migrationsDir(files);
    dirs.push(created);
    return created;
  }

  beforeEach(async () => {
    db = await empty();
  });
  afterEach(async () => {
    for (const sql of open.splice(0)) await sql.close();
    await db.drop();
    for (const created of dirs.splice(0)) await rm(created, { recursive: true, force: true });
  });

  it("applies the project's migrations with their checksums, and is a no-op the second time", async () => {
    const sql = await connect();
    const lines: string[] = [];

    expect(await migrate(sql, { dir: DEFAULT_MIGRATIONS_DIR, log: (line) => lines.push(line) })).toEqual({
      applied: PROJECT_MIGRATIONS,
    });
    expect(await tableNames(sql)).toEqual(["_ebb_migrations", ...TABLES]);
    const file = await readFile(path.join(DEFAULT_MIGRATIONS_DIR, "0001_init", "migration.sql"));
    const { rows } = await sql.query<{ name: string; checksum: string; fresh: boolean }>(
      "SELECT name, checksum, applied_at > now() - interval '1 minute' AS fresh FROM _ebb_migrations ORDER BY name",
    );
    expect(rows[0]).toEqual({
      name: "0001_init",
      checksum: createHash("sha256").update(file).digest("hex"),
      fresh: true,
    });
    expect(rows.map((r) => r.name)).toEqual(PROJECT_MIGRATIONS);
    expect(lines.some((line) => line.startsWith("applied migration 0001_init"))).toBe(true);

    expect(await migrate(sql, { dir: DEFAULT_MIGRATIONS_DIR })).toEqual({ applied: [] });
    expect((await sql.query("SELECT name FROM _ebb_migrations")).rows).toHaveLength(
      PROJECT_MIGRATIONS.length,
    );
  });

  it("applies pending migrations in folder-name order, skipping those already applied", async () => {
    const sql = await connect();
    const first = await dir({ "0001_a": "CREATE TABLE seen (name text, n serial);" });
    expect(await migrate(sql, { dir: first })).toEqual({ applied: ["0001_a"] });

    const later = await dir({
      "0001_a": "CREATE TABLE seen (name text, n serial);",
      "0010_c": "INSERT INTO seen (name) VALUES ('0010_c');",
      "0002_b":
        "INSERT INTO seen (name) VALUES ('0002_b');\nINSERT INTO seen (name) VALUES ('0002_b again');",
    });
    expect(await migrate(sql, { dir: later })).toEqual({ applied: ["0002_b", "0010_c"] });
    const { rows } = await sql.query<{ name: string }>("SELECT name FROM seen ORDER BY n");
    expect(rows.map((row) => row.name)).toEqual(["0002_b", "0002_b again", "0010_c"]);
  });

  it("refuses an applied migration whose file changed, naming it, and applies nothing after it", async () => {
    const sql = await connect();
    const copy = await dir({});
    await cp(DEFAULT_MIGRATIONS_DIR, copy, { recursive: true });
    expect(await migrate(sql, { dir: copy })).toEqual({ applied: PROJECT_MIGRATIONS });

    await appendFile(path.join(copy, "0001_init", "migration.sql"), "\n-- a harmless-looking edit\n");
    await mkdir(path.join(copy, "9999_next"));
    await writeFile(path.join(copy, "9999_next", "migration.sql"), "CREATE TABLE next_one (id int);");

    const refused = migrate(sql, { dir: copy });
    await expect(refused).rejects.toThrow(MigrationError);
    await expect(refused).rejects.toMatchObject({
      migration: "0001_init",
      message: expect.stringContaining("migration 0001_init was changed after it was applied"),
    });
    expect(await tableNames(sql)).not.toContain("next_one");
  });

  it("names a migration folder that has no migration.sql, before touching the database", async () => {
    const sql = await connect();
    const broken = await dir({ "0001_a": "CREATE TABLE a (id int);", "0002_no_file": null });

    await expect(migrate(sql, { dir: broken })).rejects.toMatchObject({
      name: "MigrationError",
      migration: "0002_no_file",
      message: expect.stringMatching(/migration 0002_no_file has no migration\.sql/),
    });
    expect(await tableNames(sql)).toEqual([]);
  });

  it("rolls a failing migration back together with its tracking row, and applies it once fixed", async () => {
    const sql = await connect();
    const failing = await dir({
      "0001_a": "CREATE TABLE a (id int);",
      "0002_b": "CREATE TABLE b (id int);\nSELECT 1 / 0;",
    });

    const failed = migrate(sql, { dir: failing });
    await expect(failed).rejects.toMatchObject({
      migration: "0002_b",
      message: expect.stringMatching(/migration 0002_b failed and was rolled back: division by zero/),
      cause: expect.objectContaining({ message: "division by zero" }),
    });
    expect(await tableNames(sql)).toEqual(["_ebb_migrations", "a"]);
    const names = await sql.query<{ name: string }>("SELECT name FROM _ebb_migrations");
    expect(names.rows).toEqual([{ name: "0001_a" }]);

    await writeFile(path.join(failing, "0002_b", "migration.sql"), "CREATE TABLE b (id int);");
    expect(await migrate(sql, { dir: failing })).toEqual({ applied: ["0002_b"] });
    // The lock was released after the failure: another session can take it at once.
    const other = kind === "postgres" ? await connect() : sql;
    const { rows } = await other.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock($1::bigint) AS locked",
      [MIGRATION_LOCK_KEY.toString()],
    );
    expect(rows[0]?.locked).toBe(true);
  });

  it("refuses a second concurrent run on the same connection (advisory locks are re-entrant)", async () => {
    const sql = await connect();
    const results = await Promise.allSettled([
      migrate(sql, { dir: DEFAULT_MIGRATIONS_DIR }),
      migrate(sql, { dir: DEFAULT_MIGRATIONS_DIR }),
    ]);
    expect(results[0]).toEqual({ status: "fulfilled", value: { applied: PROJECT_MIGRATIONS } });
    expect(results[1]).toMatchObject({
      status: "rejected",
      reason: expect.objectContaining({
        message: expect.stringMatching(/already running on this connection/),
      }),
    });
  });

  it.runIf(kind === "postgres")(
    "two runners on two connections: one applies, the other waits on the advisory lock and applies nothing",
    async () => {
      const holder = await connect();
      const [a, b] = [await connect(), await connect()];
      const key = MIGRATION_LOCK_KEY.toString();
      // Hold the lock first so that both runners are certainly inside migrate() at the same time.
      await holder.query("SELECT pg_advisory_lock($1::bigint)", [key]);
      const logs: string[] = [];
      const runs = [a, b].map((sql, i) =>
        migrate(sql, { dir: DEFAULT_MIGRATIONS_DIR, log: (line) => logs.push(`${i}: ${line}`) }),
      );
      await waitFor(
        async () => {
          const { rows } = await holder.query<{ waiting: number }>(
            "SELECT count(*)::int AS waiting FROM pg_locks WHERE locktype = 'advisory' AND NOT granted " +
              "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
          );
          return rows[0]?.waiting === 2;
        },
        { timeoutMs: 5_000, what: "both runners waiting on the migration lock" },
      );
      expect(logs.filter((line) => line.includes("waiting for it to finish"))).toHaveLength(2);
      expect(await tableNames(holder)).toEqual([]);

      await holder.query("SELECT pg_advisory_unlock($1::bigint)", [key]);
      const results = await Promise.all(runs);

      expect(results.map((result) => result.applied).sort()).toEqual([[], PROJECT_MIGRATIONS]);
      const { rows } = await holder.query("SELECT name FROM _ebb_migrations ORDER BY name");
      expect(rows).toEqual(PROJECT_MIGRATIONS.map((name) => ({ name })));
    },
  );
});
