import type {
  CreateFleetBody,
  createFleetBodySchema,
  FleetView,
  TargetView,
  targetBodySchema,
  updateFleetBodySchema,
  updateTargetBodySchema,
} from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import type { DriverRegistry } from "@ebb/engine";
import { Inject, Injectable } from "@nestjs/common";
import type { z } from "zod";
import { DATABASE } from "../common/tokens.js";
import type { Database } from "../database/client.js";
import { DRIVERS } from "../engine/tokens.js";
import { Prisma } from "../generated/prisma/client.js";
import { checkBalancer, checkExecutor, checkFleet, targetData } from "./fleet-checks.js";
import { fleetHolds } from "./fleet-holds.js";
import { fleetView, targetView } from "./fleet-view.js";
import { refreshDiscoveredTargets } from "./target-discovery.js";
import { upsertFleet } from "./upsert-fleet.js";

type FleetRow = Prisma.FleetGetPayload<{ include: { targets: true } }>;

/** How long a fleet read waits for the platform's pod list before it shows what Ebb last knew. */
const DISCOVERY_TIMEOUT_MS = 2_000;

/** Fleets and their targets. Thin over Prisma; validation of driver configs is the drivers' own. */
@Injectable()
export class FleetsService {
  @Inject(DATABASE) private readonly db!: Database;
  @Inject(DRIVERS) private readonly drivers!: DriverRegistry;

  async list(): Promise<FleetView[]> {
    let rows = await this.listRows();
    // A Deployment's pods change names with every rollout and replacement: read the platform (one pod list
    // per discovering fleet) and show what it runs, with the targets that are gone apart.
    const refreshed = await Promise.all(rows.map((row) => this.refresh(row)));
    if (refreshed.some(Boolean)) rows = await this.listRows();
    // The balancer is read only for held targets: a fleet nobody holds costs no call.
    const holds = await fleetHolds(this.db.prisma, rows, { onlyStopped: true, drivers: this.drivers });
    return rows.map((row) => fleetView(row, holds.get(row.name)));
  }

  async get(name: string): Promise<FleetView> {
    let row = await this.row(name);
    if (await this.refresh(row)) row = await this.row(name);
    const holds = await fleetHolds(this.db.prisma, [row], { onlyStopped: true, drivers: this.drivers });
    return fleetView(row, holds.get(row.name));
  }

  async create(body: z.output<typeof createFleetBodySchema>): Promise<FleetView> {
    checkFleet(this.drivers, body);
    try {
      const row = await this.db.prisma.fleet.create({
        data: {
          name: body.name,
          balancer: body.balancer,
          balancerConfig: body.balancerConfig as Prisma.InputJsonValue,
          protected: body.protected,
          targets: { create: body.targets.map(targetData) },
        },
        include: { targets: { orderBy: { name: "asc" } } },
      });
      return fleetView(row);
    } catch (err) {
      throw uniqueAsConflict(err, `fleet "${body.name}" exists already`);
    }
  }

  /** Creates the fleet or brings it to this config (how the lab registers its fleets at every start). */
  upsert(body: CreateFleetBody): Promise<FleetView> {
    return upsertFleet({ prisma: this.db.prisma, drivers: this.drivers }, body);
  }

  async update(name: string, body: z.output<typeof updateFleetBodySchema>): Promise<FleetView> {
    const row = await this.row(name);
    if (body.balancerConfig !== undefined)
      checkBalancer(this.drivers, name, row.balancer, body.balancerConfig);
    const updated = await this.db.prisma.fleet.update({
      where: { id: row.id },
      data: {
        ...(body.balancerConfig === undefined
          ? {}
          : { balancerConfig: body.balancerConfig as Prisma.InputJsonValue }),
        ...(body.protected === undefined ? {} : { protected: body.protected }),
      },
      include: { targets: { orderBy: { name: "asc" } } },
    });
    return fleetView(updated);
  }

  /** A fleet with rollouts keeps them: its history is not ours to delete. */
  async remove(name: string): Promise<void> {
    const row = await this.row(name);
    const rollouts = await this.db.prisma.rollout.count({ where: { fleetId: row.id } });
    if (rollouts > 0)
      throw new EbbError(
        "conflict",
        `fleet "${name}" has ${rollouts} rollout(s) in its history; it cannot be deleted, only left unused`,
      );
    await this.db.prisma.fleet.delete({ where: { id: row.id } });
  }

  async addTarget(fleetName: string, body: z.output<typeof targetBodySchema>): Promise<TargetView> {
    const fleet = await this.row(fleetName);
    checkExecutor(body, "");
    try {
      const row = await this.db.prisma.target.create({ data: { fleetId: fleet.id, ...targetData(body) } });
      return targetView(row);
    } catch (err) {
      throw uniqueAsConflict(err, `fleet "${fleetName}" has a target "${body.name}" already`);
    }
  }

  async updateTarget(
    fleetName: string,
    target: string,
    body: z.output<typeof updateTargetBodySchema>,
  ): Promise<TargetView> {
    const fleet = await this.row(fleetName);
    const existing = fleet.targets.find((t) => t.name === target);
    if (!existing) throw new EbbError("not_found", `fleet "${fleetName}" has no target "${target}"`);
    const merged = {
      name: existing.name,
      host: body.host ?? existing.host,
      port: body.port ?? existing.port,
      executor: (body.executor ?? existing.executor) as "local" | "ssh",
      executorConfig: body.executorConfig ?? (existing.executorConfig as Record<string, unknown>),
      labels: body.labels ?? (existing.labels as Record<string, string>),
      facts: body.facts ?? (existing.facts as Record<string, unknown>),
    };
    checkExecutor(merged, "");
    const { name: _name, ...data } = targetData(merged);
    const row = await this.db.prisma.target.update({ where: { id: existing.id }, data });
    return targetView(row);
  }

  async removeTarget(fleetName: string, target: string): Promise<void> {
    const fleet = await this.row(fleetName);
    const existing = fleet.targets.find((t) => t.name === target);
    if (!existing) throw new EbbError("not_found", `fleet "${fleetName}" has no target "${target}"`);
    const runs = await this.db.prisma.targetRun.count({ where: { targetId: existing.id } });
    if (runs > 0)
      throw new EbbError(
        "conflict",
        `target "${target}" appears in ${runs} rollout(s); it cannot be deleted while its history exists`,
      );
    await this.db.prisma.target.delete({ where: { id: existing.id } });
  }

  private listRows(): Promise<FleetRow[]> {
    return this.db.prisma.fleet.findMany({
      include: { targets: { orderBy: { name: "asc" } } },
      orderBy: { name: "asc" },
    });
  }

  /** True when the platform's list changed the stored targets (recorded, with its audit event). */
  private refresh(row: FleetRow): Promise<boolean> {
    return refreshDiscoveredTargets(this.db.prisma, this.drivers, row, {
      timeoutMs: DISCOVERY_TIMEOUT_MS,
      now: new Date(),
    });
  }

  private async row(name: string): Promise<FleetRow> {
    const row = await this.db.prisma.fleet.findUnique({
      where: { name },
      include: { targets: { orderBy: { name: "asc" } } },
    });
    if (!row) throw new EbbError("not_found", `fleet "${name}" does not exist`);
    return row;
  }
}

function uniqueAsConflict(err: unknown, message: string): unknown {
  if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002")
    return new EbbError("conflict", message);
  return err;
}

export type { CreateFleetBody };
