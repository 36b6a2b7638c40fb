import type { ServerResponse } from "node:http";
import {
  type RunbookSummary,
  type RunbookValidation,
  type RunbookVersionView,
  runbookSourceBodySchema,
  runbookValidationSchema,
  runbookVersionSchema,
} from "@ebb/contracts";
import { Body, Controller, Get, HttpCode, Inject, Param, ParseIntPipe, Post, Req, Res } from "@nestjs/common";
import { ApiBody, ApiCreatedResponse, ApiOkResponse, ApiTags } from "@nestjs/swagger";
import { Access } from "../auth/access.js";
import type { AuthenticatedRequest } from "../auth/principal.js";
import { openApiSchema } from "../common/openapi.js";
import { RunbooksService } from "./runbooks.service.js";

/** /api/v1/runbooks: versions of runbook documents, and validation without saving. */
@ApiTags("runbooks")
@Controller("runbooks")
export class RunbooksController {
  @Inject(RunbooksService) private readonly runbooks!: RunbooksService;

  @Get()
  @Access("read")
  list(): Promise<RunbookSummary[]> {
    return this.runbooks.list();
  }

  /** 200 with every problem (line, path, message) or the steps; nothing is stored. */
  @Post("validate")
  @Access("read")
  @HttpCode(200)
  @ApiBody({ schema: openApiSchema(runbookSourceBodySchema, "input") })
  @ApiOkResponse({ schema: openApiSchema(runbookValidationSchema) })
  validate(@Body({ schema: runbookSourceBodySchema }) body: { source: string }): RunbookValidation {
    return this.runbooks.validate(body.source);
  }

  /** 201 with the new version, or 200 with the existing one when the same text was stored before. */
  @Post()
  @Access("admin")
  @ApiBody({ schema: openApiSchema(runbookSourceBodySchema, "input") })
  @ApiCreatedResponse({ schema: openApiSchema(runbookVersionSchema) })
  async create(
    @Body({ schema: runbookSourceBodySchema }) body: { source: string },
    @Req() req: AuthenticatedRequest,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<RunbookVersionView> {
    const { created, version } = await this.runbooks.create(body.source, req.principal);
    res.statusCode = created ? 201 : 200;
    return version;
  }

  @Get(":name")
  @Access("read")
  latest(@Param("name") name: string): Promise<RunbookVersionView> {
    return this.runbooks.latest(name);
  }

  @Get(":name/versions/:version")
  @Access("read")
  version(
    @Param("name") name: string,
    @Param("version", ParseIntPipe) version: number,
  ): Promise<RunbookVersionView> {
    return this.runbooks.version(name, version);
  }
}
