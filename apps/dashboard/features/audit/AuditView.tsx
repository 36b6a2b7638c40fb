"use client";

import Link from "next/link";
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { apiPath } from "../../lib/api/client";
import * as api from "../../lib/api/endpoints";
import type { AuditEventView, AuditQuery, AuditVerifyResult } from "../../lib/api/types";
import { formatTime } from "../../lib/format";
import { ErrorNote } from "../shell/ErrorNote";
import { StatusBadge } from "../shell/StatusBadge";
import { summaryLines } from "./summary";

const PAGE = 50;
const OUTCOMES = ["", "succeeded", "failed", "denied", "started"] as const;

/** People's actions by default: a rollout's thousands of step transitions fold under the action behind them. */
const SHOWS = [
  { value: "request", label: "People's actions" },
  { value: "all", label: "Everything (with transitions)" },
] as const;
type Show = (typeof SHOWS)[number]["value"];

interface Filters {
  show: Show;
  actor: string;
  action: string;
  fleet: string;
  outcome: string;
  since: string;
  until: string;
}

const EMPTY: Filters = {
  show: "request",
  actor: "",
  action: "",
  fleet: "",
  outcome: "",
  since: "",
  until: "",
};

/** datetime-local inputs hold local wall time without a zone; the API takes ISO 8601 instants. */
function toQuery(f: Filters): AuditQuery {
  const q: AuditQuery = {};
  if (f.show === "request") q.origin = "request";
  if (f.actor.trim()) q.actor = f.actor.trim();
  if (f.action.trim()) q.action = f.action.trim();
  if (f.fleet.trim()) q.fleet = f.fleet.trim();
  if (f.outcome) q.outcome = f.outcome as AuditQuery["outcome"];
  if (f.since) q.since = new Date(f.since).toISOString();
  if (f.until) q.until = new Date(f.until).toISOString();
  return q;
}

function exportHref(q: AuditQuery): string {
  return apiPath("/audit/export", { ...q });
}

function Verification({ result }: { result: AuditVerifyResult }) {
  if (result.ok) {
    return (
      <span
        className="badge badge-succeeded"
        title={result.last ? `head ${result.last.id} ${result.last.hash}` : ""}
      >
        chain verified: {result.checked} events
        {result.last ? `, head #${result.last.id} ${result.last.hash.slice(0, 12)}…` : ""}
      </span>
    );
  }
  const b = result.firstBroken;
  return (
    <span className="badge badge-failed">
      chain broken{b ? ` at event #${b.id} (${b.reason}): ${b.message}` : ""} · {result.checked} checked
    </span>
  );
}

/** A rollout links to its page; other resources show their type and a shortened id. */
function Resource({ type, id }: { type: string | null; id: string | null }) {
  if (!type) return null;
  if (!id) return <>{type}</>;
  const short = id.length > 12 ? `${id.slice(0, 8)}…` : id;
  return (
    <>
      {type}{" "}
      {type === "rollout" ? (
        <Link href={`/rollouts/${encodeURIComponent(id)}`} className="mono" title={id}>
          {short}
        </Link>
      ) : (
        <span className="mono" title={id}>
          {short}
        </span>
      )}
    </>
  );
}

function Summary({ summary }: { summary: Record<string, unknown> }) {
  const lines = summaryLines(summary);
  if (lines.length === 0) return null;
  return (
    <dl className="kv">
      {lines.map((l) => (
        <div key={l.key}>
          <dt>{l.key}</dt> <dd title={l.full}>{l.value}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * The transitions of one rollout between a person's action on it and their next one (or now): what that
 * action set going. Loaded when unfolded, a page at a time.
 */
function Transitions({
  rolloutId,
  since,
  until,
}: {
  rolloutId: string;
  since: string;
  until: string | null;
}) {
  const [items, setItems] = useState<AuditEventView[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const load = useCallback(
    async (after: string | null) => {
      setBusy(true);
      try {
        const page = await api.audit({
          resourceType: "rollout",
          resourceId: rolloutId,
          origin: "transition",
          since,
          ...(until ? { until } : {}),
          limit: PAGE,
          ...(after ? { cursor: after } : {}),
        });
        setItems((prev) => (after && prev ? [...prev, ...page.items] : page.items));
        setCursor(page.nextCursor);
      } catch (err) {
        setError(err);
      } finally {
        setBusy(false);
      }
    },
    [rolloutId, since, until],
  );

  useEffect(() => {
    void load(null);
  }, [load]);

  return (
    <div className="transitions" data-testid={`transitions-${rolloutId}`}>
      <ErrorNote error={error} what="Loading the rollout's transitions failed" />
      {items === null && !error && <p className="muted">Loading transitions…</p>}
      {items && items.length === 0 && <p className="muted">No transitions in this span.</p>}
      {items && items.length > 0 && (
        <table className="table compact">
          <tbody>
            {items.map((e) => (
              <tr key={e.id} data-action={e.action} className="transition">
                <td className="mono">{formatTime(e.at)}</td>
                <td className="mono">{e.action}</td>
                <td>
                  <StatusBadge status={e.outcome} />
                </td>
                <td className="details">
                  <Summary summary={e.summary} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor && (
        <button type="button" className="secondary" disabled={busy} onClick={() => void load(cursor)}>
          More transitions
        </button>
      )}
    </div>
  );
}

/**
 * When the request behind an event began: the event is written once it answered (`summary.durationMs`
 * later), and the transitions it caused are recorded in between.
 */
function requestStart(e: AuditEventView): string {
  const duration = typeof e.summary.durationMs === "number" ? e.summary.durationMs : 0;
  return new Date(Date.parse(e.at) - duration).toISOString();
}

/** The rollout an event acts on, when it acts on one. */
function rolloutOf(e: AuditEventView): string | null {
  return e.resourceType === "rollout" && e.resourceId ? e.resourceId : null;
}

export function AuditView() {
  const [filters, setFilters] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<AuditQuery>(() => toQuery(EMPTY));
  const [items, setItems] = useState<AuditEventView[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [verification, setVerification] = useState<AuditVerifyResult | null>(null);
  const [verifyError, setVerifyError] = useState<unknown>(null);
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());

  const load = useCallback(async (query: AuditQuery, after: string | null) => {
    setBusy(true);
    setError(null);
    try {
      const page = await api.audit({ ...query, limit: PAGE, ...(after ? { cursor: after } : {}) });
      setItems((prev) => (after && prev ? [...prev, ...page.items] : page.items));
      setCursor(page.nextCursor);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }, []);

  const verify = useCallback(() => {
    setVerifyError(null);
    setVerification(null);
    api.auditVerify().then(setVerification, setVerifyError);
  }, []);

  useEffect(() => {
    void load(toQuery(EMPTY), null);
    verify();
  }, [load, verify]);

  function apply(next: Filters) {
    const query = toQuery(next);
    setApplied(query);
    setOpen(new Set());
    void load(query, null);
  }

  function submit(e: FormEvent) {
    e.preventDefault();
    apply(filters);
  }

  function toggle(id: string) {
    setOpen((prev) => {
      const next = new Set(prev);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  }

  const folding = applied.origin === "request";

  const set = (key: keyof Filters) => (e: { target: { value: string } }) =>
    setFilters((f) => ({ ...f, [key]: e.target.value }));

  return (
    <>
      <div className="page-head">
        <h1>Audit</h1>
        <span data-testid="audit-verification" role="status">
          {verification === null && !verifyError && <span className="muted">verifying the chain…</span>}
          {verification && <Verification result={verification} />}
        </span>
        <button type="button" className="secondary" onClick={verify}>
          Verify again
        </button>
      </div>
      <ErrorNote error={verifyError} what="Verifying the audit chain failed" />
      <form className="card filters" onSubmit={submit} aria-label="Filter audit events">
        <div className="field">
          <label htmlFor="audit-show">Show</label>
          <select
            id="audit-show"
            value={filters.show}
            onChange={(e) => {
              // A view, not a filter to fill in: it applies at once.
              const next = { ...filters, show: e.target.value as Show };
              setFilters(next);
              apply(next);
            }}
          >
            {SHOWS.map((o) => (
              <option key={o.value} value={o.value}>
                {o.label}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-actor">Actor</label>
          <input id="audit-actor" value={filters.actor} onChange={set("actor")} placeholder="name or id" />
        </div>
        <div className="field">
          <label htmlFor="audit-action">Action</label>
          <input id="audit-action" value={filters.action} onChange={set("action")} placeholder="rollout.*" />
        </div>
        <div className="field">
          <label htmlFor="audit-fleet">Fleet</label>
          <input id="audit-fleet" value={filters.fleet} onChange={set("fleet")} />
        </div>
        <div className="field">
          <label htmlFor="audit-outcome">Outcome</label>
          <select id="audit-outcome" value={filters.outcome} onChange={set("outcome")}>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o || "any"}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="audit-since">From</label>
          <input
            id="audit-since"
            type="datetime-local"
            step={1}
            value={filters.since}
            onChange={set("since")}
          />
        </div>
        <div className="field">
          <label htmlFor="audit-until">Until</label>
          <input
            id="audit-until"
            type="datetime-local"
            step={1}
            value={filters.until}
            onChange={set("until")}
          />
        </div>
        <div className="actions">
          <button type="submit" disabled={busy}>
            Filter
          </button>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              setFilters(EMPTY);
              apply(EMPTY);
            }}
          >
            Clear
          </button>
          <a className="button secondary" href={exportHref(applied)} download="ebb-audit.ndjson">
            Export (NDJSON)
          </a>
        </div>
      </form>
      <ErrorNote error={error} what="Loading the audit history failed" />
      {items && items.length === 0 && <p>No audit events match.</p>}
      {items && items.length > 0 && (
        <section className="card wide" aria-label="Audit events">
          <table className="table compact align-top" data-testid="audit-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Fleet</th>
                <th scope="col">Resource</th>
                <th scope="col">Outcome</th>
                <th scope="col">From</th>
                <th scope="col">What</th>
              </tr>
            </thead>
            <tbody>
              {items.flatMap((e, i) => {
                const rollout = folding ? rolloutOf(e) : null;
                const expanded = rollout !== null && open.has(e.id);
                // Newest first: the next action on the same rollout is the nearest one above.
                const next =
                  rollout === null ? undefined : items.slice(0, i).findLast((x) => rolloutOf(x) === rollout);
                const row = (
                  <tr key={e.id} data-action={e.action}>
                    <td className="mono time-cell">
                      {rollout !== null && (
                        <button
                          type="button"
                          className="fold"
                          aria-expanded={expanded}
                          aria-controls={`fold-${e.id}`}
                          aria-label={`${expanded ? "Hide" : "Show"} the transitions after ${e.action} ${e.id}`}
                          onClick={() => toggle(e.id)}
                        >
                          {expanded ? "▾" : "▸"}
                        </button>
                      )}
                      {formatTime(e.at)}
                    </td>
                    <td>
                      {e.actorName} <span className="muted">({e.actorKind})</span>
                    </td>
                    <td className="mono">{e.action}</td>
                    <td>{e.fleet ?? ""}</td>
                    <td>
                      <Resource type={e.resourceType} id={e.resourceId} />
                    </td>
                    <td>
                      <StatusBadge status={e.outcome} />
                      {e.httpStatus !== null && <span className="muted"> {e.httpStatus}</span>}
                    </td>
                    <td className="mono">{e.clientIp ?? ""}</td>
                    <td className="details">
                      <Summary summary={e.summary} />
                    </td>
                  </tr>
                );
                if (!expanded || rollout === null) return [row];
                return [
                  row,
                  <tr key={`fold-${e.id}`} id={`fold-${e.id}`} className="fold-row">
                    <td colSpan={8}>
                      <Transitions
                        rolloutId={rollout}
                        since={requestStart(e)}
                        until={next ? requestStart(next) : null}
                      />
                    </td>
                  </tr>,
                ];
              })}
            </tbody>
          </table>
        </section>
      )}
      {cursor && (
        <button
          type="button"
          className="secondary"
          disabled={busy}
          onClick={() => void load(applied, cursor)}
        >
          Load more
        </button>
      )}
    </>
  );
}
