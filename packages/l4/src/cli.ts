#!/usr/bin/env node
import { CliError, parseCliArgs, USAGE } from "./cli-args.js";
import { L4Device } from "./device.js";
import { ConfigError } from "./errors.js";

async function main(): Promise<void> {
  const opts = parseCliArgs(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  const device = await L4Device.start({
    config: opts.config,
    servers: opts.servers,
    log: (line) => console.log(`[l4] ${line}`),
  });
  console.log(`VIP ${device.vipUrl}`);
  console.log(`admin ${device.adminUrl}`);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal}: stopping`);
    void device.stop().then(() => process.exit(0));
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((err: unknown) => {
  if (err instanceof CliError || err instanceof ConfigError) {
    console.error(`ebb-l4: ${err.message}`);
    if (err instanceof CliError) console.error(USAGE);
    process.exit(2);
  }
  console.error("ebb-l4:", err);
  process.exit(1);
});
