import type { TargetObservation, TrafficSample } from "./drivers.js";
import type { Observation } from "./workflow/types.js";

/**
 * What a waiting step decides from one observation. Pure: the worker observes (I/O through a driver),
 * these functions decide, and the decision becomes a step.succeeded / step.waiting event.
 */
export type ConditionResult =
  | { met: true; observation: Observation }
  | { met: false; observation: Observation; recheckAtMs?: number };

/** The balancer itself reports the target out: no new flow will reach it. */
export function unboundCondition(o: TargetObservation): ConditionResult {
  const observation = { state: o.state, bound: o.bound, sessions: o.sessions, since: o.since ?? null };
  return o.bound ? { met: false, observation } : { met: true, observation };
}

/** Bound AND up: a suspect target is still bound but one failed check away from leaving again. */
export function boundCondition(o: TargetObservation): ConditionResult {
  const observation = { state: o.state, bound: o.bound, sessions: o.sessions, since: o.since ?? null };
  return o.bound && o.state === "up" ? { met: true, observation } : { met: false, observation };
}

export interface QuietInput {
  sample: TrafficSample;
  /** The observation this step stored at its previous check, if any. */
  previous: Observation | undefined;
  holdForMs: number;
  maxNewSessions: number;
  now: number;
}

/**
 * Quiet = no session left and no new one since the previous sample, held for `holdForMs`. The start of
 * the quiet spell travels in the observation, so any worker can take the next check.
 */
export function quietCondition({
  sample,
  previous,
  holdForMs,
  maxNewSessions,
  now,
}: QuietInput): ConditionResult {
  const quietNow = sample.activeSessions === 0 && sample.newSessions <= maxNewSessions;
  const before = typeof previous?.quietSinceMs === "number" ? previous.quietSinceMs : undefined;
  const quietSinceMs = quietNow ? (before ?? now) : null;
  const observation = {
    activeSessions: sample.activeSessions,
    newSessions: sample.newSessions,
    resets: sample.resets,
    quietSinceMs,
    at: sample.at,
  };
  if (quietSinceMs !== null && now - quietSinceMs >= holdForMs) return { met: true, observation };
  return quietSinceMs === null
    ? { met: false, observation }
    : { met: false, observation, recheckAtMs: quietSinceMs + holdForMs };
}

/** A sleep is over when its duration has passed since the step started. */
export function sleepCondition(stepStartedAt: number, durationMs: number, now: number): ConditionResult {
  const until = stepStartedAt + durationMs;
  const observation = { until };
  return now >= until ? { met: true, observation } : { met: false, observation, recheckAtMs: until };
}
