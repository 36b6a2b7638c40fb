import { EbbError } from "../errors.js";
import type { BalancerTiming } from "../facts.js";
import { execKind } from "../runbook/roles.js";
import type { Runbook } from "../runbook/schema.js";
import { resolveStepTimeoutMs, STEP_TYPES, stepOutOfServiceEffect, stepRole } from "../runbook/step-types.js";
import type { PlannedStep, RolloutState, TargetRun } from "./types.js";

export interface CreateRolloutInput {
  id: string;
  runbook: Runbook;
  /** From planRollout(): target names, batch by batch. */
  batches: readonly (readonly string[])[];
  /** Resolves the computed step deadlines (awaitUnbound's detection window ...). */
  timing: BalancerTiming;
  version: string;
  now: number;
  /** Default `halt`: a failed target stops the rollout; `rollback` takes the moved targets back. */
  onFailure?: "halt" | "rollback";
}

/** A `pending` rollout; the "start" event begins the first batch. */
export function createRollout(input: CreateRolloutInput): RolloutState {
  const steps = input.runbook.steps.map((step): PlannedStep => {
    const planned: PlannedStep = {
      step,
      timeoutMs: resolveStepTimeoutMs(step, input.timing),
      recheckMs: STEP_TYPES[step.type].recheckIntervalMs(input.timing),
    };
    const effect = stepOutOfServiceEffect(step);
    if (effect !== undefined) planned.outOfService = effect;
    const kind = step.type === "exec" ? execKind(step) : undefined;
    if (kind !== undefined) planned.execKind = kind;
    const role = stepRole(step);
    if (role !== undefined) planned.role = role;
    return planned;
  });
  const targets: Record<string, TargetRun> = {};
  input.batches.forEach((batch, index) => {
    if (batch.length === 0) throw new EbbError("plan_invalid", `batches[${index}] is empty`);
    for (const name of batch) {
      if (name === "" || name === "__proto__")
        throw new EbbError("plan_invalid", `invalid target name "${name}"`);
      if (Object.hasOwn(targets, name)) {
        throw new EbbError("plan_invalid", `target "${name}" appears in more than one batch`);
      }
      targets[name] = newTargetRun(name, index, steps.length);
    }
  });
  return {
    id: input.id,
    status: "pending",
    version: input.version,
    runbookName: input.runbook.name,
    steps,
    batches: input.batches.map((b) => [...b]),
    currentBatch: -1,
    targets,
    ...(input.runbook.failOnClientErrors ? { failOnClientErrors: true } : {}),
    ...((input.onFailure ?? input.runbook.onFailure) === "rollback"
      ? { onFailure: "rollback" as const }
      : {}),
    createdAt: input.now,
    updatedAt: input.now,
  };
}

export function newTargetRun(name: string, batch: number, stepCount: number): TargetRun {
  return {
    target: name,
    batch,
    status: "pending",
    stepIndex: 0,
    attempt: 0,
    outOfService: false,
    deployFailed: false,
    leaseHeld: false,
    steps: Array.from({ length: stepCount }, () => ({ status: "pending" as const, attempts: 0 })),
  };
}
