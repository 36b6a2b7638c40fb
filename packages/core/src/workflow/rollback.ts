import { EbbError } from "../errors.js";
import { newTargetRun } from "./create.js";
import type { Draft } from "./draft.js";
import {
  isDeployStep,
  type RolloutEvent,
  type RolloutState,
  type StepError,
  type TargetRun,
} from "./types.js";

/**
 * Rollback: the moved targets of a rollout go back to the version they ran before it, through a linked
 * rollout that runs the same planned steps (same runbook, same timeouts, same drain proofs) over the same
 * batches restricted to those targets. The original waits in `rolling_back` and ends `rolled_back` when
 * the linked one succeeds, or `failed` (saying so) when it does not.
 *
 * Why a linked rollout and not a second phase of this one: a rollout has one version, which every exec
 * step reads as EBB_VERSION, and step runs, jobs and the timeline are keyed by (rollout, target, step,
 * attempt). A new rollout reuses all of that unchanged, resumes after a crash like any other, and is the
 * same thing a person asks for with `POST /rollouts/:id/rollback`.
 */

/** The target has been moved by this rollout: its deploy step started, or it is out of service. */
export function wasMoved(state: RolloutState, run: TargetRun): boolean {
  if (run.outOfService) return true;
  return state.steps.some((planned, i) => isDeployStep(planned) && (run.steps[i]?.attempts ?? 0) > 0);
}

/** The targets a rollback takes back, in batch order. */
export function rollbackTargets(state: RolloutState): string[] {
  return state.batches.flat().filter((name) => {
    const run = state.targets[name];
    return run !== undefined && wasMoved(state, run);
  });
}

/**
 * The one version the targets go back to. Never a guess: a target whose previous version is unknown, or
 * targets that ran different versions, refuse the rollback with the targets named.
 */
export function rollbackVersion(previous: Readonly<Record<string, string | null | undefined>>): string {
  const names = Object.keys(previous).sort();
  if (names.length === 0) throw new EbbError("rollback_unavailable", "no target to roll back");
  const unknown = names.filter((n) => !previous[n]);
  if (unknown.length > 0) {
    throw new EbbError(
      "rollback_unavailable",
      `previous version unknown for ${unknown.join(", ")}: Ebb records a target's version when a rollout ` +
        "succeeds on it, or reads it from the target's versionUrl fact when a rollout is created; it never guesses",
      { details: { unknown } },
    );
  }
  const byVersion = new Map<string, string[]>();
  for (const n of names) {
    const v = previous[n] as string;
    byVersion.set(v, [...(byVersion.get(v) ?? []), n]);
  }
  if (byVersion.size > 1) {
    const groups = [...byVersion].map(([v, ts]) => `${ts.join(", ")} ran ${v}`).join("; ");
    throw new EbbError(
      "rollback_unavailable",
      `the targets ran different previous versions (${groups}): a rollback deploys one version; roll each group back on its own`,
      { details: { previous } },
    );
  }
  return [...byVersion.keys()][0]!;
}

/** The linked rollback rollout of `original` (its `rollback.targets`), `pending`, its leases handed over. */
export function createRollbackRollout(
  original: RolloutState,
  input: { id: string; version: string; now: number },
): RolloutState {
  const wanted = new Set(original.rollback?.targets ?? []);
  if (wanted.size === 0) throw new EbbError("rollback_unavailable", "no target to roll back");
  const batches = original.batches.map((b) => b.filter((t) => wanted.has(t))).filter((b) => b.length > 0);
  const steps = structuredClone(original.steps);
  const targets: Record<string, TargetRun> = {};
  batches.forEach((batch, index) => {
    for (const name of batch) {
      // The lease moves with the rollout in the transaction that creates it.
      targets[name] = { ...newTargetRun(name, index, steps.length), leaseHeld: true };
    }
  });
  return {
    id: input.id,
    status: "pending",
    version: input.version,
    runbookName: original.runbookName,
    steps,
    batches,
    currentBatch: -1,
    targets,
    ...(original.failOnClientErrors ? { failOnClientErrors: true } : {}),
    rollbackOf: original.id,
    createdAt: input.now,
    updatedAt: input.now,
  };
}

/**
 * Starts rolling back: nothing new starts; waits and gates are dropped (no side effect); commands in
 * flight finish first, then `handOverRollback` (called after every transition) asks for the linked rollout.
 */
export function beginRollback(d: Draft, detail: { reason: string; by?: string; manual: boolean }): void {
  d.state.rollback = {
    requestedAt: d.now,
    manual: detail.manual,
    ...(detail.by === undefined ? {} : { by: detail.by }),
  };
  d.setStatus("rolling_back", {
    reason: detail.reason,
    ...(detail.by === undefined ? {} : { by: detail.by }),
  });
  for (const run of d.runs()) {
    switch (run.status) {
      case "pending":
        run.finishedAt = d.now;
        d.setTargetStatus(run, "skipped");
        d.releaseLease(run);
        break;
      case "waiting":
      case "awaitingApproval":
        holdDroppedWait(d, run);
        break;
      default:
        break;
    }
  }
}

/** A wait or gate dropped by the rollback: skipped where it stands, the target held for the hand-over. */
export function holdDroppedWait(d: Draft, run: TargetRun): void {
  d.finishStep(run, "skipped");
  delete run.deadline;
  delete run.outageMs;
  d.setTargetStatus(run, "held");
}

/** Once no command is in flight: decide the targets and ask the engine for the linked rollout. */
export function handOverRollback(d: Draft): void {
  const { state } = d;
  const rollback = state.rollback;
  if (state.status !== "rolling_back" || rollback === undefined || rollback.targets !== undefined) return;
  if (d.runs().some((r) => r.status === "running" || r.status === "restoring")) return;
  const targets = rollbackTargets(state);
  rollback.targets = targets;
  for (const run of d.runs()) {
    if (targets.includes(run.target)) continue;
    // Not moved: nothing to take back. Its lease goes now; the rollback leases only what it touches.
    if (run.status === "held" || run.status === "pending") {
      run.finishedAt = d.now;
      d.setTargetStatus(run, "skipped");
    }
    d.releaseLease(run);
  }
  if (targets.length === 0) {
    state.finishedAt = d.now;
    d.setStatus("rolled_back", { reason: "no target had moved: nothing to roll back" });
    return;
  }
  d.effect({ type: "createRollback", targets });
}

export function rollbackCreated(d: Draft, rolloutId: string): string | undefined {
  const rollback = d.state.rollback;
  if (
    d.state.status !== "rolling_back" ||
    rollback?.targets === undefined ||
    rollback.rolloutId !== undefined
  )
    return "no rollback is waiting to be created";
  rollback.rolloutId = rolloutId;
  for (const name of rollback.targets) {
    const run = d.state.targets[name];
    // The lease went to the linked rollout in the same transaction: nothing to release here.
    if (run !== undefined) run.leaseHeld = false;
  }
  d.emit({
    type: "rollback.linked",
    rolloutId,
    rollbackOf: d.state.id,
    targets: [...rollback.targets],
    ...(rollback.by === undefined ? {} : { by: rollback.by }),
  });
  return undefined;
}

export function rollbackFinished(
  d: Draft,
  event: { rolloutId?: string; ok: boolean; error?: StepError },
): string | undefined {
  const { state } = d;
  const rollback = state.rollback;
  if (rollback === undefined || rollback.rolloutId !== event.rolloutId) return "not this rollout's rollback";
  // A failed rollback that is retried and then succeeds still settles the original.
  const settling = state.status === "rolling_back" || (state.status === "failed" && event.ok);
  if (!settling) return `rollout is ${state.status}`;
  state.finishedAt = d.now;
  const linked = event.rolloutId === undefined ? "" : ` ${event.rolloutId}`;
  if (event.ok) {
    delete rollback.error;
    for (const run of d.runs()) d.releaseLease(run);
    d.setStatus("rolled_back", { reason: `rollback${linked} put every moved target back` });
    return undefined;
  }
  const error = event.error ?? { code: "rollback_unavailable", message: "the rollback did not succeed" };
  rollback.error = error;
  // Not created: the leases never moved, the moved targets stay this rollout's to retry or abort.
  d.setStatus("failed", { reason: `rollback${linked} failed: ${error.message}` });
  return undefined;
}

/**
 * What the end of a rollback rollout tells its original (`rollback.finished`), or undefined while it runs.
 * Sent by the worker that committed the end, and again by the reconciler if that worker died first.
 */
export function rollbackOutcome(rollback: RolloutState): RolloutEvent | undefined {
  switch (rollback.status) {
    case "succeeded":
      return { type: "rollback.finished", rolloutId: rollback.id, ok: true };
    case "failed":
    case "aborted":
      return {
        type: "rollback.finished",
        rolloutId: rollback.id,
        ok: false,
        error: rollback.failure?.error ?? {
          code: "rollback_unavailable",
          message: `the rollback was ${rollback.status}`,
        },
      };
    default:
      return undefined;
  }
}
