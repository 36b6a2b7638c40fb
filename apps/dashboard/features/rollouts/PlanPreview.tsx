import type { Finding, RolloutPreview } from "../../lib/api/types";
import { formatDuration } from "../../lib/format";

export function Findings({ findings }: { findings: Finding[] }) {
  if (findings.length === 0) return <p className="ok-text">Preflight found nothing to report.</p>;
  return (
    <ul className="findings" aria-label="Preflight findings">
      {findings.map((f) => (
        <li
          key={`${f.severity}-${f.code}-${f.stepId ?? ""}-${f.target ?? ""}-${f.message}`}
          className={`finding finding-${f.severity}`}
        >
          <strong>{f.severity === "error" ? "Error" : "Warning"}</strong>
          {f.target && <span className="mono"> {f.target}</span>}: {f.message}{" "}
          <code className="muted">{f.code}</code>
        </li>
      ))}
    </ul>
  );
}

/** The preflight's findings and the plan: batches in order and the duration the balancer's timing implies. */
export function PlanPreview({ preview }: { preview: RolloutPreview }) {
  return (
    <section className="card" aria-labelledby="plan-title" data-testid="plan">
      <h2 id="plan-title">Preflight and plan</h2>
      <Findings findings={preview.findings} />
      <dl className="facts">
        <div>
          <dt>Batches</dt>
          <dd>{preview.batches.length}</dd>
        </div>
        <div>
          <dt>Expected duration</dt>
          <dd data-testid="expected-duration">{formatDuration(preview.expectedDurationMs)}</dd>
        </div>
        <div>
          <dt>Approval</dt>
          <dd>{preview.requiresApproval ? "required before the rollout proceeds" : "not required"}</dd>
        </div>
        <div>
          <dt>Floor per target</dt>
          <dd>{formatDuration(preview.floorPerTargetMs)}</dd>
        </div>
        {preview.protected && (
          <div>
            <dt>Fleet</dt>
            <dd>protected: starting asks for its name</dd>
          </div>
        )}
      </dl>
      <ol className="batches">
        {preview.batches.map((batch, i) => (
          <li key={batch.join(",")}>
            <span className="muted">Batch {i + 1}:</span>{" "}
            {batch.map((t) => (
              <span key={t} className="chip mono">
                {t}
              </span>
            ))}
          </li>
        ))}
      </ol>
      {preview.skipped.length > 0 && (
        <p className="muted">
          Skipped (already on this version or not in scope):{" "}
          {preview.skipped.map((t) => (
            <span key={t} className="chip mono">
              {t}
            </span>
          ))}
        </p>
      )}
      {preview.targetChanges && (
        <p className="muted" data-target-changes>
          The platform runs other pods than the fleet's targets: the rollout adds{" "}
          {preview.targetChanges.added.length} new and leaves out {preview.targetChanges.gone.length} gone{" "}
          {preview.targetChanges.gone.map((t) => (
            <span key={t} className="chip mono">
              {t}
            </span>
          ))}
        </p>
      )}
    </section>
  );
}
