"use client";

import { useRouter } from "next/navigation";
import { type FormEvent, useEffect, useMemo, useState } from "react";
import * as api from "../../lib/api/endpoints";
import { ApiError, describeError } from "../../lib/api/errors";
import type { CreateRolloutInput, FleetView, RolloutPreview, RunbookSummary } from "../../lib/api/types";
import { parseCountOrPercent } from "../../lib/format";
import { randomId } from "../../lib/ids";
import { useSession } from "../../lib/session";
import { HeldFleetBanner } from "../fleets/HeldFleetBanner";
import { ConfirmDialog } from "../shell/ConfirmDialog";
import { ErrorNote } from "../shell/ErrorNote";
import { PlanPreview } from "./PlanPreview";

interface FormState {
  fleet: string;
  runbook: string;
  version: string;
  batchSize: string;
  maxUnavailable: string;
  minHealthy: string;
  maxSurge: string;
  params: string;
  force: boolean;
}

/** `KEY=value` per line; blank lines and lines starting with # are skipped. */
function parseParams(text: string): { params: Record<string, string>; error: string | null } {
  const params: Record<string, string> = {};
  for (const [i, raw] of text.split("\n").entries()) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) return { params, error: `line ${i + 1}: expected NAME=value` };
    params[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return { params, error: null };
}

function toBody(form: FormState): { body: CreateRolloutInput; error: string | null } {
  const { params, error } = parseParams(form.params);
  const body: CreateRolloutInput = { fleet: form.fleet, version: form.version.trim() };
  // Empty until the fleets load: the API then picks the fleet's default itself.
  if (form.runbook.trim()) body.runbook = form.runbook.trim();
  const batchSize = parseCountOrPercent(form.batchSize);
  const maxUnavailable = parseCountOrPercent(form.maxUnavailable);
  const minHealthy = parseCountOrPercent(form.minHealthy);
  const maxSurge = parseCountOrPercent(form.maxSurge);
  if (batchSize !== undefined) body.batchSize = batchSize;
  if (maxUnavailable !== undefined) body.maxUnavailable = maxUnavailable;
  if (minHealthy !== undefined) body.minHealthy = minHealthy;
  if (maxSurge !== undefined) body.maxSurge = maxSurge;
  if (Object.keys(params).length > 0) body.params = params;
  if (form.force) body.force = true;
  return { body, error };
}

export function NewRolloutView({ initialFleet }: { initialFleet: string | null }) {
  const router = useRouter();
  const { can } = useSession();
  const [fleets, setFleets] = useState<FleetView[] | null>(null);
  const [runbooks, setRunbooks] = useState<RunbookSummary[] | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [form, setForm] = useState<FormState>({
    fleet: initialFleet ?? "",
    runbook: "",
    version: "",
    batchSize: "",
    maxUnavailable: "",
    minHealthy: "",
    maxSurge: "",
    params: "",
    force: false,
  });
  const [preview, setPreview] = useState<RolloutPreview | null>(null);
  // One key per previewed plan: a double click or a retried request creates one rollout, not two.
  const [idempotencyKey, setIdempotencyKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [formError, setFormError] = useState<string | null>(null);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [confirming, setConfirming] = useState(false);
  const [startError, setStartError] = useState<string | null>(null);

  useEffect(() => {
    api.fleets().then((list) => {
      setFleets(list);
      setForm((f) => {
        const chosen = list.find((x) => x.name === f.fleet) ?? (f.fleet ? undefined : list[0]);
        if (!chosen) return f;
        return { ...f, fleet: chosen.name, runbook: f.runbook || chosen.defaultRunbook };
      });
    }, setLoadError);
    // Without the runbooks list the field is a text input: a rollout can still name its runbook.
    api.runbooks().then(setRunbooks, () => setRunbooks([]));
  }, []);

  const fleet = useMemo(() => fleets?.find((f) => f.name === form.fleet) ?? null, [fleets, form.fleet]);

  function update<K extends keyof FormState>(key: K, value: FormState[K]) {
    setForm((f) => ({ ...f, [key]: value }));
    // Any change makes the shown plan stale: it must be previewed again before starting.
    setPreview(null);
    setFieldErrors((e) => {
      const { [key]: _gone, ...rest } = e;
      return rest;
    });
  }

  /**
   * A runbook is written for one kind of balancer (a VM's web server, a pod): choosing another fleet picks
   * that fleet's default runbook, which the API names per fleet.
   */
  function chooseFleet(name: string) {
    update("fleet", name);
    const chosen = fleets?.find((f) => f.name === name);
    if (chosen) update("runbook", chosen.defaultRunbook);
  }

  function showError(err: unknown) {
    if (err instanceof ApiError && err.code === "invalid_request") {
      setFieldErrors(err.fieldErrors);
      setFormError(err.formMessage);
    } else setFormError(describeError(err));
  }

  async function runPreview(e: FormEvent) {
    e.preventDefault();
    const { body, error } = toBody(form);
    if (error) {
      setFieldErrors({ params: error });
      return;
    }
    setBusy(true);
    setFormError(null);
    setFieldErrors({});
    try {
      setPreview(await api.previewRollout(body));
      setIdempotencyKey(randomId());
    } catch (err) {
      showError(err);
    } finally {
      setBusy(false);
    }
  }

  async function start() {
    setBusy(true);
    setStartError(null);
    try {
      const created = await api.createRollout(toBody(form).body, idempotencyKey);
      router.push(`/rollouts/${created.id}`);
    } catch (err) {
      setStartError(describeError(err));
      setBusy(false);
    }
  }

  if (!can("triggerRollout")) {
    return (
      <>
        <h1>New rollout</h1>
        <p role="alert">Your role may not start rollouts. Ask an operator with the deploy role.</p>
      </>
    );
  }

  const hasErrors = preview ? preview.blocked || preview.findings.some((f) => f.severity === "error") : false;
  // A held fleet is not a preflight error a person may override: --force does not pass a hold, only
  // releasing it (retry, resume, abort of the holding rollout) does.
  const held = (preview?.holds.length ?? 0) > 0;
  const fieldError = (name: keyof FormState) =>
    fieldErrors[name] ? (
      <span id={`${name}-error`} className="field-error">
        {fieldErrors[name]}
      </span>
    ) : null;
  const described = (name: keyof FormState) =>
    fieldErrors[name] ? { "aria-invalid": true as const, "aria-describedby": `${name}-error` } : {};

  return (
    <>
      <h1>New rollout</h1>
      <ErrorNote error={loadError} what="Loading the fleets failed" />
      <form className="card form-grid" onSubmit={runPreview} aria-label="Rollout settings">
        <div className="field">
          <label htmlFor="fleet">Fleet</label>
          <select
            id="fleet"
            value={form.fleet}
            onChange={(e) => chooseFleet(e.target.value)}
            {...described("fleet")}
          >
            {fleets === null && <option value={form.fleet}>{form.fleet || "loading…"}</option>}
            {fleets?.map((f) => (
              <option key={f.id} value={f.name}>
                {f.name} ({f.targets.filter((t) => t.goneAt === null).length} targets
                {f.protected ? ", protected" : ""})
              </option>
            ))}
          </select>
          {fieldError("fleet")}
        </div>
        <div className="field">
          <label htmlFor="runbook">Runbook</label>
          {runbooks && runbooks.length > 0 ? (
            <select
              id="runbook"
              value={form.runbook}
              onChange={(e) => update("runbook", e.target.value)}
              {...described("runbook")}
            >
              {runbooks.map((r) => (
                <option key={r.name} value={r.name}>
                  {r.name}
                  {r.builtin ? " (built-in)" : ""}
                </option>
              ))}
            </select>
          ) : (
            <input
              id="runbook"
              value={form.runbook}
              onChange={(e) => update("runbook", e.target.value)}
              {...described("runbook")}
            />
          )}
          {fieldError("runbook")}
        </div>
        <div className="field">
          <label htmlFor="version">Version</label>
          <input
            id="version"
            value={form.version}
            placeholder="2.0.0"
            required
            autoComplete="off"
            spellCheck={false}
            onChange={(e) => update("version", e.target.value)}
            {...described("version")}
          />
          {fieldError("version")}
        </div>
        <div className="field">
          <label htmlFor="batchSize">Batch size</label>
          <input
            id="batchSize"
            value={form.batchSize}
            placeholder="1 or 25%"
            inputMode="decimal"
            onChange={(e) => update("batchSize", e.target.value)}
            {...described("batchSize")}
          />
          <span className="hint">Targets per batch: a count or a percentage of the fleet.</span>
          {fieldError("batchSize")}
        </div>
        <div className="field">
          <label htmlFor="maxUnavailable">Max unavailable</label>
          <input
            id="maxUnavailable"
            value={form.maxUnavailable}
            placeholder="1"
            onChange={(e) => update("maxUnavailable", e.target.value)}
            {...described("maxUnavailable")}
          />
          <span className="hint">Counting targets already out of service.</span>
          {fieldError("maxUnavailable")}
        </div>
        <div className="field">
          <label htmlFor="minHealthy">Min healthy</label>
          <input
            id="minHealthy"
            value={form.minHealthy}
            placeholder="optional"
            onChange={(e) => update("minHealthy", e.target.value)}
            {...described("minHealthy")}
          />
          {fieldError("minHealthy")}
        </div>
        <div className="field">
          <label htmlFor="maxSurge">Max surge</label>
          <input
            id="maxSurge"
            value={form.maxSurge}
            placeholder="0"
            onChange={(e) => update("maxSurge", e.target.value)}
            {...described("maxSurge")}
          />
          <span className="hint">Deployments only: pods started early, above the replicas.</span>
          {fieldError("maxSurge")}
        </div>
        <div className="field field-wide">
          <label htmlFor="params">Runbook parameters</label>
          <textarea
            id="params"
            rows={2}
            value={form.params}
            placeholder="NAME=value, one per line"
            spellCheck={false}
            onChange={(e) => update("params", e.target.value)}
            {...described("params")}
          />
          {fieldError("params")}
        </div>
        {formError && (
          <p className="error field-wide" role="alert">
            {formError}
          </p>
        )}
        <div className="actions field-wide">
          <button type="submit" disabled={busy || !form.fleet || !form.version.trim()}>
            {busy && !preview ? "Checking…" : "Preview"}
          </button>
        </div>
      </form>

      {preview && (
        <>
          <PlanPreview preview={preview} />
          {preview.holds.map((hold) => (
            <HeldFleetBanner key={hold.rolloutId} hold={hold} onReleased={() => setPreview(null)} />
          ))}
          <div className="card actions">
            {hasErrors && !held && (
              <label className="checkbox">
                <input
                  type="checkbox"
                  checked={form.force}
                  onChange={(e) => setForm((f) => ({ ...f, force: e.target.checked }))}
                />
                Run despite the preflight errors above
              </label>
            )}
            <button
              type="button"
              disabled={busy || held || (hasErrors && !form.force)}
              onClick={() => setConfirming(true)}
            >
              Start rollout
            </button>
          </div>
        </>
      )}

      <ConfirmDialog
        open={confirming}
        title={`Roll ${form.fleet} to ${form.version.trim()}?`}
        confirmLabel="Start rollout"
        typedConfirmation={preview?.protected || fleet?.protected ? form.fleet : undefined}
        busy={busy}
        error={startError}
        onConfirm={() => void start()}
        onCancel={() => {
          setConfirming(false);
          setStartError(null);
        }}
      >
        <p>
          {preview?.batches.flat().length ?? 0} targets in {preview?.batches.length ?? 0} batches with runbook{" "}
          <code>{form.runbook}</code>.
          {(preview?.protected || fleet?.protected) && " This fleet is protected."}
        </p>
      </ConfirmDialog>
    </>
  );
}
