import { PrismaPg } from "@prisma/adapter-pg";
import { type Prisma, PrismaClient } from "../generated/prisma/client.js";
import { connectPostgres, type DatabaseConfig } from "./connect-sql.js";
import { migrate } from "./migrate.js";
import { DEFAULT_MIGRATIONS_DIR } from "./migrations-dir.js";
import { openPGlite } from "./pglite-data-dir.js";
import { secretsSafeUrl } from "./safe-url.js";
import { pgliteSqlClient, pgSqlClient } from "./sql-client.js";

export type { DatabaseConfig } from "./connect-sql.js";
export { secretsSafeUrl } from "./safe-url.js";

export interface Database {
  prisma: PrismaClient;
  kind: "pglite" | "postgres";
  /** Disconnects Prisma and closes PGlite (releasing its data folder). Safe to call twice. */
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  /** Apply pending migrations before returning (default true). */
  migrate?: boolean;
  log?: (line: string) => void;
  /** Default: the repository's prisma/migrations. */
  migrationsDir?: string;
}

/** Functions that write take this, so they run the same inside and outside `prisma.$transaction`. */
export type Db = PrismaClient | Prisma.TransactionClient;

/**
 * Opens PostgreSQL when `config.url` is set, else embedded PGlite in `config.dataDir`, applies pending
 * migrations, and returns a Prisma client that has answered a first query.
 */
export function openDatabase(config: DatabaseConfig, opts: OpenDatabaseOptions = {}): Promise<Database> {
  return config.url ? openPostgres(config.url, opts) : openEmbedded(config.dataDir, opts);
}

async function openPostgres(url: string, opts: OpenDatabaseOptions): Promise<Database> {
  const log = opts.log ?? (() => undefined);
  const where = secretsSafeUrl(url);
  if (opts.migrate !== false) {
    // Its own connection: the advisory lock is per session, and the pool's connections come and go.
    const client = await connectPostgres(url);
    try {
      await migrate(pgSqlClient(client), { dir: opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR, log });
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const adapter = new PrismaPg(
    { connectionString: url },
    { onPoolError: (err) => log(`database: idle connection to ${where} failed: ${err.message}`) },
  );
  const prisma = new PrismaClient({ adapter });
  await firstQuery(prisma, `PostgreSQL at ${where}`);
  log(`database: PostgreSQL at ${where}`);
  return { prisma, kind: "postgres", close: once(() => prisma.$disconnect()) };
}

async function openEmbedded(dataDir: string, opts: OpenDatabaseOptions): Promise<Database> {
  const log = opts.log ?? (() => undefined);
  const opened = await openPGlite(dataDir);
  let prisma: PrismaClient | undefined;
  try {
    if (opts.migrate !== false) {
      // The same instance Prisma will use: a PGlite folder cannot be opened twice.
      await migrate(pgliteSqlClient(opened.pglite), {
        dir: opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR,
        log,
      });
    }
    // Loaded only when embedded: a worker on PostgreSQL does not carry PGlite's adapter in its memory.
    const { PrismaPGlite } = await import("pglite-prisma-adapter");
    prisma = new PrismaClient({
      adapter: new PrismaPGlite(opened.pglite),
      // One embedded backend runs one transaction at a time: the others queue for it, which can take
      // longer than Prisma's default 2 s to start.
      transactionOptions: { maxWait: 10_000 },
    });
    await firstQuery(prisma, `PGlite in ${opened.dataDir}`);
  } catch (err) {
    await prisma?.$disconnect().catch(() => undefined);
    await opened.close().catch(() => undefined);
    throw err;
  }
  log(`database: PGlite in ${opened.dataDir}`);
  const client = prisma;
  return {
    prisma: client,
    kind: "pglite",
    close: once(async () => {
      try {
        await client.$disconnect();
      } finally {
        await opened.close();
      }
    }),
  };
}

async function firstQuery(prisma: PrismaClient, where: string): Promise<void> {
  try {
    await prisma.$queryRaw`SELECT 1`;
  } catch (err) {
    await prisma.$disconnect().catch(() => undefined);
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot query ${where}: ${reason}`, { cause: err });
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let result: Promise<void> | undefined;
  return () => {
    result ??= fn();
    return result;
  };
}
