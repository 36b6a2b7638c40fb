"use client";

import { useRouter } from "next/navigation";
import { useCallback, useEffect, useState } from "react";
import * as api from "../../lib/api/endpoints";
import type { RunbookSummary, RunbookVersionView } from "../../lib/api/types";
import { formatTime } from "../../lib/format";
import { useSession } from "../../lib/session";
import { ErrorNote } from "../shell/ErrorNote";
import { RunbookEditor } from "./RunbookEditor";
import { SourceView } from "./SourceView";

/** One runbook: its versions, the YAML of the chosen one, and (for an admin) a new version from it. */
export function RunbookDetail({ name }: { name: string }) {
  const router = useRouter();
  const { can } = useSession();
  const [summary, setSummary] = useState<RunbookSummary | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [version, setVersion] = useState<RunbookVersionView | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState(false);

  const loadList = useCallback(
    async (select?: number) => {
      try {
        const found = (await api.runbooks()).find((r) => r.name === name);
        if (!found) throw new Error(`no runbook named ${name}`);
        setSummary(found);
        setSelected(select ?? Math.max(...found.versions.map((v) => v.version)));
      } catch (err) {
        setError(err);
      }
    },
    [name],
  );

  useEffect(() => {
    void loadList();
  }, [loadList]);

  useEffect(() => {
    if (selected === null) return;
    setVersion(null);
    api.runbookVersion(name, selected).then(setVersion, setError);
  }, [name, selected]);

  const versions = [...(summary?.versions ?? [])].sort((a, b) => b.version - a.version);
  return (
    <>
      <div className="page-head">
        <h1>{name}</h1>
        {summary?.builtin && <span className="badge badge-builtin">built-in</span>}
      </div>
      <ErrorNote error={error} what="Loading the runbook failed" />
      <div className="split">
        <section className="card" aria-labelledby="versions-title">
          <h2 id="versions-title">Versions</h2>
          <ul className="versions">
            {versions.map((v) => (
              <li key={v.version}>
                <button
                  type="button"
                  className={v.version === selected ? "link current" : "link"}
                  aria-pressed={v.version === selected}
                  onClick={() => setSelected(v.version)}
                >
                  v{v.version}
                </button>{" "}
                <span className="muted">
                  {formatTime(v.createdAt)}
                  {v.createdBy ? ` by ${v.createdBy}` : ""}
                </span>
              </li>
            ))}
          </ul>
          {can("editRunbooks") && version && !editing && (
            <button type="button" onClick={() => setEditing(true)}>
              New version from v{version.version}
            </button>
          )}
        </section>
        <section className="card grow" aria-labelledby="source-title">
          <h2 id="source-title">{version ? `v${version.version}` : "Source"}</h2>
          {version ? (
            <SourceView source={version.source} label={`${name} v${version.version}`} />
          ) : (
            <p>Loading…</p>
          )}
        </section>
      </div>
      {editing && version && (
        <RunbookEditor
          initialSource={version.source}
          onCancel={() => setEditing(false)}
          onSaved={(saved) => {
            setEditing(false);
            if (saved.name !== name) router.push(`/runbooks/${encodeURIComponent(saved.name)}`);
            else void loadList(saved.version);
          }}
        />
      )}
    </>
  );
}
