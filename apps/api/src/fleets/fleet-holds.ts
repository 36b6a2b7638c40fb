import type { FleetHold, HeldTarget, HoldRelease } from "@ebb/contracts";
import {
  type ReleaseAction,
  type RolloutState,
  releaseActions,
  type TargetObservation,
  waitsForPerson,
} from "@ebb/core";
import type { DriverRegistry, FleetRecord } from "@ebb/engine";
import type { PrismaClient } from "../generated/prisma/client.js";

/** The balancer is asked once for the held targets; past this the hold is reported without its view. */
const BALANCER_READ_MS = 2_000;

export interface HoldQuery {
  /** Only this rollout's hold (the one a 409 met). */
  rolloutId?: string;
  /** Only rollouts that wait for a person (failed, paused). */
  onlyStopped?: boolean;
  /** Add each held target's state as the balancer reports it now. */
  drivers?: Pick<DriverRegistry, "balancer">;
}

/**
 * The rollouts holding leases on targets of these fleets, from the database: which targets, how each of
 * their runs stands, and what releases them. One query whatever the number of fleets.
 */
export async function fleetHolds(
  prisma: PrismaClient,
  fleets: readonly FleetRecord[],
  query: HoldQuery = {},
): Promise<Map<string, FleetHold[]>> {
  const byId = new Map(fleets.map((f) => [f.id, f]));
  const leases = await prisma.lease.findMany({
    where: {
      target: { fleetId: { in: [...byId.keys()] } },
      ...(query.rolloutId === undefined ? {} : { rolloutId: query.rolloutId }),
    },
    include: {
      target: { select: { name: true, host: true, port: true, fleetId: true } },
      rollout: { select: { id: true, version: true, state: true } },
    },
    orderBy: { acquiredAt: "asc" },
  });
  const holds = new Map<
    string,
    { fleet: FleetRecord; state: RolloutState; version: string; targets: typeof leases }
  >();
  for (const lease of leases) {
    const state = lease.rollout.state as unknown as RolloutState;
    if (query.onlyStopped && !waitsForPerson(state.status)) continue;
    const key = `${lease.target.fleetId} ${lease.rolloutId}`;
    const hold = holds.get(key) ?? {
      fleet: byId.get(lease.target.fleetId)!,
      state,
      version: lease.rollout.version,
      targets: [],
    };
    hold.targets.push(lease);
    holds.set(key, hold);
  }
  const result = new Map<string, FleetHold[]>(fleets.map((f) => [f.name, []]));
  for (const { fleet, state, version, targets } of holds.values()) {
    const observed = query.drivers
      ? await observe(
          query.drivers,
          fleet,
          targets.map((l) => l.target),
        )
      : new Map<string, TargetObservation>();
    const held: HeldTarget[] = targets
      .map((l) => {
        const run = state.targets[l.target.name];
        const seen = observed.get(l.target.name);
        return {
          name: l.target.name,
          status: run?.status ?? "pending",
          step: run && run.attempt > 0 ? (state.steps[run.stepIndex]?.step.id ?? null) : null,
          error: run?.error?.message ?? null,
          balancer: seen ? { state: seen.state, bound: seen.bound } : null,
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
    result.get(fleet.name)!.push({
      fleet: fleet.name,
      rolloutId: state.id,
      status: state.status,
      version,
      failure: state.failure
        ? {
            target: state.failure.target,
            step: state.steps[state.failure.stepIndex]?.step.id ?? String(state.failure.stepIndex),
            message: state.failure.error.message,
          }
        : null,
      targets: held,
      release: releaseActions(state.status, held).map((a) => release(state.id, a)),
    });
  }
  return result;
}

function release(rolloutId: string, a: ReleaseAction): HoldRelease {
  // Paths under the API's global prefix (API_PREFIX of app/bootstrap.ts).
  const path = `/api/v1/rollouts/${rolloutId}/${a.action}`;
  if (a.action === "retry")
    return {
      action: "retry",
      target: a.target,
      command: `ebb rollout retry ${rolloutId} --target ${a.target}`,
      method: "POST",
      path,
      body: { target: a.target },
    };
  return {
    action: a.action,
    command: `ebb rollout ${a.action} ${rolloutId}`,
    method: "POST",
    path,
    body: null,
  };
}

/** The balancer's view of the held targets, when it answers soon; a hold is worth reporting without it. */
async function observe(
  drivers: Pick<DriverRegistry, "balancer">,
  fleet: FleetRecord,
  targets: { name: string; host: string; port: number }[],
): Promise<Map<string, TargetObservation>> {
  const asTargets = targets.map((t) => ({ ...t, executor: "local" as const, labels: {} }));
  let timer: NodeJS.Timeout | undefined;
  try {
    const balancer = drivers.balancer(fleet);
    const read = Promise.all(asTargets.map(async (t) => [t.name, await balancer.observe(t)] as const));
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("balancer too slow")), BALANCER_READ_MS);
    });
    return new Map(await Promise.race([read, timeout]));
  } catch {
    return new Map();
  } finally {
    clearTimeout(timer);
  }
}
