import path from "node:path";

/** A VM or release name that is safe as one path segment (no `/`, no `..`, no shell metacharacters). */
export const VM_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Every file of one VM's on-disk layout (see the vm brief: vm.json, docroot/, releases/, current, ...). */
export interface VmPaths {
  dir: string;
  config: string;
  docroot: string;
  healthCheck: string;
  healthCheckDisabled: string;
  releases: string;
  current: string;
  pid: string;
  log: string;
  lastExit: string;
  journal: string;
}

export const HEALTH_CHECK_FILE = "health_check.html";

export function vmPaths(dir: string): VmPaths {
  const d = path.resolve(dir);
  const docroot = path.join(d, "docroot");
  return {
    dir: d,
    config: path.join(d, "vm.json"),
    docroot,
    healthCheck: path.join(docroot, HEALTH_CHECK_FILE),
    healthCheckDisabled: path.join(docroot, `${HEALTH_CHECK_FILE}.disabled`),
    releases: path.join(d, "releases"),
    current: path.join(d, "current"),
    pid: path.join(d, "vm.pid"),
    log: path.join(d, "vm.log"),
    lastExit: path.join(d, "last-exit.json"),
    journal: path.join(d, "jobs.journal"),
  };
}

/** `<labDir>/vms/<name>`; the name becomes a path segment, so it is validated. */
export function vmDir(labDir: string, name: string): string {
  if (!VM_NAME_RE.test(name)) {
    throw new Error(`invalid VM name ${JSON.stringify(name)}: expected ${VM_NAME_RE.source}`);
  }
  return path.resolve(labDir, "vms", name);
}
