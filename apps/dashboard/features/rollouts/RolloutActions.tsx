"use client";

import { useRouter } from "next/navigation";
import { useState } from "react";
import * as api from "../../lib/api/endpoints";
import { describeError } from "../../lib/api/errors";
import type { RolloutDetail } from "../../lib/api/types";
import { useSession } from "../../lib/session";
import { ConfirmDialog } from "../shell/ConfirmDialog";
import { allowedCommands, canApproveTarget, canRetryTarget, canRollBack, isTerminal } from "./status";

interface Pending {
  command: api.RolloutCommand | "rollback";
  target?: string;
  title: string;
  confirmLabel: string;
  text: string;
  danger?: boolean;
}

/**
 * Pause, resume, abort, retry and approve, each behind a confirmation. Left out entirely for a role that
 * may not steer rollouts; the API refuses them anyway.
 */
export function RolloutActions({
  rollout,
  onChanged,
}: {
  rollout: RolloutDetail;
  onChanged(view: RolloutDetail): void;
}) {
  const { can } = useSession();
  const router = useRouter();
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!can("steerRollout")) return null;

  const allowed = allowedCommands(rollout.status);
  const retryable = rollout.targets.filter((t) => canRetryTarget(t.status));
  const approvable = rollout.targets.filter((t) => canApproveTarget(t.status));
  const rolloutNeedsApproval = rollout.requiresApproval && !rollout.approvedBy && !isTerminal(rollout.status);
  const rollbackable = canRollBack(rollout.status, rollout.rollback?.rolloutId);

  async function run() {
    if (!pending) return;
    setBusy(true);
    setError(null);
    try {
      if (pending.command === "rollback") {
        const created = await api.rollbackRollout(rollout.id);
        setPending(null);
        // The linked rollout is where the work happens now; the original's page links to it too.
        if (created.id) router.push(`/rollouts/${encodeURIComponent(created.id)}`);
        else onChanged(await api.rollout(rollout.id));
        return;
      }
      const body: Record<string, string> = pending.target ? { target: pending.target } : {};
      onChanged(await api.rolloutCommand(rollout.id, pending.command, body));
      setPending(null);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  const ask = (p: Pending) => {
    setError(null);
    setPending(p);
  };

  const anything =
    allowed.pause ||
    allowed.resume ||
    allowed.abort ||
    rolloutNeedsApproval ||
    rollbackable ||
    retryable.length + approvable.length > 0;
  if (!anything && pending === null) return null;

  return (
    <section className="card actions" aria-label="Rollout actions">
      {allowed.pause && (
        <button
          type="button"
          onClick={() =>
            ask({
              command: "pause",
              title: "Pause this rollout?",
              confirmLabel: "Pause",
              text: "Targets finish the step they are on and hold there; nothing new starts until you resume.",
            })
          }
        >
          Pause
        </button>
      )}
      {allowed.resume && (
        <button
          type="button"
          onClick={() =>
            ask({
              command: "resume",
              title: "Resume this rollout?",
              confirmLabel: "Resume",
              text: "Held targets continue from the step they stopped at.",
            })
          }
        >
          Resume
        </button>
      )}
      {rolloutNeedsApproval && (
        <button
          type="button"
          onClick={() =>
            ask({
              command: "approve",
              title: "Approve this rollout?",
              confirmLabel: "Approve",
              text: `A second person's approval lets this rollout of ${rollout.fleet} proceed. It was requested by ${rollout.requestedBy ?? "someone else"}.`,
            })
          }
        >
          Approve rollout
        </button>
      )}
      {approvable.map((t) => (
        <button
          key={`approve-${t.name}`}
          type="button"
          onClick={() =>
            ask({
              command: "approve",
              target: t.name,
              title: `Approve ${t.name}?`,
              confirmLabel: "Approve",
              text: `${t.name} waits at ${t.step ?? "an approval step"}. Approving lets it continue.`,
            })
          }
        >
          Approve {t.name}
        </button>
      ))}
      {retryable.map((t) => (
        <button
          key={`retry-${t.name}`}
          type="button"
          className="secondary"
          onClick={() =>
            ask({
              command: "retry",
              target: t.name,
              title: `Retry ${t.name}?`,
              confirmLabel: "Retry",
              text: `Runs ${t.step ?? "the failed step"} of ${t.name} again.${t.error ? ` It failed with: ${t.error.message}` : ""}`,
            })
          }
        >
          Retry {t.name}
        </button>
      ))}
      {retryable
        .filter((t) => t.error?.code === "outcome_unknown")
        .map((t) => (
          <button
            key={`skip-${t.name}`}
            type="button"
            className="secondary"
            onClick={() =>
              ask({
                command: "skip",
                target: t.name,
                title: `Skip ${t.step ?? "the step"} on ${t.name}?`,
                confirmLabel: "Count it as done",
                text: `Ebb does not know whether the command ran (${t.error?.message ?? ""}). Skip only after you checked that its effect is in place on ${t.name}; the target then goes on from the next step.`,
              })
            }
          >
            Skip on {t.name}
          </button>
        ))}
      {allowed.abort && (
        <button
          type="button"
          className="danger"
          onClick={() =>
            ask({
              command: "abort",
              title: "Abort this rollout?",
              confirmLabel: "Abort rollout",
              text: "Targets that were taken out of service are restored; targets not yet touched are skipped.",
              danger: true,
            })
          }
        >
          Abort
        </button>
      )}
      {rollbackable && (
        <button
          type="button"
          className="danger"
          onClick={() =>
            ask({
              command: "rollback",
              title: "Roll this rollout back?",
              confirmLabel: "Roll back",
              text:
                "A new rollout takes every target this one moved back to the version it ran before, with the " +
                "same runbook, batches and drains. Refused if a target's previous version is unknown or they differ.",
              danger: true,
            })
          }
        >
          Roll back
        </button>
      )}
      <ConfirmDialog
        open={pending !== null}
        title={pending?.title ?? ""}
        confirmLabel={pending?.confirmLabel ?? "Confirm"}
        danger={pending?.danger ?? false}
        busy={busy}
        error={error}
        onConfirm={() => void run()}
        onCancel={() => setPending(null)}
      >
        <p>{pending?.text}</p>
      </ConfirmDialog>
    </section>
  );
}
