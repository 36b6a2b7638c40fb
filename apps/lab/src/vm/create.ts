import { access, mkdir, writeFile } from "node:fs/promises";
import { parseVmConfig, type VmConfigInput, type VmFaults } from "./config.js";
import { setHealthCheck } from "./health.js";
import { vmDir, vmPaths } from "./layout.js";
import { assertValidVmVersion, installRelease } from "./release.js";

export interface VmSpec {
  name: string;
  host: string;
  port: number;
  /** Initial release, default "1.0.0"; ignored when the VM already has one. */
  version?: string;
  keepAliveTimeoutMs?: number;
  drainLingerMs?: number;
  drainIdleMs?: number;
  stopDeadlineMs?: number;
  headersTimeoutMs?: number;
  faults?: VmFaults;
}

/**
 * Writes a VM's layout: vm.json, docroot/health_check.html and a first release. Re-creating an existing VM
 * rewrites vm.json and keeps its releases, `current` and health-check state.
 */
export async function createVm(labDir: string, spec: VmSpec): Promise<string> {
  const { version = "1.0.0", ...rest } = spec;
  const input: VmConfigInput = rest;
  // Validate before touching the disk, so a bad spec creates nothing; keep defaults implicit in vm.json.
  parseVmConfig(input, `VM spec ${JSON.stringify(spec.name)}`);
  assertValidVmVersion(version);
  const dir = vmDir(labDir, spec.name);
  const p = vmPaths(dir);
  await mkdir(p.docroot, { recursive: true });
  await mkdir(p.releases, { recursive: true });
  await writeFile(p.config, `${JSON.stringify(input, null, 2)}\n`);
  const hasHealthFile = await access(p.healthCheckDisabled).then(
    () => true,
    () => false,
  );
  if (!hasHealthFile) await setHealthCheck(dir, true);
  const hasCurrent = await access(p.current).then(
    () => true,
    () => false,
  );
  if (!hasCurrent) await installRelease(dir, version);
  return dir;
}
