import { connectSql, type DatabaseConfig } from "./connect-sql.js";
import { migrate } from "./migrate.js";
import { DEFAULT_MIGRATIONS_DIR } from "./migrations-dir.js";
import { secretsSafeUrl } from "./safe-url.js";

export interface MigrateCommandOutput {
  log(line: string): void;
  error(line: string): void;
}

/** The body of `db:migrate`: applies pending migrations and prints what it did. Returns the exit code. */
export async function runMigrateCommand(
  config: DatabaseConfig,
  out: MigrateCommandOutput,
  dir: string = DEFAULT_MIGRATIONS_DIR,
): Promise<number> {
  try {
    out.log(config.url ? `PostgreSQL at ${secretsSafeUrl(config.url)}` : `PGlite in ${config.dataDir}`);
    const sql = await connectSql(config);
    try {
      const { applied } = await migrate(sql, { dir, log: (line) => out.log(line) });
      out.log(
        applied.length === 0 ? "database is up to date" : `applied ${applied.length}: ${applied.join(", ")}`,
      );
    } finally {
      await sql.close();
    }
    return 0;
  } catch (err) {
    out.error(`db:migrate failed: ${describe(err)}`);
    let shown = describe(err);
    let cause = err instanceof Error ? err.cause : undefined;
    for (let depth = 0; cause !== undefined && depth < 8; depth++) {
      // Our messages already quote their cause's; print only what adds something.
      if (!shown.includes(describe(cause))) out.error(`  cause: ${describe(cause)}`);
      shown += describe(cause);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    return 1;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
