import type { PGlite } from "@electric-sql/pglite";
import type pg from "pg";

export type DatabaseKind = "pglite" | "postgres";

export type SqlRow = Record<string, unknown>;

/** Plain SQL on one connection: just enough for the migration runner and test setup. */
export interface SqlQueryable {
  /** One statement, with `$1`-style parameters. */
  query<R extends SqlRow = SqlRow>(text: string, params?: readonly unknown[]): Promise<{ rows: R[] }>;
  /** A script of several statements, without parameters (a migration.sql). */
  exec(script: string): Promise<void>;
}

export interface SqlClient extends SqlQueryable {
  readonly kind: DatabaseKind;
  /** Runs `fn` in BEGIN ... COMMIT on this connection; ROLLBACK and rethrow when it throws. */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
}

/** A SqlClient that owns its connection. */
export interface SqlConnection extends SqlClient {
  close(): Promise<void>;
}

/**
 * Wraps one pg connection (a pg.Client or a checked-out pool client, never a pg.Pool: BEGIN and the
 * statements after it must reach the same backend).
 */
export function pgSqlClient(client: pg.ClientBase): SqlClient {
  const queryable: SqlQueryable = {
    async query<R extends SqlRow>(text: string, params?: readonly unknown[]) {
      const result = await client.query<R>(text, params ? [...params] : undefined);
      return { rows: result.rows };
    },
    async exec(script: string) {
      // Without parameters pg uses the simple query protocol, which accepts several statements.
      await client.query(script);
    },
  };
  return {
    kind: "postgres",
    ...queryable,
    async transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      await client.query("BEGIN");
      let result: T;
      try {
        result = await fn(queryable);
      } catch (err) {
        // A failed ROLLBACK means the connection is gone, which rolls back anyway: report the first error.
        await client.query("ROLLBACK").catch(() => undefined);
        throw err;
      }
      await client.query("COMMIT");
      return result;
    },
  };
}

/** Wraps a PGlite instance (one embedded backend, so one connection by nature). */
export function pgliteSqlClient(db: PGlite): SqlClient {
  return {
    kind: "pglite",
    async query<R extends SqlRow>(text: string, params?: readonly unknown[]) {
      const result = await db.query<R>(text, params ? [...params] : undefined);
      return { rows: result.rows };
    },
    async exec(script: string) {
      await db.exec(script);
    },
    transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
      // PGlite's own transaction() holds its instance mutex: statements from outside the callback wait
      // instead of landing inside our transaction.
      return db.transaction((tx) =>
        fn({
          async query<R extends SqlRow>(text: string, params?: readonly unknown[]) {
            const result = await tx.query<R>(text, params ? [...params] : undefined);
            return { rows: result.rows };
          },
          async exec(script: string) {
            await tx.exec(script);
          },
        }),
      );
    },
  };
}
