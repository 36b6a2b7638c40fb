import { type CreateRolloutBody, createRolloutBodySchema, type RolloutView } from "@ebb/contracts";
import { Body, Controller, Get, Headers, HttpCode, Inject, Param, ParseUUIDPipe, Post } from "@nestjs/common";
import { z } from "zod";
import { RolloutsService } from "./rollouts.service.js";

const retryBodySchema = z.strictObject({ target: z.string().min(1) });
const approveBodySchema = z.strictObject({ target: z.string().min(1).optional() });
const commandBodySchema = z.strictObject({ reason: z.string().max(500).optional() }).optional();

/** /api/v1/rollouts: create (201 {id}), read, and the operator's commands. */
@Controller("rollouts")
export class RolloutsController {
  @Inject(RolloutsService) private readonly rollouts!: RolloutsService;

  @Post()
  @HttpCode(201)
  async create(
    @Body({ schema: createRolloutBodySchema }) body: CreateRolloutBody,
    @Headers("idempotency-key") idempotencyKey?: string,
  ): Promise<{ id: string; findings: unknown[]; expectedDurationMs: number; batches: string[][] }> {
    const created = await this.rollouts.create(body, idempotencyKey);
    return {
      id: created.id,
      findings: created.findings,
      expectedDurationMs: created.plan.expectedDurationMs,
      batches: created.plan.batches,
    };
  }

  @Get(":id")
  get(@Param("id", ParseUUIDPipe) id: string): Promise<RolloutView> {
    return this.rollouts.get(id);
  }

  @Post(":id/pause")
  @HttpCode(200)
  pause(@Param("id", ParseUUIDPipe) id: string): Promise<RolloutView> {
    return this.rollouts.command(id, { type: "pause" });
  }

  @Post(":id/resume")
  @HttpCode(200)
  resume(@Param("id", ParseUUIDPipe) id: string): Promise<RolloutView> {
    return this.rollouts.command(id, { type: "resume" });
  }

  @Post(":id/abort")
  @HttpCode(200)
  abort(
    @Param("id", ParseUUIDPipe) id: string,
    @Body({ schema: commandBodySchema }) body?: { reason?: string },
  ): Promise<RolloutView> {
    return this.rollouts.command(id, { type: "abort", ...(body?.reason ? { reason: body.reason } : {}) });
  }

  @Post(":id/retry")
  @HttpCode(200)
  retry(
    @Param("id", ParseUUIDPipe) id: string,
    @Body({ schema: retryBodySchema }) body: { target: string },
  ): Promise<RolloutView> {
    return this.rollouts.command(id, { type: "retry", target: body.target });
  }

  @Post(":id/approve")
  @HttpCode(200)
  approve(
    @Param("id", ParseUUIDPipe) id: string,
    @Body({ schema: approveBodySchema }) body: { target?: string },
  ): Promise<RolloutView> {
    // Who approves comes with authentication (issue #4); until then the API is the approver.
    return this.rollouts.command(id, {
      type: "approve",
      by: "api",
      ...(body.target ? { target: body.target } : {}),
    });
  }
}
