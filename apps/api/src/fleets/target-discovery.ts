import {
  type Balancer,
  changesTargets,
  type DiscoveredTarget,
  type TargetDiscovery,
  targetDiscovery,
} from "@ebb/core";
import type { DriverRegistry, FleetRecord } from "@ebb/engine";
import { type AuditEventInput, appendAuditEvents } from "../audit/audit-store.js";
import { SYSTEM_ACTOR } from "../audit/notices.js";
import type { Db } from "../database/client.js";
import type { Prisma, PrismaClient } from "../generated/prisma/client.js";

type TargetRow = Prisma.TargetGetPayload<object>;

/** A target a rollout may plan over: a stored row, or one the platform runs that has none yet (`id` null). */
export interface PlanTarget {
  id: string | null;
  name: string;
  host: string;
  port: number;
  facts: unknown;
  version: string | null;
}

/** What the fleet's targets are now: the platform's pods where the balancer discovers them, else the rows. */
export interface FleetTargets {
  /** Present targets, sorted by name (gone ones left out: they must not block or join a plan). */
  targets: PlanTarget[];
  /** The platform's list, as read (undefined: the balancer does not discover targets). */
  discovered?: DiscoveredTarget[];
  /** What that list changes in the stored rows (nothing written yet). */
  change?: TargetDiscovery;
}

/**
 * The targets a rollout of the fleet plans over. Where the balancer discovers them (a Kubernetes workload's
 * pods), the stored rows say only what Ebb knew before: a Deployment's pods are all new after a rollout.
 * Reads the platform once; writes nothing (a preview must not), `recordDiscovery` does that.
 */
export async function fleetTargets(
  balancer: Pick<Balancer, "discoverTargets">,
  stored: readonly TargetRow[],
): Promise<FleetTargets> {
  const planTarget = (t: TargetRow): PlanTarget => ({
    id: t.id,
    name: t.name,
    host: t.host,
    port: t.port,
    facts: t.facts,
    version: t.version,
  });
  if (!balancer.discoverTargets) {
    return { targets: stored.filter((t) => t.goneAt === null).map(planTarget) };
  }
  const discovered = await balancer.discoverTargets();
  const change = targetDiscovery(stored.map(storedTarget), discovered);
  const byName = new Map(stored.map((t) => [t.name, t]));
  const live = new Map(discovered.map((m) => [m.name, m]));
  const targets = change.current.map((name): PlanTarget => {
    const row = byName.get(name);
    const m = live.get(name)!;
    const host = m.host || row?.host || "";
    const port = m.host ? m.port : (row?.port ?? m.port);
    return row
      ? { ...planTarget(row), host, port }
      : { id: null, name, host, port, facts: {}, version: m.version ?? null };
  });
  return { targets, discovered, change };
}

function storedTarget(t: TargetRow) {
  return { name: t.name, host: t.host, port: t.port, gone: t.goneAt !== null };
}

/**
 * Writes what the platform's list changes in the fleet's stored targets, in the caller's transaction: a row for
 * each new pod (its version as the pod declares it, so a rollback knows what it ran), `gone_at` on the rows
 * whose pod is gone (never deleted: target runs reference them), `gone_at` cleared on those back, addresses
 * that moved. The diff is taken again under a lock on the fleet's row, so two requests never record one
 * change twice. Returns the audit event to append as the caller's last write (the audit chain's lock is held
 * until commit), or undefined when nothing changed.
 */
export async function recordDiscovery(
  tx: Prisma.TransactionClient,
  fleet: { id: string; name: string },
  discovered: readonly DiscoveredTarget[],
  now: Date,
): Promise<AuditEventInput | undefined> {
  await tx.$queryRaw`SELECT id FROM fleets WHERE id = ${fleet.id}::uuid FOR UPDATE`;
  const stored = await tx.target.findMany({ where: { fleetId: fleet.id } });
  const change = targetDiscovery(stored.map(storedTarget), discovered);
  if (!changesTargets(change)) return undefined;
  if (change.added.length > 0) {
    await tx.target.createMany({
      data: change.added.map((m) => ({
        fleetId: fleet.id,
        name: m.name,
        host: m.host,
        port: m.port,
        version: m.version ?? null,
      })),
    });
  }
  if (change.gone.length > 0) {
    await tx.target.updateMany({
      where: { fleetId: fleet.id, name: { in: change.gone }, goneAt: null },
      data: { goneAt: now },
    });
  }
  if (change.returned.length > 0) {
    await tx.target.updateMany({
      where: { fleetId: fleet.id, name: { in: change.returned } },
      data: { goneAt: null },
    });
  }
  for (const m of change.moved) {
    await tx.target.update({
      where: { fleetId_name: { fleetId: fleet.id, name: m.name } },
      data: { host: m.host, port: m.port },
    });
  }
  return {
    at: now,
    actor: SYSTEM_ACTOR,
    action: "fleet.discover",
    resourceType: "fleet",
    resourceId: fleet.name,
    fleet: fleet.name,
    summary: {
      added: change.added.map((m) => m.name),
      gone: change.gone,
      returned: change.returned,
      moved: change.moved.map((m) => `${m.name} ${m.host}:${m.port}`),
    },
    outcome: "succeeded",
  };
}

/**
 * Brings a fleet's stored targets to what its platform runs now, in a transaction of its own with its audit
 * event (the fleet view's refresh). A balancer without discovery, or a platform that does not answer within
 * `timeoutMs`, leaves the rows as they are: the view then shows what Ebb last knew.
 */
export async function refreshDiscoveredTargets(
  prisma: PrismaClient,
  drivers: Pick<DriverRegistry, "balancer">,
  fleet: FleetRecord,
  opts: { timeoutMs: number; now: Date },
): Promise<boolean> {
  let balancer: Balancer;
  try {
    balancer = drivers.balancer(fleet);
  } catch {
    return false;
  }
  if (!balancer.discoverTargets) return false;
  let timer: NodeJS.Timeout | undefined;
  const discovered = await Promise.race([
    balancer.discoverTargets().catch(() => undefined),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), opts.timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
  if (!discovered) return false;
  return prisma.$transaction(async (tx) => {
    const event = await recordDiscovery(tx, fleet, discovered, opts.now);
    if (event) await appendAuditEvents(tx as Db, [event]);
    return event !== undefined;
  });
}
