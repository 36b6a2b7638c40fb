"use client";

import { useEffect, useId, useState } from "react";
import * as api from "../../lib/api/endpoints";
import { describeError } from "../../lib/api/errors";
import type { RunbookIssue, RunbookVersionView } from "../../lib/api/types";
import { ErrorNote } from "../shell/ErrorNote";
import { SourceView } from "./SourceView";

/** How long typing must pause before the draft is validated: one request per pause, not per key. */
const VALIDATE_AFTER_MS = 400;

/**
 * A YAML editor for a new runbook version: validated by the API as you type (after a pause), the issues
 * shown on their lines, saved only when valid.
 */
export function RunbookEditor({
  initialSource,
  onSaved,
  onCancel,
}: {
  initialSource: string;
  onSaved(version: RunbookVersionView): void;
  onCancel?: () => void;
}) {
  const [source, setSource] = useState(initialSource);
  const [issues, setIssues] = useState<RunbookIssue[] | null>(null);
  const [checking, setChecking] = useState(false);
  const [validateError, setValidateError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState<string | null>(null);
  const editorId = useId();

  useEffect(() => {
    if (!source.trim()) {
      setIssues(null);
      return;
    }
    const controller = new AbortController();
    const timer = setTimeout(() => {
      setChecking(true);
      api.validateRunbook(source).then(
        (answer) => {
          if (controller.signal.aborted) return;
          setIssues(answer.issues);
          setValidateError(null);
          setChecking(false);
        },
        (err: unknown) => {
          if (controller.signal.aborted) return;
          setValidateError(err);
          setChecking(false);
        },
      );
    }, VALIDATE_AFTER_MS);
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [source]);

  async function save() {
    setSaving(true);
    setSaveError(null);
    try {
      onSaved(await api.createRunbookVersion(source));
    } catch (err) {
      setSaveError(describeError(err));
      setSaving(false);
    }
  }

  const valid = issues !== null && issues.length === 0;
  return (
    <section className="card" aria-labelledby={`${editorId}-title`}>
      <h2 id={`${editorId}-title`}>New version</h2>
      <div className="field">
        <label htmlFor={editorId}>Runbook YAML</label>
        <textarea
          id={editorId}
          className="yaml-editor mono"
          rows={Math.min(40, Math.max(12, source.split("\n").length + 1))}
          spellCheck={false}
          value={source}
          onChange={(e) => setSource(e.target.value)}
          aria-describedby={`${editorId}-status`}
        />
      </div>
      <p id={`${editorId}-status`} role="status" data-testid="validation-status">
        {checking
          ? "Validating…"
          : issues === null
            ? ""
            : valid
              ? "Valid."
              : issues.length === 1
                ? "1 problem: fix it before saving."
                : `${issues.length} problems: fix them before saving.`}
      </p>
      <ErrorNote error={validateError} what="Validation failed" />
      {issues && issues.length > 0 && (
        <SourceView source={source} issues={issues} label="Problems in the draft" context={3} />
      )}
      {saveError && (
        <p className="error" role="alert">
          {saveError}
        </p>
      )}
      <div className="actions">
        <button type="button" disabled={!valid || saving || checking} onClick={() => void save()}>
          {saving ? "Saving…" : "Save new version"}
        </button>
        {onCancel && (
          <button type="button" className="secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </section>
  );
}
