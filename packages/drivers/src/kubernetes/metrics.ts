import { EbbError, type TrafficSample } from "@ebb/core";
import type { MetricsConfig } from "./config.js";

/** One reading of a pod's traffic counters. Counters are cumulative; `undefined` = the source has none. */
export interface MetricsReading {
  activeSessions: number;
  sessionsTotal?: number;
  requestsTotal?: number;
  /** Client-visible failures the pod's front answered (a sidecar's 5xx). */
  errorsTotal?: number;
}

/** Envoy's `/stats?format=json` body: `{"stats": [{"name": ..., "value": ...}, ...]}`. */
export function parseEnvoyStats(body: unknown, statPrefix?: string): MetricsReading {
  const stats = (body as { stats?: unknown })?.stats;
  if (!Array.isArray(stats)) throw new Error("not Envoy stats JSON (no stats array)");
  const sums = new Map<string, number>();
  const prefix = statPrefix ? `http.${statPrefix}.` : undefined;
  for (const s of stats) {
    const { name, value } = (s ?? {}) as { name?: unknown; value?: unknown };
    if (typeof name !== "string" || typeof value !== "number") continue;
    if (prefix ? !name.startsWith(prefix) : !/^http\.inbound[^.]*\./.test(name)) continue;
    const stat = name.slice(name.lastIndexOf(".") + 1);
    sums.set(stat, (sums.get(stat) ?? 0) + value);
  }
  if (!sums.has("downstream_cx_active"))
    throw new Error(`no ${prefix ?? "http.inbound*"} downstream_cx_active stat: wrong statPrefix?`);
  return {
    activeSessions: sums.get("downstream_cx_active") ?? 0,
    sessionsTotal: sums.get("downstream_cx_total"),
    requestsTotal: sums.get("downstream_rq_total"),
    errorsTotal: sums.get("downstream_rq_5xx"),
  };
}

/**
 * The lab VM's `/status`. Its `traffic` counters leave out monitoring (kubelet probes, these scrapes): a
 * drained pod is still probed, and a scrape must not count as a new session. An older VM without them
 * reports open connections only, the scrape's own among them.
 */
export function parseLabVmStatus(body: unknown): MetricsReading {
  const b = body as {
    connections?: { total?: unknown };
    traffic?: { connections?: unknown; requests?: unknown; active?: unknown; lostAfterFin?: unknown };
  };
  const t = b?.traffic;
  if (typeof t?.active === "number" && typeof t.connections === "number" && typeof t.requests === "number") {
    return {
      activeSessions: t.active,
      sessionsTotal: t.connections,
      requestsTotal: t.requests,
      // Requests that crossed the pod's FIN: the clients saw the connection end unanswered (issue 17).
      ...(typeof t.lostAfterFin === "number" ? { errorsTotal: t.lostAfterFin } : {}),
    };
  }
  const total = b?.connections?.total;
  if (typeof total !== "number") throw new Error("not a lab VM /status (no connections.total)");
  return { activeSessions: Math.max(0, total - 1) };
}

export async function readMetrics(
  config: MetricsConfig,
  pod: { name: string; host: string; port: number },
  timeoutMs: number,
): Promise<MetricsReading> {
  const url =
    config.source === "envoy"
      ? `http://${pod.host}:${config.port}/stats?format=json`
      : `http://${pod.host}:${config.port ?? pod.port}${config.path}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const body: unknown = await res.json();
    return config.source === "envoy" ? parseEnvoyStats(body, config.statPrefix) : parseLabVmStatus(body);
  } catch (err) {
    throw new EbbError(
      "balancer_unavailable",
      `traffic of pod ${pod.name}: ${url}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}

interface Baseline {
  uid: string;
  reading: MetricsReading;
}

function delta(before: number | undefined, now: number | undefined): number | undefined {
  if (now === undefined) return undefined;
  if (before === undefined) return 0;
  return now >= before ? now - before : now;
}

/**
 * Cumulative per-pod counters to per-sample deltas, like the L4 driver's meter. A pod's first sample, and
 * the first after it was replaced (new uid, counters from zero), only set the baseline.
 */
export class PodTrafficMeter {
  private readonly last = new Map<string, Baseline>();

  sample(pod: { name: string; uid: string }, reading: MetricsReading, at: Date): TrafficSample {
    const prev = this.last.get(pod.name);
    const before = prev && prev.uid === pod.uid ? prev.reading : undefined;
    this.last.set(pod.name, { uid: pod.uid, reading });
    const fresh = before === undefined;
    const newSessions = fresh ? 0 : (delta(before.sessionsTotal, reading.sessionsTotal) ?? 0);
    const requests = fresh
      ? reading.requestsTotal === undefined
        ? undefined
        : 0
      : delta(before.requestsTotal, reading.requestsTotal);
    const resets = fresh ? 0 : (delta(before.errorsTotal, reading.errorsTotal) ?? 0);
    return {
      at: at.toISOString(),
      activeSessions: reading.activeSessions,
      newSessions,
      ...(requests !== undefined ? { requests } : {}),
      resets,
    };
  }
}
