import type {
  CreateRolloutBody,
  RolloutDetail,
  RolloutNoticeView,
  RolloutPage,
  RolloutPreview,
  RolloutStatus,
  RolloutSummary,
} from "@ebb/contracts";
import { EbbError, type RolloutEvent, type RolloutPlan, type RolloutState } from "@ebb/core";
import { HttpException, HttpStatus, Inject, Injectable } from "@nestjs/common";
import { CONFIG, DATABASE } from "../app/tokens.js";
import { checkApprover } from "../auth/four-eyes.js";
import type { Principal } from "../auth/principal.js";
import type { EbbConfig } from "../config/config.js";
import type { Database } from "../database/client.js";
import type { DriverRegistry, Engine } from "../engine/engine.js";
import { DRIVERS, ENGINE } from "../engine/tokens.js";
import type { Prisma } from "../generated/prisma/client.js";
import {
  approveRollout,
  type CreatedRollout,
  type CreateRolloutInput,
  createAndStartRollout,
  prepareRollout,
} from "./create-rollout.js";
import { RateLimiter } from "./rate-limit.js";

type RolloutRow = Prisma.RolloutGetPayload<{
  include: { fleet: { select: { name: true } }; runbookVersion: { select: { name: true; version: true } } };
}>;

const include = {
  fleet: { select: { name: true } },
  runbookVersion: { select: { name: true, version: true } },
} as const;

/** Thin: requests in, engine and core out. */
@Injectable()
export class RolloutsService {
  @Inject(DATABASE) private readonly db!: Database;
  @Inject(ENGINE) private readonly engine!: Engine;
  @Inject(DRIVERS) private readonly drivers!: DriverRegistry;
  @Inject(CONFIG) private readonly config!: EbbConfig;
  private readonly creations = new RateLimiter(60_000);

  async create(
    body: CreateRolloutBody,
    idempotencyKey: string | undefined,
    principal: Principal | undefined,
  ): Promise<CreatedRollout> {
    const who = principal ?? { kind: "system", id: "system", name: "ebb", scope: "admin" };
    const key = `${who.kind}:${who.id}`;
    const retryAfter = this.creations.check(key, this.config.limits.rolloutsPerMinute);
    if (retryAfter !== undefined) {
      const seconds = Math.max(1, Math.ceil(retryAfter / 1000));
      throw new HttpException(
        {
          message: `more than ${this.config.limits.rolloutsPerMinute} rollouts a minute (EBB_ROLLOUT_RATE_LIMIT); try again in ${seconds} s`,
          details: { retryAfterSeconds: seconds },
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    const created = await createAndStartRollout(
      this.deps(),
      this.input(body, idempotencyKey, who),
      this.config.limits,
    );
    if (created.created) this.creations.record(key);
    return created;
  }

  async preview(body: CreateRolloutBody, principal: Principal | undefined): Promise<RolloutPreview> {
    const prepared = await prepareRollout(
      this.deps(),
      this.input(body, undefined, principal),
      this.config.limits,
    );
    return {
      fleet: prepared.fleet.name,
      runbook: prepared.runbookName,
      findings: prepared.findings,
      batches: prepared.plan.batches,
      skipped: prepared.plan.skipped,
      expectedDurationMs: prepared.plan.expectedDurationMs,
      floorPerTargetMs: prepared.plan.floorPerTargetMs,
      requiresApproval: prepared.requiresApproval,
      protected: prepared.fleet.protected,
      blocked: prepared.blocked,
    };
  }

  /** Newest first; the cursor is the last item's (createdAt, id), so pages never skip or repeat a row. */
  async list(query: {
    fleet?: string | undefined;
    status?: RolloutStatus[] | undefined;
    cursor?: string | undefined;
    limit: number;
  }): Promise<RolloutPage> {
    const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const rows = await this.db.prisma.rollout.findMany({
      where: {
        ...(query.fleet === undefined ? {} : { fleet: { name: query.fleet } }),
        ...(query.status === undefined ? {} : { status: { in: query.status } }),
        ...(after === undefined
          ? {}
          : {
              OR: [
                { createdAt: { lt: after.createdAt } },
                { createdAt: after.createdAt, id: { lt: after.id } },
              ],
            }),
      },
      include,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: query.limit + 1,
    });
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map(summaryOf),
      nextCursor: rows.length > query.limit && last ? encodeCursor(last.createdAt, last.id) : null,
    };
  }

  async get(id: string): Promise<RolloutDetail> {
    return detailOf(await this.row(id));
  }

  /** The timeline after `afterId` (a rollout_events id), oldest first. */
  async notices(id: string, afterId: bigint, limit = 500): Promise<RolloutNoticeView[]> {
    const rows = await this.db.prisma.rolloutEvent.findMany({
      where: { rolloutId: id, id: { gt: afterId } },
      orderBy: { id: "asc" },
      take: limit,
    });
    return rows.map((r) => ({
      id: r.id.toString(),
      at: r.at.toISOString(),
      type: r.type,
      target: r.target,
      data: r.data,
    }));
  }

  /** pause, resume, abort, retry, approve: an event for the state machine; 409 when it does not apply. */
  async command(id: string, event: RolloutEvent): Promise<RolloutDetail> {
    const outcome = await this.engine.send(id, event);
    if (outcome.ignored) throw new EbbError("invalid_transition", outcome.ignored.message);
    return this.get(id);
  }

  /**
   * Without a target: releases a rollout waiting for a second person's approval (the approver must not be
   * its requester). With a target, or for a running rollout: the `approval` step gate of its targets.
   */
  async approve(
    id: string,
    target: string | undefined,
    principal: Principal | undefined,
  ): Promise<RolloutDetail> {
    const who = principal ?? { kind: "system" as const, id: "system", name: "ebb", scope: "admin" as const };
    const row = await this.row(id);
    await checkApprover(this.db.prisma, row, target, who);
    if (target === undefined && row.requiresApproval && row.approvedAt === null) {
      await approveRollout(this.deps(), id, { name: who.name, id: `${who.kind}:${who.id}` });
      return this.get(id);
    }
    return this.command(id, { type: "approve", by: who.name, ...(target ? { target } : {}) });
  }

  private async row(id: string): Promise<RolloutRow> {
    const row = await this.db.prisma.rollout.findUnique({ where: { id }, include });
    if (!row) throw new EbbError("not_found", `rollout ${id} does not exist`);
    return row;
  }

  private deps() {
    return { prisma: this.db.prisma, engine: this.engine, drivers: this.drivers, now: Date.now };
  }

  private input(
    body: CreateRolloutBody,
    idempotencyKey: string | undefined,
    principal: Principal | undefined,
  ): CreateRolloutInput {
    return {
      fleet: body.fleet,
      version: body.version,
      runbook: body.runbook,
      strategy: {
        maxUnavailable: body.maxUnavailable ?? 1,
        ...(body.batchSize === undefined ? {} : { batchSize: body.batchSize }),
        ...(body.minHealthy === undefined ? {} : { minHealthy: body.minHealthy }),
      },
      params: body.params ?? {},
      force: body.force === true,
      ...(idempotencyKey ? { idempotencyKey } : {}),
      ...(principal
        ? { requestedBy: { name: principal.name, id: `${principal.kind}:${principal.id}` } }
        : {}),
    };
  }
}

function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

function isoMs(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function summaryOf(row: RolloutRow): RolloutSummary {
  const state = row.state as unknown as RolloutState;
  const runs = Object.values(state.targets);
  return {
    id: row.id,
    status: state.status,
    fleet: row.fleet.name,
    runbook: row.runbookVersion.name,
    version: row.version,
    requestedBy: row.requestedBy,
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    targets: {
      total: runs.length,
      succeeded: runs.filter((r) => r.status === "succeeded").length,
      failed: runs.filter((r) => r.status === "failed").length,
    },
    requiresApproval: row.requiresApproval,
    approvedBy: row.approvedBy,
  };
}

function detailOf(row: RolloutRow): RolloutDetail {
  const state = row.state as unknown as RolloutState;
  const plan = row.plan as unknown as RolloutPlan;
  const failure = state.failure;
  return {
    id: row.id,
    status: state.status,
    fleet: row.fleet.name,
    runbook: row.runbookVersion.name,
    runbookVersion: row.runbookVersion.version,
    version: row.version,
    requestedBy: row.requestedBy,
    createdAt: row.createdAt.toISOString(),
    startedAt: iso(row.startedAt),
    finishedAt: iso(row.finishedAt),
    requiresApproval: row.requiresApproval,
    approvedBy: row.approvedBy,
    batches: state.batches,
    currentBatch: state.currentBatch,
    expectedDurationMs: plan.expectedDurationMs ?? 0,
    floorPerTargetMs: plan.floorPerTargetMs ?? 0,
    failure: failure
      ? {
          target: failure.target,
          step: state.steps[failure.stepIndex]?.step.id ?? String(failure.stepIndex),
          code: failure.error.code,
          message: failure.error.message,
        }
      : null,
    steps: state.steps.map((p) => ({ id: p.step.id, type: p.step.type, timeoutMs: p.timeoutMs })),
    targets: Object.values(state.targets).map((t) => ({
      name: t.target,
      batch: t.batch,
      status: t.status,
      stepIndex: t.stepIndex,
      step: t.attempt === 0 ? null : (state.steps[t.stepIndex]?.step.id ?? null),
      attempt: t.attempt,
      error: t.error ?? null,
      startedAt: isoMs(t.startedAt),
      finishedAt: isoMs(t.finishedAt),
      steps: t.steps.flatMap((s, index) =>
        s.attempts === 0
          ? []
          : [
              {
                index,
                id: state.steps[index]?.step.id ?? String(index),
                type: state.steps[index]?.step.type ?? "unknown",
                status: s.status,
                attempt: s.attempts,
                startedAt: isoMs(s.startedAt),
                finishedAt: isoMs(s.finishedAt),
                deadlineAt: index === t.stepIndex && s.finishedAt === undefined ? isoMs(t.deadline) : null,
                error: s.error ?? null,
                ...(s.observation === undefined ? {} : { observation: s.observation }),
              },
            ],
      ),
    })),
  };
}

function encodeCursor(createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString("base64url");
}

function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const createdAt = new Date(at ?? "");
  if (!id || Number.isNaN(createdAt.getTime()) || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new EbbError("param_invalid", "cursor: not a cursor this API returned", {
      details: [{ field: "cursor", message: "not a cursor this API returned" }],
    });
  }
  return { createdAt, id };
}
