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
/** What a balancer wait records of an observation (each member's view too, behind several members). */
function seen(o: TargetObservation) {
  return {
    state: o.state,
    bound: o.bound,
    sessions: o.sessions,
    since: o.since ?? null,
    ...(o.members === undefined ? {} : { members: o.members }),
  };
}

export function unboundCondition(o: TargetObservation): ConditionResult {
  const observation = seen(o);
  return o.bound ? { met: false, observation } : { met: true, observation };
}

/** Bound AND up: a suspect target is still bound but one failed check away from leaving again. */
export function boundCondition(o: TargetObservation): ConditionResult {
  const observation = seen(o);
  return o.bound && o.state === "up" ? { met: true, observation } : { met: false, observation };
}

export interface QuietInput {
  sample: TrafficSample;
  /** The observation this step stored at its previous check, if any. */
  previous: Observation | undefined;
  holdForMs: number;
  maxNewSessions: number;
  /**
   * Quiet = no NEW session, whatever stays established (see quietMeansNoNewSessions): kube-proxy keeps a
   * keep-alive connection on its pod until one end closes it, so a pod still running is never session-free.
   */
  newSessionsOnly?: boolean;
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
  newSessionsOnly = false,
  now,
}: QuietInput): ConditionResult {
  const quietNow = (newSessionsOnly || sample.activeSessions === 0) && sample.newSessions <= maxNewSessions;
  const before = typeof previous?.quietSinceMs === "number" ? previous.quietSinceMs : undefined;
  const quietSinceMs = quietNow ? (before ?? now) : null;
  const observation = {
    activeSessions: sample.activeSessions,
    newSessions: sample.newSessions,
    resets: sample.resets,
    ...(sample.members === undefined
      ? {}
      : {
          members: Object.fromEntries(
            Object.entries(sample.members).map(([m, s]) => [
              m,
              { activeSessions: s.activeSessions, newSessions: s.newSessions },
            ]),
          ),
        }),
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

/** A pod's endpoint as the Service's EndpointSlices list it, and when the cluster recorded its removal. */
export interface EndpointRemovalReading {
  /** Not ready (or not listed at all) in the Service's EndpointSlices. */
  removed: boolean;
  /** Epoch ms of the removal as the cluster recorded it (the pod's Ready transition, Ebb's annotation). */
  removedAt?: number;
}

/**
 * Out of the EndpointSlices is necessary, not sufficient: the proxies act on it up to `windowMs` later. The
 * removal time comes from the cluster where it can (so any worker resuming the step computes the same end),
 * else from the first check that saw it removed, carried in the observation.
 */
export function endpointRemovedCondition(
  reading: EndpointRemovalReading,
  previous: Observation | undefined,
  windowMs: number,
  now: number,
): ConditionResult {
  if (!reading.removed) return { met: false, observation: { removed: false } };
  const seen = typeof previous?.removedAt === "number" ? previous.removedAt : undefined;
  const removedAt = reading.removedAt ?? seen ?? now;
  const propagatedAt = removedAt + windowMs;
  const observation = { removed: true, removedAt, propagatedAt };
  return now >= propagatedAt
    ? { met: true, observation }
    : { met: false, observation, recheckAtMs: propagatedAt };
}

/** What a check of a pod's replacement found: the pod of that name, and why it is not ready yet. */
export interface ReplacementReading {
  ready: boolean;
  reason: string;
  uid?: string;
  version?: string;
}

/** The replacement runs the version, is Ready, and its endpoint is ready in the Service's slices. */
export function replacementReadyCondition(reading: ReplacementReading): ConditionResult {
  const observation = {
    ready: reading.ready,
    reason: reading.reason,
    uid: reading.uid ?? null,
    version: reading.version ?? null,
  };
  return reading.ready ? { met: true, observation } : { met: false, observation };
}
