import { EventEmitter } from "node:events";
import { type JobName, type JobPayload, parseJob } from "@ebb/contracts";
import { EbbError, type Notice, type RolloutEvent, rollbackOutcome } from "@ebb/core";
import { EventApplier } from "./apply.js";
import { ContextLoader } from "./context-loader.js";
import { type EngineObserver, notifyObservers } from "./observer.js";
import type {
  ApplyOutcome,
  Clock,
  DriverRegistry,
  JobContext,
  JobQueue,
  JobResult,
  RolloutStore,
} from "./ports.js";
import { reconcile } from "./reconciler.js";
import { restoreTarget } from "./restore.js";
import { type EngineStats, newEngineStats } from "./stats.js";
import { runStepJob, type StepJobDeps } from "./step-job.js";
import { WaitScheduler } from "./wait-scheduler.js";

export interface EngineDeps {
  store: RolloutStore;
  queue: JobQueue;
  drivers: DriverRegistry;
  clock?: Clock;
  log?: (line: string) => void;
  /** Metrics, traces: told what happened, after the fact (see observer.ts). */
  observers?: readonly EngineObserver[];
  /**
   * A rollout waiting for a second person's approval leases its targets: after this long without one, the
   * reconciler aborts it and the fleet is free again. Undefined: it waits for ever.
   */
  approvalTtlMs?: number;
}

export interface RolloutNotice {
  rolloutId: string;
  notice: Notice;
}

const systemClock: Clock = { now: () => Date.now() };

/**
 * Runs rollouts: applies events to their stored state machine and carries out the effects as jobs. The
 * store is the source of truth; a job only says "look at this step now", so a lost or duplicated job is
 * harmless: `reconcile()` re-creates what is missing and stale jobs find their step moved on.
 */
export class Engine {
  readonly notices = new EventEmitter<{ notice: [RolloutNotice] }>();
  /** What this engine has done since it started (bench/waiting prints it). */
  readonly stats: EngineStats = newEngineStats();
  private readonly store: RolloutStore;
  private readonly queue: JobQueue;
  private readonly drivers: DriverRegistry;
  private readonly clock: Clock;
  private readonly log: (line: string) => void;
  private readonly applier: EventApplier;
  private readonly contexts: ContextLoader;
  private readonly waits: WaitScheduler;
  private readonly stepDeps: StepJobDeps;
  private readonly observers: readonly EngineObserver[];
  private readonly approvalTtlMs: number | undefined;

  constructor(deps: EngineDeps) {
    this.store = deps.store;
    this.queue = deps.queue;
    this.drivers = deps.drivers;
    this.clock = deps.clock ?? systemClock;
    this.log = deps.log ?? (() => {});
    this.observers = deps.observers ?? [];
    this.approvalTtlMs = deps.approvalTtlMs;
    this.applier = new EventApplier(this.store, this.observers, this.log);
    this.contexts = new ContextLoader(this.store, this.drivers, this.clock);
    this.waits = new WaitScheduler(this.queue, this.clock, this.stats);
    this.stepDeps = {
      contexts: this.contexts,
      drivers: this.drivers,
      applier: this.applier,
      waits: this.waits,
      clock: this.clock,
      dispatch: (id, outcome) => this.dispatch(id, outcome),
      log: this.log,
      observers: this.observers,
      stats: this.stats,
    };
  }

  /** Applies an operator's or the system's event and dispatches what follows. */
  async send(rolloutId: string, event: RolloutEvent): Promise<ApplyOutcome> {
    const outcome = await this.applier.apply(rolloutId, event, this.clock.now());
    await this.dispatch(rolloutId, outcome);
    return outcome;
  }

  /** The job router: parse, hand to the handler for the job's name, nothing else. */
  async process(job: JobContext): Promise<JobResult> {
    const name = job.name as JobName;
    switch (name) {
      case "step.run":
        return runStepJob(this.stepDeps, parseJob("step.run", job.data), job);
      case "rollout.restore":
        await this.restore(parseJob("rollout.restore", job.data));
        return { kind: "done" };
      case "approval.timeout": {
        const p = parseJob("approval.timeout", job.data);
        await this.send(p.rolloutId, {
          type: "step.timedOut",
          target: p.target,
          stepIndex: p.stepIndex,
          attempt: p.attempt,
        });
        return { kind: "done" };
      }
      case "rollouts.reconcile":
        await this.reconcile();
        return { kind: "done" };
      default:
        throw new EbbError("internal", `unknown job ${String(name)}`);
    }
  }

  private async restore(p: JobPayload<"rollout.restore">): Promise<void> {
    const ctx = await this.contexts.load(p.rolloutId, p.target, (run) => run.status === "restoring");
    if (!ctx) return;
    const result = await restoreTarget(ctx, this.drivers, this.clock);
    await this.send(p.rolloutId, {
      type: "restore.done",
      target: p.target,
      ok: result.ok,
      ...(result.error ? { error: result.error } : {}),
    });
  }

  /** Carries out the effects of a committed transition. Lease effects were applied in the transaction. */
  async dispatch(rolloutId: string, outcome: ApplyOutcome): Promise<void> {
    for (const effect of outcome.effects) {
      switch (effect.type) {
        case "acquireLease":
        case "releaseLease":
          break;
        case "runStep":
        case "recheck": {
          const token = outcome.leaseTokens[effect.target];
          if (token === undefined) {
            this.log(`no lease for ${effect.target} in rollout ${rolloutId}: step not dispatched`);
            break;
          }
          const delay = effect.type === "recheck" ? Math.max(0, effect.atMs - this.clock.now()) : 0;
          const ref = {
            rolloutId,
            target: effect.target,
            stepIndex: effect.stepIndex,
            attempt: effect.attempt,
          };
          await this.add("step.run", { ...ref, leaseToken: token }, delay);
          break;
        }
        case "awaitApproval":
          await this.add(
            "approval.timeout",
            { rolloutId, target: effect.target, stepIndex: effect.stepIndex, attempt: effect.attempt },
            Math.max(0, effect.deadlineAtMs - this.clock.now()),
          );
          break;
        case "restore":
          await this.add("rollout.restore", { rolloutId, target: effect.target }, 0);
          break;
        case "createRollback": {
          // Created (pending) in the committed transaction; if this start is lost, the reconciler starts it.
          const linked = outcome.state.rollback?.rolloutId;
          if (linked !== undefined) await this.send(linked, { type: "start" });
          break;
        }
        case "emit":
          this.notices.emit("notice", { rolloutId, notice: effect.notice });
          break;
        default:
          effect satisfies never;
      }
    }
    await this.settleOriginal(outcome);
  }

  /** A rollback rollout that just ended tells its original (the reconciler repeats it after a crash). */
  private async settleOriginal(outcome: ApplyOutcome): Promise<void> {
    const original = outcome.state.rollbackOf;
    if (original === undefined) return;
    const ended = outcome.effects.some((e) => e.type === "emit" && e.notice.type === "rollout.status");
    const event = ended ? rollbackOutcome(outcome.state) : undefined;
    if (event !== undefined) await this.send(original, event);
  }

  /**
   * A job the queue cannot take now (Redis down) is not an error of the transition: that is committed,
   * and the reconciler re-creates the job from it once the queue is back. Throwing would report a
   * committed command (an approval, a create) as failed, or fail a worker's job for a result already saved.
   */
  private async add<N extends "step.run" | "approval.timeout" | "rollout.restore">(
    name: N,
    payload: JobPayload<N>,
    delay: number,
  ): Promise<void> {
    try {
      await this.queue.add(name, payload, delay);
    } catch (err) {
      this.log(
        `could not queue ${name} for rollout ${payload.rolloutId} (${(err as Error).message}); ` +
          "the reconciler re-creates it from the committed state",
      );
    }
  }

  /** Re-creates every job the stored state says must exist and the queue lost. */
  async reconcile(): Promise<{ rollouts: number; recreated: number }> {
    const result = await reconcile({
      store: this.store,
      queue: this.queue,
      send: (id, event) => this.send(id, event),
      log: this.log,
      now: () => this.clock.now(),
      ...(this.approvalTtlMs === undefined ? {} : { approvalTtlMs: this.approvalTtlMs }),
    });
    this.stats.reconciles++;
    this.stats.jobsRecreated += result.recreated;
    if (result.recreated > 0) notifyObservers(this.observers, "jobsRecreated", result.recreated, this.log);
    return result;
  }

  /** Closes the balancer event streams. */
  close(): void {
    this.waits.close();
  }
}
