import { EventEmitter } from "node:events";
import { type ELDHistogram, monitorEventLoopDelay } from "node:perf_hooks";
import { useAwakeClock } from "./awake.js";
import { LoadClient } from "./client.js";
import { LatencyRecorder } from "./latency.js";
import { type ResolvedLoadOptions, resolveLoadOptions } from "./options.js";
import { Tally } from "./tally.js";
import type { ErrorSample, LoadOptions, LoadReport, RequestOutcome, SecondReport } from "./types.js";

const MAX_ERROR_SAMPLES = 50;
// stop() waits for in-flight requests; each has its own timeoutMs deadline, this is only a backstop.
const STOP_GRACE_MS = 1000;

interface Slot {
  index: number;
  client: LoadClient;
  busy: boolean;
  /** One paced request came due while busy; it is sent as soon as the current one ends (never more than one). */
  pending: boolean;
  nextDueMs: number;
  timer: NodeJS.Timeout | undefined;
}

type State = "new" | "running" | "stopping" | "stopped";

/**
 * K keep-alive clients sending paced GETs to one target (or spread over several), counting every outcome. Never retries: a client that
 * retried would hide exactly the resets and 5xx a bad drain produces.
 *
 * Events: "second" (SecondReport) at each elapsed second, "error" (ErrorSample) for each failed request (only
 * emitted when someone listens, so an unhandled "error" never throws), "end" (LoadReport) once stopped.
 * Do not await `events.once(gen, "end")`: it rejects on the first "error" sample.
 */
export class LoadGenerator extends EventEmitter {
  private readonly opts: ResolvedLoadOptions;
  private readonly slots: Slot[];
  private readonly total = new Tally();
  private window = new Tally();
  private readonly seconds: SecondReport[] = [];
  private readonly samples: ErrorSample[] = [];
  private readonly latency: LatencyRecorder | null;
  private state: State = "new";
  private startedAtMs = 0;
  private endedAtMs = 0;
  private secondIndex = 0;
  private secondTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private stopping: Promise<LoadReport> | undefined;
  // A request timed out by this process's own stall (a GC pause, a busy test process running the proxy it
  // goes through) looks exactly like one the target never answered: the report says how long the loop stalled.
  private readonly loopDelay: ELDHistogram = monitorEventLoopDelay({ resolution: 20 });
  private releaseAwakeClock: (() => void) | undefined;

  constructor(opts: LoadOptions) {
    super();
    this.opts = resolveLoadOptions(opts);
    this.latency = this.opts.recordLatency ? new LatencyRecorder() : null;
    const { targets } = this.opts;
    this.slots = Array.from({ length: this.opts.clients }, (_, index) => ({
      index,
      client: new LoadClient({
        ...targets[index % targets.length]!,
        path: this.opts.path,
        timeoutMs: this.opts.timeoutMs,
        onConnection: () => {
          this.total.connectionOpened();
          this.window.connectionOpened();
        },
      }),
      busy: false,
      pending: false,
      nextDueMs: 0,
      timer: undefined,
    }));
  }

  start(): void {
    if (this.state !== "new") throw new Error(`LoadGenerator.start: already ${this.state}`);
    this.state = "running";
    this.startedAtMs = Date.now();
    this.loopDelay.enable();
    this.releaseAwakeClock = useAwakeClock();
    this.scheduleSecond();
    if (this.opts.durationMs !== undefined) {
      this.durationTimer = setTimeout(() => void this.stop(), this.opts.durationMs);
    }
    const intervalMs = this.intervalMs();
    for (const slot of this.slots) {
      if (intervalMs === 0) {
        this.fire(slot);
      } else {
        // Random phase: K clients started together must not hit the target in lockstep.
        slot.nextDueMs = this.startedAtMs + Math.random() * intervalMs;
        this.arm(slot);
      }
    }
  }

  /** Stops pacing, waits for in-flight requests (each bounded by timeoutMs), closes connections. Idempotent. */
  stop(): Promise<LoadReport> {
    this.stopping ??= this.finish();
    return this.stopping;
  }

  /** Running totals so far. */
  snapshot(): LoadReport {
    return this.report(this.state === "stopped" ? this.endedAtMs : Date.now());
  }

  private async finish(): Promise<LoadReport> {
    if (this.state === "new") this.startedAtMs = Date.now();
    this.state = "stopping";
    clearTimeout(this.durationTimer);
    for (const slot of this.slots) {
      clearTimeout(slot.timer);
      slot.pending = false;
    }
    await this.waitIdle(this.opts.timeoutMs + STOP_GRACE_MS);
    clearTimeout(this.secondTimer);
    this.endedAtMs = Date.now();
    // The last, partial second is reported only if something happened in it.
    if (this.window.requests > 0 || this.window.newConnections > 0) this.closeSecond();
    for (const slot of this.slots) slot.client.close();
    this.loopDelay.disable();
    this.releaseAwakeClock?.();
    this.state = "stopped";
    const report = this.report(this.endedAtMs);
    this.emit("end", report);
    return report;
  }

  private intervalMs(): number {
    return this.opts.rate === 0 ? 0 : (1000 * this.opts.clients) / this.opts.rate;
  }

  /** Paced mode: wakes the slot at its next due time (absolute schedule, so timer lateness does not drift). */
  private arm(slot: Slot): void {
    slot.timer = setTimeout(() => this.onDue(slot), Math.max(0, Math.ceil(slot.nextDueMs - Date.now())));
  }

  private onDue(slot: Slot): void {
    if (this.state !== "running") return;
    const now = Date.now();
    const intervalMs = this.intervalMs();
    // Due times are fractional and Date.now() is whole milliseconds: a timer can wake just before its slot.
    // Sending then (without consuming the slot) would nearly double the rate.
    if (slot.nextDueMs > now) {
      this.arm(slot);
      return;
    }
    // Slots missed while the loop was late collapse into at most one pending request: no bursts.
    let due = 0;
    while (slot.nextDueMs <= now) {
      slot.nextDueMs += intervalMs;
      due++;
    }
    if (slot.busy) slot.pending = true;
    else {
      this.fire(slot);
      if (due > 1) slot.pending = true;
    }
    this.arm(slot);
  }

  private fire(slot: Slot): void {
    slot.busy = true;
    this.inFlight++;
    slot.client.send((outcome) => this.onOutcome(slot, outcome));
  }

  private onOutcome(slot: Slot, outcome: RequestOutcome): void {
    slot.busy = false;
    this.inFlight--;
    this.record(slot, outcome);
    if (this.state === "running") {
      if (this.opts.rate === 0) {
        // setImmediate: a target failing instantly (refused) must not starve the timers of the event loop.
        setImmediate(() => {
          if (this.state === "running" && !slot.busy) this.fire(slot);
        });
      } else if (slot.pending) {
        slot.pending = false;
        this.fire(slot);
      }
    }
    if (this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private record(slot: Slot, outcome: RequestOutcome): void {
    this.total.add(outcome);
    this.window.add(outcome);
    if (!outcome.error) {
      this.latency?.add(outcome.latencyNs);
      return;
    }
    const sample: ErrorSample = {
      at: new Date().toISOString(),
      kind: outcome.error.kind,
      message: outcome.error.message,
      client: slot.index,
    };
    if (this.samples.length < MAX_ERROR_SAMPLES) this.samples.push(sample);
    if (this.listenerCount("error") > 0) this.emit("error", sample);
  }

  private waitIdle(boundMs: number): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const backstop = setTimeout(resolve, boundMs);
      this.idleWaiters.push(() => {
        clearTimeout(backstop);
        resolve();
      });
    });
  }

  private scheduleSecond(): void {
    const dueMs = this.startedAtMs + (this.secondIndex + 1) * 1000;
    this.secondTimer = setTimeout(
      () => {
        this.closeSecond();
        this.scheduleSecond();
      },
      Math.max(0, dueMs - Date.now()),
    );
  }

  private closeSecond(): void {
    const w = this.window;
    const second: SecondReport = {
      second: this.secondIndex,
      at: new Date(this.startedAtMs + this.secondIndex * 1000).toISOString(),
      requests: w.requests,
      ok: w.ok,
      errors: w.errorsCopy(),
      byServer: w.byServer(),
      byVersion: w.byVersion(),
      newConnections: w.newConnections,
    };
    this.seconds.push(second);
    this.secondIndex++;
    this.window = new Tally();
    this.emit("second", second);
  }

  private report(endMs: number): LoadReport {
    const t = this.total;
    const started = this.state === "new" ? endMs : this.startedAtMs;
    const report: LoadReport = {
      startedAt: new Date(started).toISOString(),
      endedAt: new Date(endMs).toISOString(),
      durationMs: endMs - started,
      requests: t.requests,
      ok: t.ok,
      errors: t.errorsCopy(),
      byServer: t.byServer(),
      byVersion: t.byVersion(),
      newConnections: t.newConnections,
      seconds: [...this.seconds],
      errorSamples: [...this.samples],
      loopStallMaxMs: this.loopDelay.count === 0 ? 0 : Math.round(this.loopDelay.max / 1e6),
    };
    const latencyMs = this.latency?.summary();
    if (latencyMs) report.latencyMs = latencyMs;
    return report;
  }
}
