"use client";

import type { RolloutTarget } from "../../lib/api/types";
import { formatDuration, formatTime } from "../../lib/format";
import { StatusBadge } from "../shell/StatusBadge";
import { buildTimeline, currentStep, percentAt } from "./timeline";

/** Bars at least this wide (about 70 px at 1280 px) carry their step's id. */
const LABELLED_BAR_PERCENT = 7;

/** Under a target without an open step: why it stopped, how long it took, or that it has not begun. */
function idleLine(target: RolloutTarget): string {
  if (target.error) return `${target.step ?? "?"}: ${target.error.message}`;
  if (target.startedAt === null) return "not started";
  const took =
    target.finishedAt !== null
      ? ` in ${formatDuration(Date.parse(target.finishedAt) - Date.parse(target.startedAt))}`
      : "";
  return target.step ? `${target.status}${took}, last step ${target.step}` : `${target.status}${took}`;
}

/**
 * One row per target, one bar per step run on a shared time axis, the open step growing with the clock;
 * under each row the current step with its elapsed time against its deadline.
 */
export function Timeline({ targets, nowMs }: { targets: RolloutTarget[]; nowMs: number }) {
  const timeline = buildTimeline(targets, nowMs);
  const span = timeline.endMs - timeline.startMs;
  return (
    <section className="card" aria-labelledby="timeline-title">
      <h2 id="timeline-title">Timeline</h2>
      <p className="muted">
        From {formatTime(new Date(timeline.startMs).toISOString())}, {formatDuration(span)} shown.
      </p>
      <ul className="timeline">
        {targets.map((target, i) => {
          const row = timeline.rows[i];
          const current = currentStep(target.steps, nowMs);
          return (
            <li key={target.name} className="timeline-row" data-target={target.name}>
              <div className="timeline-label">
                <strong>{target.name}</strong> <StatusBadge status={target.status} />
                <span className="muted"> batch {target.batch + 1}</span>
              </div>
              <div className="timeline-track" aria-hidden="true">
                {row?.bars.map((bar) => {
                  const left = percentAt(timeline, bar.startMs);
                  const width = Math.max(0.6, percentAt(timeline, bar.endMs) - left);
                  return (
                    <span
                      key={bar.key}
                      className={`bar bar-${bar.status}${bar.open ? " bar-open" : ""}${bar.overdue ? " bar-overdue" : ""}`}
                      style={{ left: `${left}%`, width: `${width}%` }}
                      title={`${bar.stepId} (${bar.type}) #${bar.attempt}: ${bar.status}, ${formatDuration(bar.endMs - bar.startMs)}`}
                    >
                      {width >= LABELLED_BAR_PERCENT && <span className="bar-text">{bar.stepId}</span>}
                    </span>
                  );
                })}
              </div>
              <div className="timeline-current" data-testid={`current-${target.name}`}>
                {current ? (
                  <>
                    <span>
                      {current.step.id} <span className="muted">({current.step.type})</span>{" "}
                      {formatDuration(current.elapsedMs)}
                      {current.budgetMs !== null && ` of ${formatDuration(current.budgetMs)}`}
                    </span>
                    {current.fraction !== null && (
                      <progress
                        max={1}
                        value={Math.min(1, current.fraction)}
                        aria-label={`${target.name}: ${current.step.id} elapsed against its deadline`}
                        className={current.fraction > 1 ? "overdue" : undefined}
                      />
                    )}
                  </>
                ) : (
                  <span className="muted">{idleLine(target)}</span>
                )}
              </div>
              <ol className="visually-hidden">
                {row?.bars.map((bar) => (
                  <li key={bar.key}>
                    {bar.stepId} attempt {bar.attempt}: {bar.status},{" "}
                    {formatDuration(bar.endMs - bar.startMs)}
                  </li>
                ))}
              </ol>
            </li>
          );
        })}
      </ul>
      <p className="legend muted">
        <span className="bar-key bar-succeeded" /> done <span className="bar-key bar-running" /> running{" "}
        <span className="bar-key bar-waiting" /> waiting on the balancer or an approval{" "}
        <span className="bar-key bar-failed" /> failed
      </p>
    </section>
  );
}
