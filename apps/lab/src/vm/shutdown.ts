import { readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import net from "node:net";
import { drainIdleMs, type VmConfig } from "./config.js";
import type { ConnectionTracker } from "./connections.js";
import type { BackgroundJobs } from "./jobs.js";
import { writeLastExitSync } from "./last-exit.js";
import type { VmPaths } from "./layout.js";
import type { VmLogger } from "./log.js";

export interface GracefulStopDeps {
  server: Server;
  config: VmConfig;
  paths: VmPaths;
  log: VmLogger;
  exit: (code: number) => void;
}

/**
 * SIGTERM/SIGINT handling: stop accepting, drain connections (see ConnectionTracker), wait for background
 * jobs, then record a clean exit; or, at the hard deadline, record exactly what was dropped and exit 1.
 */
export class GracefulStop {
  private signal: NodeJS.Signals | null = null;
  private startedAt = 0;
  private done = false;
  private tracker: ConnectionTracker | undefined;
  private jobs: BackgroundJobs | undefined;

  constructor(private readonly deps: GracefulStopDeps) {}

  /** Late binding: the tracker and the jobs call `settle()` back, so they are created after this. */
  watch(tracker: ConnectionTracker, jobs: BackgroundJobs): void {
    this.tracker = tracker;
    this.jobs = jobs;
  }

  get stopping(): boolean {
    return this.signal !== null;
  }

  begin(signal: NodeJS.Signals): void {
    const { config, log, server } = this.deps;
    if (hangsOnStop(this.deps.paths.config, config)) {
      log.warn("ignoring signal: faults.hangOnStop is set", { signal });
      return;
    }
    if (this.signal) {
      log.info("already stopping", { signal });
      return;
    }
    this.signal = signal;
    this.startedAt = Date.now();
    log.info("graceful stop: draining", {
      signal,
      connections: this.tracker?.counts(),
      pendingJobs: this.jobs?.ids() ?? [],
      drainLingerMs: config.drainLingerMs,
      drainIdleMs: drainIdleMs(config),
      stopDeadlineMs: config.stopDeadlineMs,
    });
    // Close only the listening handle. http.Server#close() (Node >= 19) also runs closeIdleConnections(),
    // which destroys idle keep-alive sockets on the spot: a client (or the L4 device's session) that sends
    // on such a connection at that instant gets a reset, the RFC 9112 §9.6 race. The tracker closes them
    // itself, with a linger and a FIN.
    net.Server.prototype.close.call(server);
    this.tracker?.beginDrain();
    setTimeout(() => this.deadline(), config.stopDeadlineMs).unref();
    this.settle();
  }

  /** Re-checks whether the drain is complete; called whenever a connection closed or a job finished. */
  settle(): void {
    if (!this.signal || this.done) return;
    if ((this.tracker?.size ?? 0) > 0 || (this.jobs?.size ?? 0) > 0) return;
    const lost = this.tracker?.lostAfterFin ?? 0;
    if (lost > 0) {
      // Every connection ended and the jobs are done, but requests crossed a FIN of ours: clients saw them
      // fail. Not a clean stop, so whatever stopped us (ebb-vm stop, an exec step) says so (issue 17).
      this.finish(1, {
        at: new Date().toISOString(),
        clean: false,
        signal: this.signal,
        inFlight: 0,
        droppedRequests: lost,
        droppedJobs: [],
        reason: `${lost} request(s) arrived after the server closed their idle keep-alive connection`,
      });
      return;
    }
    this.finish(0, {
      at: new Date().toISOString(),
      clean: true,
      signal: this.signal,
      inFlight: 0,
      droppedRequests: 0,
      droppedJobs: [],
      reason: "graceful stop",
    });
  }

  private deadline(): void {
    if (this.done) return;
    const inFlight = this.tracker?.inFlight() ?? 0;
    const droppedJobs = this.jobs?.ids() ?? [];
    this.deps.log.error(
      `stop deadline of ${this.deps.config.stopDeadlineMs} ms passed: dropping ${inFlight} in-flight ` +
        `request(s) and ${droppedJobs.length} background job(s)${droppedJobs.length ? `: ${droppedJobs.join(", ")}` : ""}`,
      { droppedRequests: inFlight, droppedJobs, connections: this.tracker?.counts() },
    );
    this.finish(1, {
      at: new Date().toISOString(),
      clean: false,
      signal: this.signal,
      inFlight,
      droppedRequests: inFlight,
      droppedJobs,
      reason: "stop deadline",
    });
  }

  private finish(code: number, exit: Parameters<typeof writeLastExitSync>[1]): void {
    this.done = true;
    const { log, paths } = this.deps;
    try {
      writeLastExitSync(paths.lastExit, exit);
    } catch (err) {
      log.error("cannot write last-exit.json", { err: (err as Error).message });
    }
    // Removed on every exit we control: a stale pid could name an unrelated process later.
    rmSync(paths.pid, { force: true });
    log.info(code === 0 ? "stopped cleanly" : "stopped uncleanly", {
      code,
      durationMs: Date.now() - this.startedAt,
    });
    this.deps.exit(code);
  }
}

/**
 * faults.hangOnStop as vm.json says it now, not as it said at start: a test arms the fault on a running
 * server (its next stop hangs) and clears it again (the operator's fix; the next SIGTERM stops it) without
 * a restart, which would drop the clients of a server in service. The start-time config when unreadable.
 */
function hangsOnStop(file: string, config: VmConfig): boolean {
  try {
    const faults = (JSON.parse(readFileSync(file, "utf8")) as { faults?: { hangOnStop?: unknown } }).faults;
    return faults?.hangOnStop === true;
  } catch {
    return config.faults?.hangOnStop === true;
  }
}
