import { performance } from "node:perf_hooks";
import { type ProbeResult, probe, type RunningProbe } from "./health-probe.js";
import type { RealServer } from "./real-server.js";

export interface HealthCheckTiming {
  intervalMs: number;
  timeoutMs: number;
  mode: "l7" | "l4";
  path: string;
  expectStatus: number;
}

/**
 * One server's check loop. Checks start one interval apart (start to start, so a slow check does not
 * stretch the detection time) and never overlap: the next is only scheduled once the current one settled.
 */
export class HealthMonitor {
  private timer: NodeJS.Timeout | undefined;
  private inflight: RunningProbe | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly server: RealServer,
    private readonly timing: () => HealthCheckTiming,
    private readonly onResult: (server: RealServer, result: ProbeResult) => void,
  ) {}

  /** Checks at once, then every interval. */
  start(): void {
    this.run();
  }

  /** Applies a changed interval to the next check. */
  reschedule(): void {
    if (this.stopped || this.inflight) return;
    clearTimeout(this.timer);
    this.scheduleNext();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.inflight?.cancel();
    this.inflight = undefined;
  }

  private run(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const t = this.timing();
    this.lastStart = performance.now();
    const running = probe({
      host: this.server.host,
      port: this.server.port,
      mode: t.mode,
      path: t.path,
      expectStatus: t.expectStatus,
      timeoutMs: t.timeoutMs,
    });
    this.inflight = running;
    void running.result.then((result) => {
      if (this.stopped || this.inflight !== running) return;
      this.inflight = undefined;
      this.onResult(this.server, result);
      if (!this.stopped) this.scheduleNext();
    });
  }

  private scheduleNext(): void {
    const delay = Math.max(0, this.lastStart + this.timing().intervalMs - performance.now());
    this.timer = setTimeout(() => this.run(), delay);
    this.timer.unref();
  }
}
