import {
  type Balancer,
  EbbError,
  type PlannedStep,
  parseRunbookOrThrow,
  type Runbook,
  secretValues,
  type Target,
  type TargetRun,
  targetOf,
} from "@ebb/core";
import type {
  Clock,
  DriverRegistry,
  FleetRecord,
  RolloutStatics,
  RolloutStore,
  TargetRecord,
} from "./ports.js";

/** A fleet's or target's settings are read again after this long: an operator's change applies soon. */
const SETTINGS_TTL_MS = 5_000;
const MAX_ROLLOUTS = 2_000;

/** What acting on one target of a rollout needs. */
export interface TargetContext {
  fleet: FleetRecord;
  targetRecord: TargetRecord;
  run: TargetRun;
  planned: PlannedStep | null;
  rolloutId: string;
  version: string;
  /** The plan's maxSurge: replacements a k8s.setReadiness take-out may start early (0: none). */
  maxSurge: number;
  /** Resolved runbook parameters (without `version`). */
  params: Record<string, string>;
  /** Values to mask in anything stored or shown. */
  secrets: string[];
  runbook: Runbook;
  target: Target;
  balancer: Balancer;
}

/**
 * Loads a step's context. Only the target's run and its current step are read every time (they say whether
 * the job still applies), not the whole state of a twenty-target rollout; the rest is kept between checks:
 * a thousand waiting targets re-check every few seconds, and each check would otherwise read the fleet, the
 * target and the runbook again. Runbook versions are immutable, so a parsed one is kept for good.
 */
export class ContextLoader {
  private readonly statics = new Map<string, RolloutStatics>();
  private readonly fleets = new Map<string, { record: FleetRecord; at: number }>();
  private readonly targets = new Map<string, { records: Map<string, TargetRecord>; at: number }>();
  private readonly runbooks = new Map<string, Runbook>();

  constructor(
    private readonly store: RolloutStore,
    private readonly drivers: DriverRegistry,
    private readonly clock: Clock,
  ) {}

  /** Undefined when the rollout is gone or `current` says the job no longer applies to the target's run. */
  async load(
    rolloutId: string,
    target: string,
    current: (run: TargetRun) => boolean,
  ): Promise<TargetContext | undefined> {
    const step = await this.store.currentStep(rolloutId, target);
    const run = step?.run;
    if (!run || !current(run)) return undefined;
    const rollout = await this.rollout(rolloutId);
    const fleet = rollout && (await this.fleet(rollout.fleetId));
    if (!rollout || !fleet) return undefined;
    const targetRecord = await this.target(fleet.id, target);
    if (!targetRecord) throw new EbbError("not_found", `target ${target} is gone from fleet ${fleet.name}`);
    const runbook = await this.runbook(rollout.runbookVersionId, rollout.runbookSource);
    return {
      fleet,
      targetRecord,
      run,
      planned: step.planned,
      rolloutId: rollout.id,
      version: rollout.version,
      maxSurge: rollout.maxSurge ?? 0,
      params: rollout.params,
      secrets: secretValues(runbook.params, rollout.params),
      runbook,
      target: targetOf(targetRecord),
      balancer: this.drivers.balancer(fleet),
    };
  }

  private async rollout(id: string): Promise<RolloutStatics | undefined> {
    const hit = this.statics.get(id);
    if (hit) return hit;
    const statics = await this.store.statics(id);
    if (!statics) return undefined;
    if (this.statics.size >= MAX_ROLLOUTS) this.statics.delete(this.statics.keys().next().value!);
    this.statics.set(id, statics);
    return statics;
  }

  private async fleet(id: string): Promise<FleetRecord | undefined> {
    const hit = this.fleets.get(id);
    if (hit && this.clock.now() - hit.at < SETTINGS_TTL_MS) return hit.record;
    const record = await this.store.fleet(id);
    if (record) this.fleets.set(id, { record, at: this.clock.now() });
    return record;
  }

  /** One read per fleet per TTL for all its targets, however many of them are waiting. */
  private async target(fleetId: string, name: string): Promise<TargetRecord | undefined> {
    let hit = this.targets.get(fleetId);
    if (!hit || this.clock.now() - hit.at >= SETTINGS_TTL_MS || !hit.records.has(name)) {
      const records = await this.store.targets(fleetId);
      hit = { records: new Map(records.map((r) => [r.name, r])), at: this.clock.now() };
      this.targets.set(fleetId, hit);
    }
    return hit.records.get(name);
  }

  private async runbook(versionId: string, source: string): Promise<Runbook> {
    let runbook = this.runbooks.get(versionId);
    if (!runbook) {
      runbook = parseRunbookOrThrow(source, `runbook version ${versionId}`);
      this.runbooks.set(versionId, runbook);
    }
    return runbook;
  }
}
