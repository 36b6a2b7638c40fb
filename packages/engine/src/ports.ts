import type { JobName, JobPayload } from "@ebb/contracts";
import type {
  Balancer,
  Executor,
  Notice,
  PlannedStep,
  RolloutState,
  TargetRun,
  TransitionResult,
} from "@ebb/core";

/*
 * The engine's ports: what it needs from the world, declared here so that the record types live with the
 * ports and adapters (Prisma, BullMQ, the drivers) depend on the engine, never the other way round.
 */

/** A stored fleet, as the drivers need it. */
export interface FleetRecord {
  id: string;
  name: string;
  balancer: string;
  balancerConfig: unknown;
}

/** A stored target, as the drivers need it. */
export interface TargetRecord {
  id: string;
  name: string;
  host: string;
  port: number;
  executor: string;
  executorConfig: unknown;
  labels: unknown;
}

/** What never changes once a rollout is created: everything but its state. */
export interface RolloutStatics {
  id: string;
  fleetId: string;
  version: string;
  params: Record<string, string>;
  runbookVersionId: string;
  runbookSource: string;
  /** strategy.maxSurge as planned for this fleet (the plan's limits); absent: 0, no surge. */
  maxSurge?: number;
}

/** What a step run produced besides the event: kept on its step record, never in the workflow state. */
export interface StepRecord {
  outputTail?: string;
}

export interface ApplyOptions {
  record?: StepRecord;
  /** The result counts only while the rollout holds the target's lease with this fencing token. */
  fence?: { target: string; token: string };
}

export interface ApplyOutcome extends TransitionResult {
  /** The fencing token of every lease this rollout holds after the transition, by target name. */
  leaseTokens: Record<string, string>;
}

/** One target of a locked rollout: who holds its lease now (the token as decimal text, or null). */
export interface LockedTarget {
  lease: string | null;
  leaseRollout: string | null;
}

/**
 * A rollout row locked for one transaction (FOR UPDATE in SQL): concurrent workers serialise on it.
 * Everything written through it commits together, or not at all.
 */
export interface LockedRollout {
  readonly state: RolloutState;
  readonly fleet: string;
  /** Every target of the rollout by name, with its lease as read under the lock. */
  readonly targets: ReadonlyMap<string, LockedTarget>;
  /**
   * The token of the rollout's lease on the target: the one it holds, else a new lease with a fresh fencing
   * token. `conflict` when another rollout holds it (read again: other rollouts' leases are not under our lock).
   */
  acquireLease(target: string): Promise<string>;
  releaseLease(target: string): Promise<void>;
  releaseAllLeases(): Promise<void>;
  /** Writes the new state and its projections (target and step records), with the step records given. */
  save(before: RolloutState, after: RolloutState, records: ReadonlyMap<string, StepRecord>): Promise<void>;
  /** Appends the timeline and the audit history of these notices, in order. */
  appendNotices(notices: readonly { notice: Notice; at: number }[]): Promise<void>;
  /** The version each of these targets ran before this rollout (recorded at its creation), null when unknown. */
  previousVersions(targets: readonly string[]): Promise<Record<string, string | null>>;
  /**
   * Stores `state` (a `pending` rollback of this rollout, core's createRollbackRollout) with this rollout's
   * fleet, runbook version and parameters, its target runs, and a lease on each of its targets: this
   * rollout's lease moves to it with its fencing token; a free target gets a fresh one; a target another
   * rollout holds refuses it (`fleet_held`). In this transaction.
   */
  insertRollback(state: RolloutState, requestedBy: string | undefined): Promise<void>;
}

/** Rollout state, leases and the settings a step needs. The database is the source of truth. */
export interface RolloutStore {
  /** Runs `fn` in one transaction with the rollout's row locked; `not_found` when there is no rollout. */
  withLockedRollout<T>(rolloutId: string, fn: (locked: LockedRollout) => Promise<T>): Promise<T>;
  /** Only a target's run and its current planned step: whether a job still applies, read every check. */
  currentStep(
    rolloutId: string,
    target: string,
  ): Promise<{ run: TargetRun | null; planned: PlannedStep | null } | undefined>;
  state(rolloutId: string): Promise<RolloutState>;
  statics(rolloutId: string): Promise<RolloutStatics | undefined>;
  fleet(fleetId: string): Promise<FleetRecord | undefined>;
  targets(fleetId: string): Promise<TargetRecord[]>;
  /** Rollouts still waiting for a second person's approval that were created before `beforeMs`. */
  approvalsWaitingSince(beforeMs: number): Promise<string[]>;
  /** Rollouts the reconciler looks after (not finished; not waiting for a second person's approval). */
  activeRollouts(): Promise<{ id: string; status: string }[]>;
  /** The fencing token of every lease the rollout holds, by target name. */
  leaseTokens(rolloutId: string): Promise<Record<string, string>>;
}

export type JobState = "missing" | "waiting" | "active" | "delayed" | "completed" | "failed" | "unknown";

/** Where jobs wait. A job only says "look at this now": the state decides what happens. */
export interface JobQueue {
  /** Adds a job under its deterministic id (same payload fields, same job): a duplicate is a no-op. */
  add<N extends JobName>(name: N, payload: JobPayload<N>, delayMs: number): Promise<void>;
  state(jobId: string): Promise<JobState>;
  remove(jobId: string): Promise<void>;
  /** Runs a delayed job now; nothing when it is not delayed any more. */
  promote(jobId: string): Promise<void>;
}

/** Turns stored fleets and targets into drivers. Implementations cache balancers per configuration. */
export interface DriverRegistry {
  balancer(fleet: FleetRecord): Balancer;
  executor(target: TargetRecord): Promise<Executor>;
}

export interface Clock {
  now(): number;
}

/** A job as the queue hands it to the engine. */
export interface JobContext {
  name: string;
  data: unknown;
  id?: string;
  /**
   * The job can be put back in the delayed set (the queue's lock on it is held). Without it (a direct
   * call), a waiting step schedules a new job instead.
   */
  canDelay: boolean;
}

/** What the queue does with the job after the engine returns: done, or back to the delayed set. */
export type JobResult = { kind: "done" } | { kind: "delay"; untilMs: number };
