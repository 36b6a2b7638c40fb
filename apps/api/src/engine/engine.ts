import { EventEmitter } from "node:events";
import { JOBS, type JobName, type JobPayload, jobId, parseJob } from "@ebb/contracts";
import {
  type Balancer,
  EbbError,
  type Effect,
  type Executor,
  isEbbError,
  isStepInFlight,
  type Notice,
  type PlannedStep,
  type RolloutEvent,
  type RolloutState,
  type StepError,
  secretValues,
  type TargetRun,
} from "@ebb/core";
import { LazyKubernetesBalancer } from "@ebb/drivers";
import { DelayedError, type Job, type Queue } from "bullmq";
import type { PrismaClient } from "../generated/prisma/client.js";
import { toDriverTarget } from "./drivers.js";
import { runRestore } from "./restore.js";
import { RolloutCache } from "./rollout-cache.js";
import { type ApplyOutcome, applyEvent, loadState } from "./rollout-store.js";
import { RunbookCache } from "./runbook-cache.js";
import { restorePod, runStep, type StepOutcome } from "./step-runner.js";

/**
 * Waits whose condition is a change the balancer reports (the device's health events; a pod's or the
 * EndpointSlices' changes): woken by it, polled ten times less.
 */
const WAKES_ON_CHANGE: ReadonlySet<string> = new Set([
  "balancer.awaitUnbound",
  "balancer.awaitBound",
  "k8s.awaitEndpointRemoved",
  "k8s.deletePod",
  "k8s.awaitReplacementReady",
]);

/**
 * A wait woken by the balancer's events polls this many times less often: the poll only guards against an
 * event the stream lost without noticing (it reconnects and re-checks everything when it does notice). At
 * the device's real 10 s checks that is a poll every 30 s; a thousand waiting targets then cost a few
 * percent of a core instead of a quarter.
 */
const WATCHED_POLL_FACTOR = 30;

export interface FleetRecord {
  id: string;
  name: string;
  balancer: string;
  balancerConfig: unknown;
}

export interface TargetRecord {
  id: string;
  name: string;
  host: string;
  port: number;
  executor: string;
  executorConfig: unknown;
  labels: unknown;
}

/** Turns stored fleets and targets into drivers. Implementations cache per fleet / target. */
export interface DriverRegistry {
  balancer(fleet: FleetRecord): Balancer;
  executor(target: TargetRecord): Promise<Executor>;
  vipUrl(fleet: FleetRecord): string | undefined;
  /**
   * Calls back with a target's name (or "*": anything may have changed) when the balancer reports a change,
   * where the balancer can push events; undefined where it cannot (then waits poll).
   */
  watch(fleet: FleetRecord, onChange: (target: string) => void): (() => void) | undefined;
}

export interface EngineDeps {
  prisma: PrismaClient;
  queue: Queue;
  drivers: DriverRegistry;
  now?: () => number;
  log?: (line: string) => void;
}

export interface RolloutNotice {
  rolloutId: string;
  notice: Notice;
}

/**
 * Runs rollouts: applies events to their stored state machine and carries out the effects as BullMQ jobs.
 * The database is the source of truth; a job only says "look at this step now", so a lost or duplicated
 * job is harmless: `reconcile()` re-creates what is missing and stale jobs find their step moved on.
 */
export class Engine {
  readonly notices = new EventEmitter<{ notice: [RolloutNotice] }>();
  private readonly prisma: PrismaClient;
  private readonly queue: Queue;
  private readonly drivers: DriverRegistry;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly runbooks: RunbookCache;
  private readonly cache: RolloutCache;
  /**
   * Per fleet: the device event stream, the delayed job of each target waiting on the balancer, and when the
   * device last reported a change per target ("*": any).
   */
  private readonly watches = new Map<
    string,
    { stop: () => void; jobs: Map<string, string>; changedAt: Map<string, number> }
  >();

  constructor(deps: EngineDeps) {
    this.prisma = deps.prisma;
    this.queue = deps.queue;
    this.drivers = deps.drivers;
    this.now = deps.now ?? Date.now;
    this.log = deps.log ?? (() => {});
    this.runbooks = new RunbookCache(deps.prisma);
    this.cache = new RolloutCache(deps.prisma, this.now);
  }

  /** Applies an operator's or the system's event and dispatches what follows. */
  async send(rolloutId: string, event: RolloutEvent): Promise<ApplyOutcome> {
    const outcome = await applyEvent(this.prisma, rolloutId, event, this.now());
    await this.dispatch(rolloutId, outcome);
    return outcome;
  }

  /** The BullMQ processor: parse, hand to the handler for the job's name, nothing else. */
  async process(job: Job, token: string | undefined): Promise<void> {
    const name = job.name as JobName;
    switch (name) {
      case "step.run":
        return this.runStepJob(parseJob("step.run", job.data), job, token);
      case "rollout.restore":
        return this.restoreJob(parseJob("rollout.restore", job.data));
      case "approval.timeout": {
        const p = parseJob("approval.timeout", job.data);
        await this.send(p.rolloutId, {
          type: "step.timedOut",
          target: p.target,
          stepIndex: p.stepIndex,
          attempt: p.attempt,
        });
        return;
      }
      case "rollouts.reconcile":
        await this.reconcile();
        return;
      default:
        throw new EbbError("internal", `unknown job ${String(name)}`);
    }
  }

  private async runStepJob(p: JobPayload<"step.run">, job: Job, token: string | undefined): Promise<void> {
    const checkedAt = this.now();
    // A job for a step that has moved on (done, retried, aborted) is stale: drop it before any side effect.
    const loaded = await this.loadTarget(
      p.rolloutId,
      p.target,
      (run) => run.stepIndex === p.stepIndex && run.attempt === p.attempt && isStepInFlight(run.status),
    );
    if (!loaded) return;
    const { fleet, planned, run, targetRow, ctx } = loaded;
    if (!planned) return;
    const stepRun = run.steps[p.stepIndex];
    let outcome: StepOutcome;
    try {
      outcome = await runStep({
        ...ctx,
        step: planned.step,
        executor: await this.drivers.executor(targetRow),
        ...optional("vipUrl", this.drivers.vipUrl(fleet)),
        ...optional("previous", stepRun?.observation),
        stepStartedAt: run.stepStartedAt ?? this.now(),
        deadlineAtMs: run.deadline ?? this.now() + planned.timeoutMs,
        now: this.now,
      });
    } catch (err) {
      outcome = failureOutcome(err, planned.recheckMs, this.now());
      if (!isEbbError(err))
        this.log(`step ${planned.step.id} on ${p.target} threw: ${(err as Error).stack ?? err}`);
    }
    // A check that saw nothing new changes nothing: no transaction, straight back to the delayed set. With
    // a thousand targets waiting, writes happen only when something was observed to change.
    if (
      outcome.kind === "waiting" &&
      token &&
      run.status === "waiting" &&
      JSON.stringify(outcome.observation) === JSON.stringify(stepRun?.observation) &&
      this.now() < (run.deadline ?? Number.POSITIVE_INFINITY)
    ) {
      await this.delayCheck(
        job,
        token,
        fleet,
        p.target,
        planned,
        outcome.recheckAtMs,
        run.deadline,
        checkedAt,
      );
      return;
    }
    const event = toEvent(outcome, p);
    let result: ApplyOutcome;
    try {
      result = await applyEvent(this.prisma, p.rolloutId, event, this.now(), {
        ...(outcome.kind !== "waiting" && outcome.outputTail !== undefined
          ? { record: { outputTail: outcome.outputTail } }
          : {}),
        fence: { target: p.target, token: p.leaseToken },
      });
    } catch (err) {
      if (isEbbError(err, "lease_lost")) {
        this.log(`dropped a late result: ${err.message}`);
        return;
      }
      throw err;
    }
    // The waiting step's own job goes back to the delayed set: one job per step attempt, from first
    // check to last, so the reconciler can tell whether it exists and no worker slot is held meanwhile.
    const own = result.effects.find(
      (e): e is Extract<Effect, { type: "recheck" }> =>
        e.type === "recheck" &&
        e.target === p.target &&
        e.stepIndex === p.stepIndex &&
        e.attempt === p.attempt,
    );
    await this.dispatch(p.rolloutId, { ...result, effects: result.effects.filter((e) => e !== own) });
    // The time the step itself asked for, if it did; else the machine's default poll (own.atMs).
    const asked = outcome.kind === "waiting" ? outcome.recheckAtMs : undefined;
    if (own && token)
      await this.delayCheck(
        job,
        token,
        fleet,
        p.target,
        planned,
        asked ?? own.atMs,
        run.deadline,
        checkedAt,
        asked,
      );
  }

  /**
   * Puts a waiting step's job back in the delayed set. A balancer wait is woken by the device's events, so
   * its poll only backs them up and can be ten times slower; the step's deadline still bounds it.
   */
  private async delayCheck(
    job: Job,
    token: string,
    fleet: FleetRecord,
    target: string,
    planned: RolloutState["steps"][number],
    atMs: number | undefined,
    deadline: number | undefined,
    checkedAt: number,
    /** A time the step itself asked for (the end of a window, not a poll): kept even when watched. */
    askedFor: number | undefined = atMs,
  ): Promise<never> {
    const now = this.now();
    let at = atMs ?? now + planned.recheckMs;
    if (WAKES_ON_CHANGE.has(planned.step.type)) {
      if (this.wakeOnChange(fleet, target, job.id)) {
        const watch = this.watches.get(fleet.id)!;
        const changed = Math.max(watch.changedAt.get(target) ?? 0, watch.changedAt.get("*") ?? 0);
        // The device changed while this check was looking: its event found the job active, not delayed,
        // so nothing will wake it. Look again at once instead of a poll later. A time the step asked for
        // (the end of a pod's propagation window) is kept: only the blind poll slows down.
        at =
          changed >= checkedAt
            ? now + 1
            : askedFor !== undefined
              ? at
              : Math.max(at, now + WATCHED_POLL_FACTOR * planned.recheckMs);
      }
    }
    if (deadline !== undefined) at = Math.min(at, deadline);
    await job.moveToDelayed(Math.max(at, now + 1), token);
    throw new DelayedError();
  }

  /**
   * The moment the device reports a change for the target, its delayed check runs instead of waiting for
   * the next poll: a step proceeds when the balancer's state changes, not up to a poll interval later.
   * Polling stays as the safety net (a missed event, a balancer without events).
   */
  private wakeOnChange(fleet: FleetRecord, target: string, jobId: string | undefined): boolean {
    if (jobId === undefined) return false;
    let watch = this.watches.get(fleet.id);
    if (!watch) {
      const jobs = new Map<string, string>();
      const stop = this.drivers.watch(fleet, (changed) => this.promote(fleet.id, changed));
      if (!stop) return false;
      watch = { stop, jobs, changedAt: new Map() };
      this.watches.set(fleet.id, watch);
    }
    watch.jobs.set(target, jobId);
    return true;
  }

  private promote(fleetId: string, changed: string): void {
    const watch = this.watches.get(fleetId);
    if (!watch) return;
    watch.changedAt.set(changed, this.now());
    const targets = changed === "*" ? [...watch.jobs.keys()] : watch.jobs.has(changed) ? [changed] : [];
    for (const target of targets) {
      const id = watch.jobs.get(target)!;
      watch.jobs.delete(target);
      // Not delayed any more (already running, or done): nothing to wake.
      void this.queue
        .getJob(id)
        .then((job) => job?.promote())
        .catch(() => {});
    }
  }

  /** Closes the balancer event streams. */
  close(): void {
    for (const watch of this.watches.values()) watch.stop();
    this.watches.clear();
  }

  /**
   * A rollout's state, one target's run in it, and what acting on that target needs (its executor is built
   * by the caller, so that a bad executor config fails the step rather than the job). Undefined when the
   * rollout is gone or `current` says the job no longer applies to the target's run.
   */
  private async loadTarget(rolloutId: string, target: string, current: (run: TargetRun) => boolean) {
    // Only the target's run and its current step are read every time (they say whether the job still
    // applies), not the whole state of a twenty-target rollout; the rest is cached.
    const rows = await this.prisma.$queryRaw<{ run: TargetRun | null; planned: PlannedStep | null }[]>`
      SELECT state->'targets'->${target} AS run,
             state->'steps'->((state->'targets'->${target}->>'stepIndex')::int) AS planned
      FROM rollouts WHERE id = ${rolloutId}::uuid`;
    const run = rows[0]?.run;
    const planned = rows[0]?.planned;
    if (!run || !current(run)) return undefined;
    const rollout = await this.cache.rollout(rolloutId);
    const fleet = rollout && (await this.cache.fleet(rollout.fleetId));
    if (!rollout || !fleet) return undefined;
    const targetRow = await this.cache.target(fleet.id, target);
    if (!targetRow) throw new EbbError("not_found", `target ${target} is gone from fleet ${fleet.name}`);
    const runbook = await this.runbooks.get(rollout.runbookVersionId, rollout.runbookSource);
    const params = rollout.params;
    return {
      fleet,
      planned,
      run,
      targetRow,
      ctx: {
        rolloutId: rollout.id,
        version: rollout.version,
        params,
        secrets: secretValues(runbook.params, params),
        runbook,
        target: toDriverTarget(targetRow),
        balancer: this.drivers.balancer(fleet),
      },
    };
  }

  private async restoreJob(p: JobPayload<"rollout.restore">): Promise<void> {
    const loaded = await this.loadTarget(p.rolloutId, p.target, (run) => run.status === "restoring");
    if (!loaded) return;
    const { targetRow, ctx } = loaded;
    // A pod is put back through the Kubernetes API (its gate, or its replacement's), not by commands.
    const result =
      ctx.balancer instanceof LazyKubernetesBalancer
        ? await restorePod(ctx.balancer, ctx.target)
        : await runRestore({
            ...ctx,
            executor: await this.drivers.executor(targetRow),
            timing: await ctx.balancer.timing(),
            now: this.now,
          });
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
          const delay = effect.type === "recheck" ? Math.max(0, effect.atMs - this.now()) : 0;
          await this.add(
            "step.run",
            {
              rolloutId,
              target: effect.target,
              stepIndex: effect.stepIndex,
              attempt: effect.attempt,
              leaseToken: token,
            },
            delay,
          );
          break;
        }
        case "awaitApproval":
          await this.add(
            "approval.timeout",
            { rolloutId, target: effect.target, stepIndex: effect.stepIndex, attempt: effect.attempt },
            Math.max(0, effect.deadlineAtMs - this.now()),
          );
          break;
        case "restore":
          await this.add("rollout.restore", { rolloutId, target: effect.target }, 0);
          break;
        case "emit":
          this.notices.emit("notice", { rolloutId, notice: effect.notice });
          break;
        default:
          effect satisfies never;
      }
    }
  }

  private async add<N extends JobName>(name: N, payload: JobPayload<N>, delay: number): Promise<void> {
    await this.queue.add(name, payload, { ...JOBS[name].defaults, jobId: jobId(name, payload), delay });
  }

  /**
   * Re-creates from the database every job the state says must exist and Redis does not have (a flushed
   * Redis, a crash between commit and dispatch). Safe to run any time, from any process.
   */
  async reconcile(): Promise<{ rollouts: number; recreated: number }> {
    const rollouts = await this.prisma.rollout.findMany({
      where: {
        status: { in: ["pending", "running", "aborting", "failed", "paused"] },
        // A rollout waiting for a second person's approval must not be started by the reconciler.
        NOT: { requiresApproval: true, approvedAt: null },
      },
      select: { id: true, status: true },
    });
    let recreated = 0;
    for (const { id, status } of rollouts) {
      if (status === "pending") {
        await this.send(id, { type: "start" }).catch((err: unknown) =>
          this.log(`start ${id}: ${(err as Error).message}`),
        );
        continue;
      }
      const state = await loadState(this.prisma, id);
      const leases = await this.leaseTokens(id);
      for (const run of Object.values(state.targets)) {
        const expected = expectedJob(id, run.target, run, leases[run.target]);
        if (!expected) continue;
        const existing = await this.queue.getJob(jobId(expected.name, expected.payload));
        const jobState = existing ? await existing.getState() : "missing";
        if (jobState === "completed" || jobState === "failed") await existing?.remove().catch(() => {});
        if (
          jobState === "completed" ||
          jobState === "failed" ||
          jobState === "missing" ||
          jobState === "unknown"
        ) {
          await this.add(expected.name, expected.payload, 0);
          recreated++;
        }
      }
    }
    if (recreated > 0) this.log(`reconciler re-created ${recreated} job(s)`);
    return { rollouts: rollouts.length, recreated };
  }

  private async leaseTokens(rolloutId: string): Promise<Record<string, string>> {
    const leases = await this.prisma.lease.findMany({
      where: { rolloutId },
      include: { target: { select: { name: true } } },
    });
    return Object.fromEntries(leases.map((l) => [l.target.name, l.token.toString()]));
  }
}

type ExpectedJob =
  | { name: "step.run"; payload: JobPayload<"step.run"> }
  | { name: "rollout.restore"; payload: JobPayload<"rollout.restore"> }
  | { name: "approval.timeout"; payload: JobPayload<"approval.timeout"> };

/** The one job a target run needs right now, if any. */
function expectedJob(
  rolloutId: string,
  target: string,
  run: RolloutState["targets"][string],
  leaseToken: string | undefined,
): ExpectedJob | undefined {
  const ref = { rolloutId, target, stepIndex: run.stepIndex, attempt: run.attempt };
  switch (run.status) {
    case "running":
    case "waiting":
      return leaseToken === undefined ? undefined : { name: "step.run", payload: { ...ref, leaseToken } };
    case "awaitingApproval":
      return { name: "approval.timeout", payload: ref };
    case "restoring":
      return { name: "rollout.restore", payload: { rolloutId, target } };
    default:
      return undefined;
  }
}

function toEvent(
  outcome: StepOutcome,
  p: { target: string; stepIndex: number; attempt: number },
): RolloutEvent {
  const ref = { target: p.target, stepIndex: p.stepIndex, attempt: p.attempt };
  switch (outcome.kind) {
    case "succeeded":
      return { type: "step.succeeded", ...ref, observation: outcome.observation };
    case "failed":
      return { type: "step.failed", ...ref, error: outcome.error, observation: outcome.observation };
    case "waiting":
      return {
        type: "step.waiting",
        ...ref,
        observation: outcome.observation,
        ...(outcome.recheckAtMs === undefined ? {} : { recheckAtMs: outcome.recheckAtMs }),
      };
  }
}

/**
 * A driver that cannot be reached right now (device restarting, ssh refused) is a condition to check again,
 * not a failed step: the step's deadline still bounds it. Anything else fails the step with its message.
 */
function failureOutcome(err: unknown, recheckMs: number, now: number): StepOutcome {
  const message = err instanceof Error ? err.message : String(err);
  if (isEbbError(err) && err.retryable) {
    return { kind: "waiting", observation: { unavailable: message }, recheckAtMs: now + recheckMs };
  }
  const code: StepError["code"] = isEbbError(err) ? err.code : "step_failed";
  return { kind: "failed", error: { code, message }, observation: {} };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
