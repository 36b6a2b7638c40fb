import type { RolloutStatus } from "@ebb/contracts";
import {
  type DiscoveredTarget,
  EbbError,
  type RolloutPlan,
  type RolloutState,
  type Strategy,
} from "@ebb/core";
import { appendAuditEvents } from "../audit/audit-store.js";
import { acquireLease } from "../engine/prisma-store.js";
import { type PlanTarget, recordDiscovery } from "../fleets/target-discovery.js";
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
  fleet: { id: string; name: string };
  runbookVersionId: string;
  version: string;
  strategy: Strategy;
  plan: RolloutPlan;
  params: Record<string, string>;
  state: RolloutState;
  idempotencyKey: string | undefined;
  requestedBy: { name: string; id: string } | undefined;
  requiresApproval: boolean;
  /** The targets the plan was made over (stored rows have an id; discovered ones get their row here). */
  targets: readonly PlanTarget[];
  /** The platform's list the plan was made from, recorded in the same transaction (discovering balancers). */
  discovered?: readonly DiscoveredTarget[];
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
   * With a discovered list, the fleet's targets are brought to it first (new pods get rows, gone ones are
   * marked), audited with the rollout: a rollout never runs over targets the database does not hold.
   */
  async insertWithLeases(r: NewRollout): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      const discovery = r.discovered
        ? await recordDiscovery(tx, r.fleet, r.discovered, new Date())
        : undefined;
      const targetIds = new Map(r.targets.flatMap((t) => (t.id === null ? [] : [[t.name, t.id] as const])));
      const unknown = r.plan.batches.flat().filter((name) => !targetIds.has(name));
      if (unknown.length > 0) {
        const rows = await tx.target.findMany({
          where: { fleetId: r.fleet.id, name: { in: unknown } },
          select: { id: true, name: true },
        });
        for (const row of rows) targetIds.set(row.name, row.id);
      }
      const idOf = (name: string): string => {
        const id = targetIds.get(name);
        if (id === undefined)
          throw new EbbError(
            "conflict",
            `target ${name} of the plan is not in fleet ${r.fleet.name}; preview again`,
          );
        return id;
      };
      await tx.rollout.create({
        data: {
          id: r.id,
          fleetId: r.fleet.id,
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
            targetId: idOf(name),
            batch,
            status: "pending",
            stepIndex: 0,
            attempt: 0,
            previousVersion: r.previousVersions.get(name) ?? null,
          })),
        ),
      });
      for (const name of r.plan.batches.flat()) {
        const targetId = idOf(name);
        const held = await tx.lease.findUnique({ where: { targetId } });
        if (held)
          throw new EbbError("fleet_held", `target ${name} is held by rollout ${held.rolloutId}`, {
            details: { rolloutId: held.rolloutId, target: name },
          });
        await acquireLease(tx, r.id, targetId);
      }
      // Last: the audit chain's lock is held until commit.
      if (discovery) await appendAuditEvents(tx, [discovery]);
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
