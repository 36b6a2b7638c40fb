import type { DeviceConfig } from "./config.js";

export type Health = "up" | "suspect" | "failed";
export type AdminState = "enabled" | "disabled";

/** A member of the binding list as given by an operator. */
export interface RealServerSpec {
  /** Defaults to `host:port`. */
  name?: string;
  host: string;
  port: number;
  /** 1-100, default 1. */
  weight?: number;
}

export interface ServerCounters {
  /** Session table entries now. */
  sessionsActive: number;
  sessionsOpened: number;
  closedByFin: number;
  closedByRst: number;
  agedOut: number;
  /** Clients reset because this server failed with resetOnPortFail on. */
  resetByDevice: number;
  /** Clients of an aged-out flow reset because the scheduler picked this server for it. */
  resetOnReschedule: number;
  refused: number;
  clientBytes: number;
  clientPackets: number;
  checksPassed: number;
  checksFailed: number;
}

export interface TotalCounters extends ServerCounters {
  /** New flows reset because no server was bound. */
  noServer: number;
  /** New flows reset because the session table was full. */
  tableFull: number;
  /** Client connections (TCP pairs) open now, including those whose entry aged out. */
  connectionsOpen: number;
}

export interface CountersView {
  totals: TotalCounters;
  servers: Record<string, ServerCounters>;
}

export interface LastCheck {
  at: string;
  ok: boolean;
  detail: string;
  durationMs: number;
}

export interface ServerView {
  name: string;
  host: string;
  port: number;
  weight: number;
  health: Health;
  /** Why the health is what it is: `initial` for a new server, else the check detail (`status 404`). */
  reason: string;
  adminState: AdminState;
  /** In service for new flows: enabled and not failed. */
  bound: boolean;
  /** ISO time of the last health or admin state change. */
  since: string;
  lastCheck: LastCheck | null;
  counters: ServerCounters;
}

export interface SessionView {
  /** `ip:port` of the client. */
  client: string;
  server: string;
  ageMs: number;
  idleMs: number;
  clientBytes: number;
  clientPackets: number;
}

export type SessionResetReason = "resetOnPortFail" | "resetOnReschedule";

export type DeviceEventBody =
  | { type: "server.health"; server: string; from: Health; to: Health; reason: string }
  | { type: "server.added"; server: string; host: string; port: number; weight: number }
  | { type: "server.removed"; server: string; sessionsDropped: number }
  | { type: "server.admin"; server: string; from: AdminState; to: AdminState }
  | { type: "config.changed"; fields: string[]; config: DeviceConfig }
  /** Device-sent RSTs, one event per action (a port failure, a burst of reschedules), not per session. */
  | { type: "session.reset"; server: string | null; reason: SessionResetReason; count: number }
  /** New flows refused because the table was full, since the previous such event. */
  | { type: "sessions.full"; maxSessions: number; rejected: number };

export type DeviceEventType = DeviceEventBody["type"];

export type DeviceEvent = DeviceEventBody & {
  seq: number;
  /** ISO time. */
  at: string;
  /** Epoch milliseconds. */
  atMs: number;
};
