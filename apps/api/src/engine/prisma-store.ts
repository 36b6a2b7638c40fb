import { EbbError, type Notice, type PlannedStep, type RolloutState, type TargetRun } from "@ebb/core";
import type {
  ApplyOutcome,
  FleetRecord,
  LockedRollout,
  RolloutStatics,
  RolloutStore,
  StepRecord,
  TargetRecord,
} from "@ebb/engine";
import { auditNotices } from "../audit/notices.js";
import { Prisma, type PrismaClient } from "../generated/prisma/client.js";

/** A client or an open transaction: functions that write take this so callers can compose them. */
export type Db = PrismaClient | Prisma.TransactionClient;

export type { ApplyOutcome, StepRecord };

const MAX_OBSERVATIONS = 50;

/**
 * The engine's rollout store on PostgreSQL (or PGlite). The hot path is raw SQL: it runs for every
 * observed change of every waiting target, and the query builder's per-query work and its walk of the
 * state JSON cost more CPU than the database does. An ordinary batch of events, however many targets it
 * moves: the lock and read, one statement for the rollout and its projections, the timeline, the audit.
 */
export class PrismaRolloutStore implements RolloutStore {
  constructor(private readonly prisma: PrismaClient) {}

  withLockedRollout<T>(rolloutId: string, fn: (locked: LockedRollout) => Promise<T>): Promise<T> {
    return this.prisma.$transaction(
      async (tx) => {
        const { state, fleet, targets } = await lockRollout(tx, rolloutId);
        const locked: LockedRollout = {
          state,
          fleet,
          targets,
          acquireLease: async (name) => {
            const t = known(targets, name, rolloutId);
            const held = await tx.lease.findUnique({ where: { targetId: t.targetId } });
            if (held && held.rolloutId !== rolloutId)
              throw new EbbError("conflict", `target ${name} is leased by rollout ${held.rolloutId}`, {
                details: { target: name },
              });
            return held ? held.token.toString() : (await acquireLease(tx, rolloutId, t.targetId)).toString();
          },
          releaseLease: async (name) => {
            const t = known(targets, name, rolloutId);
            await tx.$executeRaw`
              DELETE FROM leases WHERE target_id = ${t.targetId}::uuid AND rollout_id = ${rolloutId}::uuid`;
          },
          releaseAllLeases: async () => {
            await tx.$executeRaw`DELETE FROM leases WHERE rollout_id = ${rolloutId}::uuid`;
          },
          save: async (before, after, records) => {
            // One statement for the rollout and every row it projects, however many targets the batch
            // moved: a round trip per target and step held the row lock (and the worker's event loop) for
            // a batch of twenty targets through sixty statements.
            const rows = projection(before, after, targets, records);
            await tx.$executeRaw`
              WITH rollout AS (
                UPDATE rollouts SET state = ${JSON.stringify(after)}::jsonb, status = ${after.status},
                  revision = revision + 1, started_at = ${toDate(after.startedAt)},
                  finished_at = ${toDate(after.finishedAt)}, updated_at = now()
                WHERE id = ${rolloutId}::uuid),
              ${projectSql(rows, after.version)}
              SELECT 1`;
          },
          appendNotices: async (notices) => {
            await tx.$executeRaw`
              INSERT INTO rollout_events (rollout_id, at, type, target, data) VALUES ${Prisma.join(
                notices.map(
                  ({ notice: n, at }) =>
                    Prisma.sql`(${rolloutId}::uuid, ${new Date(at)}, ${n.type}, ${noticeTarget(n)}, ${JSON.stringify(n)}::jsonb)`,
                ),
              )}`;
            // Last before commit: the audit chain's lock is held from here to the commit.
            for (const [at, group] of groupByTime(notices))
              await auditNotices(tx, { rolloutId, fleet, at: new Date(at) }, group);
          },
          previousVersions: async (names) => {
            const rows = await tx.$queryRaw<{ name: string; previous: string | null }[]>`
              SELECT t.name, tr.previous_version AS previous FROM target_runs tr JOIN targets t ON t.id = tr.target_id
              WHERE tr.rollout_id = ${rolloutId}::uuid AND t.name = ANY(${[...names]}::text[])`;
            return Object.fromEntries(
              names.map((n) => [n, rows.find((r) => r.name === n)?.previous ?? null]),
            );
          },
          insertRollback: (rb, requestedBy) =>
            insertRollback(tx, { id: rolloutId, fleet, targets }, rb, requestedBy),
        };
        return fn(locked);
      },
      { timeout: 15_000, maxWait: 15_000 },
    );
  }

  async currentStep(rolloutId: string, target: string) {
    const rows = await this.prisma.$queryRaw<{ run: TargetRun | null; planned: PlannedStep | null }[]>`
      SELECT state->'targets'->${target} AS run,
             state->'steps'->((state->'targets'->${target}->>'stepIndex')::int) AS planned
      FROM rollouts WHERE id = ${rolloutId}::uuid`;
    return rows[0];
  }

  state(rolloutId: string): Promise<RolloutState> {
    return loadState(this.prisma, rolloutId);
  }

  async statics(id: string): Promise<RolloutStatics | undefined> {
    const row = await this.prisma.rollout.findUnique({
      where: { id },
      select: {
        id: true,
        fleetId: true,
        version: true,
        params: true,
        plan: true,
        runbookVersion: { select: { id: true, source: true } },
      },
    });
    if (!row) return undefined;
    const maxSurge = (row.plan as { limits?: { maxSurge?: unknown } } | null)?.limits?.maxSurge;
    return {
      id: row.id,
      fleetId: row.fleetId,
      version: row.version,
      params: (row.params ?? {}) as Record<string, string>,
      runbookVersionId: row.runbookVersion.id,
      runbookSource: row.runbookVersion.source,
      ...(typeof maxSurge === "number" && maxSurge > 0 ? { maxSurge } : {}),
    };
  }

  async fleet(id: string): Promise<FleetRecord | undefined> {
    const row = await this.prisma.fleet.findUnique({
      where: { id },
      select: { id: true, name: true, balancer: true, balancerConfig: true },
    });
    return row ?? undefined;
  }

  targets(fleetId: string): Promise<TargetRecord[]> {
    return this.prisma.target.findMany({
      where: { fleetId },
      select: {
        id: true,
        name: true,
        host: true,
        port: true,
        executor: true,
        executorConfig: true,
        labels: true,
      },
    });
  }

  async approvalsWaitingSince(beforeMs: number): Promise<string[]> {
    const rows = await this.prisma.rollout.findMany({
      where: {
        status: "pending",
        requiresApproval: true,
        approvedAt: null,
        createdAt: { lt: new Date(beforeMs) },
      },
      select: { id: true },
    });
    return rows.map((r) => r.id);
  }

  activeRollouts(): Promise<{ id: string; status: string }[]> {
    return this.prisma.rollout.findMany({
      where: {
        status: { in: ["pending", "running", "aborting", "failed", "paused", "rolling_back"] },
        // A rollout waiting for a second person's approval must not be started by the reconciler.
        NOT: { requiresApproval: true, approvedAt: null },
      },
      select: { id: true, status: true },
    });
  }

  async leaseTokens(rolloutId: string): Promise<Record<string, string>> {
    const leases = await this.prisma.lease.findMany({
      where: { rolloutId },
      include: { target: { select: { name: true } } },
    });
    return Object.fromEntries(leases.map((l) => [l.target.name, l.token.toString()]));
  }
}

function known(targets: Map<string, LockedRow>, name: string, rolloutId: string): LockedRow {
  const t = targets.get(name);
  if (!t) throw new EbbError("internal", `target ${name} is not part of rollout ${rolloutId}`);
  return t;
}

/** One target of a locked rollout: its ids and who holds its lease now. */
interface LockedRow {
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
): Promise<{ state: RolloutState; fleet: string; targets: Map<string, LockedRow> }> {
  const rows = await tx.$queryRaw<
    { state: RolloutState; fleet: string; targets: (LockedRow & { name: string })[] | null }[]
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
function groupByTime(notices: readonly { notice: Notice; at: number }[]): [number, Notice[]][] {
  const groups: [number, Notice[]][] = [];
  for (const { notice, at } of notices) {
    const last = groups.at(-1);
    if (last && last[0] === at) last[1].push(notice);
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

/** Takes a target's lease for a rollout with a fresh fencing token. */
export async function acquireLease(db: Db, rolloutId: string, targetId: string): Promise<bigint> {
  const [row] = await db.$queryRaw<{ token: bigint }[]>`SELECT nextval('lease_token_seq') AS token`;
  const token = row!.token;
  await db.lease.create({ data: { targetId, rolloutId, token } });
  return token;
}

interface RunRow {
  id: string;
  status: string;
  step_index: number;
  attempt: number;
  error: unknown;
  started_at: string | null;
  finished_at: string | null;
}

interface StepRow {
  target_run_id: string;
  step_index: number;
  step_id: string;
  type: string;
  attempt: number;
  status: string;
  started_at: string | null;
  finished_at: string | null;
  output_tail: string | null;
  error: unknown;
  observation: unknown;
}

interface Projection {
  runs: RunRow[];
  steps: StepRow[];
  /** Targets whose run succeeded in this transition: they now run the rollout's version. */
  succeeded: string[];
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

/** The queryable rows (target runs, step runs) that differ between the two states. */
function projection(
  before: RolloutState,
  after: RolloutState,
  targets: Map<string, LockedRow>,
  records: ReadonlyMap<string, StepRecord>,
): Projection {
  const out: Projection = { runs: [], steps: [], succeeded: [] };
  for (const [name, run] of Object.entries(after.targets)) {
    const old = before.targets[name];
    if (old && JSON.stringify(old) === JSON.stringify(run)) continue;
    const t = targets.get(name);
    if (!t) continue;
    out.runs.push({
      id: t.targetRunId,
      status: run.status,
      step_index: run.stepIndex,
      attempt: run.attempt,
      error: run.error ?? null,
      started_at: iso(run.startedAt),
      finished_at: iso(run.finishedAt),
    });
    for (const [index, step] of run.steps.entries()) {
      const prev = old?.steps[index];
      if (step.attempts === 0 || (prev && JSON.stringify(prev) === JSON.stringify(step))) continue;
      const planned = after.steps[index]!;
      out.steps.push({
        target_run_id: t.targetRunId,
        step_index: index,
        step_id: planned.step.id,
        type: planned.step.type,
        attempt: step.attempts,
        status: step.status,
        started_at: iso(step.startedAt),
        finished_at: iso(step.finishedAt),
        output_tail: records.get(`${name}#${index}`)?.outputTail ?? null,
        error: step.error ?? null,
        observation: step.observation ?? null,
      });
    }
    if (run.status === "succeeded" && old?.status !== "succeeded") out.succeeded.push(t.targetId);
  }
  return out;
}

/**
 * The projection as data-modifying CTEs (they run whether or not the query reads them), the rows passed
 * as one JSON parameter each. A JSON null becomes an SQL null in jsonb_to_recordset. The observation is
 * appended only when it differs from the last one kept, and only the last MAX_OBSERVATIONS are kept: a
 * long wait records each change it saw, not each poll.
 */
function projectSql(rows: Projection, version: string): Prisma.Sql {
  return Prisma.sql`
    runs AS (
      UPDATE target_runs tr SET status = v.status, step_index = v.step_index, attempt = v.attempt,
        error = v.error, started_at = v.started_at, finished_at = v.finished_at
      FROM jsonb_to_recordset(${JSON.stringify(rows.runs)}::jsonb) AS v(id uuid, status text,
        step_index int, attempt int, error jsonb, started_at timestamptz, finished_at timestamptz)
      WHERE tr.id = v.id),
    steps AS (
      INSERT INTO step_runs (id, target_run_id, step_index, step_id, type, attempt, status, started_at,
        finished_at, output_tail, error, observations)
      SELECT gen_random_uuid(), v.target_run_id, v.step_index, v.step_id, v.type, v.attempt, v.status,
        v.started_at, v.finished_at, v.output_tail, v.error,
        CASE WHEN v.observation IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(v.observation) END
      FROM jsonb_to_recordset(${JSON.stringify(rows.steps)}::jsonb) AS v(target_run_id uuid,
        step_index int, step_id text, type text, attempt int, status text, started_at timestamptz,
        finished_at timestamptz, output_tail text, error jsonb, observation jsonb)
      ON CONFLICT (target_run_id, step_index, attempt) DO UPDATE SET
        status = EXCLUDED.status, started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
        error = EXCLUDED.error,
        output_tail = COALESCE(EXCLUDED.output_tail, step_runs.output_tail),
        observations = CASE
          WHEN jsonb_array_length(EXCLUDED.observations) = 0
            OR step_runs.observations -> -1 = EXCLUDED.observations -> 0
            THEN step_runs.observations
          WHEN jsonb_array_length(step_runs.observations) >= ${MAX_OBSERVATIONS}
            THEN (step_runs.observations - 0) || EXCLUDED.observations
          ELSE step_runs.observations || EXCLUDED.observations
        END),
    versions AS (
      UPDATE targets SET version = ${version} WHERE id = ANY(${rows.succeeded}::uuid[]))`;
}

/**
 * The linked rollback rollout: the original's fleet, runbook version, strategy, plan and parameters with the
 * rollback's version and state; its target runs (each with what its target runs now as its previous
 * version); and its leases. Every lease is checked before anything is written, so a refusal leaves the
 * transaction usable (an automatic rollback then records why it could not start).
 */
async function insertRollback(
  tx: Prisma.TransactionClient,
  original: { id: string; fleet: string; targets: Map<string, LockedRow> },
  rb: RolloutState,
  requestedBy: string | undefined,
): Promise<void> {
  const { id: originalId, targets } = original;
  const names = Object.keys(rb.targets);
  const ids = names.map((n) => known(targets, n, originalId).targetId);
  const held = await tx.$queryRaw<{ target_id: string; rollout_id: string }[]>`
    SELECT target_id, rollout_id FROM leases WHERE target_id = ANY(${ids}::uuid[]) AND rollout_id <> ${originalId}::uuid`;
  const first = held[0];
  if (first) {
    const name = names[ids.indexOf(first.target_id)];
    throw new EbbError("fleet_held", `target ${name} is held by rollout ${first.rollout_id}`, {
      details: { rolloutId: first.rollout_id, target: name },
    });
  }
  await tx.$executeRaw`
    INSERT INTO rollouts (id, fleet_id, runbook_version_id, version, status, strategy, plan, params, state,
      requested_by, rollback_of, created_at, updated_at)
    SELECT ${rb.id}::uuid, fleet_id, runbook_version_id, ${rb.version}, ${rb.status}, strategy,
      plan || jsonb_build_object('batches', ${JSON.stringify(rb.batches)}::jsonb, 'skipped', '[]'::jsonb), params, ${JSON.stringify(rb)}::jsonb,
      ${requestedBy ?? "ebb (onFailure: rollback)"}, id, now(), now()
    FROM rollouts WHERE id = ${originalId}::uuid`;
  for (const [batch, group] of rb.batches.entries()) {
    for (const name of group) {
      const targetId = known(targets, name, originalId).targetId;
      await tx.$executeRaw`
        INSERT INTO target_runs (id, rollout_id, target_id, batch, status, step_index, attempt, previous_version)
        SELECT gen_random_uuid(), ${rb.id}::uuid, ${targetId}::uuid, ${batch}, 'pending', 0, 0, version
        FROM targets WHERE id = ${targetId}::uuid`;
      // The original's lease moves with its fencing token; a free target (a finished rollout) gets a new one.
      const moved = await tx.$executeRaw`
        UPDATE leases SET rollout_id = ${rb.id}::uuid WHERE target_id = ${targetId}::uuid AND rollout_id = ${originalId}::uuid`;
      if (moved === 0) await acquireLease(tx, rb.id, targetId);
    }
  }
  // The new rollout's first line, in its timeline and its audit history: which rollout it rolls back.
  const linked: Notice = {
    type: "rollback.linked",
    rolloutId: rb.id,
    rollbackOf: originalId,
    targets: names,
    ...(requestedBy === undefined ? {} : { by: requestedBy }),
  };
  await tx.$executeRaw`
    INSERT INTO rollout_events (rollout_id, at, type, target, data)
    VALUES (${rb.id}::uuid, now(), ${linked.type}, NULL, ${JSON.stringify(linked)}::jsonb)`;
  await auditNotices(tx, { rolloutId: rb.id, fleet: original.fleet }, [linked]);
}

function noticeTarget(n: Notice): string | null {
  return "target" in n ? n.target : null;
}
