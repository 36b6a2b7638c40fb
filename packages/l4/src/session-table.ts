import { type DropReason, dropCounterOf } from "./counters.js";
import type { RealServer } from "./real-server.js";
import type { SessionView, TotalCounters } from "./types.js";

/** What the table needs of a flow; the connection pair itself carries its entry's fields. */
export interface SessionEntry {
  readonly key: string;
  server: RealServer;
  inTable: boolean;
  createdAt: number;
  lastClientAt: number;
  clientBytes: number;
  clientPackets: number;
}

/** The device's session table: client `ip:port` -> real server, with per-server and total bookkeeping. */
export class SessionTable<E extends SessionEntry = SessionEntry> {
  private readonly entries = new Map<string, E>();

  constructor(private readonly totals: TotalCounters) {}

  get size(): number {
    return this.entries.size;
  }

  add(entry: E, server: RealServer, now = Date.now()): void {
    const previous = this.entries.get(entry.key);
    if (previous && previous !== entry) this.drop(previous, "stopped");
    entry.server = server;
    entry.inTable = true;
    entry.createdAt = now;
    entry.lastClientAt = now;
    entry.clientBytes = 0;
    entry.clientPackets = 0;
    this.entries.set(entry.key, entry);
    server.counters.sessionsActive++;
    server.counters.sessionsOpened++;
    this.totals.sessionsActive++;
    this.totals.sessionsOpened++;
  }

  /** Forgets a flow; false if it had no entry (already dropped or aged out). */
  drop(entry: E, reason: DropReason): boolean {
    if (!entry.inTable) return false;
    entry.inTable = false;
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
    const c = entry.server.counters;
    c.sessionsActive--;
    this.totals.sessionsActive--;
    const counter = dropCounterOf(reason);
    if (counter) {
      c[counter]++;
      this.totals[counter]++;
    }
    return true;
  }

  /** Drops entries idle longer than `idleMs`; the connections themselves are left alone. */
  sweep(idleMs: number, now = Date.now()): number {
    let aged = 0;
    for (const entry of this.entries.values()) {
      if (now - entry.lastClientAt > idleMs) {
        this.drop(entry, "aged");
        aged++;
      }
    }
    return aged;
  }

  /** Entries of one server (or all). */
  list(server?: RealServer): E[] {
    const out: E[] = [];
    for (const entry of this.entries.values()) if (!server || entry.server === server) out.push(entry);
    return out;
  }

  countsByServer(): Map<string, number> {
    const out = new Map<string, number>();
    for (const entry of this.entries.values()) {
      out.set(entry.server.name, (out.get(entry.server.name) ?? 0) + 1);
    }
    return out;
  }
}

export function sessionView(entry: SessionEntry, now = Date.now()): SessionView {
  return {
    client: entry.key,
    server: entry.server.name,
    ageMs: now - entry.createdAt,
    idleMs: now - entry.lastClientAt,
    clientBytes: entry.clientBytes,
    clientPackets: entry.clientPackets,
  };
}
