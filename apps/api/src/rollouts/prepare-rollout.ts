import { DEFAULT_POD_RUNBOOK, DEFAULT_RUNBOOK, describeFleetHold, type FleetHold } from "@ebb/contracts";
import {
  type BalancerTiming,
  type DiscoveredTarget,
  EbbError,
  errorFinding,
  type Finding,
  planRollout,
  preflight,
  type RolloutPlan,
  type Runbook,
  resolveParams,
  type TargetDiscovery,
  type TargetFacts,
} from "@ebb/core";
import type { DriverRegistry, FleetRecord } from "@ebb/engine";
import { fleetHolds } from "../fleets/fleet-holds.js";
import { fleetTargets, type PlanTarget } from "../fleets/target-discovery.js";
import type { PrismaClient } from "../generated/prisma/client.js";
import { resolveRunbook } from "../runbooks/resolve-runbook.js";
import type { CreateRolloutInput, RolloutLimits } from "./rollout-input.js";
import type { FleetWithTargets, RolloutsRepository } from "./rollouts.repository.js";

export interface PreparedRollout {
  fleet: FleetWithTargets;
  /**
   * What the plan is over: the stored targets, or where the balancer discovers them (a Deployment's pods),
   * the pods there now (rows to create have no id; gone ones are left out).
   */
  targets: PlanTarget[];
  /** The platform's list as read, for create to record (undefined: the balancer does not discover targets). */
  discovered?: DiscoveredTarget[];
  /** What that list changes in the stored targets: the preview shows it, create writes it. */
  discovery?: TargetDiscovery;
  /** Failed or paused rollouts holding targets of the fleet: each is a blocking finding. */
  holds: FleetHold[];
  runbook: Runbook;
  runbookName: string;
  versionId: string;
  params: Record<string, string>;
  timing: BalancerTiming;
  plan: RolloutPlan;
  findings: Finding[];
  requiresApproval: boolean;
  /** Preflight errors refuse it unless forced. */
  blocked: boolean;
}

export interface PrepareDeps {
  prisma: PrismaClient;
  rollouts: RolloutsRepository;
  drivers: Pick<DriverRegistry, "balancer">;
}

/**
 * Validates, plans and preflights a rollout without writing anything: what `POST /rollouts/preview`
 * shows and what `createAndStartRollout` stores. The balancer is read once for the whole fleet.
 */
export async function prepareRollout(
  deps: PrepareDeps,
  input: CreateRolloutInput,
  limits: RolloutLimits,
): Promise<PreparedRollout> {
  const fleet = await deps.rollouts.fleetWithTargets(input.fleet);
  if (!fleet)
    throw new EbbError("not_found", `fleet "${input.fleet}" does not exist`, {
      details: [{ field: "fleet", message: "unknown fleet" }],
    });
  const runbookName =
    input.runbook ?? (fleet.balancer === "kubernetes" ? DEFAULT_POD_RUNBOOK : DEFAULT_RUNBOOK);
  const { runbook, versionId } = await resolveRunbook(deps.prisma, runbookName);
  const params = resolveParams(runbook.params, input.params);

  const balancer = deps.drivers.balancer(fleet as FleetRecord);
  // A Deployment's pods are new after every rollout: the plan is over the pods there now, not the rows.
  const { targets, discovered, change } = await fleetTargets(balancer, fleet.targets);
  if (targets.length === 0) throw new EbbError("plan_invalid", `fleet "${fleet.name}" has no targets`);
  const timing = await balancer.timing();
  const asTargets = targets.map((t) => ({
    name: t.name,
    host: t.host,
    port: t.port,
    executor: "local" as const,
    labels: {},
  }));
  const snapshot = balancer.snapshot ? await balancer.snapshot(asTargets) : undefined;
  const bound = new Map(snapshot?.map((s) => [s.name, s.bound]));
  // What only the balancer knows of its targets (a pod's grace period, preStop, readiness gate, sidecar).
  const live = balancer.liveFacts ? await balancer.liveFacts(asTargets) : undefined;
  const facts: TargetFacts[] = await Promise.all(
    targets.map(async (t, i) => ({
      ...(t.facts as Partial<TargetFacts>),
      ...live?.targets[t.name],
      name: t.name,
      host: t.host,
      port: t.port,
      inService: bound.get(t.name) ?? (await balancer.observe(asTargets[i]!)).bound,
    })),
  );
  const plan = planRollout({ targets: facts, strategy: input.strategy, timing, runbook });
  const targetCount = plan.batches.flat().length;
  if (targetCount > limits.maxTargetsPerRollout) {
    throw new EbbError(
      "plan_invalid",
      `the plan covers ${targetCount} targets; one rollout may cover at most ${limits.maxTargetsPerRollout} (EBB_MAX_TARGETS_PER_ROLLOUT)`,
      { details: [{ field: "fleet", message: "too many targets for one rollout" }] },
    );
  }
  const findings = [
    // What only the balancer can tell (HAProxy: the backend and every server exist, its timing matches).
    ...(balancer.preflight ? await balancer.preflight(asTargets) : []),
    ...preflight({
      runbook,
      fleet: { targets: facts },
      balancer: { kind: balancer.kind, timing, ...live?.balancer },
      plan,
    }),
  ];
  const holds =
    (await fleetHolds(deps.prisma, [fleet], { onlyStopped: true, drivers: deps.drivers })).get(fleet.name) ??
    [];
  // A held target is out of service because of the stopped rollout, so the plan skips it: the fleet is
  // blocked as a whole until a person retries, resumes or aborts that rollout.
  for (const hold of holds) findings.unshift(errorFinding("fleet_held", describeFleetHold(hold)));
  // A lease is not a preflight opinion: force cannot start a rollout on a fleet another one holds.
  const blocked =
    holds.length > 0 ||
    (findings.some((f) => f.severity === "error") && !(input.force && plan.batches.length > 0));
  return {
    fleet,
    targets,
    ...(discovered ? { discovered } : {}),
    ...(change ? { discovery: change } : {}),
    holds,
    runbook,
    runbookName,
    versionId,
    params,
    timing,
    plan,
    findings,
    requiresApproval: fleet.protected || targetCount > limits.approvalTargetThreshold,
    blocked,
  };
}
