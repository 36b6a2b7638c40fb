import { defaultRunbookFor, type FleetHold, type FleetView, type TargetView } from "@ebb/contracts";
import { redact } from "../audit/redact.js";
import type { Prisma } from "../generated/prisma/client.js";

type FleetRow = Prisma.FleetGetPayload<{ include: { targets: true } }>;
type TargetRow = FleetRow["targets"][number];

/** `holds`: stopped rollouts holding its targets (none for a fleet just created). */
export function fleetView(row: FleetRow, holds: FleetHold[] = []): FleetView {
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
    holds,
  };
}

/** Executor configs hold references, never keys; values under secret-looking names are still redacted. */
export function targetView(row: TargetRow): TargetView {
  return {
    name: row.name,
    host: row.host,
    port: row.port,
    executor: row.executor,
    executorConfig: redact(row.executorConfig),
    labels: (row.labels ?? {}) as Record<string, string>,
    facts: redact(row.facts),
    goneAt: row.goneAt?.toISOString() ?? null,
  };
}
