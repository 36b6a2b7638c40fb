import type { DiscoveredTarget } from "./drivers.js";

/** A stored target as discovery compares it: `gone` when it was last seen missing from the platform. */
export interface StoredTarget {
  name: string;
  host: string;
  port: number;
  gone: boolean;
}

/** What the platform's list changes in the stored targets of a fleet. */
export interface TargetDiscovery {
  /** Targets the platform runs and no stored target names: new targets. */
  added: DiscoveredTarget[];
  /** Stored targets present before and missing now: gone (kept, with their rollout history). */
  gone: string[];
  /** Stored targets marked gone that the platform runs again (a StatefulSet scaled back up). */
  returned: string[];
  /** Stored targets the platform lists at another address (a StatefulSet pod re-created, a new IP). */
  moved: { name: string; host: string; port: number }[];
  /** Names of the targets the platform runs now, stored or not, sorted: what a rollout plans over. */
  current: string[];
}

/**
 * Compares the stored targets with the targets the platform runs now. Nothing is ever removed: a gone target keeps its
 * row because target runs reference it; it is only left out of plans. A member without an address yet keeps
 * the stored one (its IP is not known, not changed).
 */
export function targetDiscovery(
  stored: readonly StoredTarget[],
  live: readonly DiscoveredTarget[],
): TargetDiscovery {
  const byName = new Map(stored.map((t) => [t.name, t]));
  const liveNames = new Set(live.map((m) => m.name));
  const added: DiscoveredTarget[] = [];
  const returned: string[] = [];
  const moved: TargetDiscovery["moved"] = [];
  for (const m of live) {
    const t = byName.get(m.name);
    if (!t) {
      added.push(m);
      continue;
    }
    if (t.gone) returned.push(m.name);
    if (m.host !== "" && (m.host !== t.host || m.port !== t.port))
      moved.push({ name: m.name, host: m.host, port: m.port });
  }
  const gone = stored.filter((t) => !t.gone && !liveNames.has(t.name)).map((t) => t.name);
  const byNameOrder = (a: string, b: string) => a.localeCompare(b);
  return {
    added: added.sort((a, b) => byNameOrder(a.name, b.name)),
    gone: gone.sort(byNameOrder),
    returned: returned.sort(byNameOrder),
    moved: moved.sort((a, b) => byNameOrder(a.name, b.name)),
    current: [...liveNames].sort(byNameOrder),
  };
}

/** Whether the platform's list changes anything stored (so nothing is written, or audited, when not). */
export function changesTargets(change: TargetDiscovery): boolean {
  return change.added.length + change.gone.length + change.returned.length + change.moved.length > 0;
}
