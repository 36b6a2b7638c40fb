#!/usr/bin/env node
import { parseLabConfig } from "./config.js";
import { startWorld } from "./world.js";

// The one place that reads the environment; everything below takes typed options.
const config = (() => {
  try {
    return parseLabConfig(process.env);
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
})();

const world = await startWorld({
  labDir: config.labDir,
  vms: config.vms,
  vmFirstHost: config.vmFirstHost,
  vmPort: config.vmPort,
  version: config.version,
  timeScale: config.timeScale,
  vip: config.vip,
  admin: config.admin,
  log: (line) => console.log(`[l4] ${line}`),
});

const hc = world.device.config.healthCheck;
console.log(
  [
    "",
    "Ebb lab is up.",
    `  VIP (L4 device)   ${world.device.vipUrl}`,
    `  device admin API  ${world.device.adminUrl}   (GET /servers, /sessions, /counters, /events, /metrics)`,
    `  time scale        ${config.timeScale} (health check every ${hc.intervalSeconds * config.timeScale} s, ` +
      `session aging ${world.device.config.sessionIdleTimeoutSeconds * config.timeScale} s)`,
    ...world.vms.map((vm) => `  ${vm.name.padEnd(17)} http://${vm.host}:${vm.port}   ${vm.dir}`),
    "",
    `Try: curl ${world.device.vipUrl}/   ·   Ctrl-C stops everything.`,
    "",
  ].join("\n"),
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping the lab...`);
  await world.stop();
  console.log("lab stopped.");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
