#!/usr/bin/env node
import "reflect-metadata";
import { bootstrap, DATABASE, type Database, featureModules, parseConfig } from "@ebb/api";
import { parseLabConfig } from "./config.js";
import { registerWorld } from "./fleet.js";
import { startWorld } from "./world.js";

// `npm start`: the lab world (L4 device + VMs) and Ebb itself (API + worker) on embedded defaults.
// The one place that reads the environment; everything below takes typed options.
const [labConfig, ebbConfig] = (() => {
  try {
    return [parseLabConfig(process.env), parseConfig(process.env)] as const;
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
})();

const world = await startWorld({
  labDir: labConfig.labDir,
  vms: labConfig.vms,
  vmFirstHost: labConfig.vmFirstHost,
  vmPort: labConfig.vmPort,
  version: labConfig.version,
  timeScale: labConfig.timeScale,
  vip: labConfig.vip,
  admin: labConfig.admin,
  log: (line) => console.log(`[l4] ${line}`),
});

let ebb: Awaited<ReturnType<typeof bootstrap>>;
try {
  ebb = await bootstrap(ebbConfig, { modules: featureModules(ebbConfig, process.env) });
  const database = ebb.app.get<Database>(DATABASE);
  await registerWorld(database.prisma, world);
} catch (err) {
  console.error(`Ebb failed to start: ${(err as Error).message}`);
  await world.stop();
  process.exit(1);
}

const hc = world.device.config.healthCheck;
const scale = labConfig.timeScale;
console.log(
  [
    "",
    "Ebb is up, with its lab.",
    `  API               ${ebb.apiUrl}   (fleet "lab" registered)`,
    `  VIP (L4 device)   ${world.device.vipUrl}`,
    `  device admin API  ${world.device.adminUrl}   (GET /servers, /sessions, /counters, /events, /metrics)`,
    `  time scale        ${scale} (health check every ${hc.intervalSeconds * scale} s, ` +
      `session aging ${world.device.config.sessionIdleTimeoutSeconds * scale} s)`,
    ...world.vms.map((vm) => `  ${vm.name.padEnd(17)} http://${vm.host}:${vm.port}   ${vm.dir}`),
    "",
    `Roll the lab:  curl -s -X POST ${ebb.apiUrl}/rollouts -H 'content-type: application/json' \\`,
    `                 -d '{"fleet":"lab","version":"2.0.0","runbook":"l4-drain"}'`,
    `Ctrl-C stops everything.`,
    "",
  ].join("\n"),
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping Ebb and the lab...`);
  await ebb.close();
  await world.stop();
  console.log("stopped.");
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
