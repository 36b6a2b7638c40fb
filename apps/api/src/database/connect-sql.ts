import pg from "pg";
import { openPGlite } from "./pglite-data-dir.js";
import { secretsSafeUrl } from "./safe-url.js";
import { pgliteSqlClient, pgSqlClient, type SqlConnection } from "./sql-client.js";

/** Where the data lives: PostgreSQL when `url` is set, else embedded PGlite in `dataDir`. */
export interface DatabaseConfig {
  /** postgresql://... ; when set, PostgreSQL is used and dataDir is ignored. */
  url?: string;
  /** The PGlite data folder (created when missing). */
  dataDir: string;
}

/** One raw SQL connection that the caller owns (the migration CLI, migrations before Prisma, tests). */
export function connectSql(config: DatabaseConfig): Promise<SqlConnection> {
  return config.url ? connectPostgresSql(config.url) : connectPGliteSql(config.dataDir);
}

export async function connectPostgres(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  // A backend that dies while we are idle emits 'error' on the client; unhandled, that would end the
  // process. The next query rejects with the reason anyway.
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot connect to PostgreSQL at ${secretsSafeUrl(url)}: ${reason}`, { cause: err });
  }
  return client;
}

async function connectPostgresSql(url: string): Promise<SqlConnection> {
  const client = await connectPostgres(url);
  return { ...pgSqlClient(client), close: () => client.end() };
}

async function connectPGliteSql(dataDir: string): Promise<SqlConnection> {
  const opened = await openPGlite(dataDir);
  return { ...pgliteSqlClient(opened.pglite), close: opened.close };
}
