import type { RolloutNotice } from "../../lib/api/types";
import { formatTime } from "../../lib/format";

/** A notice's data in one line: the fields that say what happened, not the JSON. */
export function describeNotice(n: RolloutNotice): string {
  const d = (n.data ?? {}) as Record<string, unknown>;
  const s = (v: unknown) => (v === undefined || v === null ? "" : String(v));
  switch (n.type) {
    case "rollout.status":
      return `rollout ${s(d.from)} → ${s(d.to)}${d.by ? ` by ${s(d.by)}` : ""}${d.reason ? `: ${s(d.reason)}` : ""}`;
    case "target.status":
      return `${s(d.from)} → ${s(d.to)}`;
    case "step.started":
      return `${s(d.stepId)} started (attempt ${s(d.attempt)})`;
    case "step.finished":
      return `${s(d.stepId)} ${s(d.status ?? d.outcome)}${d.error ? `: ${s((d.error as { message?: string }).message ?? d.error)}` : ""}`;
    case "batch.started":
      return `batch ${Number(d.batch) + 1} started: ${Array.isArray(d.targets) ? d.targets.join(", ") : ""}`;
    case "batch.completed":
      return `batch ${Number(d.batch) + 1} completed`;
    case "approval.granted":
      return `${s(d.stepId)} approved by ${s(d.by)}`;
    case "target.leftOutOfService":
      return `left out of service: ${s(d.reason)}`;
    case "rollback.linked":
      return `rollout ${s(d.rolloutId)} rolls back rollout ${s(d.rollbackOf)}: ${Array.isArray(d.targets) ? d.targets.join(", ") : ""}`;
    default:
      return Object.keys(d).length > 0 ? JSON.stringify(d) : "";
  }
}

export function EventLog({ notices }: { notices: RolloutNotice[] }) {
  return (
    <section className="card" aria-labelledby="events-title">
      <h2 id="events-title">Events</h2>
      {notices.length === 0 ? (
        <p className="muted">No events received yet.</p>
      ) : (
        <section className="scroll" aria-label="Event log">
          <table className="table compact" data-testid="event-log">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Event</th>
                <th scope="col">Target</th>
                <th scope="col">What</th>
              </tr>
            </thead>
            <tbody>
              {[...notices].reverse().map((n) => (
                <tr key={String(n.id)} data-type={n.type}>
                  <td className="mono">{formatTime(n.at)}</td>
                  <td className="mono">{n.type}</td>
                  <td>{n.target ?? ""}</td>
                  <td>{describeNotice(n)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      )}
    </section>
  );
}
