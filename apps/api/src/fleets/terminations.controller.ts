import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from "@nestjs/common";
import { ApiBody, ApiOperation, ApiTags } from "@nestjs/swagger";
import { AuditService } from "../audit/audit.service.js";
import { Access } from "../auth/access.js";
import type { AuthenticatedRequest } from "../auth/principal.js";
import { openApiSchema } from "../common/openapi.js";
import { FleetsService } from "./fleets.service.js";
import { TERMINATION_ACTION, type TerminationReportBody, terminationReportSchema } from "./terminations.js";

/**
 * /api/v1/fleets/:name/terminations: pod terminations that Ebb did not start (scale-downs, evictions,
 * `kubectl rollout restart`), as the drain hook in each pod saw them. Kept in the audit chain, so they are
 * append-only and attributed to the token the hook used.
 */
@ApiTags("fleets")
@Controller("fleets")
export class TerminationsController {
  @Inject(FleetsService) private readonly fleets!: FleetsService;
  @Inject(AuditService) private readonly audit!: AuditService;

  /**
   * Scope `read` is enough: a report adds an observation and changes nothing Ebb acts on, so the hook's
   * token (in every pod of the fleet) should be able to do nothing else.
   */
  @Post(":name/terminations")
  @HttpCode(202)
  @Access("read")
  @ApiOperation({ summary: "Report a pod termination the drain hook held (Ebb did not start it)" })
  @ApiBody({ schema: openApiSchema(terminationReportSchema, "input") })
  async report(
    @Param("name") name: string,
    @Body({ schema: terminationReportSchema }) body: TerminationReportBody,
    @Req() req: AuthenticatedRequest,
  ): Promise<{ accepted: true }> {
    await this.fleets.get(name); // 404 for an unknown fleet
    const p = req.principal;
    await this.audit.append({
      actor: p
        ? { kind: p.kind, id: p.id, name: p.name }
        : { kind: "anonymous", id: "anonymous", name: "anonymous" },
      action: TERMINATION_ACTION,
      resourceType: "pod",
      resourceId: body.pod,
      fleet: name,
      summary: { ...body },
      outcome: body.reason === "drained" && body.lateConnections === 0 ? "succeeded" : "failed",
    });
    return { accepted: true };
  }

  /** The newest reports first (at most 100). */
  @Get(":name/terminations")
  @Access("read")
  async list(@Param("name") name: string): Promise<{ items: (TerminationReportBody & { at: string })[] }> {
    await this.fleets.get(name);
    const page = await this.audit.list({ fleet: name, action: TERMINATION_ACTION, limit: 100 });
    return {
      items: page.items.map((e) => ({ ...(e.summary as TerminationReportBody), at: e.at })),
    };
  }
}
