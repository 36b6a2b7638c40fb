import { createHash, randomUUID } from "node:crypto";
import { DEFAULT_POD_RUNBOOK, DEFAULT_RUNBOOK } from "@ebb/contracts";
import {
  type BalancerTiming,
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
import { HttpException, HttpStatus } from "@nestjs/common";
import type { DriverRegistry, Engine, FleetRecord } from "../engine/engine.js";
import { acquireLease } from "../engine/rollout-store.js";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";

export interface CreateRolloutInput {
  fleet: string;
  version: string;
  /** Default: the fleet's balancer's (k8s-pod-drain for kubernetes, l4-drain otherwise). */
  runbook?: string | undefined;
  strategy: Strategy;
  params: Record<string, string>;
  /** Run despite preflight errors; the findings are still returned. */
  force?: boolean;
  idempotencyKey?: string;
  /** Who asks: display name and principal id (the approver must be someone else). */
  requestedBy?: { name: string; id: string };
}

export interface RolloutLimits {
  /** More targets than this need a second person's approval; protected fleets always do. */
  approvalTargetThreshold: number;
  maxTargetsPerRollout: number;
}

export interface PreparedRollout {
  fleet: FleetRecord & { protected: boolean; targets: { id: string; name: string }[] };
  runbook: Runbook;
  runbookName: string;
  versionId: string;
  params: Record<string, string>;
  timing: BalancerTiming;
  plan: RolloutPlan;
  findings: Finding[];
  requiresApproval: boolean;
  /** Preflight errors refuse it unless forced. */
  blocked: boolean;
}

export interface CreatedRollout {
  id: string;
  /** False when an earlier request with the same Idempotency-Key created it. */
  created: boolean;
  plan: RolloutPlan;
  findings: Finding[];
  requiresApproval: boolean;
}

type Deps = { prisma: PrismaClient; engine: Engine; drivers: DriverRegistry; now: () => number };

/**
 * Validates, plans and preflights a rollout without writing anything: what `POST /rollouts/preview`
 * shows and what `createAndStartRollout` stores. The balancer is read once for the whole fleet.
 */
export async function prepareRollout(
  deps: Omit<Deps, "engine">,
  input: CreateRolloutInput,
  limits: RolloutLimits,
): Promise<PreparedRollout> {
  const { prisma } = deps;
  const fleet = await prisma.fleet.findUnique({ where: { name: input.fleet }, include: { targets: true } });
  if (!fleet)
    throw new EbbError("not_found", `fleet "${input.fleet}" does not exist`, {
      details: [{ field: "fleet", message: "unknown fleet" }],
    });
  if (fleet.targets.length === 0) throw new EbbError("plan_invalid", `fleet "${fleet.name}" has no targets`);
  const runbookName =
    input.runbook ?? (fleet.balancer === "kubernetes" ? DEFAULT_POD_RUNBOOK : DEFAULT_RUNBOOK);
  const { runbook, versionId } = await resolveRunbook(prisma, runbookName);
  const params = resolveParams(runbook.params, input.params);

  const balancer = deps.drivers.balancer(fleet as FleetRecord);
  const timing = await balancer.timing();
  const asTargets = fleet.targets.map((t) => ({
    name: t.name,
    host: t.host,
    port: t.port,
    executor: "local" as const,
    labels: {},
  }));
  const snapshot = balancer.snapshot ? await balancer.snapshot(asTargets) : undefined;
  const bound = new Map(snapshot?.map((s) => [s.name, s.bound]));
  // What only the balancer knows of its targets (a pod's grace period, preStop, readiness gate, sidecar).
  const live = balancer.liveFacts ? await balancer.liveFacts(asTargets) : undefined;
  const facts: TargetFacts[] = await Promise.all(
    fleet.targets.map(async (t, i) => ({
      ...(t.facts as Partial<TargetFacts>),
      ...live?.targets[t.name],
      name: t.name,
      host: t.host,
      port: t.port,
      inService: bound.get(t.name) ?? (await balancer.observe(asTargets[i]!)).bound,
    })),
  );
  const plan = planRollout({ targets: facts, strategy: input.strategy, timing, runbook });
  const targetCount = plan.batches.flat().length;
  if (targetCount > limits.maxTargetsPerRollout) {
    throw new EbbError(
      "plan_invalid",
      `the plan covers ${targetCount} targets; one rollout may cover at most ${limits.maxTargetsPerRollout} (EBB_MAX_TARGETS_PER_ROLLOUT)`,
      { details: [{ field: "fleet", message: "too many targets for one rollout" }] },
    );
  }
  const findings = [
    // What only the balancer can tell (HAProxy: the backend and every server exist, its timing matches).
    ...(balancer.preflight ? await balancer.preflight(asTargets) : []),
    ...preflight({
      runbook,
      fleet: { targets: facts },
      balancer: { kind: balancer.kind, timing, ...live?.balancer },
      plan,
    }),
  ];
  const blocked = findings.some((f) => f.severity === "error") && !(input.force && plan.batches.length > 0);
  return {
    fleet: fleet as PreparedRollout["fleet"],
    runbook,
    runbookName,
    versionId,
    params,
    timing,
    plan,
    findings,
    requiresApproval: fleet.protected || targetCount > limits.approvalTargetThreshold,
    blocked,
  };
}

/**
 * Stores a prepared rollout with a lease on every target it will touch, and starts it, unless it needs
 * a second person's approval (then `approveRollout` starts it). Nothing is written unless every check
 * passed: bad input loses no data and creates nothing.
 */
export async function createAndStartRollout(
  deps: Deps,
  input: CreateRolloutInput,
  limits: RolloutLimits,
): Promise<CreatedRollout> {
  const { prisma } = deps;
  if (input.idempotencyKey) {
    const existing = await prisma.rollout.findUnique({
      where: { idempotencyKey: input.idempotencyKey },
      include: { fleet: { select: { name: true } } },
    });
    if (existing) return replayed(existing, input);
  }
  const prepared = await prepareRollout(deps, input, limits);
  const { fleet, runbook, plan, findings, timing } = prepared;
  if (prepared.blocked) {
    const errors = findings.filter((f) => f.severity === "error");
    throw new EbbError(
      "plan_invalid",
      `preflight refused the rollout: ${errors.map((f) => f.message).join("; ")}`,
      { details: findings },
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
          runbookVersionId: prepared.versionId,
          version: input.version,
          status: state.status,
          strategy: input.strategy as Prisma.InputJsonValue,
          plan: plan as unknown as Prisma.InputJsonValue,
          params: prepared.params as Prisma.InputJsonValue,
          state: state as unknown as Prisma.InputJsonValue,
          idempotencyKey: input.idempotencyKey ?? null,
          requestedBy: input.requestedBy?.name ?? null,
          requesterId: input.requestedBy?.id ?? null,
          requiresApproval: prepared.requiresApproval,
        },
      });
      await tx.targetRun.createMany({
        data: plan.batches.flatMap((names, batch) =>
          names.map((name) => ({
            rolloutId: id,
            targetId: targetIds.get(name)!,
            batch,
            status: "pending",
            stepIndex: 0,
            attempt: 0,
          })),
        ),
      });
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
      const existing = await prisma.rollout.findUnique({
        where: { idempotencyKey: input.idempotencyKey },
        include: { fleet: { select: { name: true } } },
      });
      if (existing) return replayed(existing, input);
    }
    throw err;
  }
  if (!prepared.requiresApproval) await deps.engine.send(id, { type: "start" });
  return { id, created: true, plan, findings, requiresApproval: prepared.requiresApproval };
}

/**
 * A repeated request with the same Idempotency-Key gets the rollout the first one created, provided it
 * asks for the same thing: the same key for another fleet or version is a client bug, answered 422.
 */
function replayed(
  existing: {
    id: string;
    version: string;
    plan: unknown;
    requiresApproval: boolean;
    fleet: { name: string };
  },
  input: CreateRolloutInput,
): CreatedRollout {
  if (existing.fleet.name !== input.fleet || existing.version !== input.version) {
    throw new HttpException(
      {
        message: `Idempotency-Key was first used for fleet ${existing.fleet.name} version ${existing.version}; use a new key for a different rollout`,
        details: { rolloutId: existing.id },
      },
      HttpStatus.UNPROCESSABLE_ENTITY,
    );
  }
  return {
    id: existing.id,
    created: false,
    plan: existing.plan as RolloutPlan,
    findings: [],
    requiresApproval: existing.requiresApproval,
  };
}

/**
 * Releases a rollout waiting for approval and starts it. The approver must be a different principal from
 * the requester: four eyes, not two.
 */
export async function approveRollout(
  deps: Deps,
  id: string,
  approver: { name: string; id: string },
): Promise<void> {
  const row = await deps.prisma.rollout.findUnique({ where: { id } });
  if (!row) throw new EbbError("not_found", `rollout ${id} does not exist`);
  if (!row.requiresApproval || row.approvedAt !== null)
    throw new EbbError("invalid_transition", `rollout ${id} is not waiting for approval`);
  if (row.requesterId !== null && row.requesterId === approver.id) {
    throw new HttpException(
      { message: "a rollout must be approved by someone other than its requester", details: null },
      HttpStatus.FORBIDDEN,
    );
  }
  const updated = await deps.prisma.rollout.updateMany({
    where: { id, approvedAt: null },
    data: { approvedBy: approver.name, approverId: approver.id, approvedAt: new Date(deps.now()) },
  });
  if (updated.count === 0) throw new EbbError("invalid_transition", `rollout ${id} was approved already`);
  await deps.engine.send(id, { type: "start" });
}

/** A built-in runbook (stored once as a version) or the latest stored version of that name. */
export async function resolveRunbook(
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
