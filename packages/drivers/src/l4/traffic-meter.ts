import type { TrafficSample } from "@ebb/core";
import type { DeviceServerCounters } from "./schemas.js";

interface Reading {
  opened: number;
  resets: number;
}

/**
 * Turns the device's cumulative per-server counters into per-sample deltas, one baseline per target.
 *
 * The first sample of a target only sets the baseline and reports 0 new sessions and 0 resets: the
 * counters cover the device's whole uptime, which says nothing about "now". A counter that went back
 * (the device restarted, the server was removed and re-added) restarts from zero, so the sample counts
 * what happened since.
 */
export class TrafficMeter {
  private readonly last = new Map<string, Reading>();

  sample(target: string, counters: DeviceServerCounters, at: Date): TrafficSample {
    const now: Reading = {
      opened: counters.sessionsOpened,
      resets: counters.closedByRst + counters.resetByDevice + counters.resetOnReschedule,
    };
    const before = this.last.get(target);
    this.last.set(target, now);
    return {
      at: at.toISOString(),
      activeSessions: counters.sessionsActive,
      newSessions: delta(before?.opened, now.opened),
      resets: delta(before?.resets, now.resets),
    };
  }
}

function delta(before: number | undefined, now: number): number {
  if (before === undefined) return 0;
  return now >= before ? now - before : now;
}
