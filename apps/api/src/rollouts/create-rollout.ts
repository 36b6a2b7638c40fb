import { createHash, randomUUID } from "node:crypto";
import {
  builtinRunbookSource,
  createRollout,
  EbbError,
  type Finding,
  isBuiltinRunbookName,
  parseRunbookOrThrow,
  planRollout,
  preflight,
  type RolloutPlan,
  type Runbook,
  resolveParams,
  type Strategy,
  type TargetFacts,
} from "@ebb/core";
import type { DriverRegistry, Engine, FleetRecord } from "../engine/engine.js";
import { acquireLease } from "../engine/rollout-store.js";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";

export interface CreateRolloutInput {
  fleet: string;
  version: string;
  runbook: string;
  strategy: Strategy;
  params: Record<string, string>;
  /** Run despite preflight errors; the findings are still returned. */
  force?: boolean;
  idempotencyKey?: string;
  requestedBy?: string;
}

export interface CreatedRollout {
  id: string;
  /** False when an earlier request with the same Idempotency-Key created it. */
  created: boolean;
  plan: RolloutPlan;
  findings: Finding[];
}

/**
 * Validates, plans and preflights a rollout, stores it with a lease on every target it will touch, and
 * starts it. Nothing is written unless every check passed: bad input loses no data and creates nothing.
 */
export async function createAndStartRollout(
  deps: { prisma: PrismaClient; engine: Engine; drivers: DriverRegistry; now: () => number },
  input: CreateRolloutInput,
): Promise<CreatedRollout> {
  const { prisma } = deps;
  if (input.idempotencyKey) {
    const existing = await prisma.rollout.findUnique({ where: { idempotencyKey: input.idempotencyKey } });
    if (existing)
      return { id: existing.id, created: false, plan: existing.plan as unknown as RolloutPlan, findings: [] };
  }
  const fleet = await prisma.fleet.findUnique({ where: { name: input.fleet }, include: { targets: true } });
  if (!fleet)
    throw new EbbError("not_found", `fleet "${input.fleet}" does not exist`, {
      details: [{ field: "fleet", message: "unknown fleet" }],
    });
  if (fleet.targets.length === 0) throw new EbbError("plan_invalid", `fleet "${fleet.name}" has no targets`);
  const { runbook, versionId } = await resolveRunbook(prisma, input.runbook);
  const params = resolveParams(runbook.params, input.params);

  const balancer = deps.drivers.balancer(fleet as FleetRecord);
  const timing = await balancer.timing();
  const facts: TargetFacts[] = await Promise.all(
    fleet.targets.map(async (t) => {
      const o = await balancer.observe({
        name: t.name,
        host: t.host,
        port: t.port,
        executor: "local",
        labels: {},
      });
      return {
        ...(t.facts as Partial<TargetFacts>),
        name: t.name,
        host: t.host,
        port: t.port,
        inService: o.bound,
      };
    }),
  );
  const plan = planRollout({ targets: facts, strategy: input.strategy, timing, runbook });
  const findings = preflight({
    runbook,
    fleet: { targets: facts },
    balancer: { kind: balancer.kind, timing },
    plan,
  });
  const errors = findings.filter((f) => f.severity === "error");
  if (errors.length > 0 && !(input.force && plan.batches.length > 0)) {
    throw new EbbError(
      "plan_invalid",
      `preflight refused the rollout: ${errors.map((f) => f.message).join("; ")}`,
      {
        details: findings,
      },
    );
  }

  const id = randomUUID();
  const now = deps.now();
  const state = createRollout({ id, runbook, batches: plan.batches, timing, version: input.version, now });
  // Every target is leased below, at creation: the state must know, so that an abort before a target's
  // batch started still releases it.
  for (const run of Object.values(state.targets)) run.leaseHeld = true;
  const targetIds = new Map(fleet.targets.map((t) => [t.name, t.id]));
  try {
    await prisma.$transaction(async (tx) => {
      await tx.rollout.create({
        data: {
          id,
          fleetId: fleet.id,
          runbookVersionId: versionId,
          version: input.version,
          status: state.status,
          strategy: input.strategy as Prisma.InputJsonValue,
          plan: plan as unknown as Prisma.InputJsonValue,
          params: params as Prisma.InputJsonValue,
          state: state as unknown as Prisma.InputJsonValue,
          idempotencyKey: input.idempotencyKey ?? null,
          requestedBy: input.requestedBy ?? null,
        },
      });
      for (const [batch, names] of plan.batches.entries()) {
        for (const name of names) {
          await tx.targetRun.create({
            data: {
              rolloutId: id,
              targetId: targetIds.get(name)!,
              batch,
              status: "pending",
              stepIndex: 0,
              attempt: 0,
            },
          });
        }
      }
      // Every target the rollout will touch is leased up front: no second rollout can start on any of them.
      for (const name of plan.batches.flat()) {
        const targetId = targetIds.get(name)!;
        const held = await tx.lease.findUnique({ where: { targetId } });
        if (held) throw new EbbError("conflict", `target ${name} is held by rollout ${held.rolloutId}`);
        await acquireLease(tx, id, targetId);
      }
    });
  } catch (err) {
    if (input.idempotencyKey && err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
      const existing = await prisma.rollout.findUnique({ where: { idempotencyKey: input.idempotencyKey } });
      if (existing)
        return {
          id: existing.id,
          created: false,
          plan: existing.plan as unknown as RolloutPlan,
          findings: [],
        };
    }
    throw err;
  }
  await deps.engine.send(id, { type: "start" });
  return { id, created: true, plan, findings };
}

/** A built-in runbook (stored once as a version) or the latest stored version of that name. */
async function resolveRunbook(
  prisma: PrismaClient,
  name: string,
): Promise<{ runbook: Runbook; versionId: string }> {
  if (isBuiltinRunbookName(name)) {
    const source = builtinRunbookSource(name);
    const checksum = createHash("sha256").update(source).digest("hex");
    const runbook = parseRunbookOrThrow(source, `builtin runbook ${name}`);
    const existing = await prisma.runbookVersion.findUnique({ where: { name_checksum: { name, checksum } } });
    if (existing) return { runbook, versionId: existing.id };
    const last = await prisma.runbookVersion.findFirst({ where: { name }, orderBy: { version: "desc" } });
    try {
      const created = await prisma.runbookVersion.create({
        data: { name, version: (last?.version ?? 0) + 1, source, checksum, createdBy: "builtin" },
      });
      return { runbook, versionId: created.id };
    } catch (err) {
      // Two first rollouts at once both storing the builtin: the loser reads the winner's row.
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === "P2002") {
        const row = await prisma.runbookVersion.findUniqueOrThrow({
          where: { name_checksum: { name, checksum } },
        });
        return { runbook, versionId: row.id };
      }
      throw err;
    }
  }
  const latest = await prisma.runbookVersion.findFirst({ where: { name }, orderBy: { version: "desc" } });
  if (!latest) {
    throw new EbbError("not_found", `runbook "${name}" does not exist`, {
      details: [{ field: "runbook", message: "unknown runbook" }],
    });
  }
  return {
    runbook: parseRunbookOrThrow(latest.source, `runbook ${name} v${latest.version}`),
    versionId: latest.id,
  };
}
