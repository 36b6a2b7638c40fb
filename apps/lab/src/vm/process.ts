import { readFileSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { vmPaths } from "./layout.js";

/** The pid in vm.pid, or null. */
export async function readPidFile(dir: string): Promise<number | null> {
  try {
    const pid = Number((await readFile(vmPaths(dir).pid, "utf8")).trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * Whether `pid` is a live VM server process. `kill(pid, 0)` alone is not enough: a zombie (a VM we spawned
 * that exited and was not reaped yet) answers it, and after a SIGKILL a stale vm.pid may name a recycled pid.
 * Where /proc exists, the command line must be ours.
 */
export function isVmProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: it exists but belongs to another user, so it is not a VM we started.
    return false;
  }
  let cmdline: string;
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // No /proc (macOS): trust kill(0). ENOENT: it exited between the two calls.
    return code !== "ENOENT" || !procAvailable();
  }
  return cmdline.split("\0").some((arg) => arg.endsWith("server.js"));
}

let procChecked: boolean | undefined;
function procAvailable(): boolean {
  if (procChecked === undefined) {
    try {
      readFileSync("/proc/self/cmdline");
      procChecked = true;
    } catch {
      procChecked = false;
    }
  }
  return procChecked;
}

/** The running VM's pid, or null (a stale vm.pid is removed). */
export async function runningPid(dir: string): Promise<number | null> {
  const pid = await readPidFile(dir);
  if (pid === null) return null;
  if (isVmProcessAlive(pid)) return pid;
  await rm(vmPaths(dir).pid, { force: true });
  return null;
}

/** Polls until the process is gone; false if it still runs at the deadline. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isVmProcessAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await delay(20);
  }
  return true;
}
