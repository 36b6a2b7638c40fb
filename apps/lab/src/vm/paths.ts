import { chmodSync } from "node:fs";
import { fileURLToPath } from "node:url";

// This module lives in src/vm (tests, via the @ebb/source condition) or dist/vm (built): either way the
// package root is two levels up, and the executables are always the built ones.
const distVm = (file: string) => fileURLToPath(new URL(`../../dist/vm/${file}`, import.meta.url));

/** Absolute path of the built `ebb-vm` command (dist/vm/ctl.js), for runbook exec steps. */
export function ctlPath(): string {
  const file = distVm("ctl.js");
  try {
    // tsc does not keep the executable bit, and an exec step may run the file directly (its shebang).
    chmodSync(file, 0o755);
  } catch {
    // Not built yet: callers get the path and a clear ENOENT when they run it.
  }
  return file;
}

/** Absolute path of the built VM web server (dist/vm/server.js). */
export function serverPath(): string {
  return distVm("server.js");
}
