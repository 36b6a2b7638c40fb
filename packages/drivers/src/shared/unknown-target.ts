import type { TargetSnapshot } from "@ebb/core";

/** A target the balancer does not know: no traffic, out of rotation, and said so (`unknown`). */
export function unknownSnapshot(name: string): TargetSnapshot {
  return { name, state: "unknown", bound: false, sessions: 0, sessionsOpened: 0, resets: 0 };
}
