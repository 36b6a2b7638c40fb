import type { AnalysisStep } from "./runbook/steps.js";
import type { Observation } from "./workflow/types.js";

/**
 * The `analysis` step's decisions. Pure: the worker reads the source (a target's /metrics, a Prometheus
 * query), these functions judge, and the verdict becomes step.waiting / step.succeeded / step.failed. What a
 * later check needs (the window's start, the counters at that start) travels in the observation, so any
 * worker can take the next check.
 */

/** A target's cumulative HTTP counters, as read from its metrics (monotonic while the process lives). */
export interface HttpCounters {
  requests: number;
  /** Answers with a 5xx status. */
  errors: number;
  /** The latency histogram, when the target exposes one: cumulative counts at each finite upper bound. */
  latency?: { boundsMs: number[]; counts: number[]; count: number };
}

export type AnalysisDecision =
  | { verdict: "pass"; observation: Observation }
  | { verdict: "fail"; observation: Observation; message: string }
  | { verdict: "continue"; observation: Observation; recheckAtMs: number };

/** What one window's traffic amounted to. */
export interface WindowCounts {
  requests: number;
  errors: number;
  errorRatio: number;
  /** The step's latency quantile in ms (null: no request, or no histogram). */
  latencyMs: number | null;
}

/**
 * `current - baseline`; a counter that went down means the process restarted, and then everything it counted
 * is new (Prometheus' `increase` reads a reset the same way).
 */
export function countersSince(baseline: HttpCounters, current: HttpCounters): HttpCounters {
  if (current.requests < baseline.requests || current.errors < baseline.errors) return current;
  const out: HttpCounters = {
    requests: current.requests - baseline.requests,
    errors: current.errors - baseline.errors,
  };
  const [b, c] = [baseline.latency, current.latency];
  if (c !== undefined) {
    const sameBounds = b !== undefined && b.boundsMs.join() === c.boundsMs.join() && c.count >= b.count;
    out.latency = sameBounds
      ? {
          boundsMs: c.boundsMs,
          counts: c.counts.map((n, i) => n - (b.counts[i] ?? 0)),
          count: c.count - b.count,
        }
      : c;
  }
  return out;
}

/**
 * The q-quantile of a cumulative histogram, interpolated linearly inside its bucket as PromQL's
 * `histogram_quantile` does; in the open-ended last bucket, the highest finite bound (all we know).
 */
export function histogramQuantileMs(q: number, latency: NonNullable<HttpCounters["latency"]>): number | null {
  if (latency.count <= 0) return null;
  const rank = q * latency.count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (let i = 0; i < latency.boundsMs.length; i++) {
    const bound = latency.boundsMs[i] ?? 0;
    const count = latency.counts[i] ?? 0;
    if (count >= rank) {
      const inBucket = count - lowerCount;
      return inBucket <= 0 ? bound : lowerBound + ((bound - lowerBound) * (rank - lowerCount)) / inBucket;
    }
    lowerBound = bound;
    lowerCount = count;
  }
  return latency.boundsMs.at(-1) ?? null;
}

export function windowCounts(step: AnalysisStep, delta: HttpCounters): WindowCounts {
  return {
    requests: delta.requests,
    errors: delta.errors,
    errorRatio: delta.requests > 0 ? delta.errors / delta.requests : 0,
    latencyMs: delta.latency ? histogramQuantileMs(step.latencyQuantile, delta.latency) : null,
  };
}

/** What crossed a threshold, one phrase each (empty: nothing did). */
export function countersBreaches(step: AnalysisStep, w: WindowCounts, hasHistogram: boolean): string[] {
  const breaches: string[] = [];
  if (step.maxErrorRatio !== undefined && w.errorRatio > step.maxErrorRatio)
    breaches.push(
      `5xx ratio ${percent(w.errorRatio)} (${w.errors} of ${w.requests} requests) above maxErrorRatio ${percent(step.maxErrorRatio)}`,
    );
  if (step.maxLatencyMs !== undefined) {
    if (!hasHistogram)
      breaches.push(
        `maxLatencyMs is set but the target's metrics have no http_request_duration_seconds histogram`,
      );
    else if (w.latencyMs !== null && w.latencyMs > step.maxLatencyMs)
      breaches.push(
        `p${round(step.latencyQuantile * 100)} latency ${round(w.latencyMs)} ms above maxLatencyMs ${step.maxLatencyMs}`,
      );
  }
  return breaches;
}

interface WindowClock {
  startedAtMs: number;
  now: number;
}

function windowState(previous: Observation | undefined, now: number): WindowClock {
  const startedAtMs = typeof previous?.startedAtMs === "number" ? previous.startedAtMs : now;
  return { startedAtMs, now };
}

function nextCheck(step: AnalysisStep, { startedAtMs, now }: WindowClock): number {
  return Math.min(now + step.interval, startedAtMs + step.window);
}

function baselineOf(previous: Observation | undefined): HttpCounters | undefined {
  const b = previous?.baseline as HttpCounters | undefined;
  return b && typeof b.requests === "number" && typeof b.errors === "number" ? b : undefined;
}

/**
 * `source: counters`. The first check takes the baseline; each later one judges the window so far: a breach
 * over at least `minRequests` fails at once (a bad release need not serve its users for the whole window),
 * a pass needs the whole window.
 */
export function countersDecision(input: {
  step: AnalysisStep;
  previous: Observation | undefined;
  current: HttpCounters;
  now: number;
}): AnalysisDecision {
  const { step, previous, current, now } = input;
  const clock = windowState(previous, now);
  const baseline = baselineOf(previous);
  if (baseline === undefined) {
    const observation = { startedAtMs: clock.startedAtMs, baseline: current };
    return { verdict: "continue", observation, recheckAtMs: nextCheck(step, clock) };
  }
  const w = windowCounts(step, countersSince(baseline, current));
  const ended = now - clock.startedAtMs >= step.window;
  const observation = { startedAtMs: clock.startedAtMs, baseline, ...w };
  if (w.requests >= step.minRequests) {
    const breaches = countersBreaches(step, w, current.latency !== undefined);
    if (breaches.length > 0)
      return { verdict: "fail", observation, message: `${breaches.join("; ")} ${after(clock)}` };
  }
  if (!ended) return { verdict: "continue", observation, recheckAtMs: nextCheck(step, clock) };
  if (w.requests >= step.minRequests) return { verdict: "pass", observation };
  return inconclusive(
    step,
    observation,
    `${w.requests} requests in ${round(step.window / 1_000)} s, fewer than minRequests ${step.minRequests}: nothing to judge`,
  );
}

/**
 * `source: prometheus`. Every check evaluates the query: a value on the failing side of the threshold fails
 * at once; a pass needs the whole window with at least one value (an empty result is no data, not a pass).
 */
export function queryDecision(input: {
  step: AnalysisStep;
  previous: Observation | undefined;
  /** The query's value now; null when it returned no series (nothing to judge). */
  value: number | null;
  now: number;
}): AnalysisDecision {
  const { step, previous, value, now } = input;
  const clock = windowState(previous, now);
  const evaluations = (typeof previous?.evaluations === "number" ? previous.evaluations : 0) + 1;
  const withData =
    (typeof previous?.withData === "number" ? previous.withData : 0) + (value === null ? 0 : 1);
  const observation = { startedAtMs: clock.startedAtMs, evaluations, withData, value };
  const threshold = step.threshold ?? 0;
  if (value !== null && (step.failWhen === "above" ? value > threshold : value < threshold))
    return {
      verdict: "fail",
      observation,
      message: `query value ${round(value, 4)} ${step.failWhen} threshold ${threshold} ${after(clock)}`,
    };
  if (now - clock.startedAtMs < step.window)
    return { verdict: "continue", observation, recheckAtMs: nextCheck(step, clock) };
  if (withData > 0) return { verdict: "pass", observation };
  return inconclusive(step, observation, `the query returned no data in ${evaluations} evaluations`);
}

function inconclusive(step: AnalysisStep, observation: Observation, why: string): AnalysisDecision {
  const judged = { ...observation, inconclusive: true };
  return step.whenInconclusive === "pass"
    ? { verdict: "pass", observation: judged }
    : { verdict: "fail", observation: judged, message: `inconclusive: ${why} (whenInconclusive: fail)` };
}

function after({ startedAtMs, now }: WindowClock): string {
  return `after ${round((now - startedAtMs) / 1_000, 1)} s`;
}

function percent(ratio: number): string {
  return `${round(ratio * 100, 1)}%`;
}

function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
