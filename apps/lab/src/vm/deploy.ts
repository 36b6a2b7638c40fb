import { readVmConfig } from "./config.js";
import { assertValidVmVersion, installRelease } from "./release.js";

export class VmDeployFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "VmDeployFailedError";
  }
}

/** Installs releases/<version> and switches `current`; the running server keeps its version until restart. */
export async function deployVm(dir: string, version: string): Promise<void> {
  assertValidVmVersion(version);
  const config = await readVmConfig(dir);
  if (config.faults?.failDeploy)
    throw new VmDeployFailedError(`deploy of ${version} to ${config.name} failed (faults.failDeploy)`);
  await installRelease(dir, version);
}
