import type {
  CreatedRolloutView,
  DrainProofView,
  RolloutDetail,
  RolloutNoticeView,
  RolloutPreview,
  RolloutSummary,
} from "@ebb/contracts";
import { type DrainRecord, drainSummary, type RolloutPlan, type RolloutState } from "@ebb/core";
import type { CreatedRollout } from "./create-rollout.js";
import type { PreparedRollout } from "./prepare-rollout.js";
import type { RolloutRow } from "./rollouts.repository.js";

/** Stored rows and use-case results as the contracts' views: the only place that knows both shapes. */

function iso(d: Date | null): string | null {
  return d === null ? null : d.toISOString();
}

function isoMs(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

export function summaryOf(row: RolloutRow): RolloutSummary {
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
    rollbackOf: row.rollbackOfId,
  };
}

export function detailOf(row: RolloutRow): RolloutDetail {
  const state = row.state as unknown as RolloutState;
  const plan = row.plan as unknown as RolloutPlan;
  const failure = state.failure;
  const stepId = (index: number) => state.steps[index]?.step.id ?? String(index);
  const previous = new Map(row.targetRuns.map((r) => [r.target.name, r.previousVersion]));
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
          step: stepId(failure.stepIndex),
          code: failure.error.code,
          message: failure.error.message,
        }
      : null,
    steps: state.steps.map((p) => ({ id: p.step.id, type: p.step.type, timeoutMs: p.timeoutMs })),
    onFailure: state.onFailure ?? "halt",
    rollbackOf: row.rollbackOfId,
    rollback: state.rollback
      ? {
          rolloutId: state.rollback.rolloutId ?? null,
          targets: state.rollback.targets ?? [],
          requestedBy: state.rollback.by ?? null,
          error: state.rollback.error ?? null,
        }
      : null,
    drainProof: {
      ...drainSummary(Object.values(state.targets).map((t) => t.drain)),
      failOnClientErrors: state.failOnClientErrors === true,
    },
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
      drain: t.drain === undefined ? null : drainProofOf(t.drain, stepId),
      previousVersion: previous.get(t.target) ?? null,
      steps: t.steps.flatMap((s, index) =>
        s.attempts === 0
          ? []
          : [
              {
                index,
                id: stepId(index),
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

function drainProofOf(d: DrainRecord, stepId: (index: number) => string): DrainProofView {
  return {
    takenOutAt: new Date(d.takenOutAt).toISOString(),
    endedAt: isoMs(d.endedAt),
    quietAt: isoMs(d.quietAt),
    sessionsAtTakeOut: d.sessionsAtTakeOut,
    newSessionsAfterTakeOut: d.newSessions,
    clientErrors: d.resets,
    requests: d.requests ?? null,
    steps: d.steps.map((s) => ({
      step: stepId(s.stepIndex),
      at: new Date(s.at).toISOString(),
      sessions: s.sessions,
      newSessions: s.newSessions,
      clientErrors: s.resets,
      requests: s.requests ?? null,
    })),
  };
}

export function noticeOf(r: {
  id: bigint;
  at: Date;
  type: string;
  target: string | null;
  data: unknown;
}): RolloutNoticeView {
  return { id: r.id.toString(), at: r.at.toISOString(), type: r.type, target: r.target, data: r.data };
}

export function previewOf(prepared: PreparedRollout): RolloutPreview {
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
    holds: prepared.holds,
    ...targetChangesOf(prepared),
  };
}

function targetChangesOf(prepared: PreparedRollout): Pick<RolloutPreview, "targetChanges"> {
  const d = prepared.discovery;
  if (!d || d.added.length + d.gone.length === 0) return {};
  return { targetChanges: { added: d.added.map((m) => m.name), gone: d.gone } };
}

export function createdOf(created: CreatedRollout): CreatedRolloutView {
  return {
    id: created.id,
    findings: created.findings,
    expectedDurationMs: created.plan.expectedDurationMs,
    batches: created.plan.batches,
    requiresApproval: created.requiresApproval,
  };
}
