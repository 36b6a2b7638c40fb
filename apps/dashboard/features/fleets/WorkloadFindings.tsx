"use client";

import type { FleetFindingsView } from "@ebb/contracts";
import { useCallback, useEffect, useState } from "react";
import { apiRequest } from "../../lib/api/client";
import { ErrorNote } from "../shell/ErrorNote";

/**
 * `ebb lint` on the fleet page: what the live workload of a Kubernetes fleet would lose on a termination
 * nobody drains (scale-down, node drain, eviction). Read when the panel opens, and again on demand.
 */
export function WorkloadFindings({ fleet }: { fleet: string }) {
  const [view, setView] = useState<FleetFindingsView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);

  const load = useCallback(() => {
    setLoading(true);
    setError(null);
    apiRequest<FleetFindingsView>("GET", `/fleets/${encodeURIComponent(fleet)}/findings`)
      .then(setView, setError)
      .finally(() => setLoading(false));
  }, [fleet]);
  useEffect(load, [load]);

  const titleId = `findings-${fleet}`;
  return (
    <section aria-labelledby={titleId} data-testid="workload-findings">
      <h3 id={titleId}>
        Workload findings{" "}
        <button type="button" className="button secondary" onClick={load} disabled={loading}>
          {loading ? "Checking…" : "Check again"}
        </button>
      </h3>
      <ErrorNote error={error} what="Reading the workload failed" />
      {view && view.findings.length === 0 && (
        <p className="ok-text">
          {view.workload.kind} {view.workload.namespace}/{view.workload.name}: nothing found.
        </p>
      )}
      {view && view.findings.length > 0 && (
        <ul className="findings" aria-label={`Findings of fleet ${fleet}`}>
          {view.findings.map((f) => (
            <li
              key={`${f.rule}-${f.object.kind}-${f.object.name}-${f.field}`}
              className={`finding finding-${f.severity}`}
              data-rule={f.rule}
            >
              <strong>{f.severity === "error" ? "Error" : "Warning"}</strong>{" "}
              <span className="mono">
                {f.object.kind} {f.object.namespace}/{f.object.name}
              </span>{" "}
              <code className="muted">{f.field}</code>: {f.message}. <em>Fix:</em> {f.fix}{" "}
              <code className="muted">{f.rule}</code>
            </li>
          ))}
        </ul>
      )}
      {view?.unread.map((u) => (
        <p key={u.kind} className="muted">
          Not checked: {u.kind} ({u.reason})
        </p>
      ))}
    </section>
  );
}
