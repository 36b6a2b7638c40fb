import { randomUUID } from "node:crypto";
import {
  createRollbackRollout,
  EbbError,
  isEbbError,
  type Notice,
  type RolloutEvent,
  type RolloutState,
  rollbackVersion,
  type TransitionResult,
  transition,
} from "@ebb/core";
import { type EngineObserver, notifyObservers, type RolloutStatusChange } from "./observer.js";
import type { ApplyOptions, ApplyOutcome, LockedRollout, RolloutStore, StepRecord } from "./ports.js";

interface PendingEvent {
  event: RolloutEvent;
  now: number;
  opts: ApplyOptions;
  resolve: (outcome: ApplyOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * Applies events to rollouts. The pure state machine decides; the new state, its projections, the timeline
 * and the leases are written in one transaction with the rollout's row locked. Effects other than leases
 * are returned for the caller to dispatch after commit; the reconciler re-derives any dispatch lost to a
 * crash from the state.
 *
 * Events for one rollout that arrive while its transaction runs are applied together in the next one
 * (group commit): twenty targets of a batch seeing the device fail them within a few milliseconds cost
 * one transaction, not twenty queued on the row lock, each holding a pooled connection while it waits.
 *
 * At most `maxCommits` transactions run at once per process; a rollout waits for a slot before it takes
 * its batch. Transactions that write the timeline serialize on the audit chain's lock anyway, so more at
 * once only fills the connection pool with transactions waiting on each other, and every check's read
 * (is this job still current?) queues behind them: with 1,000 targets changing within seconds, that
 * queue was the step overhead (seconds at p50). Waiting here holds no connection, and the events that
 * arrive meanwhile join the batch: the busier the database, the fewer and larger the transactions.
 */
export class EventApplier {
  private readonly pending = new Map<string, PendingEvent[]>();
  private readonly slots: Slots;

  constructor(
    private readonly store: RolloutStore,
    private readonly observers: readonly EngineObserver[] = [],
    private readonly log: (line: string) => void = () => {},
    maxCommits = DEFAULT_MAX_COMMITS,
  ) {
    this.slots = new Slots(maxCommits);
  }

  apply(rolloutId: string, event: RolloutEvent, now: number, opts: ApplyOptions = {}): Promise<ApplyOutcome> {
    return new Promise((resolve, reject) => {
      const queue = this.pending.get(rolloutId);
      const p = { event, now, opts, resolve, reject };
      if (queue) {
        queue.push(p);
        return;
      }
      this.pending.set(rolloutId, [p]);
      void this.drain(rolloutId);
    });
  }

  private async drain(rolloutId: string): Promise<void> {
    // The queue stays in the map while a transaction runs, so new events join the next batch.
    for (;;) {
      // A free slot is taken at once (no await): with slots to spare, a batch is what arrived so far.
      if (!this.slots.tryAcquire()) await this.slots.acquire();
      const batch = this.pending.get(rolloutId)!.splice(0);
      if (batch.length === 0) {
        this.slots.release();
        this.pending.delete(rolloutId);
        return;
      }
      let outcomes: (ApplyOutcome | Error)[];
      try {
        let change: StatusChange | undefined;
        let drainErrors: DrainErrors[] = [];
        outcomes = await this.store.withLockedRollout(rolloutId, async (locked) => {
          const applied = await applyBatch(rolloutId, locked, batch);
          change = applied.change;
          drainErrors = applied.drainErrors;
          return applied.outcomes;
        });
        // After commit only: a rolled-back transition changed nothing anyone should count.
        if (change)
          notifyObservers(this.observers, "rolloutStatusChanged", { rolloutId, ...change }, this.log);
        for (const d of drainErrors)
          notifyObservers(this.observers, "drainClientErrors", { rolloutId, ...d }, this.log);
        for (const o of outcomes)
          if (o instanceof EbbError && o.code === "lease_lost")
            notifyObservers(this.observers, "leaseConflict", { rolloutId, ...leaseRef(o) }, this.log);
      } catch (err) {
        if (err instanceof EbbError && err.code === "conflict")
          notifyObservers(this.observers, "leaseConflict", { rolloutId, ...leaseRef(err) }, this.log);
        outcomes = batch.map(() => err as Error);
      } finally {
        this.slots.release();
      }
      batch.forEach((p, i) => {
        const o = outcomes[i]!;
        if (o instanceof Error) p.reject(o);
        else p.resolve(o);
      });
    }
  }
}

/** Below the database pool's ten connections: the rest stay free for reads. */
const DEFAULT_MAX_COMMITS = 4;

/** A counting semaphore, first come first served. */
class Slots {
  private free: number;
  private readonly waiters: (() => void)[] = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1)
      throw new EbbError("internal", `maxCommits must be >= 1 (got ${size})`);
    this.free = size;
  }

  tryAcquire(): boolean {
    if (this.free === 0) return false;
    this.free--;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

type StatusChange = Omit<RolloutStatusChange, "rolloutId">;
type DrainErrors = { target: string; fleet: string; count: number };

/** Each target's drain record as it stands: the baseline of `drainErrorsSince`. */
function drainCounts(state: RolloutState): Map<string, { takenOutAt: number; resets: number }> {
  const out = new Map<string, { takenOutAt: number; resets: number }>();
  for (const [target, run] of Object.entries(state.targets))
    if (run.drain) out.set(target, { takenOutAt: run.drain.takenOutAt, resets: run.drain.resets });
  return out;
}

/**
 * Client errors the drain proof recorded in this transition: the growth of each target's drain record
 * (a new record, after a retry took the target out again, counts from zero). Compared with numbers copied
 * before the transition: the machine updates a drain record in place.
 */
function drainErrorsSince(
  before: ReturnType<typeof drainCounts>,
  after: RolloutState,
  fleet: string,
): DrainErrors[] {
  const out: DrainErrors[] = [];
  for (const [target, run] of Object.entries(after.targets)) {
    const now = run.drain;
    if (!now) continue;
    const was = before.get(target);
    const count = now.resets - (was && was.takenOutAt === now.takenOutAt ? was.resets : 0);
    if (count > 0) out.push({ target, fleet, count });
  }
  return out;
}

/** The target a lease error is about, and whether our fence failed or another rollout holds the lease. */
function leaseRef(err: EbbError): { target: string; kind: "fenced" | "held" } {
  return {
    target: String((err.details as { target?: string } | undefined)?.target ?? ""),
    kind: err.code === "lease_lost" ? "fenced" : "held",
  };
}

/** A batch in arrival order. An event whose fence fails is rejected alone; the others still apply. */
async function applyBatch(
  rolloutId: string,
  locked: LockedRollout,
  batch: readonly PendingEvent[],
): Promise<{ outcomes: (ApplyOutcome | Error)[]; change?: StatusChange; drainErrors: DrainErrors[] }> {
  const leases = new Map([...locked.targets].map(([name, t]) => [name, { ...t }]));
  const before = locked.state;
  const drainsBefore = drainCounts(before);
  let state = before;
  const results: (TransitionResult | Error)[] = [];
  const records = new Map<string, StepRecord>();
  const notices: { notice: Notice; at: number }[] = [];
  for (const p of batch) {
    const fence = p.opts.fence;
    if (fence) {
      const t = leases.get(fence.target);
      // Fencing: a worker that lost the lease (the rollout was aborted and the target handed on) has its
      // late result rejected here, however late it arrives.
      if (!t || t.leaseRollout !== rolloutId || t.lease !== fence.token) {
        results.push(
          new EbbError("lease_lost", `rollout ${rolloutId} no longer holds the lease on ${fence.target}`, {
            details: { target: fence.target },
          }),
        );
        continue;
      }
    }
    const first = transition(state, p.event, { now: p.now });
    if (first.ignored) {
      results.push(first);
      continue;
    }
    // A transition may ask for a rollback rollout; creating it answers with a follow-up event for this
    // same rollout, applied in this same transaction (the leases change hands atomically).
    const effects = [...first.effects];
    state = first.state;
    for (let i = 0; i < effects.length; i++) {
      const effect = effects[i]!;
      if (effect.type === "emit") notices.push({ notice: effect.notice, at: p.now });
      if (effect.type === "createRollback") {
        const follow = await createRollback(locked, state, p.now);
        const next = transition(state, follow, { now: p.now });
        if (!next.ignored) {
          state = next.state;
          effects.push(...next.effects);
        }
        continue;
      }
      if (effect.type !== "acquireLease" && effect.type !== "releaseLease") continue;
      const t = leases.get(effect.target);
      if (!t) throw new EbbError("internal", `target ${effect.target} is not part of rollout ${rolloutId}`);
      if (effect.type === "releaseLease") {
        await locked.releaseLease(effect.target);
        if (t.leaseRollout === rolloutId) Object.assign(t, { lease: null, leaseRollout: null });
      } else {
        t.lease = await locked.acquireLease(effect.target);
        t.leaseRollout = rolloutId;
      }
    }
    results.push({ state, effects });
    const ref = p.event as Partial<{ target: string; stepIndex: number }>;
    if (p.opts.record?.outputTail !== undefined && ref.target !== undefined && ref.stepIndex !== undefined)
      records.set(`${ref.target}#${ref.stepIndex}`, p.opts.record);
  }
  if (state !== before) {
    // Backstop: a rollout that is over holds nothing (a failed one keeps its leases for retry or abort).
    if (state.status === "succeeded" || state.status === "aborted" || state.status === "rolled_back") {
      await locked.releaseAllLeases();
      for (const t of leases.values()) if (t.leaseRollout === rolloutId) t.lease = null;
    }
    await locked.save(before, state, records);
  }
  // Last before commit: the audit chain's lock is held from here to the commit.
  if (notices.length > 0) await locked.appendNotices(notices);
  const leaseTokens: Record<string, string> = {};
  for (const [name, t] of leases)
    if (t.lease !== null && t.leaseRollout === rolloutId) leaseTokens[name] = t.lease;
  const outcomes = results.map((r) => (r instanceof Error ? r : { ...r, leaseTokens }));
  const drainErrors = state === before ? [] : drainErrorsSince(drainsBefore, state, locked.fleet);
  if (state.status === before.status) return { outcomes, drainErrors };
  const change: StatusChange = {
    from: before.status,
    to: state.status,
    at: state.updatedAt,
    createdAt: state.createdAt,
    fleet: locked.fleet,
    runbook: state.runbookName,
  };
  return { outcomes, change, drainErrors };
}

/**
 * Creates the linked rollback rollout the machine asked for. One that cannot be planned (a previous version
 * unknown or not shared, a target held elsewhere) fails an automatic rollback with the reason; a person's
 * request is refused instead (the error reaches the API and nothing changes).
 */
async function createRollback(
  locked: LockedRollout,
  state: RolloutState,
  now: number,
): Promise<RolloutEvent> {
  const targets = state.rollback?.targets ?? [];
  try {
    const version = rollbackVersion(await locked.previousVersions(targets));
    const rollback = createRollbackRollout(state, { id: randomUUID(), version, now });
    await locked.insertRollback(rollback, state.rollback?.by);
    return { type: "rollback.created", rolloutId: rollback.id };
  } catch (err) {
    if (state.rollback?.manual || !(isEbbError(err, "rollback_unavailable") || isEbbError(err, "fleet_held")))
      throw err;
    return { type: "rollback.finished", ok: false, error: { code: err.code, message: err.message } };
  }
}
