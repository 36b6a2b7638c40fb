import type { IncomingMessage, ServerResponse } from "node:http";
import {
  createFleetBodySchema,
  type FleetView,
  fleetLiveSchema,
  fleetSchema,
  type TargetView,
  targetBodySchema,
  targetSchema,
  updateFleetBodySchema,
  updateTargetBodySchema,
} from "@ebb/contracts";
import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Inject,
  Param,
  Patch,
  Post,
  Req,
  Res,
} from "@nestjs/common";
import {
  ApiBody,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
} from "@nestjs/swagger";
import type { z } from "zod";
import { Access } from "../auth/access.js";
import { CredentialWatch } from "../auth/credential-watch.js";
import type { AuthenticatedRequest } from "../auth/principal.js";
import { openApiSchema } from "../common/openapi.js";
import { openSse } from "../common/sse.js";
import { FleetsService } from "./fleets.service.js";
import { LIVE_TRAFFIC } from "./fleets.tokens.js";
import type { LiveTraffic } from "./live-traffic.js";

/** /api/v1/fleets: fleets and their targets; the live traffic of a fleet as Server-Sent Events. */
@ApiTags("fleets")
@Controller("fleets")
export class FleetsController {
  @Inject(FleetsService) private readonly fleets!: FleetsService;
  @Inject(LIVE_TRAFFIC) private readonly live!: LiveTraffic;
  @Inject(CredentialWatch) private readonly credentials!: CredentialWatch;

  @Get()
  @Access("read")
  @ApiOkResponse({ schema: { type: "array", items: openApiSchema(fleetSchema) } })
  list(): Promise<FleetView[]> {
    return this.fleets.list();
  }

  @Post()
  @HttpCode(201)
  @Access("admin")
  @ApiBody({ schema: openApiSchema(createFleetBodySchema, "input") })
  @ApiCreatedResponse({ schema: openApiSchema(fleetSchema) })
  create(
    @Body({ schema: createFleetBodySchema }) body: z.output<typeof createFleetBodySchema>,
  ): Promise<FleetView> {
    return this.fleets.create(body);
  }

  @Get(":name")
  @Access("read")
  get(@Param("name") name: string): Promise<FleetView> {
    return this.fleets.get(name);
  }

  @Patch(":name")
  @Access("admin")
  update(
    @Param("name") name: string,
    @Body({ schema: updateFleetBodySchema }) body: z.output<typeof updateFleetBodySchema>,
  ): Promise<FleetView> {
    return this.fleets.update(name, body);
  }

  @Delete(":name")
  @HttpCode(204)
  @Access("admin")
  async remove(@Param("name") name: string): Promise<void> {
    await this.fleets.remove(name);
  }

  @Post(":name/targets")
  @HttpCode(201)
  @Access("admin")
  @ApiBody({ schema: openApiSchema(targetBodySchema, "input") })
  @ApiCreatedResponse({ schema: openApiSchema(targetSchema) })
  addTarget(
    @Param("name") name: string,
    @Body({ schema: targetBodySchema }) body: z.output<typeof targetBodySchema>,
  ): Promise<TargetView> {
    return this.fleets.addTarget(name, body);
  }

  @Patch(":name/targets/:target")
  @Access("admin")
  updateTarget(
    @Param("name") name: string,
    @Param("target") target: string,
    @Body({ schema: updateTargetBodySchema }) body: z.output<typeof updateTargetBodySchema>,
  ): Promise<TargetView> {
    return this.fleets.updateTarget(name, target, body);
  }

  @Delete(":name/targets/:target")
  @HttpCode(204)
  @Access("admin")
  async removeTarget(@Param("name") name: string, @Param("target") target: string): Promise<void> {
    await this.fleets.removeTarget(name, target);
  }

  /**
   * `text/event-stream`: event `traffic` (FleetLive) about once a second while connected. Ends when the
   * caller's credential is revoked or expires.
   */
  @Get(":name/live")
  @Access("read")
  @ApiOperation({
    summary: "Server-Sent Events: traffic (per target state, version, sessions, rates) once a second",
  })
  @ApiProduces("text/event-stream")
  @ApiOkResponse({
    description:
      "Each `traffic` event's data (JSON). A fleet behind several balancer members gives each target's " +
      "`members`: every member's own view of it.",
    content: { "text/event-stream": { schema: openApiSchema(fleetLiveSchema) } },
  })
  async liveStream(
    @Param("name") name: string,
    @Req() req: AuthenticatedRequest,
    @Res() res: ServerResponse,
  ): Promise<void> {
    await this.fleets.get(name); // 404 before the stream opens
    const stream = openSse(req as IncomingMessage, res);
    stream.onClose(this.live.subscribe(name, (live) => stream.send("traffic", live)));
    if (req.principal) stream.onClose(this.credentials.watch(req.principal, () => stream.close()));
  }
}
