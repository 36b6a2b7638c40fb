/**
 * The Gantt-like timeline of a rollout: one row per target, one bar per step run, laid out on a shared
 * time axis; plus the markers the traffic chart draws (health check failing, unbound, stopped).
 * Self-contained (no relative imports): unit-tested from test/dashboard.
 */

export interface StepLike {
  index: number;
  id: string;
  type: string;
  status: string;
  attempt: number;
  startedAt: string | null;
  finishedAt: string | null;
  deadlineAt: string | null;
  error?: { code: string; message: string } | null;
}

export interface TimelineBar {
  key: string;
  stepIndex: number;
  stepId: string;
  type: string;
  status: string;
  attempt: number;
  startMs: number;
  endMs: number;
  /** Still running, waiting or awaiting approval: its end is "now". */
  open: boolean;
  deadlineMs: number | null;
  /** Open and past its deadline (the worker will time it out), or finished after it. */
  overdue: boolean;
}

export interface TimelineRow {
  target: string;
  bars: TimelineBar[];
}

export interface Timeline {
  startMs: number;
  endMs: number;
  rows: TimelineRow[];
}

const OPEN_STATUSES = new Set(["running", "waiting", "awaitingApproval"]);

export function isOpenStep(step: { status: string; finishedAt: string | null }): boolean {
  return OPEN_STATUSES.has(step.status) && step.finishedAt === null;
}

function ms(iso: string | null): number | null {
  if (!iso) return null;
  const v = Date.parse(iso);
  return Number.isNaN(v) ? null : v;
}

export function buildTimeline(targets: { name: string; steps?: StepLike[] }[], nowMs: number): Timeline {
  let startMs = Number.POSITIVE_INFINITY;
  let endMs = Number.NEGATIVE_INFINITY;
  const rows = targets.map((target): TimelineRow => {
    const bars: TimelineBar[] = [];
    for (const step of target.steps ?? []) {
      const start = ms(step.startedAt);
      if (start === null) continue;
      const open = isOpenStep(step);
      const end = open ? Math.max(start, nowMs) : (ms(step.finishedAt) ?? start);
      const deadline = ms(step.deadlineAt);
      bars.push({
        key: `${step.index}#${step.attempt}`,
        stepIndex: step.index,
        stepId: step.id,
        type: step.type,
        status: step.status,
        attempt: step.attempt,
        startMs: start,
        endMs: end,
        open,
        deadlineMs: deadline,
        overdue: deadline !== null && end > deadline,
      });
      startMs = Math.min(startMs, start);
      endMs = Math.max(endMs, end);
    }
    bars.sort((a, b) => a.startMs - b.startMs || a.stepIndex - b.stepIndex);
    return { target: target.name, bars };
  });
  if (!Number.isFinite(startMs)) return { startMs: nowMs, endMs: nowMs + 1_000, rows };
  // A timeline shorter than a second would make every bar a sliver or the whole width.
  return { startMs, endMs: Math.max(endMs, startMs + 1_000), rows };
}

/** A time as a percentage of the timeline's width, clamped to [0, 100]. */
export function percentAt(timeline: Pick<Timeline, "startMs" | "endMs">, at: number): number {
  const span = timeline.endMs - timeline.startMs;
  if (span <= 0) return 0;
  return Math.min(100, Math.max(0, ((at - timeline.startMs) / span) * 100));
}

export interface CurrentStep {
  step: StepLike;
  elapsedMs: number;
  /** From start to deadline; null when the step has none. */
  budgetMs: number | null;
  /** elapsed / budget, for a progress bar; null without a deadline. */
  fraction: number | null;
}

/** The step a target is on now (the open one with the highest index), with elapsed time against its deadline. */
export function currentStep(steps: StepLike[] | undefined, nowMs: number): CurrentStep | null {
  const open = (steps ?? []).filter(isOpenStep).sort((a, b) => b.index - a.index || b.attempt - a.attempt);
  const step = open[0];
  if (!step) return null;
  const start = ms(step.startedAt) ?? nowMs;
  const deadline = ms(step.deadlineAt);
  const elapsedMs = Math.max(0, nowMs - start);
  const budgetMs = deadline === null ? null : Math.max(0, deadline - start);
  return {
    step,
    elapsedMs,
    budgetMs,
    fraction: budgetMs === null ? null : budgetMs === 0 ? 1 : elapsedMs / budgetMs,
  };
}

export interface TrafficMarker {
  at: number;
  label: string;
}

/**
 * Moments that explain a target's traffic: the step before the balancer was awaited to unbind finished
 * (the health check made to fail, in l4-drain), the balancer unbound the target, the step after that
 * finished (the stop whose FIN ends the sessions), and the balancer bound it again. Latest attempt wins.
 */
export function trafficMarkers(steps: StepLike[] | undefined): TrafficMarker[] {
  const latest = new Map<number, StepLike>();
  for (const s of steps ?? []) {
    const seen = latest.get(s.index);
    if (!seen || s.attempt > seen.attempt) latest.set(s.index, s);
  }
  const ordered = [...latest.values()].sort((a, b) => a.index - b.index);
  const markers: TrafficMarker[] = [];
  const add = (step: StepLike | undefined, label: string) => {
    const at = step && step.status === "succeeded" ? ms(step.finishedAt) : null;
    if (at !== null && step) markers.push({ at, label });
  };
  // A VM leaves the balancer when the device unbinds it; a pod when its endpoint leaves the EndpointSlices.
  const unbound = ordered.findIndex(
    (s) => s.type === "balancer.awaitUnbound" || s.type === "k8s.awaitEndpointRemoved",
  );
  if (unbound >= 0) {
    add(ordered[unbound - 1], ordered[unbound - 1]?.id ?? "");
    add(ordered[unbound], "unbound");
    add(ordered[unbound + 1], ordered[unbound + 1]?.id ?? "");
  }
  add(
    ordered.find((s) => s.type === "balancer.awaitBound" || s.type === "k8s.awaitReplacementReady"),
    "bound",
  );
  return markers.sort((a, b) => a.at - b.at);
}
