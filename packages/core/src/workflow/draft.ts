import type { RolloutStatus, StepRunStatus, TargetRunStatus } from "../statuses.js";
import type {
  Effect,
  Notice,
  Observation,
  PlannedStep,
  RolloutState,
  StepError,
  TargetRun,
} from "./types.js";

/**
 * A transition works on a private copy of the state and collects effects in order; the caller's
 * state is never mutated, so a transition can be replayed or discarded freely.
 */
export class Draft {
  readonly state: RolloutState;
  readonly effects: Effect[] = [];

  constructor(
    original: RolloutState,
    readonly now: number,
  ) {
    this.state = structuredClone(original);
    this.state.updatedAt = now;
  }

  effect(effect: Effect): void {
    this.effects.push(effect);
  }

  emit(notice: Notice): void {
    this.effects.push({ type: "emit", notice });
  }

  setStatus(to: RolloutStatus, detail: { reason?: string; by?: string } = {}): void {
    const from = this.state.status;
    if (from === to) return;
    this.state.status = to;
    this.emit({ type: "rollout.status", from, to, ...detail });
  }

  setTargetStatus(run: TargetRun, to: TargetRunStatus): void {
    const from = run.status;
    if (from === to) return;
    run.status = to;
    this.emit({ type: "target.status", target: run.target, from, to });
  }

  planned(run: TargetRun): PlannedStep {
    const planned = this.state.steps[run.stepIndex];
    if (planned === undefined) throw new RangeError(`step ${run.stepIndex} does not exist`);
    return planned;
  }

  /** Records the end of the target's current step. */
  finishStep(
    run: TargetRun,
    status: StepRunStatus,
    detail: { observation?: Observation | undefined; error?: StepError | undefined } = {},
  ): void {
    const stepRun = run.steps[run.stepIndex];
    if (stepRun === undefined) return;
    stepRun.status = status;
    stepRun.finishedAt = this.now;
    if (detail.observation !== undefined) stepRun.observation = detail.observation;
    if (detail.error !== undefined) stepRun.error = detail.error;
    this.emit({
      type: "step.finished",
      target: run.target,
      stepIndex: run.stepIndex,
      stepId: this.planned(run).step.id,
      attempt: run.attempt,
      status,
      ...(detail.error === undefined ? {} : { error: detail.error }),
    });
  }

  acquireLease(run: TargetRun): void {
    if (run.leaseHeld) return;
    run.leaseHeld = true;
    this.effect({ type: "acquireLease", target: run.target });
  }

  releaseLease(run: TargetRun): void {
    if (!run.leaseHeld) return;
    run.leaseHeld = false;
    this.effect({ type: "releaseLease", target: run.target });
  }

  /** Target runs in batch order (the order effects are emitted in). */
  runs(): TargetRun[] {
    return this.state.batches.flat().flatMap((name) => {
      const run = this.state.targets[name];
      return run === undefined ? [] : [run];
    });
  }

  batchRuns(batch: number): TargetRun[] {
    return (this.state.batches[batch] ?? []).flatMap((name) => {
      const run = this.state.targets[name];
      return run === undefined ? [] : [run];
    });
  }
}
