import type { ServerCounters, TotalCounters } from "./types.js";

export function newServerCounters(): ServerCounters {
  return {
    sessionsActive: 0,
    sessionsOpened: 0,
    closedByFin: 0,
    closedByRst: 0,
    agedOut: 0,
    resetByDevice: 0,
    resetOnReschedule: 0,
    refused: 0,
    clientBytes: 0,
    clientPackets: 0,
    checksPassed: 0,
    checksFailed: 0,
  };
}

export function newTotalCounters(): TotalCounters {
  return { ...newServerCounters(), noServer: 0, tableFull: 0, connectionsOpen: 0 };
}

/** Why an entry left the session table; each maps to the counter it bumps, if any. */
export type DropReason = "fin" | "rst" | "aged" | "device" | "refused" | "removed" | "stopped";

const dropCounter: Record<DropReason, keyof ServerCounters | null> = {
  fin: "closedByFin",
  rst: "closedByRst",
  aged: "agedOut",
  device: "resetByDevice",
  refused: "refused",
  // The server left the binding list: its flows are forgotten, no counter of its remains.
  removed: null,
  stopped: null,
};

export function dropCounterOf(reason: DropReason): keyof ServerCounters | null {
  return dropCounter[reason];
}
