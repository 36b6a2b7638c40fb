import type { EbbErrorCode } from "../errors.js";
import type { StepRole } from "../runbook/roles.js";
import type { OutOfServiceEffect } from "../runbook/step-types.js";
import type { ExecKind, Step } from "../runbook/steps.js";
import type { RolloutStatus, StepRunStatus, TargetRunStatus } from "../statuses.js";
import type { DrainRecord, TrafficReading } from "./drain.js";

/**
 * The rollout as data. Everything here is plain JSON (no Map, no Date, no class) so the worker can
 * store it in the database as is and rebuild the exact state after a crash.
 */

/** A runbook step with what the machine needs resolved once, at creation. */
export interface PlannedStep {
  step: Step;
  /** Deadline for the step from its start, all re-checks included. */
  timeoutMs: number;
  /** Re-check interval for waiting steps when the step runner does not ask for a time. */
  recheckMs: number;
  outOfService?: OutOfServiceEffect;
  execKind?: ExecKind;
  /** Absent in states stored before roles existed: isDeployStep() falls back to execKind. */
  role?: StepRole;
}

/** The step that puts the new version in place: if it fails, an abort leaves the target out. */
export function isDeployStep(planned: PlannedStep): boolean {
  return planned.role === "deploy" || planned.execKind === "deploy";
}

/** A failure as stored and shown: no stack, no secrets (the worker redacts before reporting). */
export interface StepError {
  code: EbbErrorCode;
  message: string;
}

/** JSON detail a step runner reports (balancer state, exit code, who is still sending ...). */
export type Observation = Readonly<Record<string, unknown>>;

export interface StepRun {
  status: StepRunStatus;
  /** Attempts made so far (the current attempt while running). */
  attempts: number;
  startedAt?: number;
  finishedAt?: number;
  /**
   * A worker is about to launch the (non-idempotent) command of the current attempt. A job that finds it
   * set and no result knows the command may have run: it verifies or asks, never runs it again.
   */
  launchedAt?: number;
  observation?: Observation;
  error?: StepError;
}

export interface TargetRun {
  target: string;
  batch: number;
  status: TargetRunStatus;
  /** The step running now, the next one to run when `held`, the failed one when `failed`. */
  stepIndex: number;
  /** Attempt of the current step, from 1; results carrying another attempt are stale. */
  attempt: number;
  startedAt?: number;
  stepStartedAt?: number;
  /** Absolute time (ms) after which the current step counts as timed out. */
  deadline?: number;
  /** The current step's deadline was moved once because Ebb could not check it (an outage, in ms). */
  outageMs?: number;
  finishedAt?: number;
  /** A step that takes the target out has started and no observed re-bind (or restore) followed. */
  outOfService: boolean;
  /** A deploy step failed: on abort the target stays out instead of being restored. */
  deployFailed: boolean;
  /** This rollout holds the target's lease (acquireLease emitted, releaseLease not yet). */
  leaseHeld: boolean;
  steps: StepRun[];
  error?: StepError;
  /** What the balancer counted from take-out to back in service (absent without a take-out or readings). */
  drain?: DrainRecord;
}

export interface RolloutState {
  id: string;
  status: RolloutStatus;
  version: string;
  runbookName: string;
  steps: PlannedStep[];
  batches: string[][];
  /** Index of the batch in progress (or last run); -1 before start. */
  currentBatch: number;
  targets: Record<string, TargetRun>;
  createdAt: number;
  updatedAt: number;
  startedAt?: number;
  finishedAt?: number;
  /** The runbook's `failOnClientErrors`: a client error the balancer counts in a drain fails the target. */
  failOnClientErrors?: boolean;
  /** The failure that halted the rollout, while it is failed (kept while it rolls back). */
  failure?: { target: string; stepIndex: number; error: StepError };
  /** `rollback`: a failed target makes a linked rollout take the moved targets back. Absent: halt. */
  onFailure?: "rollback";
  /** This rollout is the rollback of that one: its end settles the original. */
  rollbackOf?: string;
  /** The rollback of this rollout, once one was decided (see rollback.ts). */
  rollback?: RollbackRecord;
}

export interface RollbackRecord {
  requestedAt: number;
  /** Asked for by a person (the API), not decided by `onFailure: rollback`: a rollback that cannot be planned is refused, not a failure of this rollout. */
  manual: boolean;
  by?: string;
  /**
   * Targets to take back, in batch order: those whose deploy ran or that are out of service. Set when no
   * command of this rollout is in flight any more (the hand-over).
   */
  targets?: string[];
  /** The linked rollout doing it, once created. */
  rolloutId?: string;
  /** Why the rollback could not be created or did not succeed. */
  error?: StepError;
}

interface StepRef {
  target: string;
  stepIndex: number;
  attempt: number;
}

/** The balancer's counters for the target, read by the worker for the drain proof (see drain.ts). */
interface TrafficReadings {
  /** Read before the step that takes the target out (or stops it) began: the drain's baseline. */
  drainStart?: TrafficReading;
  /** Read as the step ended, while a drain is recorded. */
  traffic?: TrafficReading;
}

export type RolloutEvent =
  | { type: "start" }
  | ({ type: "step.succeeded"; observation?: Observation } & TrafficReadings & StepRef)
  | ({ type: "step.failed"; error: StepError; observation?: Observation } & TrafficReadings & StepRef)
  /** The condition does not hold yet; `recheckAtMs` asks for a specific time (e.g. the end of a sleep). */
  | ({
      type: "step.waiting";
      observation?: Observation;
      recheckAtMs?: number;
      /**
       * The check ran this long after it was due: Ebb itself could not work (its queue, its database or
       * every worker was down). The step gets its full timeout again from now, once, instead of failing by
       * a clock that ran while nobody could look.
       */
      lateByMs?: number;
    } & StepRef)
  | ({ type: "step.timedOut" } & StepRef)
  /** Committed just before a command that is not idempotent is launched. */
  | ({ type: "step.launched" } & StepRef)
  | { type: "pause"; by?: string }
  | { type: "resume"; by?: string }
  | { type: "abort"; by?: string; reason?: string }
  /** Re-runs the target's failed step with attempt + 1. */
  | { type: "retry"; target: string; by?: string }
  /** Counts the target's failed step as done (a person checked its effect) and goes on from the next one. */
  | { type: "skip"; target: string; by?: string }
  /** Releases the approval gate of one target, or of every target waiting at one. */
  | { type: "approve"; target?: string; by: string }
  /** The worker finished bringing an aborted target back into service. */
  | { type: "restore.done"; target: string; ok: boolean; error?: StepError }
  /** Roll a finished rollout's moved targets back to their previous version, as a linked rollout. */
  | { type: "rollback"; by?: string }
  /** The engine created the linked rollback rollout and handed it the leases (same transaction). */
  | { type: "rollback.created"; rolloutId: string }
  /** The rollback rollout ended (or could not be created: no `rolloutId`). */
  | { type: "rollback.finished"; rolloutId?: string; ok: boolean; error?: StepError };

export type RolloutEventType = RolloutEvent["type"];

/** What the worker must do after a transition, in order. */
export type Effect =
  | { type: "acquireLease"; target: string }
  | ({ type: "runStep"; deadlineAtMs: number } & StepRef)
  | ({ type: "recheck"; atMs: number; deadlineAtMs: number } & StepRef)
  /** Show the gate; the worker schedules step.timedOut at the deadline. */
  | ({ type: "awaitApproval"; deadlineAtMs: number; message?: string } & StepRef)
  /** Bring the target back (start, restore health check, await bound) on whatever version it has. */
  | { type: "restore"; target: string; reason: string; deployed: boolean }
  | { type: "releaseLease"; target: string }
  /**
   * Create the linked rollback rollout for these targets in the same transaction (their leases handed
   * over), then report `rollback.created` or, when it cannot be planned, `rollback.finished` not ok.
   */
  | { type: "createRollback"; targets: string[] }
  | { type: "emit"; notice: Notice };

/** Things worth telling the dashboard, the audit log and SSE subscribers. */
export type Notice =
  | { type: "rollout.status"; from: RolloutStatus; to: RolloutStatus; reason?: string; by?: string }
  | { type: "batch.started"; batch: number; targets: string[] }
  | { type: "batch.completed"; batch: number }
  | { type: "step.started"; target: string; stepIndex: number; stepId: string; attempt: number }
  | {
      type: "step.finished";
      target: string;
      stepIndex: number;
      stepId: string;
      attempt: number;
      status: StepRunStatus;
      error?: StepError;
    }
  | { type: "target.status"; target: string; from: TargetRunStatus; to: TargetRunStatus }
  | { type: "target.leftOutOfService"; target: string; reason: string }
  | { type: "approval.granted"; target: string; stepId: string; by: string }
  /** On both rollouts: `rollbackOf`'s moved targets are handed to rollout `rolloutId`. */
  | { type: "rollback.linked"; rolloutId: string; rollbackOf: string; targets: string[]; by?: string };

export interface TransitionContext {
  now: number;
}

export interface TransitionResult {
  state: RolloutState;
  effects: Effect[];
  /** Set when the event changed nothing: a stale step result, or a command that does not apply now. */
  ignored?: { reason: "stale" | "not_applicable"; message: string };
}
