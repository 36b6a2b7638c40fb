import type { RolloutStatus } from "@ebb/contracts";
import { EbbError, type RolloutPlan, type RolloutState, type Strategy } from "@ebb/core";
import { acquireLease } from "../engine/prisma-store.js";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";

export type FleetWithTargets = Prisma.FleetGetPayload<{ include: { targets: true } }>;

const include = {
  fleet: { select: { name: true } },
  runbookVersion: { select: { name: true, version: true } },
  targetRuns: { select: { previousVersion: true, target: { select: { name: true } } } },
} as const;

/** A rollout row as the views read it: with its fleet's name and its runbook's name and version. */
export type RolloutRow = Prisma.RolloutGetPayload<{ include: typeof include }>;

/** What an Idempotency-Key replay compares and returns. */
export type KeyedRollout = Prisma.RolloutGetPayload<{ include: { fleet: { select: { name: true } } } }>;

export interface NewRollout {
  id: string;
  fleetId: string;
  runbookVersionId: string;
  version: string;
  strategy: Strategy;
  plan: RolloutPlan;
  params: Record<string, string>;
  state: RolloutState;
  idempotencyKey: string | undefined;
  requestedBy: { name: string; id: string } | undefined;
  requiresApproval: boolean;
  /** Target name -> id, for every target of the plan. */
  targetIds: ReadonlyMap<string, string>;
  /** Target name -> the version it runs now (null: unknown): what a rollback goes back to. */
  previousVersions: ReadonlyMap<string, string | null>;
}

export interface RolloutListQuery {
  fleet?: string | undefined;
  status?: RolloutStatus[] | undefined;
  cursor?: string | undefined;
  limit: number;
}

/** The rollouts feature's reads and writes of PostgreSQL/PGlite; the engine keeps its own (rollout-store). */
export class RolloutsRepository {
  constructor(readonly prisma: PrismaClient) {}

  fleetWithTargets(name: string): Promise<FleetWithTargets | null> {
    return this.prisma.fleet.findUnique({ where: { name }, include: { targets: true } });
  }

  byIdempotencyKey(key: string): Promise<KeyedRollout | null> {
    return this.prisma.rollout.findUnique({
      where: { idempotencyKey: key },
      include: { fleet: { select: { name: true } } },
    });
  }

  /**
   * Stores the rollout, its target runs and a lease on every target of its plan in one transaction: a
   * target leased by another rollout refuses the whole of it (`fleet_held`), so no half-leased rollout exists.
   */
  async insertWithLeases(r: NewRollout): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      await tx.rollout.create({
        data: {
          id: r.id,
          fleetId: r.fleetId,
          runbookVersionId: r.runbookVersionId,
          version: r.version,
          status: r.state.status,
          strategy: r.strategy as Prisma.InputJsonValue,
          plan: r.plan as unknown as Prisma.InputJsonValue,
          params: r.params as Prisma.InputJsonValue,
          state: r.state as unknown as Prisma.InputJsonValue,
          idempotencyKey: r.idempotencyKey ?? null,
          requestedBy: r.requestedBy?.name ?? null,
          requesterId: r.requestedBy?.id ?? null,
          requiresApproval: r.requiresApproval,
        },
      });
      await tx.targetRun.createMany({
        data: r.plan.batches.flatMap((names, batch) =>
          names.map((name) => ({
            rolloutId: r.id,
            targetId: r.targetIds.get(name)!,
            batch,
            status: "pending",
            stepIndex: 0,
            attempt: 0,
            previousVersion: r.previousVersions.get(name) ?? null,
          })),
        ),
      });
      for (const name of r.plan.batches.flat()) {
        const targetId = r.targetIds.get(name)!;
        const held = await tx.lease.findUnique({ where: { targetId } });
        if (held)
          throw new EbbError("fleet_held", `target ${name} is held by rollout ${held.rolloutId}`, {
            details: { rolloutId: held.rolloutId, target: name },
          });
        await acquireLease(tx, r.id, targetId);
      }
    });
  }

  find(id: string): Promise<RolloutRow | null> {
    return this.prisma.rollout.findUnique({ where: { id }, include });
  }

  /** Newest first; the cursor is the last item's (createdAt, id), so pages never skip or repeat a row. */
  async page(query: RolloutListQuery): Promise<{ rows: RolloutRow[]; nextCursor: string | null }> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const rows = await this.prisma.rollout.findMany({
      where: {
        ...(query.fleet === undefined ? {} : { fleet: { name: query.fleet } }),
        ...(query.status === undefined ? {} : { status: { in: query.status } }),
        ...(after === undefined
          ? {}
          : {
              OR: [
                { createdAt: { lt: after.createdAt } },
                { createdAt: after.createdAt, id: { lt: after.id } },
              ],
            }),
      },
      include,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      rows: page,
      nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
    };
  }

  /** The timeline after `afterId` (a rollout_events id), oldest first. */
  notices(id: string, afterId: bigint, limit: number) {
    return this.prisma.rolloutEvent.findMany({
      where: { rolloutId: id, id: { gt: afterId } },
      orderBy: { id: "asc" },
      take: limit,
    });
  }

  /** False when someone approved it first: only one approval starts a rollout. */
  async markApproved(id: string, approver: { name: string; id: string }, at: Date): Promise<boolean> {
    const updated = await this.prisma.rollout.updateMany({
      where: { id, approvedAt: null },
      data: { approvedBy: approver.name, approverId: approver.id, approvedAt: at },
    });
    return updated.count > 0;
  }
}

/** A unique-key race lost to another insert: the caller reads the winner's row instead. */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002";
}

function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const createdAt = new Date(at ?? "");
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new EbbError("param_invalid", "cursor: not a cursor this API returned", {
      details: [{ field: "cursor", message: "not a cursor this API returned" }],
    });
  }
  return { createdAt, id };
}
