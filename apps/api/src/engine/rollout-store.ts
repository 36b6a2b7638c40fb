import {
  EbbError,
  type Notice,
  type Observation,
  type RolloutEvent,
  type RolloutState,
  type TargetRun,
  type TransitionResult,
  transition,
} from "@ebb/core";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";

/** A client or an open transaction: functions that write take this so callers can compose them. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** What a step run produced besides the event: kept on its StepRun row, never in the workflow state. */
export interface StepRecord {
  outputTail?: string;
}

export interface ApplyOutcome extends TransitionResult {
  /** The fencing token of every lease this rollout holds after the transition, by target name. */
  leaseTokens: Record<string, string>;
}

const MAX_OBSERVATIONS = 50;

/**
 * Applies one event to a rollout in one transaction: the row is locked (FOR UPDATE) so concurrent workers
 * serialise on it, the pure state machine decides, and the new state, its projections (target runs, step
 * runs), the timeline and the leases are written together. Effects other than leases are returned for the
 * caller to dispatch after commit; the reconciler re-derives any dispatch lost to a crash from the state.
 */
export async function applyEvent(
  prisma: PrismaClient,
  rolloutId: string,
  event: RolloutEvent,
  now: number,
  opts: { record?: StepRecord; fence?: { target: string; token: string } } = {},
): Promise<ApplyOutcome> {
  return prisma.$transaction(
    async (tx) => {
      const rows = await tx.$queryRaw<{ state: RolloutState }[]>`
        SELECT state FROM rollouts WHERE id = ${rolloutId}::uuid FOR UPDATE`;
      const before = rows[0]?.state;
      if (!before) throw new EbbError("not_found", `rollout ${rolloutId} does not exist`);
      const targetIds = await targetIdsOf(tx, rolloutId);
      if (opts.fence) await checkFence(tx, rolloutId, targetIds, opts.fence);
      const result = transition(before, event, { now });
      if (result.ignored) return { ...result, leaseTokens: await leaseTokensOf(tx, rolloutId, targetIds) };
      const after = result.state;
      await applyLeaseEffects(tx, rolloutId, targetIds, result);
      // Backstop: a rollout that is over holds nothing (a failed one keeps its leases for retry or abort).
      if (after.status === "succeeded" || after.status === "aborted") {
        await tx.lease.deleteMany({ where: { rolloutId } });
      }
      await tx.rollout.update({
        where: { id: rolloutId },
        data: {
          state: after as unknown as Prisma.InputJsonValue,
          status: after.status,
          revision: { increment: 1 },
          startedAt: after.startedAt === undefined ? null : new Date(after.startedAt),
          finishedAt: after.finishedAt === undefined ? null : new Date(after.finishedAt),
        },
      });
      await project(tx, before, after, targetIds, event, opts.record);
      const notices = result.effects.flatMap((e) => (e.type === "emit" ? [e.notice] : []));
      if (notices.length > 0) {
        await tx.rolloutEvent.createMany({
          data: notices.map((n) => ({
            rolloutId,
            at: new Date(now),
            type: n.type,
            target: noticeTarget(n),
            data: n as unknown as Prisma.InputJsonValue,
          })),
        });
      }
      return { ...result, leaseTokens: await leaseTokensOf(tx, rolloutId, targetIds) };
    },
    { timeout: 15_000, maxWait: 15_000 },
  );
}

export async function loadState(db: Db, rolloutId: string): Promise<RolloutState> {
  const row = await db.rollout.findUnique({ where: { id: rolloutId }, select: { state: true } });
  if (!row) throw new EbbError("not_found", `rollout ${rolloutId} does not exist`);
  return row.state as unknown as RolloutState;
}

async function targetIdsOf(tx: Prisma.TransactionClient, rolloutId: string): Promise<Map<string, string>> {
  const runs = await tx.targetRun.findMany({
    where: { rolloutId },
    select: { targetId: true, target: { select: { name: true } } },
  });
  return new Map(runs.map((r) => [r.target.name, r.targetId]));
}

/**
 * Fencing: a step result counts only while its rollout still holds the target's lease with the token the
 * job was dispatched with. A worker that lost the lease (the rollout was aborted and the target handed on)
 * has its late result rejected here.
 */
async function checkFence(
  tx: Prisma.TransactionClient,
  rolloutId: string,
  targetIds: Map<string, string>,
  fence: { target: string; token: string },
): Promise<void> {
  const targetId = targetIds.get(fence.target);
  const lease = targetId ? await tx.lease.findUnique({ where: { targetId } }) : null;
  if (!lease || lease.rolloutId !== rolloutId || lease.token.toString() !== fence.token) {
    throw new EbbError("lease_lost", `rollout ${rolloutId} no longer holds the lease on ${fence.target}`);
  }
}

async function applyLeaseEffects(
  tx: Prisma.TransactionClient,
  rolloutId: string,
  targetIds: Map<string, string>,
  result: TransitionResult,
): Promise<void> {
  for (const effect of result.effects) {
    if (effect.type !== "acquireLease" && effect.type !== "releaseLease") continue;
    const targetId = targetIds.get(effect.target);
    if (!targetId)
      throw new EbbError("internal", `target ${effect.target} is not part of rollout ${rolloutId}`);
    if (effect.type === "releaseLease") {
      await tx.lease.deleteMany({ where: { targetId, rolloutId } });
      continue;
    }
    const held = await tx.lease.findUnique({ where: { targetId } });
    if (held && held.rolloutId !== rolloutId) {
      throw new EbbError("conflict", `target ${effect.target} is leased by rollout ${held.rolloutId}`);
    }
    if (!held) await acquireLease(tx, rolloutId, targetId);
  }
}

/** Takes a target's lease for a rollout with a fresh fencing token. */
export async function acquireLease(db: Db, rolloutId: string, targetId: string): Promise<bigint> {
  const [row] = await db.$queryRaw<{ token: bigint }[]>`SELECT nextval('lease_token_seq') AS token`;
  const token = row!.token;
  await db.lease.create({ data: { targetId, rolloutId, token } });
  return token;
}

async function leaseTokensOf(
  tx: Prisma.TransactionClient,
  rolloutId: string,
  targetIds: Map<string, string>,
): Promise<Record<string, string>> {
  const leases = await tx.lease.findMany({ where: { rolloutId } });
  const names = new Map([...targetIds].map(([name, id]) => [id, name]));
  return Object.fromEntries(leases.map((l) => [names.get(l.targetId) ?? l.targetId, l.token.toString()]));
}

/** Keeps the queryable rows (target runs, step runs) in step with the state. */
async function project(
  tx: Prisma.TransactionClient,
  before: RolloutState,
  after: RolloutState,
  targetIds: Map<string, string>,
  event: RolloutEvent,
  record: StepRecord | undefined,
): Promise<void> {
  for (const [name, run] of Object.entries(after.targets)) {
    const old = before.targets[name];
    if (old && JSON.stringify(old) === JSON.stringify(run)) continue;
    const targetId = targetIds.get(name);
    if (!targetId) continue;
    const targetRun = await tx.targetRun.update({
      where: { rolloutId_targetId: { rolloutId: after.id, targetId } },
      data: {
        status: run.status,
        stepIndex: run.stepIndex,
        attempt: run.attempt,
        error: run.error ? (run.error as unknown as Prisma.InputJsonValue) : Prisma.DbNull,
        startedAt: run.startedAt === undefined ? null : new Date(run.startedAt),
        finishedAt: run.finishedAt === undefined ? null : new Date(run.finishedAt),
      },
    });
    await projectSteps(tx, targetRun.id, after, old, run, event, name, record);
  }
}

async function projectSteps(
  tx: Prisma.TransactionClient,
  targetRunId: string,
  state: RolloutState,
  old: TargetRun | undefined,
  run: TargetRun,
  event: RolloutEvent,
  name: string,
  record: StepRecord | undefined,
): Promise<void> {
  for (const [index, step] of run.steps.entries()) {
    const prev = old?.steps[index];
    if (step.attempts === 0 || (prev && JSON.stringify(prev) === JSON.stringify(step))) continue;
    const planned = state.steps[index]!;
    const key = { targetRunId, stepIndex: index, attempt: step.attempts };
    const existing = await tx.stepRun.findUnique({
      where: { targetRunId_stepIndex_attempt: key },
      select: { observations: true },
    });
    const observations = (existing?.observations as Observation[] | undefined) ?? [];
    if (step.observation && JSON.stringify(observations.at(-1)) !== JSON.stringify(step.observation)) {
      observations.push(step.observation);
    }
    const isThisStep =
      "target" in event && event.target === name && "stepIndex" in event && event.stepIndex === index;
    const data = {
      status: step.status,
      startedAt: step.startedAt === undefined ? null : new Date(step.startedAt),
      finishedAt: step.finishedAt === undefined ? null : new Date(step.finishedAt),
      error: step.error ? (step.error as unknown as Prisma.InputJsonValue) : Prisma.DbNull,
      observations: observations.slice(-MAX_OBSERVATIONS) as unknown as Prisma.InputJsonValue,
      ...(isThisStep && record?.outputTail !== undefined ? { outputTail: record.outputTail } : {}),
    };
    await tx.stepRun.upsert({
      where: { targetRunId_stepIndex_attempt: key },
      create: { ...key, stepId: planned.step.id, type: planned.step.type, ...data },
      update: data,
    });
  }
}

function noticeTarget(n: Notice): string | null {
  return "target" in n ? n.target : null;
}
