import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { readFile, rm, stat } from "node:fs/promises";
import { setTimeout as delay } from "node:timers/promises";
import { readVmConfig } from "./config.js";
import { JobJournal } from "./journal.js";
import { type LastExit, readLastExit, removeLastExit } from "./last-exit.js";
import { vmPaths } from "./layout.js";
import { serverPath } from "./paths.js";
import { getJson } from "./probe.js";
import { runningPid, waitForExit } from "./process.js";
import { currentVersion } from "./release.js";

const START_DEADLINE_MS = 10_000;

export interface VmStartResult {
  pid: number;
  version: string;
  /** It was running already; nothing was started. */
  alreadyRunning: boolean;
}

/** What vm.log gained since `offset` (last lines only): why a VM that died at start died. */
async function logTail(file: string, offset: number, lines = 20): Promise<string> {
  try {
    const text = (await readFile(file)).subarray(offset).toString("utf8");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no vm.log)";
  }
}

function servedPid(value: unknown): { pid: number; version: string } | null {
  if (typeof value !== "object" || value === null) return null;
  const { pid, version } = value as Record<string, unknown>;
  return typeof pid === "number" && typeof version === "string" ? { pid, version } : null;
}

/**
 * Starts the VM's web server as a detached process (stdout/stderr appended to vm.log) and returns once it
 * answers `GET /status` with its own pid on host:port: a port answered by someone else does not count.
 * Idempotent. `/status` is monitoring: never counted as traffic, never failed by a bad release's flag.
 */
export async function startVm(dir: string): Promise<VmStartResult> {
  const paths = vmPaths(dir);
  const config = await readVmConfig(dir);
  const running = await runningPid(dir);
  if (running !== null) {
    const version = await getJson(config.host, config.port, "/status")
      .then((v) => servedPid(v)?.version)
      .catch(() => undefined);
    return {
      pid: running,
      version: version ?? (await currentVersion(dir)) ?? "unknown",
      alreadyRunning: true,
    };
  }
  const server = serverPath();
  if (!existsSync(server)) throw new Error(`${server} not found: build first (npx tsc -b apps/lab)`);

  const logOffset = await stat(paths.log).then(
    (s) => s.size,
    () => 0,
  );
  const fd = openSync(paths.log, "a");
  const child = (() => {
    try {
      return spawn(process.execPath, [server, "--dir", paths.dir], {
        detached: true,
        stdio: ["ignore", fd, fd],
        cwd: paths.dir,
      });
    } finally {
      closeSync(fd);
    }
  })();
  child.unref();
  let exited: string | null = null;
  child.once("exit", (code, signal) => {
    exited = signal ? `killed by ${signal}` : `exited with code ${code}`;
  });
  child.once("error", (err) => {
    exited = `could not be spawned: ${err.message}`;
  });

  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    if (exited !== null) {
      throw new Error(
        `VM ${config.name} ${exited} during start; vm.log:\n${await logTail(paths.log, logOffset)}`,
      );
    }
    const served = await getJson(config.host, config.port, "/status", 500).then(servedPid, () => null);
    if (served && served.pid === child.pid) return { ...served, alreadyRunning: false };
    if (Date.now() >= deadline) {
      child.kill("SIGKILL");
      const who = served ? ` (pid ${served.pid}, another process, answers there)` : "";
      throw new Error(
        `VM ${config.name} did not answer on ${config.host}:${config.port}${who} within ${START_DEADLINE_MS} ms; ` +
          `vm.log:\n${await logTail(paths.log, logOffset)}`,
      );
    }
    await delay(25);
  }
}

export interface VmStopOptions {
  /** How long to wait for the process to exit; default: the VM's stopDeadlineMs plus 5 s. */
  timeoutMs?: number;
  signal?: "SIGTERM" | "SIGKILL";
}

/** last-exit.json plus what the stop itself saw; a LastExit for callers that only need that. */
export interface VmStopResult extends LastExit {
  /** stopped: exited after the signal; not-running: nothing to stop; timeout: still running at the deadline. */
  outcome: "stopped" | "not-running" | "timeout";
  pid: number | null;
}

function synthesized(
  clean: boolean,
  reason: string,
  droppedJobs: string[] = [],
  signal: string | null = null,
): LastExit {
  return {
    at: new Date().toISOString(),
    clean,
    signal,
    inFlight: 0,
    droppedRequests: 0,
    droppedJobs,
    reason,
  };
}

/**
 * Stops the VM and waits until its process really exited, then returns its last-exit.json. Never throws for
 * an unclean stop: `clean` is true only for a graceful exit with nothing dropped. Not running -> clean,
 * outcome "not-running". Still running at the timeout -> not clean, outcome "timeout". SIGKILL -> not clean,
 * droppedJobs read from the journal.
 */
export async function stopVm(dir: string, opts: VmStopOptions = {}): Promise<VmStopResult> {
  const paths = vmPaths(dir);
  const signal = opts.signal ?? "SIGTERM";
  const pid = await runningPid(dir);
  if (pid === null) return { ...synthesized(true, "not running"), outcome: "not-running", pid };
  const timeoutMs =
    opts.timeoutMs ??
    (await readVmConfig(dir).then(
      (c) => c.stopDeadlineMs,
      () => 30_000,
    )) + 5_000;

  // A last-exit.json from an earlier run must not pass for this one's.
  await removeLastExit(paths.lastExit);
  try {
    process.kill(pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ESRCH")
      throw new Error(`cannot signal pid ${pid}`, { cause: err });
  }
  if (!(await waitForExit(pid, timeoutMs))) {
    const reason = `did not exit within ${timeoutMs} ms after ${signal} (pid ${pid} still running)`;
    return { ...synthesized(false, reason, [], signal), outcome: "timeout", pid };
  }
  await rm(paths.pid, { force: true });
  const unfinished = new JobJournal(paths.journal).unfinished();
  const exit =
    signal === "SIGKILL"
      ? synthesized(false, "killed with SIGKILL: nothing was drained", unfinished, signal)
      : ((await readLastExit(paths.lastExit)) ??
        synthesized(false, "exited without writing last-exit.json (crashed?)", unfinished, signal));
  return { ...exit, outcome: "stopped", pid };
}
