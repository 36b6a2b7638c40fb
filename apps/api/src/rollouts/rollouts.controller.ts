import type { ServerResponse } from "node:http";
import {
  type CreatedRolloutView,
  type CreateRolloutBody,
  createdRolloutSchema,
  createRolloutBodySchema,
  type RollbackCreatedView,
  type RolloutDetail,
  type RolloutPage,
  type RolloutPreview,
  rollbackCreatedSchema,
  rolloutDetailSchema,
  rolloutListQuerySchema,
  rolloutPageSchema,
  rolloutPreviewSchema,
} from "@ebb/contracts";
import {
  Body,
  Controller,
  Get,
  Headers,
  HttpCode,
  Inject,
  Param,
  ParseUUIDPipe,
  Post,
  Query,
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
import { z } from "zod";
import { Access } from "../auth/access.js";
import { CredentialWatch } from "../auth/credential-watch.js";
import { type AuthenticatedRequest, SYSTEM_PRINCIPAL } from "../auth/principal.js";
import { openApiSchema } from "../common/openapi.js";
import { openSse } from "../common/sse.js";
import type { RolloutChanges } from "../engine/changes.js";
import { CHANGES } from "../engine/tokens.js";
import { LIVE_TRAFFIC } from "../fleets/fleets.tokens.js";
import type { LiveTraffic } from "../fleets/live-traffic.js";
import { RolloutsService } from "./rollouts.service.js";

const retryBodySchema = z.strictObject({ target: z.string().min(1) });
const approveBodySchema = z.strictObject({ target: z.string().min(1).optional() }).optional();
const commandBodySchema = z.strictObject({ reason: z.string().max(500).optional() }).optional();
const idempotencyKeySchema = z
  .string()
  .max(200, "Idempotency-Key: at most 200 characters")
  .regex(/^[\x21-\x7e]+$/, "Idempotency-Key: printable ASCII without spaces")
  .optional();

/** Streams look at the database on their own this often, in case a doorbell was lost. */
const STREAM_RECHECK_MS = 5_000;

/** /api/v1/rollouts: create (201 {id}), list, read, preview, the operator's commands, the event stream. */
@ApiTags("rollouts")
@Controller("rollouts")
export class RolloutsController {
  @Inject(RolloutsService) private readonly rollouts!: RolloutsService;
  @Inject(CHANGES) private readonly changes!: RolloutChanges;
  @Inject(LIVE_TRAFFIC) private readonly live!: LiveTraffic;
  @Inject(CredentialWatch) private readonly credentials!: CredentialWatch;

  @Post()
  @Access("deploy")
  @HttpCode(201)
  @ApiOperation({ summary: "Create a rollout (header Idempotency-Key makes retries safe)" })
  @ApiBody({ schema: openApiSchema(createRolloutBodySchema, "input") })
  @ApiCreatedResponse({ schema: openApiSchema(createdRolloutSchema) })
  create(
    @Body({ schema: createRolloutBodySchema }) body: CreateRolloutBody,
    @Req() req: AuthenticatedRequest,
    @Headers("idempotency-key") idempotencyKey?: string,
  ): Promise<CreatedRolloutView> {
    return this.rollouts.create(body, idempotencyKeySchema.parse(idempotencyKey), req.principal);
  }

  /** What POST /rollouts would plan and find (batches, expected duration, preflight), creating nothing. */
  @Post("preview")
  @Access("read")
  @HttpCode(200)
  @ApiOperation({ summary: "Plan and preflight a rollout without creating it" })
  @ApiBody({ schema: openApiSchema(createRolloutBodySchema, "input") })
  @ApiOkResponse({ schema: openApiSchema(rolloutPreviewSchema) })
  preview(
    @Body({ schema: createRolloutBodySchema }) body: CreateRolloutBody,
    @Req() req: AuthenticatedRequest,
  ): Promise<RolloutPreview> {
    return this.rollouts.preview(body, req.principal);
  }

  @Get()
  @Access("read")
  @ApiOperation({ summary: "List rollouts, newest first (cursor pagination)" })
  @ApiOkResponse({ schema: openApiSchema(rolloutPageSchema) })
  list(
    @Query({ schema: rolloutListQuerySchema }) query: z.output<typeof rolloutListQuerySchema>,
  ): Promise<RolloutPage> {
    return this.rollouts.list(query);
  }

  @Get(":id")
  @Access("read")
  @ApiOperation({
    summary:
      "A rollout with its targets and steps; terminal statuses: succeeded, failed, aborted, rolled_back",
  })
  @ApiOkResponse({ schema: openApiSchema(rolloutDetailSchema) })
  get(@Param("id", ParseUUIDPipe) id: string): Promise<RolloutDetail> {
    return this.rollouts.get(id);
  }

  /**
   * `text/event-stream`: `snapshot` (the rollout) on connect, `notice` for each timeline entry (its id is
   * the SSE id, so a reconnecting EventSource resumes where it left off), `rollout` after each change, and
   * `traffic` for the rollout's targets about once a second. Ends when the credential is revoked.
   */
  @Get(":id/events")
  @Access("read")
  @ApiOperation({ summary: "Server-Sent Events: snapshot, notice (SSE id = timeline id), rollout, traffic" })
  @ApiProduces("text/event-stream")
  async events(
    @Param("id", ParseUUIDPipe) id: string,
    @Req() req: AuthenticatedRequest,
    @Res() res: ServerResponse,
  ): Promise<void> {
    const first = await this.rollouts.get(id); // 404 before the stream opens
    const stream = openSse(req, res);
    let last = parseEventId(stream.lastEventId);
    stream.send("snapshot", first);
    let running = false;
    let again = false;
    const pump = async () => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          let changed = false;
          for (;;) {
            const notices = await this.rollouts.notices(id, last);
            for (const n of notices) stream.send("notice", n, n.id);
            if (notices.length > 0) {
              last = BigInt(notices.at(-1)!.id);
              changed = true;
            }
            if (notices.length < 500 || stream.closed) break;
          }
          if (changed && !stream.closed) stream.send("rollout", await this.rollouts.get(id));
        } while (again && !stream.closed);
      } catch {
        // The database is away: the next ring or recheck tries again; the stream stays open.
      } finally {
        running = false;
      }
    };
    void pump();
    stream.onClose(this.changes.subscribe(id, () => void pump()));
    const recheck = setInterval(() => void pump(), STREAM_RECHECK_MS);
    recheck.unref();
    stream.onClose(() => clearInterval(recheck));
    const targets = new Set(first.targets.map((t) => t.name));
    stream.onClose(
      this.live.subscribe(first.fleet, (live) =>
        stream.send("traffic", { ...live, targets: live.targets.filter((t) => targets.has(t.name)) }),
      ),
    );
    if (req.principal) stream.onClose(this.credentials.watch(req.principal, () => stream.close()));
  }

  @Post(":id/pause")
  @Access("deploy")
  @HttpCode(200)
  pause(@Param("id", ParseUUIDPipe) id: string): Promise<RolloutDetail> {
    return this.rollouts.command(id, { type: "pause" });
  }

  @Post(":id/resume")
  @Access("deploy")
  @HttpCode(200)
  resume(@Param("id", ParseUUIDPipe) id: string): Promise<RolloutDetail> {
    return this.rollouts.command(id, { type: "resume" });
  }

  @Post(":id/abort")
  @Access("deploy")
  @HttpCode(200)
  abort(
    @Param("id", ParseUUIDPipe) id: string,
    @Body({ schema: commandBodySchema }) body?: { reason?: string },
  ): Promise<RolloutDetail> {
    return this.rollouts.command(id, { type: "abort", ...(body?.reason ? { reason: body.reason } : {}) });
  }

  /**
   * Rolls a finished rollout's moved targets back to the version each ran before it, as a new linked rollout
   * (same runbook, batches, drain proofs). 422 `rollback_unavailable` when a previous version is unknown or
   * not shared; 409 when the rollout is not finished or was rolled back already.
   */
  @Post(":id/rollback")
  @Access("deploy")
  @HttpCode(201)
  @ApiOperation({
    summary: "Roll a finished rollout's targets back to their previous version, as a new linked rollout",
  })
  @ApiCreatedResponse({ schema: openApiSchema(rollbackCreatedSchema) })
  rollback(
    @Param("id", ParseUUIDPipe) id: string,
    @Req() req: AuthenticatedRequest,
  ): Promise<RollbackCreatedView> {
    return this.rollouts.rollback(id, req.principal);
  }

  @Post(":id/retry")
  @Access("deploy")
  @HttpCode(200)
  retry(
    @Param("id", ParseUUIDPipe) id: string,
    @Body({ schema: retryBodySchema }) body: { target: string },
  ): Promise<RolloutDetail> {
    return this.rollouts.command(id, { type: "retry", target: body.target });
  }

  /**
   * Counts a failed target's step as done and goes on: for a command whose outcome is unknown
   * (`outcome_unknown`) once a person has checked that its effect is in place.
   */
  @Post(":id/skip")
  @Access("deploy")
  @HttpCode(200)
  skip(
    @Param("id", ParseUUIDPipe) id: string,
    @Req() req: AuthenticatedRequest,
    @Body({ schema: retryBodySchema }) body: { target: string },
  ): Promise<RolloutDetail> {
    return this.rollouts.command(id, {
      type: "skip",
      target: body.target,
      by: (req.principal ?? SYSTEM_PRINCIPAL).name,
    });
  }

  /** Releases a rollout waiting for a second person's approval, or the `approval` step of its targets. */
  @Post(":id/approve")
  @Access("deploy")
  @HttpCode(200)
  approve(
    @Param("id", ParseUUIDPipe) id: string,
    @Req() req: AuthenticatedRequest,
    @Body({ schema: approveBodySchema }) body?: { target?: string },
  ): Promise<RolloutDetail> {
    return this.rollouts.approve(id, body?.target, req.principal);
  }
}

function parseEventId(id: string | undefined): bigint {
  if (id === undefined || !/^\d{1,19}$/.test(id)) return 0n;
  return BigInt(id);
}
