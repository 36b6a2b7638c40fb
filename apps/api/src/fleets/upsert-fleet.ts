import { type CreateFleetBody, createFleetBodySchema, type FleetView } from "@ebb/contracts";
import type { DriverRegistry } from "@ebb/engine";
import type { Prisma, PrismaClient } from "../generated/prisma/client.js";
import { checkFleet, type FleetBody, targetData } from "./fleet-checks.js";
import { fleetView } from "./fleet-view.js";

export interface UpsertFleetDeps {
  prisma: PrismaClient;
  drivers: Pick<DriverRegistry, "balancer">;
}

/**
 * Creates a fleet, or brings an existing one of that name to this config: its balancer and the given
 * targets are created or updated, others are left alone (their rollout history is not ours to delete).
 * The same checks as `POST /fleets`: what the lab registers is what a user could have.
 */
export async function upsertFleet(deps: UpsertFleetDeps, input: CreateFleetBody): Promise<FleetView> {
  const body: FleetBody = createFleetBodySchema.parse(input);
  checkFleet(deps.drivers, body);
  const balancerConfig = body.balancerConfig as Prisma.InputJsonValue;
  return deps.prisma.$transaction(async (tx) => {
    const fleet = await tx.fleet.upsert({
      where: { name: body.name },
      create: { name: body.name, balancer: body.balancer, balancerConfig, protected: body.protected },
      update: { balancer: body.balancer, balancerConfig, protected: body.protected },
    });
    for (const t of body.targets) {
      const { name, ...data } = targetData(t);
      await tx.target.upsert({
        where: { fleetId_name: { fleetId: fleet.id, name } },
        create: { fleetId: fleet.id, name, ...data },
        // Declared again: present, whatever discovery last found.
        update: { ...data, goneAt: null },
      });
    }
    return fleetView(
      await tx.fleet.findUniqueOrThrow({
        where: { id: fleet.id },
        include: { targets: { orderBy: { name: "asc" } } },
      }),
    );
  });
}
