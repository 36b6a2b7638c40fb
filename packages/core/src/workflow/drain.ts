/**
 * The drain proof: what the balancer counted for one target from the moment it was taken out until it was
 * back in service. Readings are the balancer's cumulative counters, taken by the worker before the
 * take-out and as each later step ends; the record keeps the differences, step by step, so a client error
 * is tied to the step that was running when the balancer saw it. Per-step, not per-second: a step's
 * counts are what the balancer saw between two step boundaries.
 */

/** The balancer's cumulative counters for one target at one moment (a TargetSnapshot, timed). */
export interface TrafficReading {
  at: number;
  /** Sessions the balancer holds for the target now. */
  sessions: number;
  sessionsOpened: number;
  /** Sessions that ended with a reset: errors a client saw. */
  resets: number;
  /** New flows the target refused: errors a client saw too. Absent when the balancer does not count them. */
  refused?: number;
  requests?: number;
}

/** What the balancer counted while one step ran (from the previous reading to this step's end). */
export interface DrainStepCounts {
  stepIndex: number;
  /** When the step's reading was taken. */
  at: number;
  /** Sessions still held at that moment. */
  sessions: number;
  newSessions: number;
  /** Resets and refused flows: every error a client saw that the balancer counted. */
  resets: number;
  requests?: number;
}

export interface DrainRecord {
  /** Just before the step that took the target out (or stopped it) began: the first reading. */
  takenOutAt: number;
  sessionsAtTakeOut: number;
  /** Totals since take-out; `resets` counts refused flows too (see DrainStepCounts). */
  newSessions: number;
  resets: number;
  requests?: number;
  /** The first reading with no session held and none opened since the reading before: traffic stopped. */
  quietAt?: number;
  /** The target was back in service (or restored after an abort); later steps are not part of the drain. */
  endedAt?: number;
  steps: DrainStepCounts[];
  /** The latest reading: the baseline of the next step's counts. Internal. */
  last: TrafficReading;
}

/** Starts the record from a reading taken before the target was taken out. */
export function openDrain(reading: TrafficReading): DrainRecord {
  return {
    takenOutAt: reading.at,
    sessionsAtTakeOut: reading.sessions,
    newSessions: 0,
    resets: 0,
    ...(reading.requests === undefined ? {} : { requests: 0 }),
    steps: [],
    last: reading,
  };
}

/**
 * Adds one step's reading; returns the step's counts. A counter lower than the baseline started again
 * (a replaced pod's sidecar, a restarted device): its value is what was counted since.
 */
export function recordDrainStep(
  record: DrainRecord,
  stepIndex: number,
  reading: TrafficReading,
): DrainStepCounts {
  const since = (now: number, before: number) => (now >= before ? now - before : now);
  const counts: DrainStepCounts = {
    stepIndex,
    at: reading.at,
    sessions: reading.sessions,
    newSessions: since(reading.sessionsOpened, record.last.sessionsOpened),
    resets: since(reading.resets, record.last.resets) + since(reading.refused ?? 0, record.last.refused ?? 0),
  };
  if (reading.requests !== undefined) {
    counts.requests = since(reading.requests, record.last.requests ?? 0);
    record.requests = (record.requests ?? 0) + counts.requests;
  }
  record.steps.push(counts);
  record.newSessions += counts.newSessions;
  record.resets += counts.resets;
  if (record.quietAt === undefined && counts.sessions === 0 && counts.newSessions === 0)
    record.quietAt = reading.at;
  record.last = reading;
  return counts;
}

/** Client errors seen in drains, over a rollout's targets: what the CLI and the dashboard summarise. */
export function drainSummary(records: readonly (DrainRecord | undefined)[]): {
  drains: number;
  clientErrors: number;
} {
  const recorded = records.filter((r): r is DrainRecord => r !== undefined);
  return { drains: recorded.length, clientErrors: recorded.reduce((n, r) => n + r.resets, 0) };
}
