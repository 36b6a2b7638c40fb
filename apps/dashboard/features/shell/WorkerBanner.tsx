"use client";

import { useEffect, useState } from "react";
import * as api from "../../lib/api/endpoints";

/** Often enough that the banner goes soon after a worker starts; a probe costs the API one cached call. */
const POLL_MS = 5_000;

/**
 * Shown on every console page while no worker is connected to the rollout queue (the API's readiness
 * says so): rollouts are accepted but wait, and without this they look stuck. Says nothing while the
 * answer is unknown (the API down has its own errors on each page).
 */
export function WorkerBanner() {
  const [connected, setConnected] = useState<number | null>(null);

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const ready = await api.readiness();
        if (!stopped) setConnected(ready.workers?.connected ?? null);
      } catch {
        if (!stopped) setConnected(null);
      }
      if (!stopped) timer = setTimeout(() => void poll(), POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);

  if (connected !== 0) return null;
  return (
    <div className="error worker-banner" role="alert" data-testid="no-worker-banner">
      <strong>No worker is connected.</strong> Rollouts are accepted but wait until a worker process
      (EBB_ROLE=worker or all) connects to the queue.
    </div>
  );
}
