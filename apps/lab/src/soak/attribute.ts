import type { ErrorKind } from "../loadgen/types.js";

/** One failed request as the soak's clients saw it. */
export interface ClientError {
  atMs: number;
  kind: ErrorKind;
  message: string;
  profile: string;
}

/** A step run of a rollout as `GET /rollouts/:id` shows it (times as ISO strings, null when not yet). */
export interface StepSpan {
  target: string;
  step: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export interface RolloutSpan {
  index: number;
  id: string;
  startedAtMs: number;
  finishedAtMs: number;
  steps: StepSpan[];
}

/** Where a client error happened: the rollout and the step runs in flight then, or between rollouts. */
export interface AttributedError extends ClientError {
  rollout: number | null;
  /** Milliseconds since the rollout began (null between rollouts). */
  offsetMs: number | null;
  /** `target/step` of every step running at that moment (several in a batch; none between steps). */
  steps: string[];
}

/**
 * Ties each client error to the rollout and the step runs that were running when it was seen. A step run
 * covers [startedAt, finishedAt]; the client's clock and the worker's are the same machine's, and a 50 ms
 * slack on each side covers the request's own latency and the moment the worker wrote the step's end.
 */
export function attributeErrors(
  errors: readonly ClientError[],
  rollouts: readonly RolloutSpan[],
): AttributedError[] {
  const slackMs = 50;
  return errors.map((e) => {
    const r = rollouts.find((x) => e.atMs >= x.startedAtMs - slackMs && e.atMs <= x.finishedAtMs + slackMs);
    if (!r) return { ...e, rollout: null, offsetMs: null, steps: [] };
    const steps = r.steps
      .filter((s) => {
        if (!s.startedAt) return false;
        const start = Date.parse(s.startedAt) - slackMs;
        const end = s.finishedAt ? Date.parse(s.finishedAt) + slackMs : Number.POSITIVE_INFINITY;
        return e.atMs >= start && e.atMs <= end;
      })
      .map((s) => `${s.target}/${s.step}`);
    return { ...e, rollout: r.index, offsetMs: e.atMs - r.startedAtMs, steps: [...new Set(steps)] };
  });
}

/** Counts by a key, sorted for stable JSON. */
export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out = new Map<string, number>();
  for (const item of items) out.set(key(item), (out.get(key(item)) ?? 0) + 1);
  return Object.fromEntries([...out].sort(([a], [b]) => a.localeCompare(b)));
}
