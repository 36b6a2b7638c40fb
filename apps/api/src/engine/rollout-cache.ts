import type { PrismaClient } from "../generated/prisma/client.js";
import type { FleetRecord, TargetRecord } from "./engine.js";

/** What never changes once a rollout is created: everything but its state. */
export interface RolloutStatics {
  id: string;
  fleetId: string;
  version: string;
  params: Record<string, string>;
  runbookVersionId: string;
  runbookSource: string;
}

type FleetRow = FleetRecord;
type TargetRow = TargetRecord;

/** A fleet's or target's settings are read again after this long: an operator's change applies soon. */
const SETTINGS_TTL_MS = 5_000;
const MAX_ROLLOUTS = 2_000;

/**
 * The parts of a step's context that do not change from one check to the next, kept between checks: a
 * thousand waiting targets re-check every few seconds, and each check would otherwise read (and the query
 * builder materialise) the fleet, the target and the runbook's source again. Only the rollout's state is
 * read every time (by the caller): it is what says whether the job still applies.
 */
export class RolloutCache {
  private readonly statics = new Map<string, RolloutStatics>();
  private readonly fleets = new Map<string, { row: FleetRow; at: number }>();
  private readonly targets = new Map<string, { rows: Map<string, TargetRow>; at: number }>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly now: () => number = Date.now,
  ) {}

  async rollout(id: string): Promise<RolloutStatics | undefined> {
    const hit = this.statics.get(id);
    if (hit) return hit;
    const row = await this.prisma.rollout.findUnique({
      where: { id },
      select: {
        id: true,
        fleetId: true,
        version: true,
        params: true,
        runbookVersion: { select: { id: true, source: true } },
      },
    });
    if (!row) return undefined;
    const statics: RolloutStatics = {
      id: row.id,
      fleetId: row.fleetId,
      version: row.version,
      params: (row.params ?? {}) as Record<string, string>,
      runbookVersionId: row.runbookVersion.id,
      runbookSource: row.runbookVersion.source,
    };
    if (this.statics.size >= MAX_ROLLOUTS) this.statics.delete(this.statics.keys().next().value!);
    this.statics.set(id, statics);
    return statics;
  }

  async fleet(id: string): Promise<FleetRow | undefined> {
    const hit = this.fleets.get(id);
    if (hit && this.now() - hit.at < SETTINGS_TTL_MS) return hit.row;
    const row = await this.prisma.fleet.findUnique({
      where: { id },
      select: { id: true, name: true, balancer: true, balancerConfig: true },
    });
    if (!row) return undefined;
    this.fleets.set(id, { row, at: this.now() });
    return row;
  }

  /** One query per fleet per TTL for all its targets, however many of them are waiting. */
  async target(fleetId: string, name: string): Promise<TargetRow | undefined> {
    let hit = this.targets.get(fleetId);
    if (!hit || this.now() - hit.at >= SETTINGS_TTL_MS || !hit.rows.has(name)) {
      const rows = await this.prisma.target.findMany({
        where: { fleetId },
        select: {
          id: true,
          name: true,
          host: true,
          port: true,
          executor: true,
          executorConfig: true,
          labels: true,
        },
      });
      hit = { rows: new Map(rows.map((r) => [r.name, r])), at: this.now() };
      this.targets.set(fleetId, hit);
    }
    return hit.rows.get(name);
  }
}
