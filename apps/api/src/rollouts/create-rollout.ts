import { randomUUID } from "node:crypto";
import { describeFleetHold, type FleetHold } from "@ebb/contracts";
import { createRollout, EbbError, type Finding, isEbbError, type RolloutPlan } from "@ebb/core";
import type { Engine } from "@ebb/engine";
import { fleetHolds } from "../fleets/fleet-holds.js";
import { type PrepareDeps, prepareRollout } from "./prepare-rollout.js";
import { assertRollbackPossible, previousVersions } from "./previous-versions.js";
import type { CreateRolloutInput, RolloutLimits } from "./rollout-input.js";
import { isUniqueViolation, type KeyedRollout } from "./rollouts.repository.js";

export interface CreatedRollout {
  id: string;
  /** False when an earlier request with the same Idempotency-Key created it. */
  created: boolean;
  plan: RolloutPlan;
  findings: Finding[];
  requiresApproval: boolean;
}

export interface CreateDeps extends PrepareDeps {
  engine: Pick<Engine, "send">;
  now: () => number;
}

/**
 * Stores a prepared rollout with a lease on every target it will touch, and starts it, unless it needs
 * a second person's approval (then `approveRollout` starts it). Nothing is written unless every check
 * passed: bad input loses no data and creates nothing.
 */
export async function createAndStartRollout(
  deps: CreateDeps,
  input: CreateRolloutInput,
  limits: RolloutLimits,
): Promise<CreatedRollout> {
  const key = input.idempotencyKey;
  if (key) {
    const existing = await deps.rollouts.byIdempotencyKey(key);
    if (existing) return replayed(existing, input);
  }
  const prepared = await prepareRollout(deps, input, limits);
  const { fleet, runbook, plan, findings, timing } = prepared;
  const [held] = prepared.holds;
  if (held) throw heldBy(held);
  if (prepared.blocked) {
    const errors = findings.filter((f) => f.severity === "error");
    throw new EbbError(
      "plan_invalid",
      `preflight refused the rollout: ${errors.map((f) => f.message).join("; ")}`,
      { details: findings },
    );
  }

  const previous = await previousVersions(prepared.targets, plan.batches.flat());
  const onFailure = input.onFailure ?? runbook.onFailure;
  if (onFailure === "rollback") assertRollbackPossible(previous);

  const id = randomUUID();
  const state = createRollout({
    id,
    runbook,
    batches: plan.batches,
    timing,
    version: input.version,
    now: deps.now(),
    onFailure,
  });
  // Every target is leased at creation: the state must know, so that an abort before a target's batch
  // started still releases it.
  for (const run of Object.values(state.targets)) run.leaseHeld = true;
  try {
    await deps.rollouts.insertWithLeases({
      id,
      fleet: { id: fleet.id, name: fleet.name },
      runbookVersionId: prepared.versionId,
      version: input.version,
      strategy: input.strategy,
      plan,
      params: prepared.params,
      state,
      idempotencyKey: key,
      requestedBy: input.requestedBy,
      requiresApproval: prepared.requiresApproval,
      targets: prepared.targets,
      ...(prepared.discovered ? { discovered: prepared.discovered } : {}),
      previousVersions: previous,
    });
  } catch (err) {
    // Held by a rollout still at work (or one that took the lease since the preview): say which and how.
    if (isEbbError(err, "fleet_held")) {
      const { rolloutId } = err.details as { rolloutId: string };
      const holds = await fleetHolds(deps.prisma, [fleet], { rolloutId, drivers: deps.drivers });
      const hold = holds.get(fleet.name)?.[0];
      throw hold ? heldBy(hold, err) : err;
    }
    // Two requests with one key raced: the loser answers with the winner's rollout.
    if (key && isUniqueViolation(err)) {
      const existing = await deps.rollouts.byIdempotencyKey(key);
      if (existing) return replayed(existing, input);
    }
    throw err;
  }
  if (!prepared.requiresApproval) await deps.engine.send(id, { type: "start" });
  return { id, created: true, plan, findings, requiresApproval: prepared.requiresApproval };
}

/** 409 `fleet_held`: the holding rollout, its targets and their state, and what releases them. */
function heldBy(hold: FleetHold, cause?: unknown): EbbError {
  return new EbbError("fleet_held", describeFleetHold(hold), { details: hold, cause });
}

/**
 * A repeated request with the same Idempotency-Key gets the rollout the first one created, provided it
 * asks for the same thing: the same key for another fleet or version is a client bug, answered 422.
 */
function replayed(existing: KeyedRollout, input: CreateRolloutInput): CreatedRollout {
  if (existing.fleet.name !== input.fleet || existing.version !== input.version) {
    throw new EbbError(
      "idempotency_key_reused",
      `Idempotency-Key was first used for fleet ${existing.fleet.name} version ${existing.version}; use a new key for a different rollout`,
      { details: { rolloutId: existing.id } },
    );
  }
  return {
    id: existing.id,
    created: false,
    plan: existing.plan as unknown as RolloutPlan,
    findings: [],
    requiresApproval: existing.requiresApproval,
  };
}
