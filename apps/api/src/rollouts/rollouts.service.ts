import type {
  CreatedRolloutView,
  CreateRolloutBody,
  RollbackCreatedView,
  RolloutDetail,
  RolloutNoticeView,
  RolloutPage,
  RolloutPreview,
} from "@ebb/contracts";
import { EbbError, isEbbError, type RolloutEvent } from "@ebb/core";
import type { DriverRegistry, Engine } from "@ebb/engine";
import { Inject, Injectable, Optional } from "@nestjs/common";
import { checkApprover } from "../auth/four-eyes.js";
import { type Principal, SYSTEM_PRINCIPAL } from "../auth/principal.js";
import { RateLimiter } from "../common/rate-limit.js";
import {
  CONFIG,
  DATABASE,
  type RolloutNotifications,
  WEBHOOK_NOTIFIER,
  WORKER_PRESENCE,
} from "../common/tokens.js";
import type { WorkerPresence } from "../common/worker-presence.js";
import type { EbbConfig } from "../config/config.js";
import type { Database } from "../database/client.js";
import { DRIVERS, ENGINE } from "../engine/tokens.js";
import type { EbbMetrics } from "../metrics/metrics.js";
import { METRICS } from "../metrics/tokens.js";
import { approveRollout } from "./approve-rollout.js";
import { type CreateDeps, createAndStartRollout } from "./create-rollout.js";
import { prepareRollout } from "./prepare-rollout.js";
import { principalId, toCreateRolloutInput } from "./rollout-input.js";
import { createdOf, detailOf, noticeOf, previewOf, summaryOf } from "./rollout-view.js";
import { type RolloutListQuery, RolloutsRepository } from "./rollouts.repository.js";

/** Thin: requests in, use cases and engine out, views back. */
@Injectable()
export class RolloutsService {
  @Inject(DATABASE) private readonly db!: Database;
  @Inject(ENGINE) private readonly engine!: Engine;
  @Inject(DRIVERS) private readonly drivers!: DriverRegistry;
  @Inject(CONFIG) private readonly config!: EbbConfig;
  @Optional() @Inject(WEBHOOK_NOTIFIER) private readonly webhooks?: RolloutNotifications;
  @Inject(WORKER_PRESENCE) private readonly workers!: WorkerPresence;
  @Inject(METRICS) private readonly metrics!: EbbMetrics;
  private readonly creations = new RateLimiter(60_000);
  private repository: RolloutsRepository | undefined;

  async create(
    body: CreateRolloutBody,
    idempotencyKey: string | undefined,
    principal: Principal | undefined,
  ): Promise<CreatedRolloutView> {
    const who = principal ?? SYSTEM_PRINCIPAL;
    const key = principalId(who);
    const retryAfter = this.creations.check(key, this.config.limits.rolloutsPerMinute);
    if (retryAfter !== undefined) {
      const seconds = Math.max(1, Math.ceil(retryAfter / 1000));
      throw new EbbError(
        "too_many_requests",
        `more than ${this.config.limits.rolloutsPerMinute} rollouts a minute (EBB_ROLLOUT_RATE_LIMIT); try again in ${seconds} s`,
        { details: { retryAfterSeconds: seconds } },
      );
    }
    const created = await createAndStartRollout(
      this.deps(),
      toCreateRolloutInput(body, idempotencyKey, who),
      this.config.limits,
    ).catch((err: unknown) => {
      if (isEbbError(err, "fleet_held")) this.metrics.leaseConflict({ kind: "fleet_held" });
      throw err;
    });
    if (created.created) this.creations.record(key);
    // No transition says a rollout waits for a second person: its creation does.
    if (created.created && created.requiresApproval) await this.webhooks?.pendingApproval(created.id);
    const view = createdOf(created);
    const waiting = await this.workers.waitingForWorker(
      created.requiresApproval ? "pending" : "running",
      created.requiresApproval,
    );
    return waiting === undefined ? view : { ...view, waitingForWorker: waiting };
  }

  async preview(body: CreateRolloutBody, principal: Principal | undefined): Promise<RolloutPreview> {
    const input = toCreateRolloutInput(body, undefined, principal);
    return previewOf(await prepareRollout(this.deps(), input, this.config.limits));
  }

  async list(query: RolloutListQuery): Promise<RolloutPage> {
    const { rows, nextCursor } = await this.rollouts.page(query);
    return { items: rows.map(summaryOf), nextCursor };
  }

  async get(id: string): Promise<RolloutDetail> {
    const row = await this.rollouts.find(id);
    if (!row) throw new EbbError("not_found", `rollout ${id} does not exist`);
    const view = detailOf(row);
    const waiting = await this.workers.waitingForWorker(
      view.status,
      view.requiresApproval && view.approvedBy === null,
    );
    return waiting === undefined ? view : { ...view, waitingForWorker: waiting };
  }

  /** The timeline after `afterId` (a rollout_events id), oldest first. */
  async notices(id: string, afterId: bigint, limit = 500): Promise<RolloutNoticeView[]> {
    return (await this.rollouts.notices(id, afterId, limit)).map(noticeOf);
  }

  /** pause, resume, abort, retry, approve: an event for the state machine; 409 when it does not apply. */
  async command(id: string, event: RolloutEvent): Promise<RolloutDetail> {
    const outcome = await this.engine.send(id, event);
    if (outcome.ignored) throw new EbbError("invalid_transition", outcome.ignored.message);
    return this.get(id);
  }

  /** A linked rollout taking a finished rollout's moved targets back (see core workflow/rollback.ts). */
  async rollback(id: string, principal: Principal | undefined): Promise<RollbackCreatedView> {
    const who = principal ?? SYSTEM_PRINCIPAL;
    const outcome = await this.engine.send(id, { type: "rollback", by: who.name });
    if (outcome.ignored) throw new EbbError("invalid_transition", outcome.ignored.message);
    const rollback = outcome.state.rollback;
    return { id: rollback?.rolloutId ?? null, rollbackOf: id, targets: rollback?.targets ?? [] };
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
    const who = principal ?? SYSTEM_PRINCIPAL;
    const row = await this.rollouts.find(id);
    if (!row) throw new EbbError("not_found", `rollout ${id} does not exist`);
    await checkApprover(this.db.prisma, row, target, who);
    if (target === undefined && row.requiresApproval && row.approvedAt === null) {
      await approveRollout(this.deps(), id, { name: who.name, id: principalId(who) });
      return this.get(id);
    }
    return this.command(id, { type: "approve", by: who.name, ...(target ? { target } : {}) });
  }

  private get rollouts(): RolloutsRepository {
    this.repository ??= new RolloutsRepository(this.db.prisma);
    return this.repository;
  }

  private deps(): CreateDeps {
    return {
      prisma: this.db.prisma,
      rollouts: this.rollouts,
      engine: this.engine,
      drivers: this.drivers,
      now: Date.now,
    };
  }
}
