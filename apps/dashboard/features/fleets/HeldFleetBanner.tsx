"use client";

import Link from "next/link";
import { useState } from "react";
import * as api from "../../lib/api/endpoints";
import { describeError } from "../../lib/api/errors";
import type { FleetHold } from "../../lib/api/types";
import { useSession } from "../../lib/session";
import { ConfirmDialog } from "../shell/ConfirmDialog";
import { holdText } from "./held";

type Release = FleetHold["release"][number];

const CONFIRM: Record<Release["action"], { label: string; text: (h: FleetHold, r: Release) => string }> = {
  retry: {
    label: "Retry",
    text: (h, r) =>
      `Runs the failed step of ${r.target} again; if it succeeds, rollout ${h.rolloutId.slice(0, 8)} carries on with the rest of ${h.fleet}.`,
  },
  resume: { label: "Resume", text: () => "Held targets continue from the step they stopped at." },
  abort: {
    label: "Abort rollout",
    text: () =>
      "Targets that were taken out of service are restored, except one whose deploy failed (it stays out); targets not yet touched are skipped, and the fleet is released.",
  },
};

/**
 * A rollout that stopped (failed or paused) keeps targets of this fleet: no other rollout can start on
 * them until someone retries, resumes or aborts it. Says which rollout, why, the targets it holds, and
 * offers the way out behind a confirmation.
 */
export function HeldFleetBanner({ hold, onReleased }: { hold: FleetHold; onReleased(): void }) {
  const { can } = useSession();
  const [pending, setPending] = useState<Release | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const short = hold.rolloutId.slice(0, 8);
  const text = holdText(hold);

  async function run() {
    if (!pending) return;
    setBusy(true);
    setError(null);
    try {
      await api.rolloutCommand(hold.rolloutId, pending.action, pending.body ?? {});
      setPending(null);
      onReleased();
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="error held-fleet" role="alert" data-held-by={hold.rolloutId}>
      <p>
        <strong>
          {hold.fleet} is held by rollout <Link href={`/rollouts/${hold.rolloutId}`}>{short}</Link>
        </strong>{" "}
        ({text.why})
      </p>
      <p>
        No rollout of {hold.fleet} can start on these targets until it is released: {text.targets}.
      </p>
      {can("steerRollout") && hold.release.length > 0 && (
        <p className="actions">
          {hold.release.map((r) => (
            <button
              key={`${r.action}-${r.target ?? ""}`}
              type="button"
              className={r.action === "abort" ? "danger" : "secondary"}
              onClick={() => {
                setError(null);
                setPending(r);
              }}
            >
              {CONFIRM[r.action].label}
              {r.target ? ` ${r.target}` : ""}
            </button>
          ))}
        </p>
      )}
      <ConfirmDialog
        open={pending !== null}
        title={
          pending
            ? `${CONFIRM[pending.action].label}${pending.target ? ` ${pending.target}` : ""} of rollout ${short}?`
            : ""
        }
        confirmLabel={pending ? CONFIRM[pending.action].label : "Confirm"}
        danger={pending?.action === "abort"}
        busy={busy}
        error={error}
        onConfirm={() => void run()}
        onCancel={() => setPending(null)}
      >
        <p>{pending ? CONFIRM[pending.action].text(hold, pending) : null}</p>
      </ConfirmDialog>
    </div>
  );
}
