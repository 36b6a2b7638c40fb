"use client";

import Link from "next/link";
import { useCallback, useEffect, useState } from "react";
import * as api from "../../lib/api/endpoints";
import type { FleetView } from "../../lib/api/types";
import { useSession } from "../../lib/session";
import { ErrorNote } from "../shell/ErrorNote";
import { FleetPanel } from "./FleetPanel";

/** Browsers allow six connections per origin over HTTP/1.1; each open panel holds one for its stream. */
const LIVE_BY_DEFAULT = 4;

export function FleetsView() {
  const { can } = useSession();
  const [fleets, setFleets] = useState<FleetView[] | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(() => {
    api.fleets().then(setFleets, setError);
  }, []);
  useEffect(load, [load]);

  return (
    <>
      <div className="page-head">
        <h1>Fleets</h1>
        {can("triggerRollout") && (
          <Link href="/rollouts/new" className="button">
            New rollout
          </Link>
        )}
      </div>
      <ErrorNote error={error} what="Loading the fleets failed" />
      {fleets === null && !error && <p role="status">Loading fleets…</p>}
      {fleets?.length === 0 && <p>No fleet is registered yet.</p>}
      {fleets?.map((fleet, i) => (
        <FleetPanel key={fleet.id} fleet={fleet} initiallyOpen={i < LIVE_BY_DEFAULT} onChanged={load} />
      ))}
    </>
  );
}
