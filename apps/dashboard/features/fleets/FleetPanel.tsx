"use client";

import Link from "next/link";
import { useState } from "react";
import type { FleetView, LiveMember, TargetTraffic, TrafficSample } from "../../lib/api/types";
import { formatRate, formatTime } from "../../lib/format";
import { useSession } from "../../lib/session";
import { useEventStream } from "../../lib/sse";
import { LiveStatus } from "../shell/LiveStatus";
import { StatusBadge } from "../shell/StatusBadge";
import { appendSample, isReceivingWhileOut, recentRates, type TrafficHistory } from "../traffic/history";
import { Sparkline } from "../traffic/Sparkline";
import { HeldFleetBanner } from "./HeldFleetBanner";
import { WorkloadFindings } from "./WorkloadFindings";

const STATE_LABEL: Record<TargetTraffic["state"], string> = {
  up: "Up",
  suspect: "Suspect",
  failed: "Failed",
  disabled: "Disabled",
  unknown: "Unknown",
};

/** One fleet: its targets with the balancer's view of each, live while the panel is open. */
export function FleetPanel({
  fleet,
  initiallyOpen,
  onChanged,
}: {
  fleet: FleetView;
  initiallyOpen: boolean;
  /** A hold was released: the fleet list is read again. */
  onChanged(): void;
}) {
  const { can } = useSession();
  const [open, setOpen] = useState(initiallyOpen);
  const [latest, setLatest] = useState<Record<string, TargetTraffic>>({});
  const [history, setHistory] = useState<TrafficHistory>({});

  const status = useEventStream(open ? `/api/v1/fleets/${encodeURIComponent(fleet.name)}/live` : null, {
    traffic: (data) => {
      const sample = data as TrafficSample;
      setLatest(Object.fromEntries(sample.targets.map((t) => [t.name, t])));
      setHistory((h) => appendSample(h, sample, 120));
    },
  });

  const headingId = `fleet-${fleet.name}`;
  // Targets whose pod is gone (a Deployment's pods are new after every rollout) are kept for their history,
  // listed apart: they take no part in rollouts and have no traffic to show.
  const present = fleet.targets.filter((t) => t.goneAt === null);
  const gone = fleet.targets.filter((t) => t.goneAt !== null);
  return (
    <section className="card fleet" aria-labelledby={headingId} data-fleet={fleet.name}>
      {/* Outside the folded part: a held fleet says so even while its panel is closed. */}
      {fleet.holds.map((hold) => (
        <HeldFleetBanner key={hold.rolloutId} hold={hold} onReleased={onChanged} />
      ))}
      <details open={open} onToggle={(e) => setOpen((e.target as HTMLDetailsElement).open)}>
        <summary>
          <h2 id={headingId}>{fleet.name}</h2>
          <span className="muted">
            {fleet.balancer} · {present.length} targets
            {gone.length > 0 ? ` (${gone.length} gone)` : ""}
          </span>
          {fleet.protected && <span className="badge badge-protected">protected</span>}
          {fleet.holds.length > 0 && <span className="badge badge-held">held</span>}
          {open && <LiveStatus status={status} />}
        </summary>
        {can("triggerRollout") && (
          <p>
            <Link href={`/rollouts/new?fleet=${encodeURIComponent(fleet.name)}`} className="button secondary">
              Roll {fleet.name}
            </Link>
          </p>
        )}
        <table className="table">
          <caption className="visually-hidden">
            Targets of fleet {fleet.name} and the traffic each receives
          </caption>
          <thead>
            <tr>
              <th scope="col">Target</th>
              <th scope="col">Address</th>
              <th scope="col">Balancer state</th>
              <th scope="col">Version</th>
              <th scope="col" className="num">
                Open sessions
              </th>
              <th scope="col" className="num">
                Requests/s
              </th>
              <th scope="col">Last minute</th>
            </tr>
          </thead>
          <tbody>
            {present.map((target) => {
              const live = latest[target.name];
              const alert = live ? isReceivingWhileOut(live) : false;
              return (
                <tr key={target.name} className={alert ? "row-alert" : undefined} data-target={target.name}>
                  <th scope="row">{target.name}</th>
                  <td className="mono">
                    {target.host}:{target.port}
                  </td>
                  <td>
                    {live ? (
                      <>
                        <StatusBadge status={live.state} label={STATE_LABEL[live.state]} />
                        {!live.bound && live.state === "up" && <span className="muted"> (unbound)</span>}
                        {alert && <strong className="alert-text"> still receiving traffic</strong>}
                        {live.members && <MemberViews target={target.name} members={live.members} />}
                      </>
                    ) : (
                      <span className="muted">–</span>
                    )}
                  </td>
                  <td className="mono">{live?.version ?? "–"}</td>
                  <td className="num" data-field="sessions">
                    {live ? live.sessions : "–"}
                  </td>
                  <td className="num" data-field="rps">
                    {live?.requestsPerSec != null ? formatRate(live.requestsPerSec) : "–"}
                  </td>
                  <td>
                    <Sparkline points={recentRates(history[target.name], 60)} alert={alert} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {gone.length > 0 && <GoneTargets fleet={fleet.name} targets={gone} />}
        {open && fleet.balancer === "kubernetes" && <WorkloadFindings fleet={fleet.name} />}
      </details>
    </section>
  );
}

/** Targets Ebb found gone from the platform, newest first: kept for their rollout history, never rolled. */
function GoneTargets({ fleet, targets }: { fleet: string; targets: FleetView["targets"] }) {
  const sorted = [...targets].sort((a, b) => (b.goneAt ?? "").localeCompare(a.goneAt ?? ""));
  return (
    <details className="gone-targets" data-gone-targets={fleet}>
      <summary className="muted">
        {targets.length} gone {targets.length === 1 ? "target" : "targets"}: no longer run by the platform,
        kept for their rollout history
      </summary>
      <ul>
        {sorted.map((t) => (
          <li key={t.name} data-gone-target={t.name}>
            <span className="mono">{t.name}</span>{" "}
            <span className="muted">
              {t.host}:{t.port} · gone since <time dateTime={t.goneAt ?? ""}>{formatTime(t.goneAt)}</time>
            </span>
          </li>
        ))}
      </ul>
    </details>
  );
}

/**
 * A fleet behind several balancer members: what each member says of the target. The badge above is their
 * agreement ("Suspect" while they disagree); this shows who still sends it traffic.
 */
function MemberViews({ target, members }: { target: string; members: LiveMember[] }) {
  return (
    <ul className="member-views" aria-label={`Balancer members' view of ${target}`}>
      {members.map((m) => (
        <li key={m.member} data-member={m.member} data-state={m.state}>
          <span className="mono">{m.member}</span>{" "}
          <StatusBadge status={m.state} label={STATE_LABEL[m.state]} />
          {!m.bound && m.state === "up" && <span className="muted"> (unbound)</span>}
          <span className="muted">
            {" "}
            · {m.sessions} sessions
            {m.requestsPerSec != null ? ` · ${formatRate(m.requestsPerSec)} req/s` : ""}
          </span>
        </li>
      ))}
    </ul>
  );
}
