import type { Connection } from "./connections.js";
import type { EndpointView } from "./kube.js";

export interface DrainSettings {
  propagationMs: number;
  holdMs: number;
  graceMs: number;
  shutdownBudgetMs: number;
}

/** One look at the pod: its endpoints (null when the API could not be read) and its app connections. */
export interface Observation {
  at: number;
  endpoints: EndpointView | null;
  connections: Connection[];
}

export type ReleaseReason = "drained" | "grace-limit";

/** What the hook saw, for its log and for Ebb. Times in ms since the preStop call. */
export interface DrainReport {
  reason: ReleaseReason;
  heldMs: number;
  /** When no slice routed new traffic to the pod any more (null: never seen, e.g. the API was unreachable). */
  endpointOutAtMs: number | null;
  slices: string[];
  propagationMs: number;
  holdMs: number;
  limitMs: number;
  /** New connections seen after the preStop call, and those after the propagation window (late traffic). */
  newConnections: number;
  lateConnections: number;
  lastNewConnectionAtMs: number | null;
  openConnectionsAtRelease: number;
  apiErrors: number;
}

/**
 * The decision, free of I/O: fed observations, it says when to let SIGTERM through. Release when (a) no
 * EndpointSlice routes new traffic to the pod, (b) the propagation window has passed since that was seen,
 * and (c) no new connection arrived for the hold time; at grace - shutdown budget whatever happens, so the
 * app still has its budget before the kubelet's SIGKILL.
 */
export class Drain {
  readonly startedAt: number;
  readonly limitAt: number;
  private endpointOutAt: number | null = null;
  private slices = new Set<string>();
  private known: Set<string> | null = null;
  private lastNewAt: number | null = null;
  private newCount = 0;
  private lateCount = 0;
  private apiErrors = 0;
  private open = 0;

  constructor(
    private readonly s: DrainSettings,
    now: number,
  ) {
    this.startedAt = now;
    this.limitAt = now + Math.max(0, s.graceMs - s.shutdownBudgetMs);
  }

  observe(o: Observation): void {
    if (o.endpoints === null) this.apiErrors++;
    else {
      for (const name of o.endpoints.listed) this.slices.add(name);
      if (o.endpoints.serving.length > 0) this.endpointOutAt = null;
      else this.endpointOutAt ??= o.at;
    }
    const keys = new Set(o.connections.map((c) => `${c.remote}#${c.inode}`));
    this.open = keys.size;
    if (this.known !== null) {
      let fresh = 0;
      for (const k of keys) if (!this.known.has(k)) fresh++;
      if (fresh > 0) {
        this.newCount += fresh;
        this.lastNewAt = o.at;
        const windowEnd = this.windowEnd();
        if (windowEnd !== null && o.at > windowEnd) this.lateCount += fresh;
      }
    }
    this.known = keys;
  }

  private windowEnd(): number | null {
    return this.endpointOutAt === null ? null : this.endpointOutAt + this.s.propagationMs;
  }

  /** The reason to release now, or null to keep holding. */
  decide(now: number): ReleaseReason | null {
    const windowEnd = this.windowEnd();
    if (windowEnd !== null && now >= windowEnd) {
      const quietSince = Math.max(this.lastNewAt ?? this.startedAt, this.startedAt);
      if (now - quietSince >= this.s.holdMs) return "drained";
    }
    return now >= this.limitAt ? "grace-limit" : null;
  }

  report(reason: ReleaseReason, now: number): DrainReport {
    const rel = (t: number | null) => (t === null ? null : t - this.startedAt);
    return {
      reason,
      heldMs: now - this.startedAt,
      endpointOutAtMs: rel(this.endpointOutAt),
      slices: [...this.slices].sort(),
      propagationMs: this.s.propagationMs,
      holdMs: this.s.holdMs,
      limitMs: this.limitAt - this.startedAt,
      newConnections: this.newCount,
      lateConnections: this.lateCount,
      lastNewConnectionAtMs: rel(this.lastNewAt),
      openConnectionsAtRelease: this.open,
      apiErrors: this.apiErrors,
    };
  }
}
