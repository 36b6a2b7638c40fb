#!/usr/bin/env node
// `npm run db:migrate` (`node apps/api/dist/database/migrate-cli.js`): applies pending migrations to
// PostgreSQL when DATABASE_URL is set, else to the embedded PGlite folder the app opens. The environment
// is read through the app's own parseConfig, so both agree on the folder (<EBB_DATA_DIR>/pglite) and on
// what counts as a bad value.
import { ConfigError, parseConfig } from "../config/config.js";
import { runMigrateCommand } from "./migrate-command.js";

const USAGE = `Usage: npm run db:migrate   (or: node apps/api/dist/database/migrate-cli.js)

Applies pending migrations (prisma/migrations) and exits: to PostgreSQL at DATABASE_URL when it is set,
else to the embedded PGlite database in $EBB_DATA_DIR/pglite (default .ebb/pglite), the one Ebb opens.
Run it as the schema owner when the app's role may not change the schema (EBB_MIGRATE=false).

Exit codes: 0 up to date, 1 a migration failed, 2 bad configuration.`;

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(USAGE);
  process.exit(0);
}
if (args.length > 0) {
  console.error(`db:migrate: unexpected argument "${args[0]}"\n\n${USAGE}`);
  process.exit(2);
}

let database: ReturnType<typeof parseConfig>["database"];
try {
  database = parseConfig(process.env).database;
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(2);
}

process.exitCode = await runMigrateCommand(
  { ...database },
  { log: (line) => console.log(line), error: (line) => console.error(line) },
);
