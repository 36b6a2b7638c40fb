import { EbbError } from "../errors.js";
import type { BalancerTiming, TargetFacts } from "../facts.js";
import { errorFinding, type Finding, warningFinding } from "../findings.js";
import type { Runbook } from "../runbook/schema.js";
import { estimateTarget } from "./estimate.js";
import { parseStrategy, resolveCount, type Strategy } from "./strategy.js";

export interface PlanInput {
  targets: readonly TargetFacts[];
  strategy: Strategy;
  timing: BalancerTiming;
  runbook: Runbook;
}

/** The strategy resolved against this fleet (percentages turned into counts). */
export interface PlanLimits {
  fleetSize: number;
  maxUnavailable: number;
  minHealthy: number;
  /** Targets already out of service before the rollout (they use up maxUnavailable). */
  alreadyOut: number;
  batchSize: number;
  /** Targets that may run above fleetSize while replacements start (0: none; see preflight's surge check). */
  maxSurge: number;
}

export interface RolloutPlan {
  /** Target names, batch by batch; batches run one after another, targets within one in parallel. */
  batches: string[][];
  /** Targets out of service before the rollout: not drained by it (see finding target_out_of_service). */
  skipped: string[];
  limits: PlanLimits;
  /** Per batch, the slowest target's expected time. */
  batchDurationsMs: number[];
  expectedDurationMs: number;
  /** The slowest target's floor (see TargetEstimate.floorMs). */
  floorPerTargetMs: number;
  /** `error` findings mean the plan cannot run (e.g. no capacity); batches is then empty. */
  findings: Finding[];
}

/**
 * Splits the fleet into batches that never take more targets out than maxUnavailable allows
 * (counting targets already out) nor leave fewer than minHealthy in service. A malformed strategy
 * throws EbbError("plan_invalid"); a fleet with no room to drain returns an `error` finding.
 */
export function planRollout(input: PlanInput): RolloutPlan {
  const { targets, timing, runbook } = input;
  const strategy = parseStrategy(input.strategy);
  assertUniqueNames(targets);
  const findings: Finding[] = [];
  const fleetSize = targets.length;
  const inService = targets.filter((t) => t.inService);
  const out = targets.filter((t) => !t.inService);

  const maxUnavailable = resolveCount(strategy.maxUnavailable, fleetSize, "floor", "maxUnavailable");
  const minHealthy = resolveCount(strategy.minHealthy ?? 0, fleetSize, "ceil", "minHealthy");
  const maxSurge = resolveCount(strategy.maxSurge ?? 0, fleetSize, "ceil", "maxSurge");
  const requested =
    strategy.batchSize === undefined
      ? undefined
      : resolveCount(strategy.batchSize, fleetSize, "ceil", "batchSize");
  if (requested === 0) throw new EbbError("plan_invalid", "strategy.batchSize: must be at least 1");

  for (const t of out) {
    findings.push(
      warningFinding(
        "target_out_of_service",
        `${t.name} is already out of service: it counts against maxUnavailable and is not part of this ` +
          "rollout (draining it would bring a server of unknown health back into rotation)",
        { target: t.name },
      ),
    );
  }

  const capacity = maxUnavailable - out.length;
  const healthRoom = inService.length - minHealthy;
  let batchSize = Math.min(requested ?? capacity, capacity, healthRoom);
  if (inService.length > 0 && capacity <= 0) {
    findings.push(
      errorFinding(
        "no_capacity",
        `maxUnavailable ${strategy.maxUnavailable} allows ${maxUnavailable} target(s) out of service and ` +
          `${out.length} already are (${out.map((t) => t.name).join(", ") || "none"}): no target can be drained`,
      ),
    );
  } else if (inService.length > 0 && healthRoom <= 0) {
    findings.push(
      errorFinding(
        "plan_breaks_min_healthy",
        `minHealthy ${strategy.minHealthy} needs ${minHealthy} target(s) in service and only ` +
          `${inService.length} are: draining any target would break it`,
      ),
    );
  } else if (requested !== undefined && batchSize < requested) {
    const why = batchSize === capacity ? `maxUnavailable (${out.length} already out)` : "minHealthy";
    findings.push(
      warningFinding(
        "batch_size_reduced",
        `batch size ${requested} reduced to ${batchSize} to respect ${why}`,
      ),
    );
  }
  batchSize = Math.max(0, batchSize);

  const batches =
    batchSize > 0
      ? chunk(
          inService.map((t) => t.name),
          batchSize,
        )
      : [];
  const estimates = new Map(inService.map((t) => [t.name, estimateTarget(runbook, t, timing)]));
  const batchDurationsMs = batches.map((batch) =>
    Math.max(0, ...batch.map((name) => estimates.get(name)?.expectedMs ?? 0)),
  );
  const floorPerTargetMs = Math.max(0, ...[...estimates.values()].map((e) => e.floorMs));

  return {
    batches,
    skipped: out.map((t) => t.name),
    limits: { fleetSize, maxUnavailable, minHealthy, alreadyOut: out.length, batchSize, maxSurge },
    batchDurationsMs,
    expectedDurationMs: batchDurationsMs.reduce((sum, ms) => sum + ms, 0),
    floorPerTargetMs,
    findings,
  };
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function assertUniqueNames(targets: readonly TargetFacts[]): void {
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t.name)) throw new EbbError("plan_invalid", `targets: duplicate target name "${t.name}"`);
    seen.add(t.name);
  }
}
