import { readdirSync, readFileSync } from "node:fs";

/**
 * Whether a process still runs. A zombie counts as gone: an orphan is reparented to PID 1, which in a
 * container may never reap it, so `kill(pid, 0)` alone would call a dead process alive.
 */
export function isRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  // The state follows the command name, which is in parentheses and may itself hold spaces.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

/** Pids whose command line contains `marker` (to find a process a test started indirectly). */
export function pidsWithArg(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmdline.split("\0").includes(marker) && isRunning(Number(entry))) out.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}
