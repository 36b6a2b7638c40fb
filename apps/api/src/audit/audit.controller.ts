import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import { Readable } from "node:stream";
import {
  type ApiErrorBody,
  type AuditFilter,
  type AuditHeadResponse,
  type AuditListQuery,
  type AuditPage,
  type AuditVerifyQuery,
  type AuditVerifyResult,
  auditEventSchema,
  auditFilterSchema,
  auditHeadResponseSchema,
  auditListQuerySchema,
  auditPageSchema,
  auditVerifyQuerySchema,
  auditVerifySchema,
} from "@ebb/contracts";
import { applyDecorators, Controller, Get, Inject, Logger, Query, StreamableFile } from "@nestjs/common";
import { ApiOkResponse, ApiProduces, ApiQuery, ApiTags } from "@nestjs/swagger";
import type { z } from "zod";
import { Access } from "../auth/access.js";
import { openApiSchema } from "../common/openapi.js";
import { RequestValidationError } from "../common/validation.js";
import { AuditService } from "./audit.service.js";
import { AuditCursorError } from "./audit-store.js";

/** The query parameters of a zod query schema, for the OpenAPI document (Nest cannot see inside it). */
function queryParameters(schema: z.ZodObject): MethodDecorator {
  return applyDecorators(
    ...Object.entries(schema.shape).map(([name, field]) =>
      ApiQuery({ name, required: false, schema: openApiSchema(field as z.ZodType, "input") }),
    ),
  );
}

/** /api/v1/audit: the audit history, read-only. No route changes or deletes an event. */
@ApiTags("audit")
@Controller("audit")
export class AuditController {
  @Inject(AuditService) private readonly audit!: AuditService;
  private readonly logger = new Logger("audit");

  /** Newest first; `nextCursor` pages on to older events. */
  @Get()
  @Access("read")
  @queryParameters(auditListQuerySchema)
  @ApiOkResponse({ schema: openApiSchema(auditPageSchema) })
  async list(@Query({ schema: auditListQuerySchema }) query: AuditListQuery): Promise<AuditPage> {
    try {
      return await this.audit.list(query);
    } catch (err) {
      if (err instanceof AuditCursorError) {
        throw new RequestValidationError([{ path: "cursor", message: "not a cursor this API handed out" }], {
          cause: err,
        });
      }
      throw err;
    }
  }

  /** Every matching event, oldest first, one JSON object a line; read from the database a page at a time. */
  @Get("export")
  @Access("read")
  @queryParameters(auditFilterSchema)
  @ApiProduces("application/x-ndjson")
  @ApiOkResponse({
    description: "one audit event per line, oldest first",
    schema: openApiSchema(auditEventSchema),
  })
  export(@Query({ schema: auditFilterSchema }) filter: AuditFilter): StreamableFile {
    const events = this.audit.export(filter);
    const lines = Readable.from(
      (async function* () {
        for await (const event of events) yield `${JSON.stringify(event)}\n`;
      })(),
    );
    return new StreamableFile(lines, {
      type: "application/x-ndjson; charset=utf-8",
      disposition: 'attachment; filename="ebb-audit.ndjson"',
    }).setErrorHandler((err, handlerResponse) => {
      // Express hands the handler its response: the Node one, with setHeader and destroy.
      const res = handlerResponse as unknown as ServerResponse;
      const errorId = randomUUID();
      this.logger.error(`audit export failed (error id ${errorId}): ${err.stack ?? err.message}`);
      if (res.destroyed) return;
      // Half a file must not look like a whole one: cut the connection rather than end the body.
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body: ApiErrorBody = {
        error: {
          code: "internal",
          message: `internal error (error id ${errorId}); the details are in the server log`,
          details: { errorId },
          requestId: String(res.getHeader("x-request-id") ?? ""),
        },
      };
      res.statusCode = 500;
      res.removeHeader("content-disposition");
      res.setHeader("content-type", "application/json; charset=utf-8");
      res.end(JSON.stringify(body));
    });
  }

  /**
   * The newest event's id and hash. Record it outside Ebb (a ticket, CI output, another system): a later
   * `verify?from=<id>&anchor=<hash>` then proves that event is still there, unchanged, and that everything
   * after it follows it.
   */
  @Get("head")
  @Access("read")
  @ApiOkResponse({ schema: openApiSchema(auditHeadResponseSchema) })
  async head(): Promise<AuditHeadResponse> {
    return { head: await this.audit.head() };
  }

  /**
   * Walks the chain and names the first event that does not hold: from the first event, or, with
   * `from` and `anchor` (a head recorded earlier), from that event, which must still carry that hash.
   */
  @Get("verify")
  @Access("read")
  @queryParameters(auditVerifyQuerySchema)
  @ApiOkResponse({ schema: openApiSchema(auditVerifySchema) })
  verify(@Query({ schema: auditVerifyQuerySchema }) query: AuditVerifyQuery): Promise<AuditVerifyResult> {
    const anchor =
      query.from !== undefined && query.anchor !== undefined
        ? { id: BigInt(query.from), hash: query.anchor }
        : undefined;
    return this.audit.verify(anchor);
  }
}
