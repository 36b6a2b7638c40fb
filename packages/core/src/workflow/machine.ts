import { assertNever } from "../errors.js";
import { isStepInFlight, type TargetRunStatus } from "../statuses.js";
import { Draft } from "./draft.js";
import { type DrainStepCounts, openDrain, recordDrainStep, type TrafficReading } from "./drain.js";
import {
  advance,
  afterStep,
  batchComplete,
  beginStep,
  dropWait,
  failStep,
  maybeFinishAbort,
  resumeHeld,
  settleAborted,
  startBatch,
  timeoutError,
} from "./progress.js";
import { beginRollback, handOverRollback, rollbackCreated, rollbackFinished } from "./rollback.js";
import {
  isDeployStep,
  type PlannedStep,
  type RolloutEvent,
  type RolloutState,
  type TargetRun,
  type TransitionContext,
  type TransitionResult,
} from "./types.js";

/**
 * The rollout workflow as a pure function: (state, event, now) -> (state, effects). No clock, no I/O:
 * the worker persists the new state and carries out the effects, then reports their outcome as
 * further events. Rules:
 * - batches run one after another; targets within a batch in parallel;
 * - a failed step (onFailure: halt) fails the rollout: steps in flight finish, no new step starts;
 *   `retry` re-runs the failed step with attempt + 1, `abort` restores what was taken out;
 * - `pause` takes effect at the next step boundary, `resume` continues from there;
 * - step results whose target, step index or attempt are not current are ignored (the worker's
 *   fencing relies on this to reject late results from a previous attempt or a lost worker).
 */
export function transition(
  state: RolloutState,
  event: RolloutEvent,
  ctx: TransitionContext,
): TransitionResult {
  const d = new Draft(state, ctx.now);
  const ignored = apply(d, event);
  if (ignored !== undefined) return { state, effects: [], ignored };
  maybeFinishAbort(d);
  handOverRollback(d);
  return { state: d.state, effects: d.effects };
}

type Ignored = TransitionResult["ignored"];

function apply(d: Draft, event: RolloutEvent): Ignored {
  const { state } = d;
  switch (event.type) {
    case "start": {
      if (state.status !== "pending") return notApplicable(`rollout is ${state.status}`);
      state.startedAt = d.now;
      d.setStatus("running");
      if (state.batches.length === 0) advance(d);
      else startBatch(d, 0);
      return undefined;
    }
    case "step.succeeded": {
      const run = current(d, event, ["running", "waiting"]);
      if (typeof run === "string") return stale(run);
      const planned = d.planned(run);
      const counted = noteTraffic(d, run, planned, event);
      if (state.failOnClientErrors && counted !== undefined && counted.resets > 0) {
        failStep(d, run, "failed", {
          code: "client_errors",
          message:
            `the balancer counted ${counted.resets} client error(s) (resets, refused flows) for ${run.target} during ` +
            `${planned.step.id}, in its drain; the runbook sets failOnClientErrors`,
        });
        return undefined;
      }
      if (planned.outOfService === "observesIn") run.outOfService = false;
      if (isDeployStep(planned)) run.deployFailed = false;
      d.finishStep(run, "succeeded", { observation: event.observation });
      afterStep(d, run);
      return undefined;
    }
    case "step.failed": {
      const run = current(d, event, ["running", "waiting"]);
      if (typeof run === "string") return stale(run);
      noteTraffic(d, run, d.planned(run), event);
      const stepRun = run.steps[run.stepIndex];
      if (stepRun !== undefined && event.observation !== undefined) stepRun.observation = event.observation;
      failStep(d, run, "failed", event.error);
      return undefined;
    }
    case "step.waiting": {
      const run = current(d, event, ["running", "waiting"]);
      if (typeof run === "string") return stale(run);
      if (state.status === "aborting" || state.status === "rolling_back") {
        // The abort or rollback came while this wait's first check ran: the target was "running" then, so
        // it was left to finish its step. A wait never finishes by itself once nobody re-checks it: kept
        // "waiting", the abort would end with this target still out (a pod's gate False, a Deployment
        // paused) and nothing left to restore it.
        const stepRun = run.steps[run.stepIndex];
        if (stepRun !== undefined && event.observation !== undefined) stepRun.observation = event.observation;
        dropWait(d, run);
        return undefined;
      }
      if (event.lateByMs !== undefined && run.outageMs === undefined) {
        run.outageMs = event.lateByMs;
        run.deadline = d.now + d.planned(run).timeoutMs;
      }
      const deadline = run.deadline ?? d.now;
      if (d.now >= deadline) {
        failStep(d, run, "timedOut", timeoutError(d, run, event.observation));
        return undefined;
      }
      const stepRun = run.steps[run.stepIndex];
      if (stepRun !== undefined) {
        stepRun.status = "waiting";
        if (event.observation !== undefined) stepRun.observation = event.observation;
      }
      d.setTargetStatus(run, "waiting");
      const wanted = event.recheckAtMs ?? d.now + d.planned(run).recheckMs;
      // One last check exactly at the deadline, so a condition that holds just in time still counts.
      const atMs = Math.min(Math.max(wanted, d.now), deadline);
      d.effect({
        type: "recheck",
        target: run.target,
        stepIndex: run.stepIndex,
        attempt: run.attempt,
        atMs,
        deadlineAtMs: deadline,
      });
      return undefined;
    }
    case "step.launched": {
      const run = current(d, event, ["running"]);
      if (typeof run === "string") return stale(run);
      const stepRun = run.steps[run.stepIndex];
      if (stepRun !== undefined) stepRun.launchedAt = d.now;
      return undefined;
    }
    case "step.timedOut": {
      const run = current(d, event, ["running", "waiting", "awaitingApproval"]);
      if (typeof run === "string") return stale(run);
      failStep(d, run, "timedOut", timeoutError(d, run));
      return undefined;
    }
    case "pause": {
      if (state.status !== "running") return notApplicable(`rollout is ${state.status}, not running`);
      d.setStatus("paused", { ...by(event.by) });
      return undefined;
    }
    case "resume": {
      if (state.status !== "paused") return notApplicable(`rollout is ${state.status}, not paused`);
      d.setStatus("running", { ...by(event.by) });
      resumeHeld(d);
      // Paused between two batches: nothing was held, the next batch starts now.
      if (batchComplete(d)) advance(d);
      return undefined;
    }
    case "retry": {
      if (state.status !== "failed") return notApplicable(`rollout is ${state.status}, not failed`);
      if (state.rollback?.rolloutId !== undefined)
        return notApplicable(`its targets belong to rollback ${state.rollback.rolloutId}: retry that one`);
      const run = ownRun(d, event.target);
      if (run === undefined || run.status !== "failed") {
        return notApplicable(`target ${event.target} has no failed step to retry`);
      }
      beginStep(d, run, run.stepIndex, run.attempt + 1);
      if (d.runs().every((r) => r.status !== "failed")) {
        delete state.failure;
        delete state.finishedAt;
        d.setStatus("running", { reason: `retry ${event.target}`, ...by(event.by) });
        resumeHeld(d);
      }
      return undefined;
    }
    case "skip": {
      if (state.status !== "failed") return notApplicable(`rollout is ${state.status}, not failed`);
      if (state.rollback?.rolloutId !== undefined)
        return notApplicable(`its targets belong to rollback ${state.rollback.rolloutId}: skip there`);
      const run = ownRun(d, event.target);
      if (run === undefined || run.status !== "failed") {
        return notApplicable(`target ${event.target} has no failed step to skip`);
      }
      const planned = d.planned(run);
      // The person says the step's effect is in place: what it would have changed, it changed.
      if (planned.outOfService === "observesIn") run.outOfService = false;
      if (isDeployStep(planned)) run.deployFailed = false;
      d.finishStep(run, "skipped", { observation: { skippedBy: event.by ?? "unknown" } });
      delete run.error;
      if (d.runs().every((r) => r === run || r.status !== "failed")) {
        delete state.failure;
        delete state.finishedAt;
        d.setStatus("running", { reason: `skip ${event.target}`, ...by(event.by) });
      }
      afterStep(d, run);
      if (d.state.status === "running") resumeHeld(d);
      return undefined;
    }
    case "approve": {
      const waiting = d
        .runs()
        .filter(
          (r) => r.status === "awaitingApproval" && (event.target === undefined || r.target === event.target),
        );
      if (waiting.length === 0) return notApplicable("no target is waiting for an approval");
      for (const run of waiting) {
        d.emit({
          type: "approval.granted",
          target: run.target,
          stepId: d.planned(run).step.id,
          by: event.by,
        });
        d.finishStep(run, "succeeded", { observation: { approvedBy: event.by } });
        afterStep(d, run);
      }
      return undefined;
    }
    case "abort": {
      if (state.status === "pending") {
        for (const run of d.runs()) d.setTargetStatus(run, "skipped");
        state.finishedAt = d.now;
        d.setStatus("aborted", { ...reason(event.reason), ...by(event.by) });
        return undefined;
      }
      if (
        state.status === "aborting" ||
        state.status === "aborted" ||
        state.status === "succeeded" ||
        state.status === "rolled_back"
      ) {
        return notApplicable(`rollout is ${state.status}`);
      }
      if (state.status === "rolling_back" || state.rollback?.rolloutId !== undefined) {
        const linked = state.rollback?.rolloutId;
        return notApplicable(
          linked === undefined
            ? "rollout is rolling back: it will hand its targets to the rollback once its commands in flight end"
            : `its targets belong to rollback ${linked}: abort that one`,
        );
      }
      d.setStatus("aborting", { ...reason(event.reason), ...by(event.by) });
      for (const run of d.runs()) abortTarget(d, run);
      return undefined;
    }
    case "restore.done": {
      const run = ownRun(d, event.target);
      if (run === undefined || run.status !== "restoring") {
        return notApplicable(`target ${event.target} is not being restored`);
      }
      run.finishedAt = d.now;
      if (run.drain !== undefined && run.drain.endedAt === undefined) run.drain.endedAt = d.now;
      if (event.ok) {
        run.outOfService = false;
        d.setTargetStatus(run, "restored");
      } else {
        if (event.error !== undefined) run.error = event.error;
        d.setTargetStatus(run, "failed");
        d.emit({ type: "target.leftOutOfService", target: run.target, reason: "restore failed" });
      }
      d.releaseLease(run);
      return undefined;
    }
    case "rollback": {
      if (state.status !== "succeeded" && state.status !== "failed" && state.status !== "aborted")
        return notApplicable(
          `rollout is ${state.status}: only a finished rollout (succeeded, failed, aborted) can be rolled back`,
        );
      if (state.rollback?.rolloutId !== undefined)
        return notApplicable(`rollout was already rolled back by ${state.rollback.rolloutId}`);
      beginRollback(d, {
        reason: event.by === undefined ? "rollback requested" : `rollback requested by ${event.by}`,
        manual: true,
        ...by(event.by),
      });
      return undefined;
    }
    case "rollback.created": {
      const problem = rollbackCreated(d, event.rolloutId);
      return problem === undefined ? undefined : notApplicable(problem);
    }
    case "rollback.finished": {
      const problem = rollbackFinished(d, event);
      return problem === undefined ? undefined : notApplicable(problem);
    }
    default:
      return assertNever(event, "rollout event");
  }
}

/**
 * The drain proof's bookkeeping for a finished step: the step that takes the target out (or, in a runbook
 * without one, the first that stops it) opens the record with a reading taken before it began; every step
 * until the target is back in service adds what the balancer counted while it ran. Returns the step's
 * counts when it was inside the drain.
 */
function noteTraffic(
  d: Draft,
  run: TargetRun,
  planned: PlannedStep,
  readings: { drainStart?: TrafficReading; traffic?: TrafficReading },
): DrainStepCounts | undefined {
  if (opensDrain(run, planned)) {
    // No reading from before the step (its first check only waited): its end is the baseline.
    const start = readings.drainStart ?? readings.traffic;
    if (start === undefined) return undefined;
    run.drain = openDrain(start);
    if (readings.drainStart === undefined) return undefined;
  }
  const drain = run.drain;
  if (drain === undefined || drain.endedAt !== undefined || readings.traffic === undefined) return undefined;
  const counts = recordDrainStep(drain, run.stepIndex, readings.traffic);
  if (planned.role === "in" || run.stepIndex === d.state.steps.length - 1)
    drain.endedAt = readings.traffic.at;
  return counts;
}

function drainOpen(run: TargetRun): boolean {
  return run.drain !== undefined && run.drain.endedAt === undefined;
}

/** The step starts the target's drain: a reading before it begins is the baseline. */
export function opensDrain(run: TargetRun, planned: PlannedStep): boolean {
  return (planned.role === "out-of-service" || planned.role === "stop") && !drainOpen(run);
}

/** The worker reads the balancer's counters when this step ends: it opens, or falls inside, a drain. */
export function wantsTrafficReading(run: TargetRun, planned: PlannedStep): boolean {
  return opensDrain(run, planned) || drainOpen(run);
}

/**
 * Abort handling per target. A command in flight (`running`) is left to finish: killing it midway
 * could leave the target in an unknown state; its result settles the target. Waits and approval
 * gates have no side effect, so they are dropped at once (their late results arrive as stale).
 */
function abortTarget(d: Draft, run: TargetRun): void {
  switch (run.status) {
    case "pending":
      d.setTargetStatus(run, "skipped");
      return;
    case "running":
      return;
    case "waiting":
    case "awaitingApproval":
      dropWait(d, run);
      return;
    case "held":
    case "failed":
      settleAborted(d, run);
      return;
    case "succeeded":
    case "restoring":
    case "restored":
    case "skipped":
      return;
    default:
      assertNever(run.status, "target run status");
  }
}

/** The target's run if the event refers to its current step and attempt, else why it is stale. */
function current(
  d: Draft,
  ref: { target: string; stepIndex: number; attempt: number },
  inFlight: readonly TargetRunStatus[],
): TargetRun | string {
  const run = ownRun(d, ref.target);
  if (run === undefined) return `unknown target ${ref.target}`;
  if (!isStepInFlight(run.status) || !inFlight.includes(run.status)) {
    return `${ref.target} is ${run.status}, no such step in flight`;
  }
  if (run.stepIndex !== ref.stepIndex || run.attempt !== ref.attempt) {
    return `${ref.target} is at step ${run.stepIndex} attempt ${run.attempt}, not step ${ref.stepIndex} attempt ${ref.attempt}`;
  }
  return run;
}

function ownRun(d: Draft, target: string): TargetRun | undefined {
  return Object.hasOwn(d.state.targets, target) ? d.state.targets[target] : undefined;
}

function stale(message: string): Ignored {
  return { reason: "stale", message };
}

function notApplicable(message: string): Ignored {
  return { reason: "not_applicable", message };
}

function by(who: string | undefined): { by?: string } {
  return who === undefined ? {} : { by: who };
}

function reason(text: string | undefined): { reason?: string } {
  return text === undefined ? {} : { reason: text };
}
