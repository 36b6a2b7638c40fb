import { createParser, type EventSourceMessage } from "eventsource-parser";
import { describeNetworkError } from "./admin-client.js";
import { type DeviceEventView, deviceEventListSchema, deviceEventSchema } from "./schemas.js";

/** A device event as the worker needs it: which server changed, how, and when. */
export interface L4WatchEvent {
  /** The server the event is about; `*` for device-wide events (config, table full) and resyncs. */
  server: string;
  /** The device's event type (`server.health`, `server.admin`, ...) or `watch.resync`. */
  type: string;
  /** ISO time. */
  at: string;
  /** The new state for `server.health` (`up`/`suspect`/`failed`) and `server.admin` (`enabled`/`disabled`). */
  to?: string;
}

/**
 * Emitted when the watch cannot prove it missed nothing: reconnected after the device restarted (its
 * sequence numbers start over), after its event ring overflowed, or after a stream that had not yet
 * carried an event. Whoever waits on a state must re-check it.
 */
export const WATCH_RESYNC = "watch.resync";

export interface WatchOptions {
  /** First reconnect delay; doubles per failed attempt up to maxBackoffMs. Default 250 ms. */
  initialBackoffMs?: number;
  /** Default 10 s. */
  maxBackoffMs?: number;
  /**
   * Reconnect when the stream carried nothing (not even the device's 15 s heartbeat) for this long: a
   * half-open TCP connection never errors on its own. Default 45 s.
   */
  idleTimeoutMs?: number;
}

interface WatchDeps extends Required<WatchOptions> {
  baseUrl: string;
  connectTimeoutMs: number;
  log: (line: string) => void;
  onEvent: (e: L4WatchEvent) => void;
}

/**
 * `GET /events` (SSE) with reconnects. On reconnect it resumes with `Last-Event-ID` when the device is
 * provably the same one that sent the last event (the event with that seq still carries the same
 * timestamp); otherwise it reports WATCH_RESYNC and replays what the device still holds.
 */
export class DeviceEventWatch {
  private lastSeq = 0;
  private lastAtMs = 0;
  private established = false;
  private closed = false;
  private controller: AbortController | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly deps: WatchDeps) {}

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.closed = true;
    this.controller?.abort();
    this.wake?.();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      let streamed = false;
      try {
        streamed = await this.streamOnce();
        if (!this.closed) this.deps.log(`L4 event stream ${this.deps.baseUrl}/events ended; reconnecting`);
      } catch (err) {
        if (this.closed) break;
        this.deps.log(`L4 event stream ${this.deps.baseUrl}/events failed: ${describeNetworkError(err)}`);
      }
      failures = streamed ? 0 : failures + 1;
      await this.pause(this.backoffMs(failures));
    }
  }

  private backoffMs(failures: number): number {
    const { initialBackoffMs, maxBackoffMs } = this.deps;
    const base = Math.min(maxBackoffMs, initialBackoffMs * 2 ** Math.max(0, failures - 1));
    // Jitter, so workers that lost the device together do not all come back in the same millisecond.
    return base / 2 + (Math.random() * base) / 2;
  }

  private pause(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), ms);
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }

  /** One connection; resolves true if the stream was established (whatever ended it). */
  private async streamOnce(): Promise<boolean> {
    const resumeFrom = await this.resumePoint();
    if (this.closed) return false;
    const controller = new AbortController();
    this.controller = controller;
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (resumeFrom !== undefined) headers["last-event-id"] = String(resumeFrom);
    const connectTimer = setTimeout(
      () => controller.abort(new Error(`no answer within ${this.deps.connectTimeoutMs} ms`)),
      this.deps.connectTimeoutMs,
    );
    let res: Response;
    try {
      res = await fetch(`${this.deps.baseUrl}/events`, { headers, signal: controller.signal });
    } finally {
      clearTimeout(connectTimer);
    }
    if (!res.ok || !res.body) {
      await res.body?.cancel();
      throw new Error(`GET /events answered HTTP ${res.status}`);
    }
    this.established = true;
    const parser = createParser({ onEvent: (msg) => this.onMessage(msg) });
    let idle: NodeJS.Timeout | undefined;
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(new Error("event stream idle")), this.deps.idleTimeoutMs);
    };
    armIdle();
    const decoder = new TextDecoder();
    try {
      for await (const chunk of res.body) {
        armIdle();
        parser.feed(decoder.decode(chunk, { stream: true }));
      }
    } catch (err) {
      if (this.closed) return true;
      const reason = controller.signal.aborted ? controller.signal.reason : err;
      this.deps.log(`L4 event stream cut: ${describeNetworkError(reason)}`);
    } finally {
      clearTimeout(idle);
    }
    return true;
  }

  /**
   * Where to resume: undefined = live only (first connection), a seq = replay after it. Probes the ring
   * with `since=lastSeq-1`: the same device still holds event `lastSeq` with the same timestamp (unless
   * its ring overflowed); a restarted one holds fewer events, or another event under that number.
   */
  private async resumePoint(): Promise<number | undefined> {
    if (!this.established) return undefined;
    if (this.lastSeq === 0) {
      this.resync();
      return undefined;
    }
    const res = await fetch(`${this.deps.baseUrl}/events?format=json&since=${this.lastSeq - 1}`, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(this.deps.connectTimeoutMs),
    });
    if (!res.ok) throw new Error(`GET /events?format=json answered HTTP ${res.status}`);
    const events = deviceEventListSchema.parse(await res.json());
    const first = events[0];
    if (first !== undefined && first.seq === this.lastSeq && first.atMs === this.lastAtMs)
      return this.lastSeq;
    this.resync();
    this.lastSeq = 0;
    this.lastAtMs = 0;
    return 0;
  }

  private resync(): void {
    this.emit({ server: "*", type: WATCH_RESYNC, at: new Date().toISOString() });
  }

  private onMessage(msg: EventSourceMessage): void {
    let event: DeviceEventView;
    try {
      event = deviceEventSchema.parse(JSON.parse(msg.data));
    } catch (err) {
      this.deps.log(`L4 event stream: ignoring an unreadable event (${(err as Error).message})`);
      return;
    }
    // A stream of one device only ever moves forward; a smaller seq is a restarted device.
    if (event.seq <= this.lastSeq) this.resync();
    this.lastSeq = event.seq;
    this.lastAtMs = event.atMs;
    const out: L4WatchEvent = { server: event.server ?? "*", type: event.type, at: event.at };
    if (event.to !== undefined) out.to = event.to;
    this.emit(out);
  }

  private emit(e: L4WatchEvent): void {
    if (this.closed) return;
    try {
      this.deps.onEvent(e);
    } catch (err) {
      this.deps.log(`L4 event listener failed on ${e.type}: ${String(err)}`);
    }
  }
}
