#!/usr/bin/env node
// `npm run db:migrate`: applies pending migrations to PostgreSQL when DATABASE_URL is set, else to the
// embedded PGlite folder EBB_DATA_DIR. The only file of this folder that reads the environment.
import type { DatabaseConfig } from "./connect-sql.js";
import { runMigrateCommand } from "./migrate-command.js";

/** Where PGlite keeps its data when EBB_DATA_DIR is not set (relative to the working directory). */
const DEFAULT_DATA_DIR = ".ebb/data";

const config: DatabaseConfig = { dataDir: process.env.EBB_DATA_DIR?.trim() || DEFAULT_DATA_DIR };
const url = process.env.DATABASE_URL?.trim();
if (url) config.url = url;

process.exitCode = await runMigrateCommand(config, {
  log: (line) => console.log(line),
  error: (line) => console.error(line),
});
