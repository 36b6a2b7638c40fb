import type { CountersView, ServerCounters, ServerView } from "./types.js";

interface MetricsSource {
  servers(): ServerView[];
  counters(): CountersView;
  readonly config: { maxSessions: number };
}

type Sample = [labels: Record<string, string>, value: number];

const closeReasons: [reason: string, counter: keyof ServerCounters][] = [
  ["fin", "closedByFin"],
  ["rst", "closedByRst"],
  ["aged", "agedOut"],
  ["device_reset", "resetByDevice"],
];

/** The device's state in Prometheus text exposition format 0.0.4. */
export function renderMetrics(device: MetricsSource): string {
  const servers = device.servers();
  const { totals } = device.counters();
  const out: string[] = [];
  const family = (name: string, type: "gauge" | "counter", help: string, samples: Sample[]): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${formatLabels(labels)} ${value}`);
  };
  const perServer = (value: (s: ServerView) => number): Sample[] =>
    servers.map((s) => [{ server: s.name }, value(s)]);

  family(
    "ebb_l4_sessions",
    "gauge",
    "Session table entries per real server.",
    perServer((s) => s.counters.sessionsActive),
  );
  family(
    "ebb_l4_server_up",
    "gauge",
    "1 if the real server is bound (enabled and not failed).",
    perServer((s) => (s.bound ? 1 : 0)),
  );
  family(
    "ebb_l4_server_enabled",
    "gauge",
    "1 if the real server is administratively enabled.",
    perServer((s) => (s.adminState === "enabled" ? 1 : 0)),
  );
  family(
    "ebb_l4_server_health",
    "gauge",
    "Health-check state of the real server, one-hot.",
    servers.flatMap((s) =>
      (["up", "suspect", "failed"] as const).map(
        (state): Sample => [{ server: s.name, state }, s.health === state ? 1 : 0],
      ),
    ),
  );
  family(
    "ebb_l4_sessions_opened_total",
    "counter",
    "Session entries created.",
    perServer((s) => s.counters.sessionsOpened),
  );
  family(
    "ebb_l4_sessions_closed_total",
    "counter",
    "Session entries removed, by reason (fin, rst, aged, device_reset).",
    servers.flatMap((s) =>
      closeReasons.map(([reason, key]): Sample => [{ server: s.name, reason }, s.counters[key]]),
    ),
  );
  family(
    "ebb_l4_reschedule_resets_total",
    "counter",
    "Clients of aged-out flows reset because the scheduler picked this server.",
    perServer((s) => s.counters.resetOnReschedule),
  );
  family(
    "ebb_l4_refused_total",
    "counter",
    "Connections to the real server that were refused.",
    perServer((s) => s.counters.refused),
  );
  family(
    "ebb_l4_client_bytes_total",
    "counter",
    "Client-to-server bytes forwarded.",
    perServer((s) => s.counters.clientBytes),
  );
  family(
    "ebb_l4_client_packets_total",
    "counter",
    "Client-to-server segments forwarded.",
    perServer((s) => s.counters.clientPackets),
  );
  family(
    "ebb_l4_health_checks_total",
    "counter",
    "Health checks by result.",
    servers.flatMap((s): Sample[] => [
      [{ server: s.name, result: "pass" }, s.counters.checksPassed],
      [{ server: s.name, result: "fail" }, s.counters.checksFailed],
    ]),
  );
  family("ebb_l4_no_server_total", "counter", "Flows reset because no real server was bound.", [
    [{}, totals.noServer],
  ]);
  family("ebb_l4_table_full_total", "counter", "New flows reset because the session table was full.", [
    [{}, totals.tableFull],
  ]);
  family(
    "ebb_l4_connections_open",
    "gauge",
    "Client connections open, including those whose entry aged out.",
    [[{}, totals.connectionsOpen]],
  );
  family("ebb_l4_session_table_size", "gauge", "Session table capacity (maxSessions).", [
    [{}, device.config.maxSessions],
  ]);
  return `${out.join("\n")}\n`;
}

function formatLabels(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
