import type { CreateRolloutBody, RolloutView } from "@ebb/contracts";
import { EbbError, type RolloutEvent, type RolloutState } from "@ebb/core";
import { Inject, Injectable } from "@nestjs/common";
import { DATABASE } from "../app/tokens.js";
import type { Database } from "../database/client.js";
import type { DriverRegistry, Engine } from "../engine/engine.js";
import { DRIVERS, ENGINE } from "../engine/tokens.js";
import { type CreatedRollout, createAndStartRollout } from "./create-rollout.js";

/** Thin: requests in, engine and core out. */
@Injectable()
export class RolloutsService {
  @Inject(DATABASE) private readonly db!: Database;
  @Inject(ENGINE) private readonly engine!: Engine;
  @Inject(DRIVERS) private readonly drivers!: DriverRegistry;

  create(body: CreateRolloutBody, idempotencyKey: string | undefined): Promise<CreatedRollout> {
    const strategy = {
      maxUnavailable: body.maxUnavailable ?? 1,
      ...(body.batchSize === undefined ? {} : { batchSize: body.batchSize }),
      ...(body.minHealthy === undefined ? {} : { minHealthy: body.minHealthy }),
    };
    return createAndStartRollout(
      { prisma: this.db.prisma, engine: this.engine, drivers: this.drivers, now: Date.now },
      {
        fleet: body.fleet,
        version: body.version,
        runbook: body.runbook,
        strategy,
        params: body.params ?? {},
        force: body.force === true,
        ...(idempotencyKey ? { idempotencyKey } : {}),
      },
    );
  }

  async get(id: string): Promise<RolloutView> {
    const row = await this.db.prisma.rollout.findUnique({
      where: { id },
      include: { fleet: { select: { name: true } }, runbookVersion: { select: { name: true } } },
    });
    if (!row) throw new EbbError("not_found", `rollout ${id} does not exist`);
    const state = row.state as unknown as RolloutState;
    return {
      id: row.id,
      status: state.status,
      fleet: row.fleet.name,
      runbook: row.runbookVersion.name,
      version: row.version,
      createdAt: row.createdAt.toISOString(),
      startedAt: row.startedAt?.toISOString() ?? null,
      finishedAt: row.finishedAt?.toISOString() ?? null,
      targets: Object.values(state.targets).map((t) => ({
        name: t.target,
        batch: t.batch,
        status: t.status,
        stepIndex: t.stepIndex,
        step: t.attempt === 0 ? null : (state.steps[t.stepIndex]?.step.id ?? null),
        attempt: t.attempt,
        error: t.error ?? null,
      })),
    };
  }

  /** pause, resume, abort, retry, approve: an event for the state machine; 409 when it does not apply. */
  async command(id: string, event: RolloutEvent): Promise<RolloutView> {
    const outcome = await this.engine.send(id, event);
    if (outcome.ignored) throw new EbbError("invalid_transition", outcome.ignored.message);
    return this.get(id);
  }
}
