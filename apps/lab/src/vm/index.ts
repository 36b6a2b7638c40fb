// The lab VM: a real web server process per target, with the on-disk layout, graceful stop and control
// command of the vm brief. The lab world and tests use these; runbook exec steps run ctlPath().
export { parseVmConfig, readVmConfig, type VmConfig, VmConfigError, type VmFaults } from "./config.js";
export { createVm, type VmSpec } from "./create.js";
export { deployVm, VmDeployFailedError } from "./deploy.js";
export { setHealthCheck } from "./health.js";
export type { LastExit } from "./last-exit.js";
export { type VmPaths, vmDir, vmPaths } from "./layout.js";
export { startVm, stopVm, type VmStartResult, type VmStopOptions, type VmStopResult } from "./lifecycle.js";
export { ctlPath, serverPath } from "./paths.js";
export { assertValidVmVersion, InvalidVmVersionError, VM_VERSION_RE } from "./release.js";
export { type VmStatus, vmStatus } from "./status.js";
