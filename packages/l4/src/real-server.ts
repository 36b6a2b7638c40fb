import { z } from "zod";
import { toConfigIssues } from "./config.js";
import { newServerCounters } from "./counters.js";
import { ConfigError } from "./errors.js";
import type { AdminState, Health, LastCheck, RealServerSpec, ServerCounters, ServerView } from "./types.js";

export const realServerSpecSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  weight: z.number().int().min(1).max(100).default(1),
});

export function parseServerSpec(spec: unknown): Required<RealServerSpec> {
  const parsed = realServerSpecSchema.safeParse(spec);
  if (!parsed.success) throw new ConfigError(toConfigIssues(parsed.error));
  const { host, port, weight } = parsed.data;
  return { name: parsed.data.name ?? `${host}:${port}`, host, port, weight };
}

/** One member of the binding list: its states, counters and scheduler bookkeeping. */
export class RealServer {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  // A new server is out of service until its first check passes.
  health: Health = "failed";
  /** Why `health` is what it is: `initial`, or the detail of the check that changed it. */
  reason = "initial";
  adminState: AdminState = "enabled";
  sinceMs = Date.now();
  lastCheck: LastCheck | null = null;
  /** Failed checks since the server became suspect. */
  failStreak = 0;
  /** Smooth weighted round robin state (nginx's algorithm). */
  rrCurrent = 0;
  removed = false;
  readonly counters: ServerCounters = newServerCounters();

  constructor(spec: Required<RealServerSpec>) {
    this.name = spec.name;
    this.host = spec.host;
    this.port = spec.port;
    this.weight = spec.weight;
  }

  get bound(): boolean {
    return !this.removed && this.adminState === "enabled" && this.health !== "failed";
  }

  view(): ServerView {
    return {
      name: this.name,
      host: this.host,
      port: this.port,
      weight: this.weight,
      health: this.health,
      reason: this.reason,
      adminState: this.adminState,
      bound: this.bound,
      since: new Date(this.sinceMs).toISOString(),
      lastCheck: this.lastCheck && { ...this.lastCheck },
      counters: { ...this.counters },
    };
  }
}
