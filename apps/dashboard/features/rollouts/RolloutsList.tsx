"use client";

import Link from "next/link";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import * as api from "../../lib/api/endpoints";
import type { RolloutSummary } from "../../lib/api/types";
import { formatDuration, formatTime } from "../../lib/format";
import { useSession } from "../../lib/session";
import { ErrorNote } from "../shell/ErrorNote";
import { StatusBadge } from "../shell/StatusBadge";

const STATUSES = [
  "",
  "pending",
  "running",
  "paused",
  "succeeded",
  "failed",
  "aborting",
  "aborted",
  "rolling_back",
  "rolled_back",
];
const PAGE = 25;

export function RolloutsList() {
  const { can } = useSession();
  const [fleet, setFleet] = useState("");
  const [status, setStatus] = useState("");
  const [items, setItems] = useState<RolloutSummary[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(async (filters: { fleet: string; status: string }, after: string | null) => {
    setBusy(true);
    setError(null);
    try {
      const page = await api.rollouts({ ...filters, limit: PAGE, ...(after ? { cursor: after } : {}) });
      setItems((prev) => (after && prev ? [...prev, ...page.items] : page.items));
      setCursor(page.nextCursor);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }, []);

  useEffect(() => {
    void load({ fleet: "", status: "" }, null);
  }, [load]);

  const filter = (e: FormEvent) => {
    e.preventDefault();
    void load({ fleet, status }, null);
  };

  return (
    <>
      <div className="page-head">
        <h1>Rollouts</h1>
        {can("triggerRollout") && (
          <Link href="/rollouts/new" className="button">
            New rollout
          </Link>
        )}
      </div>
      <form className="card filters" onSubmit={filter} aria-label="Filter rollouts">
        <div className="field">
          <label htmlFor="filter-fleet">Fleet</label>
          <input id="filter-fleet" value={fleet} onChange={(e) => setFleet(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="filter-status">Status</label>
          <select id="filter-status" value={status} onChange={(e) => setStatus(e.target.value)}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" disabled={busy}>
          Filter
        </button>
      </form>
      <ErrorNote error={error} what="Loading rollouts failed" />
      {items && items.length === 0 && <p>No rollouts match.</p>}
      {items && items.length > 0 && (
        <table className="table card">
          <thead>
            <tr>
              <th scope="col">Rollout</th>
              <th scope="col">Status</th>
              <th scope="col">Targets done</th>
              <th scope="col">Runbook</th>
              <th scope="col">Created</th>
              <th scope="col">Duration</th>
              <th scope="col">By</th>
            </tr>
          </thead>
          <tbody>
            {items.map((r) => (
              <tr key={r.id}>
                <th scope="row">
                  <Link href={`/rollouts/${r.id}`}>
                    {r.fleet} → {r.version}
                  </Link>
                </th>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td>
                  {r.targets.succeeded}/{r.targets.total}
                  {r.targets.failed > 0 && <span className="alert-text"> ({r.targets.failed} failed)</span>}
                </td>
                <td>{r.runbook}</td>
                <td>{formatTime(r.createdAt)}</td>
                <td>
                  {r.startedAt && r.finishedAt
                    ? formatDuration(Date.parse(r.finishedAt) - Date.parse(r.startedAt))
                    : "–"}
                </td>
                <td>{r.requestedBy ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button
          type="button"
          className="secondary"
          disabled={busy}
          onClick={() => void load({ fleet, status }, cursor)}
        >
          Load more
        </button>
      )}
    </>
  );
}
