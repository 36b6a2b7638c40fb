"use client";

import Link from "next/link";
import { useEffect, useState } from "react";
import * as api from "../../lib/api/endpoints";
import type { RolloutDetail, RolloutNotice, TrafficSample } from "../../lib/api/types";
import { formatDuration, formatTime } from "../../lib/format";
import { useEventStream } from "../../lib/sse";
import { ErrorNote } from "../shell/ErrorNote";
import { LiveStatus } from "../shell/LiveStatus";
import { StatusBadge } from "../shell/StatusBadge";
import { appendSample, type TrafficHistory } from "../traffic/history";
import { TrafficChart } from "../traffic/TrafficChart";
import { EventLog } from "./EventLog";
import { RolloutActions } from "./RolloutActions";
import { RolloutSummary } from "./RolloutSummary";
import { isTerminal } from "./status";
import { Timeline } from "./Timeline";
import { trafficMarkers } from "./timeline";

const MAX_NOTICES = 1_000;

/** Sum of per-second reset rates over 1 Hz samples: about the number of resets; null without samples. */
function resetsSeen(history: TrafficHistory): number | null {
  const points = Object.values(history).flat();
  return points.length === 0 ? null : points.reduce((sum, p) => sum + p.resets, 0);
}

/** Whether any sample was taken while the rollout ran (the API keeps no traffic history to replay). */
function sampledWhileRunning(
  history: TrafficHistory,
  started: number | null,
  finished: number | null,
): boolean {
  if (started === null) return false;
  return Object.values(history).some((points) =>
    points.some((p) => p.t >= started && (finished === null || p.t <= finished)),
  );
}

/** Advances once a second while `active`: the open step's bar and elapsed time grow with it. */
function useClock(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => setNow(Date.now()), 1_000);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

export function RolloutView({ id }: { id: string }) {
  const [rollout, setRollout] = useState<RolloutDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notices, setNotices] = useState<RolloutNotice[]>([]);
  const [history, setHistory] = useState<TrafficHistory>({});

  // One read so the page shows something before the stream connects; the stream's snapshot replaces it.
  useEffect(() => {
    api.rollout(id).then(setRollout, setError);
  }, [id]);

  const stream = useEventStream(`/api/v1/rollouts/${encodeURIComponent(id)}/events`, {
    snapshot: (data) => {
      setRollout(data as RolloutDetail);
      setError(null);
    },
    rollout: (data) => setRollout(data as RolloutDetail),
    notice: (data) => {
      const n = data as RolloutNotice;
      setNotices((list) =>
        list.some((x) => x.id === n.id)
          ? list
          : [...list, n].slice(Math.max(0, list.length + 1 - MAX_NOTICES)),
      );
    },
    traffic: (data) => setHistory((h) => appendSample(h, data as TrafficSample)),
  });

  const done = rollout ? isTerminal(rollout.status) : false;
  const now = useClock(!done);

  if (!rollout) {
    return (
      <>
        <h1>Rollout</h1>
        <ErrorNote error={error} what="Loading the rollout failed" />
        {!error && <p role="status">Loading…</p>}
      </>
    );
  }

  const started = rollout.startedAt ? Date.parse(rollout.startedAt) : null;
  const finished = rollout.finishedAt ? Date.parse(rollout.finishedAt) : null;
  const elapsed = started === null ? null : (finished ?? now) - started;
  return (
    <>
      <div className="page-head">
        <h1>
          {rollout.fleet} → {rollout.version}
        </h1>
        <span data-testid="rollout-status">
          <StatusBadge status={rollout.status} />
        </span>
        <LiveStatus status={stream} />
      </div>
      {rollout.waitingForWorker && (
        <p className="error" role="status" data-testid="waiting-for-worker">
          Waiting for a worker: no worker is connected to the queue. This rollout is not stuck; it starts (or
          carries on) as soon as one connects.
        </p>
      )}
      <dl className="facts card">
        <div>
          <dt>Runbook</dt>
          <dd>
            <Link href={`/runbooks/${encodeURIComponent(rollout.runbook)}`}>{rollout.runbook}</Link>
          </dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd>
            {formatTime(rollout.createdAt)}
            {rollout.requestedBy ? ` by ${rollout.requestedBy}` : ""}
          </dd>
        </div>
        <div>
          <dt>Elapsed</dt>
          <dd>
            {formatDuration(elapsed)}
            {rollout.expectedDurationMs ? ` of ~${formatDuration(rollout.expectedDurationMs)} expected` : ""}
          </dd>
        </div>
        <div>
          <dt>On failure</dt>
          <dd>{rollout.onFailure === "rollback" ? "roll back" : "halt"}</dd>
        </div>
        {rollout.rollbackOf && (
          <div>
            <dt>Rolls back</dt>
            <dd>
              <Link href={`/rollouts/${encodeURIComponent(rollout.rollbackOf)}`} data-testid="rollback-of">
                rollout {rollout.rollbackOf.slice(0, 8)}
              </Link>
            </dd>
          </div>
        )}
        {rollout.rollback && (
          <div>
            <dt>Rollback</dt>
            <dd data-testid="rollback">
              {rollout.rollback.rolloutId ? (
                <Link href={`/rollouts/${encodeURIComponent(rollout.rollback.rolloutId)}`}>
                  rollout {rollout.rollback.rolloutId.slice(0, 8)}
                </Link>
              ) : (
                "waiting for commands in flight"
              )}
              {rollout.rollback.targets.length > 0 ? ` (${rollout.rollback.targets.join(", ")})` : ""}
              {rollout.rollback.requestedBy ? `, asked by ${rollout.rollback.requestedBy}` : ""}
              {rollout.rollback.error ? `: failed: ${rollout.rollback.error.message}` : ""}
            </dd>
          </div>
        )}
        {rollout.requiresApproval && (
          <div>
            <dt>Approval</dt>
            <dd>{rollout.approvedBy ? `approved by ${rollout.approvedBy}` : "required"}</dd>
          </div>
        )}
      </dl>
      <ErrorNote error={error} />
      <RolloutActions rollout={rollout} onChanged={setRollout} />
      {done && (
        <RolloutSummary
          rollout={rollout}
          resetsSeen={sampledWhileRunning(history, started, finished) ? resetsSeen(history) : null}
        />
      )}
      <Timeline targets={rollout.targets} nowMs={now} />
      <section className="card" aria-labelledby="traffic-title">
        <h2 id="traffic-title">Traffic per target</h2>
        <p className="muted">
          Requests/s arriving at each target, in red after its health check failed; dashed: open sessions. The
          red part should fall to zero at the stop.
        </p>
        {done && !sampledWhileRunning(history, started, finished) && (
          <p className="note" data-testid="traffic-after-the-fact">
            Traffic is charted from the moment this page opened, and it opened after the rollout ended: what
            follows is the traffic now, not during the rollout.
          </p>
        )}
        <div className="charts">
          {rollout.targets.map((t) => (
            <TrafficChart
              key={t.name}
              target={t.name}
              points={history[t.name] ?? []}
              markers={trafficMarkers(t.steps)}
            />
          ))}
        </div>
      </section>
      <EventLog notices={notices} />
    </>
  );
}
