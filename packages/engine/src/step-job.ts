import type { JobPayload } from "@ebb/contracts";
import {
  type Balancer,
  type Effect,
  isEbbError,
  isStepInFlight,
  opensDrain,
  type RolloutEvent,
  type StepError,
  type Target,
  type TrafficReading,
  wantsTrafficReading,
} from "@ebb/core";
import type { EventApplier } from "./apply.js";
import type { ContextLoader } from "./context-loader.js";
import { type EngineObserver, notifyObservers } from "./observer.js";
import type { ApplyOutcome, Clock, DriverRegistry, JobContext, JobResult } from "./ports.js";
import type { EngineStats } from "./stats.js";
import { verifyLaunched } from "./steps/exec.js";
import { runStep, type StepOutcome } from "./steps/index.js";
import type { WaitScheduler } from "./wait-scheduler.js";

export interface StepJobDeps {
  contexts: ContextLoader;
  drivers: DriverRegistry;
  applier: EventApplier;
  waits: WaitScheduler;
  clock: Clock;
  dispatch: (rolloutId: string, outcome: ApplyOutcome) => Promise<void>;
  log: (line: string) => void;
  observers: readonly EngineObserver[];
  stats: EngineStats;
}

/**
 * One check of one step of one target. The step's own job goes back to the delayed set while it waits:
 * one job per step attempt, from first check to last, so the reconciler can tell whether it exists and
 * no worker slot is held meanwhile.
 */
export async function runStepJob(
  deps: StepJobDeps,
  p: JobPayload<"step.run">,
  job: JobContext,
): Promise<JobResult> {
  const { clock } = deps;
  const checkedAt = clock.now();
  // A job for a step that has moved on (done, retried, aborted) is stale: drop it before any side effect.
  const ctx = await deps.contexts.load(
    p.rolloutId,
    p.target,
    (run) => run.stepIndex === p.stepIndex && run.attempt === p.attempt && isStepInFlight(run.status),
  );
  if (!ctx?.planned) return { kind: "done" };
  deps.stats.checks++;
  const { planned, run } = ctx;
  const stepRun = run.steps[p.stepIndex];
  // When this check was due: a first check at the step's start, a later one at the latest at the deadline.
  // Much later means Ebb itself could not work (queue, database, every worker down): the step's clock
  // starts again from now, once, rather than failing a target for Ebb's own outage.
  const dueAt = stepRun?.observation === undefined ? run.stepStartedAt : run.deadline;
  const lateByMs =
    dueAt !== undefined &&
    run.outageMs === undefined &&
    checkedAt - dueAt > outageToleranceMs(planned.recheckMs)
      ? checkedAt - dueAt
      : undefined;
  // The drain proof's baseline: the balancer's counters before the target is taken out.
  const drainStart =
    stepRun?.observation === undefined && opensDrain(run, planned)
      ? await readTraffic(ctx.balancer, ctx.target, () => clock.now())
      : undefined;
  const step = planned.step;
  const fence = { target: p.target, token: p.leaseToken };
  let outcome: StepOutcome;
  try {
    const stepCtx = {
      ...ctx,
      step,
      executor: await deps.drivers.executor(ctx.targetRecord),
      ...(stepRun?.observation === undefined ? {} : { previous: stepRun.observation }),
      stepStartedAt: run.stepStartedAt ?? clock.now(),
      // A command's deadline counts from its launch when Ebb could not launch it on time.
      deadlineAtMs:
        lateByMs !== undefined || run.deadline === undefined ? checkedAt + planned.timeoutMs : run.deadline,
      recheckMs: planned.recheckMs,
      now: () => clock.now(),
    };
    if (step.type === "exec" && !step.idempotent) {
      // At most once: the launch is committed before the command runs. A job that finds a launch and no
      // result (a killed or stalled worker, a result whose commit failed, a job Redis lost) does not run
      // the command again: it runs the step's `verify`, or stops and asks a person.
      if (stepRun?.launchedAt !== undefined) {
        outcome = await verifyLaunched(stepCtx, step, stepRun.launchedAt);
      } else {
        const launched = await deps.applier.apply(
          p.rolloutId,
          { type: "step.launched", target: p.target, stepIndex: p.stepIndex, attempt: p.attempt },
          clock.now(),
          { fence },
        );
        if (launched.ignored) return { kind: "done" };
        outcome = await runStep(stepCtx);
      }
    } else {
      outcome = await runStep(stepCtx);
    }
  } catch (err) {
    if (isEbbError(err, "lease_lost")) {
      deps.log(`dropped a step whose lease is gone: ${err.message}`);
      return { kind: "done" };
    }
    outcome = failureOutcome(err, planned.recheckMs, clock.now());
    if (!isEbbError(err))
      deps.log(`step ${planned.step.id} on ${p.target} threw: ${(err as Error).stack ?? err}`);
  }
  const delay = (askedFor: number | undefined, defaultAt: number | undefined): JobResult => ({
    kind: "delay",
    untilMs: deps.waits.nextCheck({
      balancer: ctx.balancer,
      fleetId: ctx.fleet.id,
      target: p.target,
      jobId: job.id,
      planned,
      askedFor,
      defaultAt,
      deadline: run.deadline,
      checkedAt,
    }),
  });
  // A check that saw nothing new changes nothing: no transaction, straight back to the delayed set. With
  // a thousand targets waiting, writes happen only when something was observed to change.
  if (
    outcome.kind === "waiting" &&
    lateByMs === undefined &&
    job.canDelay &&
    run.status === "waiting" &&
    canonicalJson(outcome.observation) === canonicalJson(stepRun?.observation) &&
    clock.now() < (run.deadline ?? Number.POSITIVE_INFINITY)
  ) {
    deps.stats.quietChecks++;
    return delay(outcome.recheckAtMs, undefined);
  }
  let result: ApplyOutcome;
  try {
    const event = toEvent(outcome, p);
    if (event.type === "step.waiting" && lateByMs !== undefined) event.lateByMs = lateByMs;
    if (
      (event.type === "step.succeeded" || event.type === "step.failed") &&
      wantsTrafficReading(run, planned)
    ) {
      const traffic = await readTraffic(ctx.balancer, ctx.target, () => clock.now());
      if (traffic !== undefined) event.traffic = traffic;
      if (drainStart !== undefined) event.drainStart = drainStart;
    }
    result = await deps.applier.apply(p.rolloutId, event, clock.now(), {
      ...(outcome.kind !== "waiting" && outcome.outputTail !== undefined
        ? { record: { outputTail: outcome.outputTail } }
        : {}),
      fence,
    });
  } catch (err) {
    if (isEbbError(err, "lease_lost")) {
      deps.log(`dropped a late result: ${err.message}`);
      return { kind: "done" };
    }
    throw err;
  }
  if (!result.ignored && outcome.kind !== "waiting")
    notifyObservers(
      deps.observers,
      "stepFinished",
      {
        rolloutId: p.rolloutId,
        target: p.target,
        stepId: planned.step.id,
        stepType: planned.step.type,
        stepIndex: p.stepIndex,
        attempt: p.attempt,
        outcome: outcome.kind,
        startedAt: run.stepStartedAt ?? checkedAt,
        endedAt: clock.now(),
      },
      deps.log,
    );
  const own = result.effects.find(
    (e): e is Extract<Effect, { type: "recheck" }> =>
      e.type === "recheck" && e.target === p.target && e.stepIndex === p.stepIndex && e.attempt === p.attempt,
  );
  const keepOwn = own !== undefined && job.canDelay;
  await deps.dispatch(
    p.rolloutId,
    keepOwn ? { ...result, effects: result.effects.filter((e) => e !== own) } : result,
  );
  // The time the step itself asked for, if it did; else the machine's default poll (own.atMs).
  if (keepOwn) return delay(outcome.kind === "waiting" ? outcome.recheckAtMs : undefined, own.atMs);
  return { kind: "done" };
}

/**
 * JSON with every object's keys in one order. The stored observation comes back from PostgreSQL's jsonb
 * with its keys reordered (shorter first), so comparing plain JSON.stringify output saw a change at every
 * poll: each of 1,000 waiting targets wrote a transaction every 30 s (a full core, and seconds of step
 * overhead behind the queue of those transactions) where nothing had changed.
 */
export function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** A reading that takes longer than this is skipped: the drain proof must never hold a step up. */
const TRAFFIC_READ_TIMEOUT_MS = 2_000;

/**
 * The balancer's counters for the target as its step ends, for the drain proof; undefined when the balancer
 * cannot give them (no snapshot capability, unreachable, too slow). The proof then lacks that step's
 * counts, and says so by their absence; the step's own outcome stands.
 */
async function readTraffic(
  balancer: Balancer,
  target: Target,
  now: () => number,
): Promise<TrafficReading | undefined> {
  if (!balancer.snapshot) return undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    const snap = await Promise.race([
      balancer.snapshot([target]).then((all) => all[0]),
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), TRAFFIC_READ_TIMEOUT_MS);
      }),
    ]);
    if (snap === undefined || snap.state === "unknown") return undefined;
    return {
      at: now(),
      sessions: snap.sessions,
      sessionsOpened: snap.sessionsOpened,
      resets: snap.resets,
      ...(snap.refused === undefined ? {} : { refused: snap.refused }),
      ...(snap.requests === undefined ? {} : { requests: snap.requests }),
    };
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}

/** How late a check may run before it counts as an outage of Ebb rather than a busy worker. */
export function outageToleranceMs(recheckMs: number): number {
  return Math.max(2_000, 2 * recheckMs);
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
