import { formatDuration } from "../runbook/duration.js";
import type { Draft } from "./draft.js";
import { beginRollback, holdDroppedWait } from "./rollback.js";
import { isDeployStep, type Observation, type StepError, type TargetRun } from "./types.js";

/**
 * How targets move through their steps and the rollout through its batches. Shared by the event
 * handlers in machine.ts; every function mutates the draft only.
 */

export function startBatch(d: Draft, batch: number): void {
  d.state.currentBatch = batch;
  const runs = d.batchRuns(batch);
  d.emit({ type: "batch.started", batch, targets: runs.map((r) => r.target) });
  for (const run of runs) {
    run.startedAt = d.now;
    // The lease comes before the first command: the worker must hold it (with its fencing token)
    // before it acts on the target.
    d.acquireLease(run);
    beginStep(d, run, 0, 1);
  }
}

export function beginStep(d: Draft, run: TargetRun, stepIndex: number, attempt: number): void {
  if (stepIndex >= d.state.steps.length) {
    completeTarget(d, run);
    return;
  }
  run.stepIndex = stepIndex;
  run.attempt = attempt;
  run.stepStartedAt = d.now;
  delete run.error;
  const planned = d.planned(run);
  const deadline = d.now + planned.timeoutMs;
  run.deadline = deadline;
  delete run.outageMs;
  const stepRun = run.steps[stepIndex];
  const approval = planned.step.type === "approval";
  if (stepRun !== undefined) {
    stepRun.status = approval ? "awaitingApproval" : "running";
    stepRun.attempts = attempt;
    stepRun.startedAt = d.now;
    delete stepRun.finishedAt;
    delete stepRun.error;
    delete stepRun.launchedAt;
  }
  // Counted from the moment the step is handed out: a crash between the command and its report must
  // not leave a drained target that an abort would forget to restore.
  if (planned.outOfService === "takesOut") run.outOfService = true;
  d.setTargetStatus(run, approval ? "awaitingApproval" : "running");
  d.emit({ type: "step.started", target: run.target, stepIndex, stepId: planned.step.id, attempt });
  const ref = { target: run.target, stepIndex, attempt };
  if (planned.step.type === "approval") {
    const message = planned.step.message;
    d.effect({
      type: "awaitApproval",
      ...ref,
      deadlineAtMs: deadline,
      ...(message === undefined ? {} : { message }),
    });
  } else {
    d.effect({ type: "runStep", ...ref, deadlineAtMs: deadline });
  }
}

/**
 * The current step is over and the target may go on (success, or a failure with onFailure: continue).
 * Pause and halt take effect here, at the step boundary.
 */
export function afterStep(d: Draft, run: TargetRun): void {
  const next = run.stepIndex + 1;
  if (next >= d.state.steps.length) {
    // The last step finished: nothing new would start, so even a paused rollout lets it complete.
    completeTarget(d, run);
    return;
  }
  switch (d.state.status) {
    case "running":
      beginStep(d, run, next, 1);
      return;
    case "aborting":
      settleAborted(d, run);
      return;
    default:
      // paused or failed (halted): stop at the boundary, resume/retry continues from `next`.
      run.stepIndex = next;
      run.attempt = 0;
      delete run.deadline;
      delete run.outageMs;
      d.setTargetStatus(run, "held");
  }
}

function completeTarget(d: Draft, run: TargetRun): void {
  run.finishedAt = d.now;
  delete run.deadline;
  delete run.outageMs;
  d.setTargetStatus(run, "succeeded");
  d.releaseLease(run);
  if (d.state.status === "aborting") return;
  if (batchComplete(d)) {
    d.emit({ type: "batch.completed", batch: d.state.currentBatch });
    if (d.state.status === "running") advance(d);
  }
}

export function batchComplete(d: Draft): boolean {
  const runs = d.batchRuns(d.state.currentBatch);
  return runs.length > 0 && runs.every((r) => r.status === "succeeded");
}

/** Starts the next batch, or ends the rollout after the last one. */
export function advance(d: Draft): void {
  const next = d.state.currentBatch + 1;
  if (next < d.state.batches.length) {
    startBatch(d, next);
    return;
  }
  d.state.finishedAt = d.now;
  d.setStatus("succeeded");
}

/** The current step failed or timed out. */
export function failStep(d: Draft, run: TargetRun, status: "failed" | "timedOut", error: StepError): void {
  const planned = d.planned(run);
  d.finishStep(run, status, { error });
  if (isDeployStep(planned)) run.deployFailed = true;
  if (planned.step.onFailure === "continue") {
    afterStep(d, run);
    return;
  }
  run.error = error;
  if (d.state.status === "aborting") {
    d.setTargetStatus(run, "failed");
    settleAborted(d, run);
    return;
  }
  delete run.deadline;
  delete run.outageMs;
  d.setTargetStatus(run, "failed");
  if (d.state.status === "running" || d.state.status === "paused") {
    d.state.failure = { target: run.target, stepIndex: run.stepIndex, error };
    const reason = `${run.target}: ${planned.step.id}: ${error.message}`;
    if (d.state.onFailure === "rollback") {
      beginRollback(d, { reason: `${reason}; rolling back (onFailure: rollback)`, manual: false });
      return;
    }
    d.state.finishedAt = d.now;
    d.setStatus("failed", { reason });
  }
}

/** Says which target, which step, and what was last observed: the operator's first three questions. */
export function timeoutError(d: Draft, run: TargetRun, observation?: Observation): StepError {
  const planned = d.planned(run);
  const seen = observation ?? run.steps[run.stepIndex]?.observation;
  const last =
    seen && Object.keys(seen).length > 0
      ? ` (last seen: ${Object.entries(seen)
          .map(([k, v]) => `${k} ${typeof v === "string" ? v : JSON.stringify(v)}`)
          .join(", ")})`
      : "";
  return {
    code: "step_timeout",
    message:
      `${planned.step.id} on ${run.target} did not complete within ${formatDuration(planned.timeoutMs)}${last}` +
      (run.outageMs === undefined
        ? ""
        : `; its deadline was moved once because Ebb could not check it for ${formatDuration(run.outageMs)} (an outage of its queue, database or workers)`),
  };
}

/** Continues every target held at a step boundary. */
export function resumeHeld(d: Draft): void {
  for (const run of d.runs()) {
    if (run.status === "held") beginStep(d, run, run.stepIndex, 1);
  }
}

/**
 * An aborted target with no step in flight: restore it if this rollout took it out, unless its
 * deploy failed (bringing it back would serve a broken release: it stays out for a human).
 */
export function settleAborted(d: Draft, run: TargetRun): void {
  delete run.deadline;
  delete run.outageMs;
  if (run.outOfService && !run.deployFailed) {
    d.setTargetStatus(run, "restoring");
    const deployed = d.state.steps.some((p, i) => isDeployStep(p) && run.steps[i]?.status === "succeeded");
    d.effect({ type: "restore", target: run.target, reason: "rollout aborted", deployed });
    return;
  }
  if (run.outOfService) {
    d.setTargetStatus(run, "failed");
    d.emit({
      type: "target.leftOutOfService",
      target: run.target,
      reason: "its deploy failed; restoring it would serve a broken release",
    });
  } else if (run.status !== "failed") {
    run.finishedAt = d.now;
    d.setTargetStatus(run, "skipped");
  }
  d.releaseLease(run);
}

/**
 * A wait or gate that an abort or a rollback ends: it has no side effect to undo, so the step is skipped
 * where it stands. Aborting: the target is settled (restored if this rollout took it out). Rolling back:
 * it is held for the hand-over.
 */
export function dropWait(d: Draft, run: TargetRun): void {
  if (d.state.status !== "aborting") {
    holdDroppedWait(d, run);
    return;
  }
  d.finishStep(run, "skipped");
  settleAborted(d, run);
}

/** The abort is over once no step and no restore is in flight. */
export function maybeFinishAbort(d: Draft): void {
  if (d.state.status !== "aborting") return;
  const busy = d.runs().some((r) => r.status === "running" || r.status === "restoring");
  if (busy) return;
  for (const run of d.runs()) d.releaseLease(run);
  d.state.finishedAt = d.now;
  d.setStatus("aborted");
}
