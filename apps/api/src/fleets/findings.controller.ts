import { type FleetFindingsView, fleetFindingsSchema } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import type { DriverRegistry } from "@ebb/engine";
import { Controller, Get, Inject, Param } from "@nestjs/common";
import { ApiOkResponse, ApiOperation, ApiTags } from "@nestjs/swagger";
import { Access } from "../auth/access.js";
import { openApiSchema } from "../common/openapi.js";
import { DATABASE } from "../common/tokens.js";
import type { Database } from "../database/client.js";
import { DRIVERS } from "../engine/tokens.js";

/**
 * /api/v1/fleets/:name/findings: `ebb lint` over the fleet's live Kubernetes objects. Read on each request
 * (nothing is stored): the point is what the cluster will do on its next scale-down or node drain, now.
 */
@ApiTags("fleets")
@Controller("fleets")
export class FindingsController {
  @Inject(DATABASE) private readonly db!: Database;
  @Inject(DRIVERS) private readonly drivers!: DriverRegistry;

  @Get(":name/findings")
  @Access("read")
  @ApiOperation({
    summary:
      "Lint a Kubernetes fleet's live workload: preStop vs propagation window, grace period vs preStop + " +
      "shutdown budget, sidecars that stop with the app, HPAs and PodDisruptionBudgets that let more pods " +
      "go at once than the fleet can lose",
  })
  @ApiOkResponse({ schema: openApiSchema(fleetFindingsSchema) })
  async findings(@Param("name") name: string): Promise<FleetFindingsView> {
    const fleet = await this.db.prisma.fleet.findUnique({ where: { name } });
    if (!fleet) throw new EbbError("not_found", `fleet "${name}" does not exist`);
    const balancer = this.drivers.balancer(fleet);
    if (!balancer.lintWorkload)
      throw new EbbError(
        "param_invalid",
        `fleet "${name}" is behind a ${fleet.balancer} balancer: findings read the workloads of kubernetes fleets`,
        { details: [{ field: "name", message: "not a kubernetes fleet" }] },
      );
    const lint = await balancer.lintWorkload();
    return { fleet: name, checkedAt: new Date().toISOString(), ...lint };
  }
}
