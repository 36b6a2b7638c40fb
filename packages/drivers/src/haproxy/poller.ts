import { EbbError } from "@ebb/core";
import type { RuntimeApiClient } from "./runtime-api.js";
import { parseServersState, parseShowStat, type ServerStat } from "./stats.js";

export interface StatReading {
  /** Date.now() when the answer arrived. */
  atMs: number;
  /** The backend's servers by server name. */
  servers: Map<string, ServerStat>;
  /** HAProxy answered that it has no such backend ("No such proxy."): servers is empty. */
  backendMissing?: string;
}

/**
 * One `show stat` per backend per tick, however many targets ask: HAProxy 2.6 has no event stream, so
 * every waiting step polls, and fifty targets each asking would be fifty connections to the stats socket
 * per tick. A reading younger than `maxAgeMs` is shared; concurrent readers share the one in flight.
 *
 * It also keeps what a drain reveals about the check timing: the times at which each server's failed
 * check counter (chkfail) rose. HAProxy prints rise and fall but never `inter`; two consecutive
 * increments while a server is failing are one `inter` apart (to within a tick).
 */
export class StatPoller {
  private last: StatReading | undefined;
  /** What listeners last saw: kept across invalidate(), so a change is told as a change. */
  private told: StatReading | undefined;
  private inFlight: Promise<StatReading> | undefined;
  private readonly chkfailSeen = new Map<string, { value: number; atMs: number }>();
  private readonly intervals: number[] = [];
  private readonly listeners = new Set<(reading: StatReading, previous: StatReading | undefined) => void>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: RuntimeApiClient,
    private readonly backend: string,
    readonly tickMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  read(maxAgeMs = this.tickMs): Promise<StatReading> {
    if (this.last && this.now() - this.last.atMs < maxAgeMs) return Promise.resolve(this.last);
    if (!this.inFlight) {
      const p = this.fetch().finally(() => {
        if (this.inFlight === p) this.inFlight = undefined;
      });
      this.inFlight = p;
    }
    return this.inFlight;
  }

  /** After a state change: the next reader must not be served a reading from before it. */
  invalidate(): void {
    this.last = undefined;
  }

  /** The check interval seen between failed checks, the smallest gap, or undefined before any drain. */
  observedInterMs(): number | undefined {
    return this.intervals.length === 0 ? undefined : Math.min(...this.intervals);
  }

  /**
   * Polls every tick while someone listens (the engine's wait scheduler re-checks a waiting step when
   * its target changes). The returned function stops listening; the last listener stops the timer.
   */
  subscribe(listener: (reading: StatReading, previous: StatReading | undefined) => void): () => void {
    this.listeners.add(listener);
    if (!this.timer) {
      this.timer = setInterval(() => {
        void this.read(this.tickMs / 2).catch(() => {});
      }, this.tickMs);
      this.timer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private async fetch(): Promise<StatReading> {
    // `show stat <proxy> 4 -1`: only this backend's server lines (type 4), not the whole process.
    let answer: string;
    try {
      answer = await this.client.command(`show stat ${this.backend} 4 -1`);
    } catch (err) {
      // A missing backend is a reading, not an outage: preflight must be able to say so, naming it.
      if (!(err instanceof EbbError) || err.code !== "not_found") throw err;
      const reading: StatReading = { atMs: this.now(), servers: new Map(), backendMissing: err.message };
      this.last = reading;
      return reading;
    }
    const atMs = this.now();
    const servers = new Map(
      parseShowStat(answer)
        .filter((s) => s.backend === this.backend)
        .map((s) => [s.server, s]),
    );
    if ([...servers.values()].some((s) => /^(DOWN|NOLB)/.test(s.status))) {
      // `show stat` prints DOWN for a server that is both drained and failing its checks: the admin state
      // tells whether an operator (or Ebb) took it out. Only then: one more command per tick, not per target.
      const states = parseServersState(await this.client.command(`show servers state ${this.backend}`));
      for (const st of states) {
        const stat = servers.get(st.server);
        if (stat) stat.admin = st.admin;
      }
    }
    const reading: StatReading = { atMs, servers };
    this.noteChecks(reading);
    const previous = this.told;
    this.last = reading;
    this.told = reading;
    for (const listener of this.listeners) listener(reading, previous);
    return reading;
  }

  private noteChecks(reading: StatReading): void {
    for (const [name, stat] of reading.servers) {
      const seen = this.chkfailSeen.get(name);
      if (seen && stat.chkfail === seen.value + 1) {
        // One more failed check since the last reading: the gap bounds `inter` from above, to within a tick.
        this.intervals.push(reading.atMs - seen.atMs);
        if (this.intervals.length > 32) this.intervals.shift();
      }
      if (!seen || stat.chkfail !== seen.value)
        this.chkfailSeen.set(name, { value: stat.chkfail, atMs: reading.atMs });
    }
  }
}
