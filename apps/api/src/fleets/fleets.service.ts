import type {
  CreateFleetBody,
  createFleetBodySchema,
  FleetView,
  TargetBody,
  TargetView,
  targetBodySchema,
  updateFleetBodySchema,
  updateTargetBodySchema,
} from "@ebb/contracts";
import { defaultRunbookFor } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import { localExecutorConfigSchema, sshExecutorConfigSchema } from "@ebb/drivers";
import { Inject, Injectable } from "@nestjs/common";
import type { z } from "zod";
import { DATABASE } from "../app/tokens.js";
import { redact } from "../audit/redact.js";
import { RequestValidationError, toFieldIssues } from "../common/validation.js";
import type { Database } from "../database/client.js";
import type { DriverRegistry, FleetRecord } from "../engine/engine.js";
import { DRIVERS } from "../engine/tokens.js";
import { Prisma } from "../generated/prisma/client.js";

type FleetRow = Prisma.FleetGetPayload<{ include: { targets: true } }>;
type TargetRow = FleetRow["targets"][number];

/** Fleets and their targets. Thin over Prisma; validation of driver configs is the drivers' own. */
@Injectable()
export class FleetsService {
  @Inject(DATABASE) private readonly db!: Database;
  @Inject(DRIVERS) private readonly drivers!: DriverRegistry;

  async list(): Promise<FleetView[]> {
    const rows = await this.db.prisma.fleet.findMany({
      include: { targets: { orderBy: { name: "asc" } } },
      orderBy: { name: "asc" },
    });
    return rows.map(fleetView);
  }

  async get(name: string): Promise<FleetView> {
    return fleetView(await this.row(name));
  }

  async create(body: z.output<typeof createFleetBodySchema>): Promise<FleetView> {
    this.checkBalancer(body.name, body.balancer, body.balancerConfig);
    const names = new Set<string>();
    for (const [i, t] of body.targets.entries()) {
      checkExecutor(t, `targets.${i}`);
      if (names.has(t.name))
        throw new RequestValidationError([
          { path: `targets.${i}.name`, message: `duplicate target "${t.name}"` },
        ]);
      names.add(t.name);
    }
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

  async update(name: string, body: z.output<typeof updateFleetBodySchema>): Promise<FleetView> {
    const row = await this.row(name);
    if (body.balancerConfig !== undefined) this.checkBalancer(name, row.balancer, body.balancerConfig);
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

  private async row(name: string): Promise<FleetRow> {
    const row = await this.db.prisma.fleet.findUnique({
      where: { name },
      include: { targets: { orderBy: { name: "asc" } } },
    });
    if (!row) throw new EbbError("not_found", `fleet "${name}" does not exist`);
    return row;
  }

  /** Builds the balancer once: its own config validation names the bad field. */
  private checkBalancer(name: string, balancer: string, balancerConfig: unknown): void {
    const record: FleetRecord = { id: `check:${name}`, name, balancer, balancerConfig };
    try {
      this.drivers.balancer(record);
    } catch (err) {
      if (err instanceof EbbError && err.code === "param_invalid") {
        const details = Array.isArray(err.details)
          ? (err.details as { field: string; message: string }[])
          : [];
        throw new RequestValidationError(
          details.length > 0
            ? details.map((d) => ({ path: d.field, message: d.message }))
            : [{ path: "balancerConfig", message: err.message }],
        );
      }
      throw err;
    }
  }
}

function checkExecutor(target: { executor: string; executorConfig: unknown }, prefix: string): void {
  const schema = target.executor === "ssh" ? sshExecutorConfigSchema : localExecutorConfigSchema;
  const parsed = schema.safeParse(target.executorConfig);
  if (!parsed.success) {
    const at = prefix ? `${prefix}.executorConfig` : "executorConfig";
    throw new RequestValidationError(
      toFieldIssues(parsed.error.issues).map((i) => ({
        path: i.path ? `${at}.${i.path}` : at,
        message: i.message,
      })),
    );
  }
}

function targetData(t: z.output<typeof targetBodySchema> | (TargetBody & { executor: string })) {
  return {
    name: t.name,
    host: t.host,
    port: t.port,
    executor: t.executor ?? "local",
    executorConfig: (t.executorConfig ?? {}) as Prisma.InputJsonValue,
    labels: (t.labels ?? {}) as Prisma.InputJsonValue,
    facts: (t.facts ?? {}) as Prisma.InputJsonValue,
  };
}

function uniqueAsConflict(err: unknown, message: string): unknown {
  if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002")
    return new EbbError("conflict", message);
  return err;
}

export function fleetView(row: FleetRow): FleetView {
  return {
    id: row.id,
    name: row.name,
    balancer: row.balancer,
    balancerConfig: redact(row.balancerConfig),
    defaultRunbook: defaultRunbookFor(row.balancer),
    protected: row.protected,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    targets: row.targets.map(targetView),
  };
}

/** Executor configs hold references, never keys; values under secret-looking names are still redacted. */
function targetView(row: TargetRow): TargetView {
  return {
    name: row.name,
    host: row.host,
    port: row.port,
    executor: row.executor,
    executorConfig: redact(row.executorConfig),
    labels: (row.labels ?? {}) as Record<string, string>,
    facts: redact(row.facts),
  };
}

export type { CreateFleetBody };
