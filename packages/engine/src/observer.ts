import type { RolloutStatus, StepType } from "@ebb/core";

/**
 * What the engine tells whoever watches it (metrics, traces), after the fact and on the side: an observer
 * never changes an outcome, and one that throws is logged and ignored. Keeps prom-client and OpenTelemetry
 * out of the engine: the api adapter implements this port (apps/api/src/metrics, apps/api/src/tracing).
 */
export interface EngineObserver {
  /** A committed transition moved the rollout from one status to another. */
  rolloutStatusChanged?(change: RolloutStatusChange): void;
  /** A step attempt ended on a target (its result was committed, not dropped as late or stale). */
  stepFinished?(step: StepFinished): void;
  /** The reconciler re-added jobs the queue had lost (a flushed Redis, a crash between commit and add). */
  jobsRecreated?(count: number): void;
  /**
   * `fenced`: a worker's result was refused because its rollout no longer holds the target's lease (an
   * abort or another rollout took the target meanwhile). `held`: a transition needed a lease another
   * rollout holds.
   */
  leaseConflict?(conflict: { rolloutId: string; target: string; kind: "fenced" | "held" }): void;
  /**
   * Client errors the drain proof recorded for a target (sessions the balancer saw reset, flows it saw
   * refused, from the target's take-out until it is back in service), as the transition that recorded
   * them commits. `count` is new in this transition.
   */
  drainClientErrors?(errors: { rolloutId: string; target: string; fleet: string; count: number }): void;
}

export interface RolloutStatusChange {
  rolloutId: string;
  from: RolloutStatus;
  to: RolloutStatus;
  /** Epoch ms of the transition. */
  at: number;
  /** Epoch ms the rollout was created. */
  createdAt: number;
  fleet: string;
  runbook: string;
}

export interface StepFinished {
  rolloutId: string;
  target: string;
  stepId: string;
  stepType: StepType;
  stepIndex: number;
  attempt: number;
  outcome: "succeeded" | "failed";
  /** Epoch ms: the step's start (its first check), and when its result was committed. */
  startedAt: number;
  endedAt: number;
}

/** Calls one hook of every observer; an observer's failure must never fail a step or a transition. */
export function notifyObservers<K extends keyof EngineObserver>(
  observers: readonly EngineObserver[],
  hook: K,
  arg: Parameters<NonNullable<EngineObserver[K]>>[0],
  log: (line: string) => void,
): void {
  for (const o of observers) {
    const fn = o[hook] as ((a: typeof arg) => void) | undefined;
    if (!fn) continue;
    try {
      fn.call(o, arg);
    } catch (err) {
      log(`observer ${hook} threw: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
