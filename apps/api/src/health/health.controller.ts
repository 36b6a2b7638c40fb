import { type Readiness, readinessSchema } from "@ebb/contracts";
import { EbbError } from "@ebb/core";
import { Controller, Get, Inject, Req } from "@nestjs/common";
import { ApiOkResponse, ApiOperation } from "@nestjs/swagger";
import { Access } from "../auth/access.js";
import type { AuthenticatedRequest } from "../auth/principal.js";
import { openApiSchema } from "../common/openapi.js";
import { HealthService } from "./health.service.js";

/** Probes for load balancers and orchestrators, under /api/v1/health. */
@Controller("health")
export class HealthController {
  @Inject(HealthService) private readonly health!: HealthService;

  /** The process is up and serving HTTP. Deliberately checks nothing else: a restart fixes nothing more. */
  @Get("live")
  @Access("public")
  live(): { ok: true } {
    return { ok: true };
  }

  /**
   * 200 with the checks when the database, Redis and the queue all answer, and `workers.connected`: the
   * worker connections of the rollout queue (0: rollouts wait for a worker; reported, not a failed check). Otherwise 503 in the API's
   * error shape (like every non-2xx answer), the checks in `details`, the failed ones in the message.
   */
  @Get("ready")
  @Access("public")
  @ApiOperation({
    summary: "Readiness: database, Redis and queue checks (503 when one fails) and the connected workers",
  })
  @ApiOkResponse({ schema: openApiSchema(readinessSchema) })
  async ready(@Req() req: AuthenticatedRequest): Promise<Readiness> {
    const full = await this.health.readiness();
    // A probe needs which check failed, not the internals (hosts, ports, driver messages) in its error:
    // those are for an authenticated caller.
    const readiness: Readiness =
      req.principal !== undefined
        ? full
        : {
            ok: full.ok,
            ...(full.workers === undefined ? {} : { workers: full.workers }),
            checks: Object.fromEntries(
              Object.entries(full.checks).map(([name, c]) => [
                name,
                c.ok ? c : { ok: false, ms: c.ms, error: "failed" },
              ]),
            ),
          };
    if (!readiness.ok) {
      const failed = Object.entries(readiness.checks)
        .filter(([, check]) => !check.ok)
        .map(([name, check]) => `${name} (${check.error ?? "failed"})`);
      throw new EbbError("unavailable", `not ready: ${failed.join(", ")}`, { details: readiness });
    }
    return readiness;
  }
}
