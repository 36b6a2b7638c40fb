import type { FleetLive, LiveMember, LiveTarget } from "@ebb/contracts";
import type { Balancer, Target, TargetSnapshot } from "@ebb/core";
import type { DriverRegistry, FleetRecord } from "@ebb/engine";
import type { PrismaClient } from "../generated/prisma/client.js";

type Listener = (live: FleetLive) => void;

interface Sampler {
  listeners: Set<Listener>;
  timer: NodeJS.Timeout | undefined;
  fleet?: FleetRecord & { targets: (Target & { versionUrl?: string })[] };
  fleetLoadedAt: number;
  last?: { at: number; byName: Map<string, TargetSnapshot> };
  versions: Map<string, { version: string | null; at: number }>;
}

const SAMPLE_MS = 1_000;
const FLEET_REFRESH_MS = 10_000;
const VERSION_REFRESH_MS = 2_000;
const VERSION_TIMEOUT_MS = 500;

/**
 * Live traffic per fleet, for the dashboard: one sampler per fleet however many streams watch it, running
 * only while someone does. It reads the balancer's cumulative counters (`snapshot`) and keeps its own
 * baselines, so it never takes deltas away from a `traffic.awaitQuiet` step's own readings.
 */
export class LiveTraffic {
  private readonly samplers = new Map<string, Sampler>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly drivers: DriverRegistry,
    private readonly now: () => number = Date.now,
  ) {}

  /** Calls `listener` about once a second with the fleet's targets. Returns the unsubscribe. */
  subscribe(fleetName: string, listener: Listener): () => void {
    let sampler = this.samplers.get(fleetName);
    if (!sampler) {
      sampler = { listeners: new Set(), timer: undefined, fleetLoadedAt: 0, versions: new Map() };
      this.samplers.set(fleetName, sampler);
      this.schedule(fleetName, sampler, 0);
    }
    sampler.listeners.add(listener);
    const s = sampler;
    return () => {
      s.listeners.delete(listener);
      if (s.listeners.size === 0) {
        clearTimeout(s.timer);
        this.samplers.delete(fleetName);
      }
    };
  }

  close(): void {
    for (const s of this.samplers.values()) clearTimeout(s.timer);
    this.samplers.clear();
  }

  private schedule(fleetName: string, sampler: Sampler, delayMs: number): void {
    sampler.timer = setTimeout(() => {
      void this.sample(fleetName, sampler).finally(() => {
        if (this.samplers.get(fleetName) === sampler) this.schedule(fleetName, sampler, SAMPLE_MS);
      });
    }, delayMs);
    sampler.timer.unref();
  }

  private async sample(fleetName: string, sampler: Sampler): Promise<void> {
    const at = this.now();
    let live: FleetLive;
    try {
      const fleet = await this.fleet(fleetName, sampler, at);
      const balancer = this.drivers.balancer(fleet);
      const snapshots = await snapshotOf(balancer, fleet.targets);
      const previous = sampler.last;
      const seconds = previous ? Math.max(0.001, (at - previous.at) / 1000) : 1;
      const versions = await this.versions(fleet, sampler, at);
      const targets = snapshots.map((s): LiveTarget => {
        const before = previous?.byName.get(s.name);
        const rate = (now: number | undefined, then: number | undefined) =>
          now === undefined || then === undefined || now < then ? 0 : (now - then) / seconds;
        return {
          name: s.name,
          state: s.state,
          bound: s.bound,
          version: versions.get(s.name) ?? null,
          sessions: s.sessions,
          requestsPerSec: s.requests === undefined ? null : round(rate(s.requests, before?.requests)),
          newSessionsPerSec: round(rate(s.sessionsOpened, before?.sessionsOpened)),
          resetsPerSec: round(rate(s.resets, before?.resets)),
          ...(s.members
            ? {
                members: Object.entries(s.members).map(([member, m]): LiveMember => {
                  const then = before?.members?.[member];
                  return {
                    member,
                    state: m.state,
                    bound: m.bound,
                    sessions: m.sessions,
                    requestsPerSec: m.requests === undefined ? null : round(rate(m.requests, then?.requests)),
                    newSessionsPerSec: round(rate(m.sessionsOpened, then?.sessionsOpened)),
                  };
                }),
              }
            : {}),
        };
      });
      sampler.last = { at, byName: new Map(snapshots.map((s) => [s.name, s])) };
      live = { at: new Date(at).toISOString(), fleet: fleetName, targets };
    } catch (err) {
      live = {
        at: new Date(at).toISOString(),
        fleet: fleetName,
        targets: [],
        error: err instanceof Error ? err.message : String(err),
      };
    }
    for (const listener of sampler.listeners) listener(live);
  }

  private async fleet(name: string, sampler: Sampler, at: number): Promise<NonNullable<Sampler["fleet"]>> {
    if (sampler.fleet && at - sampler.fleetLoadedAt < FLEET_REFRESH_MS) return sampler.fleet;
    const row = await this.prisma.fleet.findUnique({
      where: { name },
      // A gone target's pod does not exist: nothing to sample.
      include: { targets: { where: { goneAt: null } } },
    });
    if (!row) throw new Error(`fleet "${name}" does not exist`);
    sampler.fleet = {
      ...row,
      targets: row.targets.map((t) => {
        const facts = (t.facts ?? {}) as { versionUrl?: unknown };
        return {
          name: t.name,
          host: t.host,
          port: t.port,
          executor: t.executor === "ssh" ? "ssh" : "local",
          labels: (t.labels ?? {}) as Record<string, string>,
          ...(typeof facts.versionUrl === "string" ? { versionUrl: facts.versionUrl } : {}),
        };
      }),
    };
    sampler.fleetLoadedAt = at;
    return sampler.fleet;
  }

  /**
   * The version each target reports (targets with a `versionUrl` fact answering JSON with `version`), at
   * most every 2 s per target. A target that does not answer (stopped, draining) reads null.
   */
  private async versions(
    fleet: NonNullable<Sampler["fleet"]>,
    sampler: Sampler,
    at: number,
  ): Promise<Map<string, string | null>> {
    await Promise.all(
      fleet.targets.map(async (t) => {
        if (!t.versionUrl) return;
        const known = sampler.versions.get(t.name);
        if (known && at - known.at < VERSION_REFRESH_MS) return;
        let version: string | null = null;
        try {
          const res = await fetch(t.versionUrl, {
            signal: AbortSignal.timeout(VERSION_TIMEOUT_MS),
            headers: { connection: "close" },
          });
          const body = (await res.json()) as { version?: unknown };
          version = typeof body.version === "string" ? body.version : null;
        } catch {
          version = null;
        }
        sampler.versions.set(t.name, { version, at });
      }),
    );
    return new Map([...sampler.versions].map(([name, v]) => [name, v.version]));
  }
}

async function snapshotOf(balancer: Balancer, targets: readonly Target[]): Promise<TargetSnapshot[]> {
  if (balancer.snapshot) return balancer.snapshot(targets);
  return Promise.all(
    targets.map(async (t) => {
      const o = await balancer.observe(t);
      return {
        name: t.name,
        state: o.state,
        bound: o.bound,
        sessions: o.sessions,
        sessionsOpened: 0,
        resets: 0,
      };
    }),
  );
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
