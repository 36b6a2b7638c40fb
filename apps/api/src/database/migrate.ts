import { createHash } from "node:crypto";
import type { Dirent } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { SqlClient } from "./sql-client.js";

/**
 * Key of the session-level advisory lock that lets one runner at a time migrate a database ("ebbmigr" in
 * ASCII, so it is recognisable in pg_locks). Fixed forever: every version of Ebb must use the same one.
 */
export const MIGRATION_LOCK_KEY = 28537147529717618n;

export const MIGRATIONS_TABLE = "_ebb_migrations";

export interface MigrateOptions {
  /** The folder holding one sub-folder per migration, each with a migration.sql (Prisma's layout). */
  dir: string;
  log?: (line: string) => void;
}

export interface MigrateResult {
  /** The migrations this call applied, in order; empty when the database was up to date. */
  applied: string[];
}

export interface MigrationFile {
  name: string;
  sql: string;
  /** sha256 (hex) of migration.sql as stored on disk. */
  checksum: string;
}

/** A migration that cannot be applied, or that was changed after it was applied. */
export class MigrationError extends Error {
  override readonly name = "MigrationError";
  constructor(
    readonly migration: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * Session advisory locks are re-entrant: two runners on one connection would both get through. Keyed on
 * the SqlClient object (connectSql returns one per connection).
 */
const running = new WeakSet<SqlClient>();

/**
 * Applies the migrations of `opts.dir` that the database has not seen, each in its own transaction with
 * its tracking row. Refuses (before applying anything) when an applied migration's file has changed.
 */
export async function migrate(sql: SqlClient, opts: MigrateOptions): Promise<MigrateResult> {
  const log = opts.log ?? (() => undefined);
  if (running.has(sql)) {
    throw new Error("migrate() is already running on this connection; give each runner its own connection");
  }
  running.add(sql);
  try {
    // Read everything first: a broken folder fails before the database is touched.
    const migrations = await readMigrations(opts.dir);
    await acquireLock(sql, log);
    try {
      return await applyPending(sql, migrations, opts.dir, log);
    } finally {
      // If the connection is broken the backend is gone and so is its lock: keep the first error.
      await sql.query("SELECT pg_advisory_unlock($1::bigint)", [MIGRATION_LOCK_KEY.toString()]).catch(() => {
        log("could not release the migration lock (the connection is gone, and the lock with it)");
      });
    }
  } finally {
    running.delete(sql);
  }
}

/** The migrations in `dir`, sorted by folder name. */
export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new Error(`cannot read the migrations folder ${dir}: ${messageOf(err)}`, { cause: err });
  }
  const names = entries
    .filter((entry) => entry.isDirectory() && !entry.name.startsWith("."))
    .map((entry) => entry.name)
    // Code-unit order, not locale order: the same sequence on every machine.
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    names.map(async (name) => {
      const file = path.join(dir, name, "migration.sql");
      let bytes: Buffer;
      try {
        bytes = await readFile(file);
      } catch (err) {
        const reason =
          (err as NodeJS.ErrnoException).code === "ENOENT" ? "has no migration.sql" : messageOf(err);
        throw new MigrationError(name, `migration ${name} ${reason} (${file})`, { cause: err });
      }
      return {
        name,
        sql: bytes.toString("utf8"),
        checksum: createHash("sha256").update(bytes).digest("hex"),
      };
    }),
  );
}

async function acquireLock(sql: SqlClient, log: (line: string) => void): Promise<void> {
  const key = MIGRATION_LOCK_KEY.toString();
  const { rows } = await sql.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1::bigint) AS locked", [
    key,
  ]);
  if (rows[0]?.locked === true) return;
  log("another migration runner holds the lock; waiting for it to finish");
  await sql.query("SELECT pg_advisory_lock($1::bigint)", [key]);
}

async function applyPending(
  sql: SqlClient,
  migrations: MigrationFile[],
  dir: string,
  log: (line: string) => void,
): Promise<MigrateResult> {
  // Under the lock: concurrent CREATE TABLE IF NOT EXISTS can still fail on the catalog's unique index.
  await sql.exec(
    `CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`,
  );
  const { rows } = await sql.query<{ name: string; checksum: string }>(
    `SELECT name, checksum FROM ${MIGRATIONS_TABLE}`,
  );
  const done = new Map(rows.map((row) => [row.name, row.checksum]));

  for (const migration of migrations) {
    const recorded = done.get(migration.name);
    if (recorded !== undefined && recorded !== migration.checksum) {
      throw new MigrationError(
        migration.name,
        `migration ${migration.name} was changed after it was applied (sha256 applied ${recorded.slice(0, 12)}..., ` +
          `on disk ${migration.checksum.slice(0, 12)}...): restore its migration.sql and put the change in a new migration`,
      );
    }
  }
  const known = new Set(migrations.map((migration) => migration.name));
  for (const name of done.keys()) {
    if (!known.has(name)) log(`warning: migration ${name} is applied but missing from ${dir} (a newer Ebb?)`);
  }

  const applied: string[] = [];
  for (const migration of migrations) {
    if (done.has(migration.name)) continue;
    const started = Date.now();
    try {
      await sql.transaction(async (tx) => {
        await tx.exec(migration.sql);
        await tx.query(`INSERT INTO ${MIGRATIONS_TABLE} (name, checksum) VALUES ($1, $2)`, [
          migration.name,
          migration.checksum,
        ]);
      });
    } catch (err) {
      throw new MigrationError(
        migration.name,
        `migration ${migration.name} failed and was rolled back: ${messageOf(err)}`,
        { cause: err },
      );
    }
    applied.push(migration.name);
    log(`applied migration ${migration.name} (${Date.now() - started} ms)`);
  }
  return { applied };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
