import {
  EbbError,
  type Notice,
  type RolloutEvent,
  type RolloutState,
  type TargetRun,
  type TransitionResult,
  transition,
} from "@ebb/core";
import { auditNotices } from "../audit/notices.js";
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

type ApplyOptions = { record?: StepRecord; fence?: { target: string; token: string } };

interface PendingEvent {
  event: RolloutEvent;
  now: number;
  opts: ApplyOptions;
  resolve: (outcome: ApplyOutcome) => void;
  reject: (err: unknown) => void;
}

/** Per database client, per rollout: the events waiting for the transaction in progress to commit. */
const pendingByClient = new WeakMap<PrismaClient, Map<string, PendingEvent[]>>();

/**
 * Applies one event to a rollout: the row is locked (FOR UPDATE) so concurrent workers serialise on it,
 * the pure state machine decides, and the new state, its projections (target runs, step runs), the
 * timeline and the leases are written together. Effects other than leases are returned for the caller to
 * dispatch after commit; the reconciler re-derives any dispatch lost to a crash from the state.
 *
 * Events for one rollout that arrive while its transaction runs are applied together in the next one
 * (group commit): twenty targets of a batch seeing the device fail them within a few milliseconds cost
 * one transaction, not twenty queued on the row lock, each holding a pooled connection while it waits.
 */
export function applyEvent(
  prisma: PrismaClient,
  rolloutId: string,
  event: RolloutEvent,
  now: number,
  opts: ApplyOptions = {},
): Promise<ApplyOutcome> {
  let byRollout = pendingByClient.get(prisma);
  if (!byRollout) {
    byRollout = new Map();
    pendingByClient.set(prisma, byRollout);
  }
  return new Promise((resolve, reject) => {
    const queue = byRollout.get(rolloutId);
    const pending = { event, now, opts, resolve, reject };
    if (queue) {
      queue.push(pending);
      return;
    }
    byRollout.set(rolloutId, [pending]);
    void drain(prisma, byRollout, rolloutId);
  });
}

async function drain(prisma: PrismaClient, byRollout: Map<string, PendingEvent[]>, rolloutId: string) {
  // The queue stays in the map while a transaction runs, so new events join the next batch.
  for (;;) {
    const batch = byRollout.get(rolloutId)!.splice(0);
    if (batch.length === 0) {
      byRollout.delete(rolloutId);
      return;
    }
    let outcomes: (ApplyOutcome | Error)[];
    try {
      outcomes = await applyBatch(prisma, rolloutId, batch);
    } catch (err) {
      outcomes = batch.map(() => err as Error);
    }
    batch.forEach((p, i) => {
      const o = outcomes[i]!;
      if (o instanceof Error) p.reject(o);
      else p.resolve(o);
    });
  }
}

/**
 * One transaction for a batch of events, applied in arrival order. An event whose fence fails is rejected
 * alone (its worker lost the lease); the others still apply. Raw SQL: this runs for every observed change
 * of every waiting target, and the query builder's per-query work and its walk of the state JSON cost more
 * CPU than the database does. Four round trips for an ordinary batch.
 */
async function applyBatch(
  prisma: PrismaClient,
  rolloutId: string,
  batch: PendingEvent[],
): Promise<(ApplyOutcome | Error)[]> {
  return prisma.$transaction(
    async (tx) => {
      const locked = await lockRollout(tx, rolloutId);
      const { state: before, targets } = locked;
      let state = before;
      const results: (TransitionResult | Error)[] = [];
      const records = new Map<string, string>();
      const notices: { notice: Notice; at: Date }[] = [];
      for (const p of batch) {
        try {
          if (p.opts.fence) checkFence(rolloutId, targets, p.opts.fence);
        } catch (err) {
          results.push(err as Error);
          continue;
        }
        const result = transition(state, p.event, { now: p.now });
        results.push(result);
        if (result.ignored) continue;
        state = result.state;
        await applyLeaseEffects(tx, rolloutId, targets, result);
        for (const e of result.effects)
          if (e.type === "emit") notices.push({ notice: e.notice, at: new Date(p.now) });
        const ref = p.event as Partial<{ target: string; stepIndex: number }>;
        if (
          p.opts.record?.outputTail !== undefined &&
          ref.target !== undefined &&
          ref.stepIndex !== undefined
        )
          records.set(`${ref.target}#${ref.stepIndex}`, p.opts.record.outputTail);
      }
      if (state !== before) {
        const after = state;
        // Backstop: a rollout that is over holds nothing (a failed one keeps its leases for retry or abort).
        if (after.status === "succeeded" || after.status === "aborted") {
          await tx.$executeRaw`DELETE FROM leases WHERE rollout_id = ${rolloutId}::uuid`;
          for (const t of targets.values()) if (t.leaseRollout === rolloutId) t.lease = null;
        }
        await tx.$executeRaw`
          UPDATE rollouts SET state = ${JSON.stringify(after)}::jsonb, status = ${after.status},
            revision = revision + 1, started_at = ${toDate(after.startedAt)},
            finished_at = ${toDate(after.finishedAt)}, updated_at = now()
          WHERE id = ${rolloutId}::uuid`;
        await project(tx, before, after, targets, records);
      }
      if (notices.length > 0) {
        await tx.$executeRaw`
          INSERT INTO rollout_events (rollout_id, at, type, target, data) VALUES ${Prisma.join(
            notices.map(
              ({ notice: n, at }) =>
                Prisma.sql`(${rolloutId}::uuid, ${at}, ${n.type}, ${noticeTarget(n)}, ${JSON.stringify(n)}::jsonb)`,
            ),
          )}`;
      }
      // Last before commit: the audit chain's lock is held from here to the commit.
      for (const [at, group] of groupByTime(notices))
        await auditNotices(tx, { rolloutId, fleet: locked.fleet, at }, group);
      const leaseTokens = leaseTokensOf(rolloutId, targets);
      return results.map((r) => (r instanceof Error ? r : { ...r, leaseTokens }));
    },
    { timeout: 15_000, maxWait: 15_000 },
  );
}

/** One target of a locked rollout: its ids and who holds its lease now. */
interface LockedTarget {
  targetId: string;
  targetRunId: string;
  /** The lease token, as text (a bigint), or null when no one holds the target. */
  lease: string | null;
  leaseRollout: string | null;
}

/** Locks the rollout row and reads, in the same round trip, its targets' ids and leases. */
async function lockRollout(
  tx: Prisma.TransactionClient,
  rolloutId: string,
): Promise<{ state: RolloutState; fleet: string; targets: Map<string, LockedTarget> }> {
  const rows = await tx.$queryRaw<
    { state: RolloutState; fleet: string; targets: (LockedTarget & { name: string })[] | null }[]
  >`
    SELECT r.state, (SELECT f.name FROM fleets f WHERE f.id = r.fleet_id) AS fleet,
      (SELECT json_agg(json_build_object('name', t.name, 'targetId', t.id, 'targetRunId', tr.id,
                'lease', l.token::text, 'leaseRollout', l.rollout_id))
         FROM target_runs tr JOIN targets t ON t.id = tr.target_id
         LEFT JOIN leases l ON l.target_id = tr.target_id
        WHERE tr.rollout_id = r.id) AS targets
    FROM rollouts r WHERE r.id = ${rolloutId}::uuid FOR UPDATE OF r`;
  const row = rows[0];
  if (!row) throw new EbbError("not_found", `rollout ${rolloutId} does not exist`);
  return {
    state: row.state,
    fleet: row.fleet,
    targets: new Map((row.targets ?? []).map(({ name, ...t }) => [name, t])),
  };
}

/** Notices in order, grouped by the time of the event that produced them. */
function groupByTime(notices: { notice: Notice; at: Date }[]): [Date, Notice[]][] {
  const groups: [Date, Notice[]][] = [];
  for (const { notice, at } of notices) {
    const last = groups.at(-1);
    if (last && last[0].getTime() === at.getTime()) last[1].push(notice);
    else groups.push([at, [notice]]);
  }
  return groups;
}

function toDate(ms: number | undefined): Date | null {
  return ms === undefined ? null : new Date(ms);
}

export async function loadState(db: Db, rolloutId: string): Promise<RolloutState> {
  const row = await db.rollout.findUnique({ where: { id: rolloutId }, select: { state: true } });
  if (!row) throw new EbbError("not_found", `rollout ${rolloutId} does not exist`);
  return row.state as unknown as RolloutState;
}

/**
 * Fencing: a step result counts only while its rollout still holds the target's lease with the token the
 * job was dispatched with. A worker that lost the lease (the rollout was aborted and the target handed on)
 * has its late result rejected here.
 */
function checkFence(
  rolloutId: string,
  targets: Map<string, LockedTarget>,
  fence: { target: string; token: string },
): void {
  const t = targets.get(fence.target);
  if (!t || t.leaseRollout !== rolloutId || t.lease !== fence.token) {
    throw new EbbError("lease_lost", `rollout ${rolloutId} no longer holds the lease on ${fence.target}`);
  }
}

async function applyLeaseEffects(
  tx: Prisma.TransactionClient,
  rolloutId: string,
  targets: Map<string, LockedTarget>,
  result: TransitionResult,
): Promise<void> {
  for (const effect of result.effects) {
    if (effect.type !== "acquireLease" && effect.type !== "releaseLease") continue;
    const t = targets.get(effect.target);
    if (!t) throw new EbbError("internal", `target ${effect.target} is not part of rollout ${rolloutId}`);
    if (effect.type === "releaseLease") {
      await tx.$executeRaw`
        DELETE FROM leases WHERE target_id = ${t.targetId}::uuid AND rollout_id = ${rolloutId}::uuid`;
      if (t.leaseRollout === rolloutId) {
        t.lease = null;
        t.leaseRollout = null;
      }
      continue;
    }
    // Read again rather than trusting the locked snapshot: another rollout's lease is not under our lock.
    const held = await tx.lease.findUnique({ where: { targetId: t.targetId } });
    if (held && held.rolloutId !== rolloutId) {
      throw new EbbError("conflict", `target ${effect.target} is leased by rollout ${held.rolloutId}`);
    }
    t.lease = held ? held.token.toString() : (await acquireLease(tx, rolloutId, t.targetId)).toString();
    t.leaseRollout = rolloutId;
  }
}

/** Takes a target's lease for a rollout with a fresh fencing token. */
export async function acquireLease(db: Db, rolloutId: string, targetId: string): Promise<bigint> {
  const [row] = await db.$queryRaw<{ token: bigint }[]>`SELECT nextval('lease_token_seq') AS token`;
  const token = row!.token;
  await db.lease.create({ data: { targetId, rolloutId, token } });
  return token;
}

function leaseTokensOf(rolloutId: string, targets: Map<string, LockedTarget>): Record<string, string> {
  const tokens: Record<string, string> = {};
  for (const [name, t] of targets)
    if (t.lease !== null && t.leaseRollout === rolloutId) tokens[name] = t.lease;
  return tokens;
}

/** Keeps the queryable rows (target runs, step runs) in step with the state. */
async function project(
  tx: Prisma.TransactionClient,
  before: RolloutState,
  after: RolloutState,
  targets: Map<string, LockedTarget>,
  records: Map<string, string>,
): Promise<void> {
  for (const [name, run] of Object.entries(after.targets)) {
    const old = before.targets[name];
    if (old && JSON.stringify(old) === JSON.stringify(run)) continue;
    const t = targets.get(name);
    if (!t) continue;
    await tx.$executeRaw`
      UPDATE target_runs SET status = ${run.status}, step_index = ${run.stepIndex}, attempt = ${run.attempt},
        error = ${run.error ? JSON.stringify(run.error) : null}::jsonb,
        started_at = ${toDate(run.startedAt)}, finished_at = ${toDate(run.finishedAt)}
      WHERE id = ${t.targetRunId}::uuid`;
    await projectSteps(tx, t.targetRunId, after, old, run, name, records);
  }
}

async function projectSteps(
  tx: Prisma.TransactionClient,
  targetRunId: string,
  state: RolloutState,
  old: TargetRun | undefined,
  run: TargetRun,
  name: string,
  records: Map<string, string>,
): Promise<void> {
  for (const [index, step] of run.steps.entries()) {
    const prev = old?.steps[index];
    if (step.attempts === 0 || (prev && JSON.stringify(prev) === JSON.stringify(step))) continue;
    const planned = state.steps[index]!;
    const outputTail = records.get(`${name}#${index}`) ?? null;
    const observation = step.observation ? JSON.stringify(step.observation) : null;
    const error = step.error ? JSON.stringify(step.error) : null;
    // The observation is appended only when it differs from the last one kept, and only the last
    // MAX_OBSERVATIONS are kept: a long wait records each change it saw, not each poll.
    await tx.$executeRaw`
      INSERT INTO step_runs (id, target_run_id, step_index, step_id, type, attempt, status, started_at,
        finished_at, output_tail, error, observations)
      VALUES (gen_random_uuid(), ${targetRunId}::uuid, ${index}, ${planned.step.id}, ${planned.step.type},
        ${step.attempts}, ${step.status}, ${toDate(step.startedAt)}, ${toDate(step.finishedAt)}, ${outputTail},
        ${error}::jsonb, CASE WHEN ${observation}::jsonb IS NULL THEN '[]'::jsonb
          ELSE jsonb_build_array(${observation}::jsonb) END)
      ON CONFLICT (target_run_id, step_index, attempt) DO UPDATE SET
        status = EXCLUDED.status, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        error = EXCLUDED.error,
        output_tail = COALESCE(EXCLUDED.output_tail, step_runs.output_tail),
        observations = CASE
          WHEN ${observation}::jsonb IS NULL OR step_runs.observations -> -1 = ${observation}::jsonb
            THEN step_runs.observations
          WHEN jsonb_array_length(step_runs.observations) >= ${MAX_OBSERVATIONS}
            THEN (step_runs.observations - 0) || jsonb_build_array(${observation}::jsonb)
          ELSE step_runs.observations || jsonb_build_array(${observation}::jsonb)
        END`;
  }
}

function noticeTarget(n: Notice): string | null {
  return "target" in n ? n.target : null;
}
