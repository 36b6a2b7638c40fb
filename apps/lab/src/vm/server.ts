import { parseArgs } from "node:util";
import { errorFields, jsonLogger } from "./log.js";
import { runVmServer } from "./vm-server.js";

// Entry point of one lab VM: `node dist/vm/server.js --dir <vmDir>`, stdout/stderr going to vm.log.
const log = jsonLogger();

// Logged, not fatal: a client socket error must never take the server down.
process.on("uncaughtException", (err) => log.error("uncaught exception", errorFields(err)));
process.on("unhandledRejection", (err) => log.error("unhandled rejection", errorFields(err)));

let dir: string | undefined;
try {
  dir = parseArgs({ options: { dir: { type: "string" } }, strict: true }).values.dir;
} catch (err) {
  log.error(`bad usage: ${(err as Error).message}`);
  process.exit(2);
}
if (!dir) {
  log.error("bad usage: --dir <vmDir> is required");
  process.exit(2);
}
runVmServer(dir, log).catch((err: unknown) => {
  log.error(`cannot start: ${(err as Error).message}`, errorFields(err));
  process.exit(1);
});
