#!/usr/bin/env node
import "reflect-metadata";
import { bootstrap, type RunningApp } from "./app/bootstrap.js";
import { featureModules } from "./app/features.js";
import { ConfigError, type EbbConfig, parseConfig } from "./config/config.js";

const HELP = `usage: node apps/api/dist/main.js                      the API and/or workers (EBB_ROLE: all, api, worker)
       node apps/api/dist/main.js users create <name> --role read|deploy|admin   (password on stdin)
       node apps/api/dist/main.js users set-password <name>                      (password on stdin)

Configured by environment variables only (DATABASE_URL, REDIS_URL, EBB_ROLE, EBB_API_HOST, EBB_API_PORT,
EBB_DATA_DIR, ...): docs/configuration.md. Migrations: npm run db:migrate (database/migrate-cli.js).`;
// Before the config is parsed: asking for help never opens a database or starts a server.
if (process.argv.includes("--help") || process.argv.includes("-h")) {
  console.log(HELP);
  process.exit(0);
}

// The one place that reads the environment; everything below receives the typed config.
let config: EbbConfig;
try {
  config = parseConfig(process.env);
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(2);
}

// `main.js users create <name> --role admin` (password on stdin): an account without starting the server.
if (process.argv[2] === "users") {
  const { runUsersCommand } = await import("./auth/users-command.js");
  process.exit(
    await runUsersCommand(process.argv.slice(3), config.database, {
      stdin: process.stdin,
      log: (line) => console.log(line),
      error: (line) => console.error(line),
      prompt: (text) => process.stderr.write(text),
    }),
  );
}

let running: RunningApp;
try {
  running = await bootstrap(config, { modules: featureModules(config, process.env) });
} catch (err) {
  console.error(`Ebb failed to start: ${describeError(err)}`);
  process.exit(1);
}

let stopping = false;
async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    // A second Ctrl-C while we drain: the operator wants out now.
    console.error(`${signal} again: exiting without waiting for the graceful shutdown`);
    process.exit(130);
  }
  stopping = true;
  console.log(`${signal}: shutting down (HTTP, workers, queues, Redis, database)...`);
  await running.close();
  process.exit(0);
}
process.on("SIGTERM", (signal) => void shutdown(signal));
process.on("SIGINT", (signal) => void shutdown(signal));

/** The message and its causes: "cannot query ...: connect ECONNREFUSED", without stacks. */
function describeError(err: unknown): string {
  const parts: string[] = [];
  for (
    let e: unknown = err;
    e !== undefined && parts.length < 5;
    e = e instanceof Error ? e.cause : undefined
  ) {
    const message = e instanceof Error ? e.message : String(e);
    if (!parts.some((p) => p.includes(message))) parts.push(message);
  }
  return parts.join("\n  caused by: ");
}
