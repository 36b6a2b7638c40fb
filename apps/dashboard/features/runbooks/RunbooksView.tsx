"use client";

import Link from "next/link";
import { useEffect, useState } from "react";
import * as api from "../../lib/api/endpoints";
import type { RunbookSummary } from "../../lib/api/types";
import { formatTime } from "../../lib/format";
import { useSession } from "../../lib/session";
import { ErrorNote } from "../shell/ErrorNote";

export function RunbooksView() {
  const { can } = useSession();
  const [runbooks, setRunbooks] = useState<RunbookSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    api.runbooks().then(setRunbooks, setError);
  }, []);

  return (
    <>
      <div className="page-head">
        <h1>Runbooks</h1>
        {can("editRunbooks") && (
          <Link href="/runbooks/new" className="button">
            New runbook
          </Link>
        )}
      </div>
      <ErrorNote error={error} what="Loading the runbooks failed" />
      {runbooks === null && !error && <p role="status">Loading runbooks…</p>}
      {runbooks && (
        <table className="table card" data-testid="runbooks">
          <thead>
            <tr>
              <th scope="col">Runbook</th>
              <th scope="col">Versions</th>
              <th scope="col">Latest</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {runbooks.map((r) => {
              const latest = [...r.versions].sort((a, b) => b.version - a.version)[0];
              return (
                <tr key={r.name}>
                  <th scope="row">
                    <Link href={`/runbooks/${encodeURIComponent(r.name)}`}>{r.name}</Link>
                    {r.builtin && <span className="badge badge-builtin">built-in</span>}
                  </th>
                  <td>{r.versions.length}</td>
                  <td>{latest ? `v${latest.version}` : "–"}</td>
                  <td>
                    {latest ? formatTime(latest.createdAt) : "–"}
                    {latest?.createdBy ? ` by ${latest.createdBy}` : ""}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </>
  );
}
