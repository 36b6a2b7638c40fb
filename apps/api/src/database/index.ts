export {
  type Database,
  type DatabaseConfig,
  type Db,
  type OpenDatabaseOptions,
  openDatabase,
  secretsSafeUrl,
} from "./client.js";
export { connectSql } from "./connect-sql.js";
export {
  MIGRATION_LOCK_KEY,
  type MigrateOptions,
  type MigrateResult,
  MigrationError,
  migrate,
} from "./migrate.js";
export { DEFAULT_MIGRATIONS_DIR } from "./migrations-dir.js";
export { DataDirInUseError } from "./pglite-data-dir.js";
export {
  type DatabaseKind,
  pgliteSqlClient,
  pgSqlClient,
  type SqlClient,
  type SqlConnection,
  type SqlQueryable,
} from "./sql-client.js";
