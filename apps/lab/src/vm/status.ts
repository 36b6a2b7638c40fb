import { readVmConfig } from "./config.js";
import { healthCheckPresent } from "./health.js";
import { vmPaths } from "./layout.js";
import { canConnect, getJson } from "./probe.js";
import { runningPid } from "./process.js";
import { currentVersion } from "./release.js";

export interface VmStatus {
  name: string;
  dir: string;
  address: string;
  running: boolean;
  pid: number | null;
  /** The release `current` points at (what the next start serves). */
  version: string | null;
  /** The version the running process serves (`GET /`), when it answers. */
  runningVersion: string | null;
  healthCheckPresent: boolean;
  listening: boolean;
}

export async function vmStatus(dir: string): Promise<VmStatus> {
  const config = await readVmConfig(dir);
  const pid = await runningPid(dir);
  const listening = await canConnect(config.host, config.port, 500);
  // `/status`, not `/`: monitoring, which a bad release (`+failN`) never fails and /metrics never counts.
  const served = listening
    ? await getJson(config.host, config.port, "/status", 1_000).catch(() => null)
    : null;
  const runningVersion =
    typeof served === "object" &&
    served !== null &&
    typeof (served as { version?: unknown }).version === "string"
      ? (served as { version: string }).version
      : null;
  return {
    name: config.name,
    dir: vmPaths(dir).dir,
    address: `${config.host}:${config.port}`,
    running: pid !== null,
    pid,
    version: await currentVersion(dir),
    runningVersion,
    healthCheckPresent: await healthCheckPresent(dir),
    listening,
  };
}
